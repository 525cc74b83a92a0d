"""Supervised fine-tuning of a LoRA adapter on slow→fast pairs (PIE, section 3.2, "fine-tuning").

Each pair that passes its tests becomes one sequence: the model proposer's exact prompt for the
slow program, then the reply holding the fast one (:func:`perfedit.training.pairs.render`). The
loss is the mean cross-entropy over the reply's tokens of each optimizer step (prompt tokens carry
no loss). The evaluation loss is the same mean over the evaluation pairs (``val``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import torch
from accelerate import Accelerator

from perfedit.formats.pairs import Pair
from perfedit.formats.pairs import load as load_pairs
from perfedit.training import pairs as pair_files
from perfedit.training.pairs import Example
from perfedit.training.recipe import SFTRecipe
from perfedit.training.scoring import collate, reply_logprobs
from perfedit.training.trainer import Run, TrainResult, accelerator_for, load_model

T = TypeVar("T")


def read_pairs(recipe: SFTRecipe, path: str) -> list[Pair]:
    """The pairs of the pair file ``path`` that pass their tests (case folders from
    ``recipe.tests`` or beside the file); read before any model is loaded, so that bad data fails
    fast.

    Raises:
        InputError: the file is missing or malformed.
    """
    tests = Path(recipe.tests) if recipe.tests else None
    return pair_files.passing(load_pairs(Path(path), tests))


def example_order(count: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of ``count`` examples in ``epoch`` (a function of seed and epoch)."""
    order = list(range(count))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def micro_batch(
    items: Sequence[T], recipe: SFTRecipe, accelerator: Accelerator, step: int, micro: int
) -> list[T]:
    """The ``batch_size`` items of micro-batch ``micro`` of optimizer step ``step`` for this
    process: the data is walked in epochs of :func:`example_order`, each process taking its own
    slice, so the order depends only on (seed, step) and a resumed run sees the same batches."""
    start = (
        (step * recipe.grad_accum + micro) * accelerator.num_processes + accelerator.process_index
    ) * recipe.batch_size
    chosen = []
    for position in range(start, start + recipe.batch_size):
        epoch, index = divmod(position, len(items))
        chosen.append(items[example_order(len(items), recipe.seed, epoch)[index]])
    return chosen


def _batch(examples: list[Example], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    return {
        k: v.to(device)
        for k, v in collate([(e.input_ids, e.labels) for e in examples], pad_id).items()
    }


def mean_loss(
    model: torch.nn.Module,
    examples: list[Example],
    pad_id: int,
    accelerator: Accelerator,
    batch_size: int,
) -> float:
    """Mean cross-entropy per reply token (nats) of ``model`` over ``examples``, without
    gradients; the processes share the examples and sum their totals."""
    nll = torch.zeros((), device=accelerator.device)
    tokens = torch.zeros((), device=accelerator.device)
    mine = examples[accelerator.process_index :: accelerator.num_processes]
    with torch.no_grad():
        for start in range(0, len(mine), batch_size):
            logprob, count = reply_logprobs(
                model, _batch(mine[start : start + batch_size], pad_id, accelerator.device)
            )
            nll -= logprob.sum()
            tokens += count.sum()
    nll, tokens = accelerator.reduce(nll, "sum"), accelerator.reduce(tokens, "sum")
    return float(nll / tokens.clamp(min=1))


def train_sft(
    recipe: SFTRecipe, out: Path, *, resume: bool = True, show_progress: bool = True
) -> TrainResult:
    """Fine-tune a LoRA adapter as ``recipe`` says, in the output folder ``out`` (see
    :mod:`perfedit.training.trainer` for its layout); with ``resume``, continue from the latest
    checkpoint there.

    Raises:
        InputError: a pair file is missing or malformed, or no pair passes and fits.
        ModelMissing: the base model is not on this machine.
        ConfigError: a checkpoint in ``out`` was made with another recipe.
    """
    train_pairs = read_pairs(recipe, recipe.train)
    val_pairs = read_pairs(recipe, recipe.val) if recipe.val else []
    accelerator = accelerator_for(recipe)
    model, tokenizer = load_model(recipe, accelerator.device)
    train = pair_files.render_all(train_pairs, tokenizer, recipe.max_tokens, recipe.max_pairs)
    val = (
        pair_files.render_all(val_pairs, tokenizer, recipe.max_tokens, recipe.val_pairs)
        if val_pairs
        else []
    )
    run = Run(recipe, out, model, accelerator)
    if resume:
        run.resume()
    pad_id = tokenizer.pad_token_id

    def step_loss(step: int, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        # Normalise by the reply tokens of the whole step, so that the step's loss is the mean
        # over its tokens however they fall into micro-batches.
        step_examples = [
            micro_batch(train, recipe, accelerator, step, m) for m in range(recipe.grad_accum)
        ]
        step_tokens = sum(e.reply_tokens for batch in step_examples for e in batch)
        logprob, count = reply_logprobs(
            run.model, _batch(step_examples[micro], pad_id, accelerator.device)
        )
        return -logprob.sum() / step_tokens, {"tokens": float(count.sum())}

    def evaluate() -> dict[str, float]:
        return {
            "loss": mean_loss(run.model, val, pad_id, accelerator, recipe.batch_size),
            "pairs": float(len(val)),
        }

    run.log(
        "data",
        {
            "train_pairs": len(train),
            "val_pairs": len(val),
            "train_tokens": sum(len(e.input_ids) for e in train),
        },
    )
    return run.train(step_loss, evaluate if val else None, show_progress=show_progress)
