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
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfedit.ask import ModelProvider
from perfedit.config import Settings
from perfedit.errors import OriginalFailsTests
from perfedit.pipeline import Request, locate
from perfedit.progress import TaskProgressFn, never_cancelled, no_progress
from perfedit.proposers import NO_FEEDBACK, Candidate
from perfedit.proposers.model import model_proposer
from perfedit.targets import Target
from perfedit.training.pairs import Pair
from perfedit.training.rewards import tier
from perfedit.validate import Harness, Verdict, syntax_key, validate_candidates


@dataclass(frozen=True)
class Outcome:
    """One program's result: ``record`` is the pair row to write (None: no significantly faster
    sample, or the slow program fails its tests: ``skipped`` says why); ``candidates`` samples
    were judged, ``correct`` of them distinct and passing."""

    pair: Pair
    record: dict[str, Any] | None
    candidates: int
    correct: int
    skipped: str = ""


def best_record(
    pair: Pair, target: Target, candidates: Sequence[Candidate], verdicts: Sequence[Verdict]
) -> dict[str, Any] | None:
    """The pair row for ``pair`` with the fastest significantly faster candidate as ``fast``
    (EffiCoder's selection), or None when none is; ``target`` is the slow program's target."""
    rows = [
        {
            "code": c.code,
            "reward": tier(c.code or None, v),
            "speedup": v.comparison.speedup if v.comparison else None,
        }
        for c, v in zip(candidates, verdicts, strict=True)
    ]
    faster = [
        (v.comparison.speedup, c)
        for c, v in zip(candidates, verdicts, strict=True)
        if v.verdict == "faster" and v.comparison
    ]
    if not faster:
        return None
    speedup, best = max(faster, key=lambda item: item[0])
    return {
        "slow": pair.slow,
        "fast": best.code,
        "kind": target.kind,
        "problem_id": pair.problem_id,
        "id": f"{pair.id}:self-improve",
        "tests": str(pair.tests) if pair.tests else None,
        "passes": True,
        "speedup": speedup,
        "source": "self-improve",
        "candidates": rows,
    }


def improve_one(pair: Pair, model: ModelProvider, settings: Settings) -> Outcome:
    """Sample, validate and select for one script ``pair`` (see the module docstring). The slow
    program is written to ``<tmp>/<problem_id>/prog.py``, so retrieval excludes its problem.
    Raises ModelMissing, ModelError, SandboxError."""
    assert pair.tests is not None, "self-improvement needs the pair's case folder"
    with tempfile.TemporaryDirectory(prefix="perfedit-selfimprove-") as folder:
        program = Path(folder) / (pair.problem_id or "program") / "prog.py"
        program.parent.mkdir()
        program.write_text(pair.slow, encoding="utf-8")
        target, suite = locate(Request(program, pair.slow, tests=pair.tests), settings)
        with Harness(target, suite, settings) as harness:
            try:
                harness.baseline()
            except OriginalFailsTests as exc:
                return Outcome(pair, None, 0, 0, f"the slow program fails its tests: {exc}")
            candidates = list(
                model_proposer(model, settings)(target, NO_FEEDBACK, no_progress, never_cancelled)
            )
            seen = {syntax_key(target.code): "the original"}
            verdicts = list(
                validate_candidates(
                    candidates, lambda c: harness.validate(c.label, c.source), {}, seen=seen
                )
            )
    correct = sum(v.verdict != "rejected" for v in verdicts)
    record = best_record(pair, target, candidates, verdicts)
    return Outcome(
        pair, record, len(candidates), correct, "" if record else "no significantly faster sample"
    )


def self_improve(
    pairs: Sequence[Pair],
    model: ModelProvider,
    settings: Settings,
    out: Path,
    progress: TaskProgressFn = no_progress,
) -> Iterator[Outcome]:
    """:func:`improve_one` for every script pair with a case folder, in order, each record
    appended to the JSON Lines file ``out`` as soon as it exists (an interrupted run keeps what
    it wrote). Yields each outcome."""
    usable = [
        p
        for p in pairs
        if p.kind == "script" and p.tests is not None and p.slow_passes is not False
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    for index, pair in enumerate(usable):
        progress(f"self-improving {pair.problem_id or pair.id}", index, len(usable))
        outcome = improve_one(pair, model, settings)
        if outcome.record is not None:
            with out.open("a", encoding="utf-8") as file:
                file.write(json.dumps(outcome.record) + "\n")
        yield outcome
