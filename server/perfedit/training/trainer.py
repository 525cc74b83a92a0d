"""What supervised fine-tuning and RRHF share: the LoRA model, the optimisation loop, logs,
checkpoints and resuming.

An output folder holds::

    recipe.json              the resolved recipe of the run (every field)
    log.jsonl                one JSON line per logged step: {"step", "split": "train"|"eval", "loss", ...}
    checkpoint-000050/       adapter_config.json, adapter_model.safetensors, recipe.json,
                             state.pt (optimizer, scheduler, step)
    adapter/                 the final adapter and its recipe.json (the transformers backend loads it)

A run resumes from its latest checkpoint: adapter weights, optimizer and scheduler state and the
step; log lines after that step are dropped. Data order and randomness are functions of
(seed, step), so a resumed run continues exactly as the uninterrupted one would have. The loop
runs through accelerate, so ``accelerate launch`` spreads micro-batches over several GPUs.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, get_scheduler
from transformers.utils import logging as transformers_logging

from perfedit.errors import ConfigError
from perfedit.llm import modelstore
from perfedit.llm.hf import pick_dtype
from perfedit.training.recipe import SFTRecipe

#: Recipe fields that may change when a run is resumed (how long and how often, not what).
RESUMABLE_CHANGES = {"max_steps", "log_every", "eval_every", "save_every"}

_CHECKPOINT = re.compile(r"checkpoint-(\d+)")

#: ``step_loss(step, micro)``: the loss of micro-batch ``micro`` of optimizer step ``step``, already
#: scaled so that the sum over the step's micro-batches is the step's loss, and numbers to log.
StepLoss = Callable[[int, int], tuple[torch.Tensor, dict[str, float]]]

#: ``evaluate()``: numbers for an ``eval`` log line (e.g. {"loss": ...}), computed without gradients.
EvalFn = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run left its adapter and log; ``seconds`` of wall time in this call."""

    adapter: Path
    log: Path
    steps: int
    resumed_from: int
    seconds: float


def accelerator_for(recipe: SFTRecipe) -> Accelerator:
    """The accelerator of a run: the recipe's device (``cpu`` forces the CPU)."""
    return Accelerator(cpu=recipe.device == "cpu")


def _dtype(recipe: SFTRecipe, device: torch.device) -> torch.dtype:
    """The base weights' dtype: ``precision`` "auto" takes the inference rule of
    :class:`~perfedit.llm.hf.TransformersModel` (bf16 on CUDA and on CPUs with native bf16, else float32)."""
    if recipe.precision == "auto":
        return pick_dtype(device)
    return torch.bfloat16 if recipe.precision == "bf16" else torch.float32


def load_model(
    recipe: SFTRecipe, device: torch.device
) -> tuple[PeftModel, PreTrainedTokenizerBase]:
    """The recipe's base model with a trainable LoRA adapter (a fresh one, or ``init_adapter``)
    and its tokenizer. Base weights as ``precision`` says (:func:`_dtype`); PEFT keeps the
    adapter weights in float32. The adapter records the base as the recipe names
    it (an alias resolves on any machine).

    Raises:
        ModelMissing: the base model is not on this machine.
        ConfigError: ``init_adapter`` is not an adapter directory.
    """
    transformers_logging.disable_progress_bar()
    base = AutoModelForCausalLM.from_pretrained(
        modelstore.resolve(recipe.base), dtype=_dtype(recipe, device)
    )
    if recipe.init_adapter:
        if not (Path(recipe.init_adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"init_adapter {recipe.init_adapter} holds no adapter_config.json")
        model = PeftModel.from_pretrained(base, recipe.init_adapter, is_trainable=True)
    else:
        torch.manual_seed(
            recipe.seed
        )  # the LoRA A matrices start random: make them a function of the seed
        config = LoraConfig(
            r=recipe.lora_r,
            lora_alpha=recipe.lora_alpha,
            lora_dropout=recipe.lora_dropout,
            target_modules=list(recipe.target_modules),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, config)
    model.peft_config["default"].base_model_name_or_path = recipe.base
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    tokenizer = AutoTokenizer.from_pretrained(modelstore.resolve(recipe.base))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device), tokenizer


def latest_checkpoint(out: Path) -> Path | None:
    """The complete checkpoint of ``out`` with the highest step, or None."""
    found = [
        (int(m[1]), p)
        for p in out.glob("checkpoint-*")
        if (m := _CHECKPOINT.fullmatch(p.name)) and (p / "state.pt").is_file()
    ]
    return max(found)[1] if found else None


def _check_same_run(recipe: SFTRecipe, checkpoint: Path) -> None:
    saved = json.loads((checkpoint / "recipe.json").read_text())
    differs = sorted(
        k for k, v in asdict(recipe).items() if saved.get(k) != v and k not in RESUMABLE_CHANGES
    )
    if differs:
        raise ConfigError(
            f"{checkpoint} was made with another recipe ({', '.join(differs)} differ); use a new --out folder "
            "or the same recipe"
        )


class Run:
    """One training run in the folder ``out`` (see the module docstring)."""

    def __init__(
        self, recipe: SFTRecipe, out: Path, model: PeftModel, accelerator: Accelerator
    ) -> None:
        self.recipe = recipe
        self.out = out
        self.accelerator = accelerator
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            self.trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay
        )
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        schedule = "constant_with_warmup" if recipe.scheduler == "constant" else recipe.scheduler
        self.scheduler = get_scheduler(
            schedule, self.optimizer, recipe.warmup_steps, recipe.max_steps
        )
        self.step = 0
        self.log_path = out / "log.jsonl"
        out.mkdir(parents=True, exist_ok=True)

    def resume(self) -> int:
        """Restore the latest checkpoint, if any; returns its step (0: a fresh run).

        Raises:
            ConfigError: the checkpoint was made with a different recipe.
        """
        checkpoint = latest_checkpoint(self.out)
        if checkpoint is None:
            return 0
        _check_same_run(self.recipe, checkpoint)
        weights = load_file(
            checkpoint / "adapter_model.safetensors", device=str(self.accelerator.device)
        )
        set_peft_model_state_dict(self.accelerator.unwrap_model(self.model), weights)
        state = torch.load(
            checkpoint / "state.pt", map_location=self.accelerator.device, weights_only=True
        )
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        if self.log_path.is_file():  # lines written after the checkpoint are redone
            kept = [
                line
                for line in self.log_path.read_text().splitlines()
                if json.loads(line)["step"] <= self.step
            ]
            self.log_path.write_text("".join(line + "\n" for line in kept))
        return self.step

    def log(self, split: str, values: dict[str, Any]) -> None:
        """Append one line to ``log.jsonl`` (main process only)."""
        if self.accelerator.is_main_process:
            with self.log_path.open("a") as handle:
                handle.write(json.dumps({"step": self.step, "split": split, **values}) + "\n")

    def save(self, folder: Path, *, with_state: bool) -> None:
        """The adapter and resolved recipe into ``folder``; with the optimizer, scheduler and step
        when ``with_state`` (a checkpoint to resume from). Written to a temporary folder first,
        so a crash never leaves a half-written checkpoint."""
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return
        staging = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        # No embedding layers are trained; "auto" would ask the Hub for the base model's config.
        self.accelerator.unwrap_model(self.model).save_pretrained(
            staging, save_embedding_layers=False
        )
        (staging / "recipe.json").write_text(self.recipe.to_json())
        if with_state:
            state = {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
            }
            torch.save(state, staging / "state.pt")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)

    def train(
        self, step_loss: StepLoss, evaluate: EvalFn | None, *, show_progress: bool = True
    ) -> TrainResult:
        """Optimizer steps from the current step to ``max_steps``: ``grad_accum`` micro-batches
        each (gradients summed), clipping, AdamW, scheduler; logs, evaluations (also before the
        first step of a fresh run) and checkpoints as the recipe says; the final adapter into
        ``out/adapter``."""
        recipe, started, resumed_from = self.recipe, time.perf_counter(), self.step
        (self.out / "recipe.json").write_text(recipe.to_json())
        bar = tqdm(
            total=recipe.max_steps,
            initial=self.step,
            desc=f"{recipe.method} steps",
            disable=not (show_progress and self.accelerator.is_main_process),
        )
        if evaluate and self.step == 0:  # the starting point, for comparison
            self.model.eval()
            self.log("eval", evaluate())
        self.model.train()
        while self.step < recipe.max_steps:
            step_started = time.perf_counter()
            torch.manual_seed(
                recipe.seed * 1_000_003 + self.step
            )  # dropout and sampling: a function of the step
            totals: dict[str, float] = {}
            for micro in range(recipe.grad_accum):
                context = (
                    self.accelerator.no_sync(self.model)
                    if micro < recipe.grad_accum - 1
                    else contextlib.nullcontext()
                )
                with context:
                    loss, numbers = step_loss(self.step, micro)
                    self.accelerator.backward(loss)
                for key, value in {"loss": float(loss.detach()), **numbers}.items():
                    totals[key] = totals.get(key, 0.0) + value
            if recipe.max_grad_norm > 0:
                self.accelerator.clip_grad_norm_(self.trainable, recipe.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{totals['loss']:.4f}")
            if self.step % recipe.log_every == 0 or self.step == recipe.max_steps:
                self.log(
                    "train",
                    {
                        **totals,
                        "lr": self.scheduler.get_last_lr()[0],
                        "seconds": time.perf_counter() - step_started,
                    },
                )
            if evaluate and (
                (recipe.eval_every and self.step % recipe.eval_every == 0)
                or self.step == recipe.max_steps
            ):
                self.model.eval()
                self.log("eval", evaluate())
                self.model.train()
            if (
                recipe.save_every and self.step % recipe.save_every == 0
            ) or self.step == recipe.max_steps:
                self.save(self.out / f"checkpoint-{self.step:06d}", with_state=True)
        bar.close()
        adapter = self.out / "adapter"
        self.save(adapter, with_state=False)
        return TrainResult(
            adapter, self.log_path, self.step, resumed_from, time.perf_counter() - started
        )
