"""Supervised fine-tuning at smoke scale on the CPU (SmolLM2-135M): the real `perfedit train sft`
process logs a loss that falls on a repeated batch and changes the adapter; an interrupted run
resumes from its checkpoint to the same adapter; the masked loss ignores the prompt."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers.cli import run_perfedit
from helpers.training_programs import make_pie
from perfedit.errors import ConfigError
from perfedit.training.pairs import IGNORE
from perfedit.training.recipe import from_mapping
from perfedit.training.scoring import collate

pytestmark = pytest.mark.model

#: One training pair (the shortest) repeated every step, a high learning rate, three steps.
SMOKE = {
    "base": "smollm2-135m",
    "max_pairs": 1,
    "batch_size": 1,
    "grad_accum": 1,
    "max_steps": 3,
    "learning_rate": 2e-3,
    "warmup_steps": 0,
    "scheduler": "constant",
    "lora_r": 4,
    "lora_alpha": 8,
    "save_every": 2,
    "eval_every": 0,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """The CLI trains three steps; returns (data folder, output folder, the finished process)."""
    root = tmp_path_factory.mktemp("sft")
    data = make_pie(root / "data")
    out = root / "out"
    overrides = [
        f"{k}={json.dumps(v)}"
        for k, v in {
            **SMOKE,
            "train": str(data / "train.jsonl"),
            "val": str(data / "val.jsonl"),
        }.items()
    ]
    command = ["train", "sft", "--out", str(out)]
    for override in overrides:
        command += ["--set", override]
    done = run_perfedit(*command, timeout_s=900)
    return data, out, done


def test_cli_run_logs_a_falling_loss_and_changes_the_adapter(smoke_run):
    _, out, done = smoke_run
    assert done.returncode == 0, done.stderr
    assert "done: 3 steps" in done.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if r["split"] == "train"]
    assert len(losses) == 3 and losses[-1] < losses[0]
    evals = [(r["step"], r["loss"]) for r in log if r["split"] == "eval"]
    assert [step for step, _ in evals] == [
        0,
        3,
    ]  # eval_every 0: before the first step and at the end
    assert (
        evals[1][1] < evals[0][1]
    )  # the evaluation pair has the same fast program as the training pair
    weights = load_file(out / "adapter" / "adapter_model.safetensors")
    assert any(
        t.abs().sum() > 0 for k, t in weights.items() if "lora_B" in k
    )  # LoRA B starts at zero
    saved = json.loads((out / "checkpoint-000002" / "recipe.json").read_text())
    assert saved["max_steps"] == 3 and saved["lora_r"] == 4 and "target_modules" in saved
    assert (
        json.loads((out / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
        == "smollm2-135m"
    )


def test_resume_reaches_the_same_adapter(smoke_run, tmp_path: Path):
    from perfedit.training.sft import train_sft

    data, full, _ = smoke_run
    paths = {"train": str(data / "train.jsonl"), "val": str(data / "val.jsonl")}
    interrupted = train_sft(
        from_mapping({**SMOKE, **paths, "max_steps": 2}), tmp_path, show_progress=False
    )
    assert interrupted.steps == 2 and (tmp_path / "checkpoint-000002" / "state.pt").is_file()
    resumed = train_sft(from_mapping({**SMOKE, **paths}), tmp_path, show_progress=False)
    assert (resumed.resumed_from, resumed.steps) == (2, 3)
    expected = load_file(full / "adapter" / "adapter_model.safetensors")
    got = load_file(resumed.adapter / "adapter_model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], atol=1e-5) for k in expected)
    steps = [
        json.loads(line)["step"]
        for line in resumed.log.read_text().splitlines()
        if '"train"' in line
    ]
    assert steps == [1, 2, 3]
    with pytest.raises(ConfigError, match="lora_r"):
        train_sft(
            from_mapping({**SMOKE, **paths, "lora_r": 8, "max_steps": 4}),
            tmp_path,
            show_progress=False,
        )


def test_export_ships_the_adapter_in_bf16_and_it_loads(smoke_run, tmp_path: Path):
    _, out, done = smoke_run
    assert done.returncode == 0, done.stderr
    shipped = tmp_path / "models" / "smoke"
    exported = run_perfedit(
        "train", "export", str(out / "adapter"), "--out", str(shipped), timeout_s=300
    )
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in shipped.iterdir()) == [
        "adapter.gguf",
        "adapter_config.json",
        "adapter_model.safetensors",
        "recipe.json",
    ]
    trained, cast = (
        load_file(out / "adapter" / "adapter_model.safetensors"),
        load_file(shipped / "adapter_model.safetensors"),
    )
    assert cast.keys() == trained.keys() and all(t.dtype == torch.bfloat16 for t in cast.values())
    assert all(
        torch.allclose(cast[k].float(), trained[k].float(), rtol=1e-2, atol=1e-6) for k in trained
    )

    from perfedit.llm.hf import TransformersModel

    model = TransformersModel.load(str(shipped))
    loaded = {k: v for k, v in model.model.state_dict().items() if "lora_B" in k}
    assert loaded and all(
        v.abs().sum() > 0 for v in loaded.values()
    )  # the trained B, not PEFT's zero init

    from perfedit.llm.llamacpp import LlamaCppModel

    fast = LlamaCppModel.load(
        str(shipped)
    )  # the base GGUF with adapter.gguf (llama.cpp refuses a malformed one)
    assert fast.files[1] == shipped / "adapter.gguf"

    refused = run_perfedit(
        "train",
        "export",
        str(out),
        "--out",
        str(tmp_path / "x"),
        timeout_s=300,
        env={"COLUMNS": "300"},
    )
    assert refused.returncode != 0 and "not a trained adapter folder" in refused.stderr


def test_collate_masks_padding_and_prompt():
    batch = collate([([5, 6, 7], [IGNORE, 6, 7]), ([8], [IGNORE])], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
