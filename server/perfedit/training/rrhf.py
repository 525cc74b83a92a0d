"""PerfRL: RRHF fine-tuning with rewards from the unit tests (Duan et al. 2024, "PerfRL",
section 4; RRHF: Yuan et al. 2023, section 3).

For each training input x (a slow program) the policy proposes candidates: ``samples`` random
samples (temperature 1, top-k 50), one greedy sample and the target (the pair's fast program).
Each is rewarded by the validation harness (:mod:`perfedit.training.rewards`: R1 0, R2 1,
R3 1.3, R4 2) in worker processes, and scored by the policy with its length-normalised
log-probability ``p_i = sum_t log P(y_i,t | x, y_i,<t) / |y_i|``. The loss of one input is

    L = a * L_rank + L_tuning,
    L_rank = sum over pairs (i, j) with r_i < r_j of max(0, p_i - p_j),
    L_tuning = the cross-entropy (mean over tokens) of the best-rewarded candidate,

ties for the best broken in favour of a random sample, then the greedy one, then the target.
An RL step (one optimizer step) averages the loss over ``grad_accum`` inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import torch
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from perfedit import targets
from perfedit.candidates.model import extract_code, fit_to_target
from perfedit.config import Settings
from perfedit.errors import InputError, PerfeditError
from perfedit.formats.pairs import Pair
from perfedit.training.pairs import IGNORE, Example, render_all, reply_ids
from perfedit.training.recipe import RRHFRecipe
from perfedit.training.remote import ShippingPool
from perfedit.training.rewards import RewardGroup, reward_pool, score_inputs
from perfedit.training.scoring import collate, reply_logprobs
from perfedit.training.sft import mean_loss, micro_batch, read_pairs
from perfedit.training.trainer import Run, TrainResult, accelerator_for, load_model

if TYPE_CHECKING:
    from perfedit.executors import Executor

Kind = Literal["sample", "greedy", "target"]

#: Tie-break order for the best-rewarded candidate: a random sample, then greedy, then the target.
TIE_ORDER: dict[str, int] = {"sample": 0, "greedy": 1, "target": 2}


def rank_loss(scores: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """RRHF's ranking loss: ``sum over (i, j) with r_i < r_j of max(0, p_i - p_j)``.

    ``scores`` (K,) are the candidates' length-normalised log-probabilities, ``rewards`` (K,)
    their rewards; returns a scalar (0 when the scores already follow the rewards).
    """
    worse = rewards[:, None] < rewards[None, :]  # (K, K): [i, j] is True where r_i < r_j
    gaps = (scores[:, None] - scores[None, :]).clamp(min=0)  # (K, K): max(0, p_i - p_j)
    return (gaps * worse).sum()


def best_candidate(rewards: Sequence[float], kinds: Sequence[Kind]) -> int:
    """The index of the best-rewarded candidate; among ties, the first random sample, else the
    greedy one, else the target (PerfRL, section 4)."""
    top = max(rewards)
    return min((TIE_ORDER[kinds[i]], i) for i, r in enumerate(rewards) if r == top)[1]


def rrhf_loss(
    scores: torch.Tensor, rewards: torch.Tensor, best_nll: torch.Tensor, rank_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, rank)`` with ``loss = rank_weight * L_rank + L_tuning``: ``scores`` (K,),
    ``rewards`` (K,), ``best_nll`` the best candidate's mean token cross-entropy (scalar, nats)."""
    rank = rank_loss(scores, rewards)
    return rank_weight * rank + best_nll, rank


@dataclass(frozen=True)
class Candidates:
    """One input's candidates: reply token ids (ending at the end-of-turn token when the reply
    ended), their kind, the whole program each reply proposes (None: no usable code), and the
    prompt ids they follow."""

    prompt: list[int]
    replies: list[list[int]]
    kinds: list[Kind]
    programs: list[str | None]


def _program(reply: str, target: targets.Target) -> str | None:
    """The program a reply proposes, as the model proposer extracts it (None: no usable code)."""
    return next(
        (code for code in (fit_to_target(b, target) for b in extract_code(reply)) if code), None
    )


def _trim(ids: list[int], end_ids: set[int], pad_id: int) -> list[int]:
    """Generated ids up to and including the first end-of-sequence id; padding removed."""
    for position, token in enumerate(ids):
        if token in end_ids:
            return ids[: position + 1]
    return [token for token in ids if token != pad_id]


def propose(
    model: PeftModel, tokenizer: PreTrainedTokenizerBase, example: Example, recipe: RRHFRecipe
) -> Candidates:
    """The candidates for one input: ``recipe.samples`` random samples (temperature, top-k;
    top-p off), one greedy reply and the target reply, generated without gradients."""
    prompt = example.input_ids[: example.prompt_tokens]
    inputs = torch.tensor([prompt], device=model.device)  # (1, P)
    end_ids = set(
        model.generation_config.eos_token_id
        if isinstance(model.generation_config.eos_token_id, list)
        else [model.generation_config.eos_token_id]
    )
    common = {
        "max_new_tokens": recipe.max_new_tokens,
        "pad_token_id": tokenizer.pad_token_id,
        "attention_mask": torch.ones_like(inputs),
    }
    was_training = model.training
    model.eval()
    with torch.no_grad():
        greedy = model.generate(inputs, do_sample=False, **common)[:, len(prompt) :]  # (1, new)
        sampled = (
            model.generate(
                inputs,
                do_sample=True,
                temperature=recipe.temperature,
                top_k=recipe.top_k,
                top_p=1.0,
                num_return_sequences=recipe.samples,
                **common,
            )[:, len(prompt) :]
            if recipe.samples
            else greedy[:0]
        )  # (samples, new)
    model.train(was_training)
    generated = [
        _trim(row.tolist(), end_ids, tokenizer.pad_token_id) for row in (*sampled, *greedy)
    ]
    target = reply_ids(example.pair.fast, tokenizer)
    kinds: list[Kind] = ["sample"] * recipe.samples
    kinds += ["greedy", "target"]
    script = targets.find(Path("prog.py"), example.pair.slow)
    # decode of one sequence of ids is a str (a list of str only for a batch).
    programs = [
        _program(cast(str, tokenizer.decode(ids, skip_special_tokens=True)), script)
        for ids in generated
    ]
    programs.append(_program(cast(str, tokenizer.decode(target, skip_special_tokens=True)), script))
    return Candidates(prompt, [*generated, target], kinds, programs)


def input_loss(
    model: torch.nn.Module,
    candidates: Candidates,
    rewards: list[float],
    pad_id: int,
    rank_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The RRHF loss of one input (scalar) and numbers to log: ``rank``, ``tuning`` (nats) and
    the reward of each candidate kind (the mean over the samples)."""
    batch = collate(
        [
            (candidates.prompt + r, [IGNORE] * len(candidates.prompt) + r)
            for r in candidates.replies
        ],
        pad_id,
    )
    # model is a transformers model, whose device nn.Module types as an attribute (Tensor | Module).
    device = cast(torch.device, model.device)
    logprob, count = reply_logprobs(
        model, {k: v.to(device) for k, v in batch.items()}
    )  # (K,), (K,)
    scores = logprob / count.clamp(min=1)  # (K,) length-normalised
    best = best_candidate(rewards, candidates.kinds)
    reward_tensor = torch.tensor(rewards, device=scores.device)  # (K,)
    loss, rank = rrhf_loss(scores, reward_tensor, -scores[best], rank_weight)
    samples = [r for r, k in zip(rewards, candidates.kinds, strict=True) if k == "sample"]
    numbers = {
        "rank": float(rank.detach()),
        "tuning": float(-scores[best].detach()),
        "reward_greedy": rewards[-2],
        "reward_target": rewards[-1],
        "reward_samples": sum(samples) / len(samples) if samples else 0.0,
    }
    return loss, numbers


def rl_pairs(recipe: RRHFRecipe) -> list[Pair]:
    """The training inputs' pairs: passing script pairs with a case folder (rewards need tests).

    Raises:
        InputError: the pair file is missing or malformed, or no pair can be rewarded.
    """
    usable = [p for p in read_pairs(recipe, recipe.train) if _rewardable(p)]
    if not usable:
        raise InputError(
            f"no pair in {recipe.train} is a script with a case folder; RRHF needs tests to reward candidates"
        )
    return usable


def _rewardable(pair: Pair) -> bool:
    if pair.kind != "script" or pair.tests is None:
        return False
    try:
        targets.find(Path("prog.py"), pair.slow)
    except PerfeditError:
        return False
    return True


def train_rrhf(
    recipe: RRHFRecipe,
    out: Path,
    *,
    resume: bool = True,
    show_progress: bool = True,
    executor: Executor | None = None,
) -> TrainResult:
    """PerfRL's RRHF training as ``recipe`` says (start from an SFT adapter with
    ``init_adapter``), in the output folder ``out`` (layout and resuming as for SFT). The
    candidates are rewarded in ``recipe.workers`` local processes, or as one task per input on
    a remote ``executor`` (``perfedit train rrhf --executor ray``).

    Raises:
        InputError: a pair file is missing or malformed, or no pair can be rewarded.
        ModelMissing: the base model is not on this machine.
        ConfigError: a checkpoint in ``out`` was made with another recipe.
    """
    train_pairs = rl_pairs(recipe)
    val_pairs = read_pairs(recipe, recipe.val) if recipe.val else []
    accelerator = accelerator_for(recipe)
    model, tokenizer = load_model(recipe, accelerator.device)
    train = render_all(
        train_pairs, tokenizer, recipe.max_tokens, recipe.max_pairs
    )  # the shortest inputs
    val = render_all(val_pairs, tokenizer, recipe.max_tokens, recipe.val_pairs) if val_pairs else []
    settings = Settings(
        runs=recipe.runs, min_speedup=recipe.min_speedup, timeout_s=recipe.timeout_s
    )
    run = Run(recipe, out, model, accelerator)
    if resume:
        run.resume()
    pad_id = tokenizer.pad_token_id
    policy = accelerator.unwrap_model(run.model)
    judged: dict[int, list[tuple[Candidates, list[float] | None]]] = {}

    def step_loss(step: int, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        if step not in judged:  # generate for the whole step, then reward it in parallel
            judged.clear()
            inputs = [
                micro_batch(train, recipe, accelerator, step, m)[0]
                for m in range(recipe.grad_accum)
            ]
            proposed = [propose(policy, tokenizer, example, recipe) for example in inputs]
            # every training input has a case folder (rl_pairs keeps only those)
            groups = [
                RewardGroup(e.pair.slow, cast(Path, e.pair.tests), tuple(c.programs), settings)
                for e, c in zip(inputs, proposed, strict=True)
            ]
            judged[step] = list(zip(proposed, score_inputs(groups, pool), strict=True))
        candidates, rewards = judged[step][micro]
        if rewards is None:  # the slow program failed its tests in this run: nothing to rank
            return run.trainable[0].sum() * 0, {"skipped": 1.0}
        loss, numbers = input_loss(run.model, candidates, rewards, pad_id, recipe.rank_weight)
        return loss / recipe.grad_accum, {k: v / recipe.grad_accum for k, v in numbers.items()}

    def evaluate() -> dict[str, float]:
        return {"loss": mean_loss(run.model, val, pad_id, accelerator, 1), "pairs": float(len(val))}

    run.log("data", {"train_pairs": len(train), "val_pairs": len(val)})
    remote_pool = executor is not None and executor.remote
    with ShippingPool(executor) if remote_pool else reward_pool(recipe.workers) as pool:  # type: ignore[arg-type]
        return run.train(step_loss, evaluate if val else None, show_progress=show_progress)
