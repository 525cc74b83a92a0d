"""Self-improvement data: the fastest correct of many of the model's own samples, as training pairs
(EffiCoder, Huang et al. 2024, section 3: keep the most efficient correct solution per task and
fine-tune on it; rewards as PerfRL's tiers, Duan et al. 2024, section 4).

For each training program (a slow script with its stdin/stdout cases: PIE train, or any pair file
in :mod:`perfedit.training.pairs`' format), the model proposer samples candidates exactly as
``perfedit suggest`` does (greedy plus ``settings.samples`` over strategies, retrieved exemplars
when ``settings.exemplars`` is set, never from the program's own problem), the harness validates
and times each one against the slow program, and the fastest candidate that is *significantly*
faster (one-sided test, at least ``settings.min_speedup``) becomes the pair's ``fast`` side.

Each written line is a pair-file row (``slow``, ``fast``, ``kind``, ``problem_id``, ``id``,
``tests``, ``passes``), so ``perfedit train sft`` reads it as training data and ``perfedit train
rrhf`` as its inputs (RRHF samples and rewards its own candidates online); the row also keeps
``speedup`` and ``candidates`` (each sample's code, PerfRL tier reward and speedup) for offline
ranking. Programs with no significantly faster sample are counted, not written.

The sampling and judging is ``perfedit evaluate``'s (:func:`perfedit.training.evaluate.evaluate`):
one unit per program on an executor (here, or a Ray cluster), every program's judged samples in
a side file (:func:`samples_file`) that a second run resumes from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit.candidates import Proposer
from perfedit.config import Settings
from perfedit.formats.pairs import Pair
from perfedit.training import evaluate
from perfedit.training.rewards import tier

if TYPE_CHECKING:
    from perfedit.executors import Executor


@dataclass(frozen=True)
class Outcome:
    """One program's result: ``record`` is the pair row to write (None: no significantly faster
    sample, or the slow program fails its tests: ``skipped`` says why); ``candidates`` samples
    were judged, ``correct`` of them passing."""

    pair: Pair
    record: dict[str, Any] | None
    candidates: int
    correct: int
    skipped: str = ""


def samples_file(out: Path) -> Path:
    """Where the judged samples of a run writing ``out`` are kept: ``NAME.samples.jsonl`` beside
    it, one :func:`perfedit.training.evaluate.evaluate_one` record per program."""
    return out.with_name(f"{out.stem}.samples.jsonl")


def best_record(pair: Pair, judged: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """The pair row for ``pair`` from its judged samples (an :func:`evaluate_one
    <perfedit.training.evaluate.evaluate_one>` record) with the fastest significantly faster
    sample as ``fast`` (EffiCoder's selection), or None when none is. ``tests`` names the case
    folder relative to ``folder``, the folder of the file the row goes to, as
    :func:`perfedit.formats.pairs.load` reads it."""
    samples = judged.get("candidates", [])
    faster = [c for c in samples if c["verdict"] == "faster" and c["code"]]
    if not faster:
        return None
    best = max(faster, key=lambda c: c["speedup"])
    return {
        "slow": pair.slow,
        "fast": best["code"],
        "kind": pair.kind,
        "problem_id": pair.problem_id,
        "id": f"{pair.id}:self-improve",
        "tests": os.path.relpath(pair.tests.resolve(), folder.resolve()) if pair.tests else None,
        "passes": True,
        "speedup": best["speedup"],
        "source": "self-improve",
        "candidates": [
            {"code": c["code"], "reward": tier(c["code"], c["verdict"]), "speedup": c["speedup"]}
            for c in samples
        ],
    }


def outcome(pair: Pair, judged: dict[str, Any], folder: Path) -> Outcome:
    """The :class:`Outcome` of ``pair`` from its judged samples, its row bound for a file in
    ``folder``."""
    record = best_record(pair, judged, folder)
    samples = judged.get("candidates", [])
    skipped = judged.get("skipped") or ("" if record else "no significantly faster sample")
    correct = sum(c["verdict"] != "rejected" for c in samples)
    return Outcome(pair, record, len(samples), correct, skipped)


def self_improve(
    chosen: Sequence[Pair],
    propose: Proposer,
    settings: Settings,
    out: Path,
    *,
    on_outcome: Callable[[int, int, Outcome], None] | None = None,
    executor: Executor | None = None,
) -> list[Outcome]:
    """For every program of ``chosen`` (script pairs with a case folder, as
    :func:`perfedit.training.evaluate.programs` chooses them), the greedy reply and ``settings.samples`` samples of ``propose``, judged by the harness
    (:func:`perfedit.training.evaluate.evaluate`, one unit per program on ``executor``; the
    samples go to :func:`samples_file`, and programs judged there before are not run again), then
    ``out`` written afresh with one row per program that has a significantly faster sample.
    ``on_outcome(index, total, outcome)`` follows the programs. Returns the outcomes in order.

    Raises:
        InputError: the samples file holds another run's samples (another model or k).
        ModelMissing, ModelError, SandboxError: from the proposer or the harness.
    """
    by_id = {pair.id: pair for pair in chosen}

    def report(index: int, total: int, judged: dict[str, Any]) -> None:
        if on_outcome:
            on_outcome(index, total, outcome(by_id[judged["id"]], judged, out.parent))

    meta = {"model": settings.model, "k": settings.samples + 1, "purpose": "self-improve"}
    judged = evaluate.evaluate(
        chosen, propose, settings, samples_file(out), meta=meta, on_record=report, executor=executor
    )
    outcomes = [
        outcome(pair, record, out.parent) for pair, record in zip(chosen, judged, strict=True)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(o.record) + "\n" for o in outcomes if o.record))
    return outcomes
