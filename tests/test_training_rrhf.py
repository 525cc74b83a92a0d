"""RRHF (PerfRL, section 4): the ranking loss and its gradient against a hand computation on fixed
tensors, the tie-break of the best candidate, and one real RL step on SmolLM2-135M."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers.training_programs import make_pie
from perfedit.training.rrhf import best_candidate, rank_loss, rrhf_loss

# Four candidates: length-normalised log-probabilities p and rewards r.
P = [-1.0, -0.5, -2.0, -0.2]
R = [1.0, 2.0, 1.3, 0.0]


def test_rank_loss_matches_a_hand_computation():
    # Pairs (i, j) with r_i < r_j and their hinge max(0, p_i - p_j):
    #   (0,1): max(0, -1.0 + 0.5) = 0      (0,2): max(0, -1.0 + 2.0) = 1.0
    #   (2,1): max(0, -2.0 + 0.5) = 0      (3,0): max(0, -0.2 + 1.0) = 0.8
    #   (3,1): max(0, -0.2 + 0.5) = 0.3    (3,2): max(0, -0.2 + 2.0) = 1.8
    scores = torch.tensor(P, requires_grad=True)
    rank = rank_loss(scores, torch.tensor(R))
    assert rank.item() == pytest.approx(1.0 + 0.8 + 0.3 + 1.8)
    loss, rank_part = rrhf_loss(scores, torch.tensor(R), torch.tensor(0.7), rank_weight=0.5)
    assert loss.item() == pytest.approx(0.5 * 3.9 + 0.7) and rank_part.item() == pytest.approx(3.9)
    loss.backward()
    # Active hinges: +p0 -p2, +p3 -p0, +p3 -p1, +p3 -p2, each times a = 0.5.
    assert scores.grad.tolist() == pytest.approx([0.0, -0.5, -1.0, 1.5])


def test_rank_loss_is_zero_when_scores_follow_rewards():
    assert rank_loss(torch.tensor([-3.0, -2.0, -1.0]), torch.tensor([0.0, 1.0, 2.0])).item() == 0.0
    assert (
        rank_loss(torch.tensor([-1.0, -1.0]), torch.tensor([1.3, 1.3])).item() == 0.0
    )  # ties are not ranked


@pytest.mark.parametrize(
    ("rewards", "expected"),
    [
        ([2.0, 2.0, 1.3, 2.0], 0),  # a random sample first
        ([1.0, 1.3, 2.0, 2.0], 2),  # then the greedy one
        ([1.0, 1.0, 1.3, 2.0], 3),  # the target only when it alone is best
        ([0.0, 1.3, 1.3, 1.3], 1),
    ],
)
def test_best_candidate_tie_break(rewards: list[float], expected: int):
    assert best_candidate(rewards, ["sample", "sample", "greedy", "target"]) == expected


@pytest.mark.model
def test_one_rrhf_step_on_smollm2(tmp_path: Path):
    """Candidates are generated, rewarded by the harness and ranked; the step is logged with its
    rewards and the adapter changes."""
    from perfedit.training.recipe import from_mapping
    from perfedit.training.rrhf import train_rrhf

    data = make_pie(tmp_path / "data")
    recipe = from_mapping(
        {
            "method": "rrhf",
            "base": "smollm2-135m",
            "train": str(data / "train.jsonl"),
            "val": None,
            "max_pairs": 1,
            "max_steps": 1,
            "grad_accum": 1,
            "samples": 1,
            "max_new_tokens": 24,
            "workers": 1,
            "learning_rate": 1e-3,
            "lora_r": 4,
            "lora_alpha": 8,
            "device": "cpu",
            "save_every": 0,
        }
    )
    result = train_rrhf(recipe, tmp_path / "out", show_progress=False)
    [step] = [json.loads(line) for line in result.log.read_text().splitlines() if '"train"' in line]
    assert step["reward_target"] >= 1.3  # the pair's own fast program passes
    assert step["rank"] >= 0 and step["tuning"] > 0
    from safetensors.torch import load_file

    weights = load_file(result.adapter / "adapter_model.safetensors")
    assert any(
        t.abs().sum() > 0 for k, t in weights.items() if "lora_B" in k
    )  # LoRA B starts at zero
