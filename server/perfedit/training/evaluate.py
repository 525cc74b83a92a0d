"""``perfedit evaluate``: PIE's metrics for a model or adapter on a pair file (PIE, section 2.2).

For each program (a pair's slow version whose tests pass, with its case folder), the model
proposer generates, in one batched call, the greedy reply and ``k - 1`` samples (the product's
prompt, temperature and code extraction); each candidate is validated and timed by the product's
harness against the program (correct, significant at p < alpha and >= min_speedup faster).
Best@1 is the greedy candidate alone, Best@k the best of all k (:func:`perfedit.verify.metrics.best_of`).
Neither the rule-based candidates nor refinement take part: this measures the model.

Programs are chosen round-robin over problems (:func:`perfedit.training.pairs.round_robin`, as
``bench/pie_val.py`` does). One JSON line per program is appended to the output file, so an
interrupted evaluation resumes where it stopped. Each program is one unit of work
(:func:`evaluate_unit` on a :class:`ProgramUnit`, which carries the program's case folder as
bytes, so the node that runs it needs no shared file system) run through an executor.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit.candidates import Feedback, Proposer
from perfedit.config import Settings
from perfedit.errors import InputError, OriginalFailsTests
from perfedit.executors import pack_folder, unpack_folder
from perfedit.formats.pairs import Pair
from perfedit.job.locate import Request, locate
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import Candidate
from perfedit.training.pairs import round_robin
from perfedit.verify.metrics import Outcome, Summary, best_of, summarise
from perfedit.verify.validate import Harness, Verdict, validate_candidates

if TYPE_CHECKING:
    from perfedit.executors import Executor


def programs(pairs: Sequence[Pair], count: int) -> list[Pair]:
    """The pairs to evaluate: scripts with a case folder whose slow version is not recorded as
    failing, ``count`` of them (0: all) round-robin over problems."""
    usable = [
        p
        for p in pairs
        if p.kind == "script" and p.tests is not None and p.slow_passes is not False
    ]
    return round_robin(usable, count)


def outcome(verdict: dict[str, Any]) -> Outcome:
    """A candidate's :class:`~perfedit.verify.metrics.Outcome` from its record (see :func:`evaluate_one`)."""
    return Outcome(
        correct=verdict["verdict"] != "rejected",
        speedup=verdict["speedup"] if verdict["verdict"] == "faster" else None,
    )


def _record(candidate: Candidate, verdict: Verdict) -> dict[str, Any]:
    c = verdict.comparison
    return {
        "label": verdict.label,
        "code": candidate.code if candidate.usable else None,
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "speedup": c.speedup if c else None,
    }


def evaluate_one(pair: Pair, propose: Proposer, settings: Settings) -> dict[str, Any]:
    """One program: its candidates' verdicts (``label``, ``code`` (None: the reply had none that
    fits), ``verdict``, ``reason``, ``speedup`` old/new) in proposal order (the greedy, Best@1,
    one first), wall times in seconds; ``skipped``
    holds the reason when the slow program fails its tests here (it then counts in no metric).
    Identical candidates (same syntax tree) are validated once
    (:func:`~perfedit.verify.validate.validate_candidates`)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"id": pair.id, "problem_id": pair.problem_id}
    with tempfile.TemporaryDirectory(prefix="perfedit-eval-") as folder:
        # Under its problem's folder, so retrieval never shows the model its own problem.
        program = Path(folder) / (pair.problem_id or "program") / "prog.py"
        program.parent.mkdir()
        program.write_text(pair.slow, encoding="utf-8")
        target, suite = locate(Request(path=program, source=pair.slow, tests=pair.tests), settings)
        with Harness(target, suite, settings) as harness:
            try:
                harness.baseline()
            except OriginalFailsTests as exc:
                return {
                    **record,
                    "skipped": str(exc).splitlines()[0],
                    "wall_s": time.perf_counter() - started,
                }
            generation_started = time.perf_counter()
            candidates = list(propose(target, Feedback(), no_progress, never_cancelled))
            record["generation_s"] = time.perf_counter() - generation_started
            verdicts = validate_candidates(
                candidates, lambda c: harness.validate(c.label, c.source), {}
            )
            records = [
                _record(candidate, verdict)
                for candidate, verdict in zip(candidates, verdicts, strict=True)
            ]
    return {**record, "candidates": records, "wall_s": time.perf_counter() - started}


@dataclass(frozen=True)
class ProgramUnit:
    """One program to evaluate: the pair, its case folder's files (``{name: bytes}``, None when
    the pair has none), the proposer (picklable for a remote executor) and the settings."""

    pair: Pair
    cases: dict[str, bytes] | None
    propose: Proposer
    settings: Settings

    @classmethod
    def of(cls, pair: Pair, propose: Proposer, settings: Settings, *, ship: bool) -> ProgramUnit:
        """The unit for ``pair``; with ``ship``, its case folder is read into the unit (for a
        unit that runs on another node), else the unit reads it where it is."""
        return cls(pair, pack_folder(pair.tests) if ship else None, propose, settings)


def evaluate_unit(unit: ProgramUnit) -> dict[str, Any]:
    """:func:`evaluate_one` for ``unit``, its cases written to a temporary folder on this node
    first; returns the program's record (plain JSON data)."""
    if unit.cases is None:
        return evaluate_one(unit.pair, unit.propose, unit.settings)
    with tempfile.TemporaryDirectory(prefix="perfedit-cases-") as folder:
        pair = dataclasses.replace(unit.pair, tests=unpack_folder(unit.cases, Path(folder)))
        return evaluate_one(pair, unit.propose, unit.settings)


def failed_record(pair: Pair, error: str) -> dict[str, Any]:
    """The record of a program whose unit died on every attempt: ``skipped`` (it counts in no
    metric, so no verdict is made up) and ``failed`` (a resumed evaluation runs it again)."""
    return {
        "id": pair.id,
        "problem_id": pair.problem_id,
        "skipped": f"failed on the cluster: {error}",
        "failed": True,
        "wall_s": 0.0,
    }


def summaries(records: Sequence[dict[str, Any]], k: int) -> list[tuple[str, Summary]]:
    """``[("Best@1", ...), ("Best@k", ...)]`` over the records that were not skipped: Best@1 from
    each program's first (greedy) candidate, Best@k from its first ``k``.

    Raises:
        ValueError: no record to summarise.
    """
    scored = [r for r in records if "skipped" not in r]
    best1 = [best_of([outcome(r["candidates"][0])]) for r in scored]
    bestk = [best_of([outcome(v) for v in r["candidates"][:k]]) for r in scored]
    return [("Best@1", summarise(best1)), (f"Best@{k}", summarise(bestk))]


def model_proposer(model_name: str, settings: Settings) -> Proposer:
    """The model proposer (:func:`perfedit.candidates.model.model_proposer`) with the model
    (alias, path or adapter directory) ``model_name``, loaded now, once; ``settings.samples``
    samples besides the greedy reply.

    Raises:
        ModelMissing: the model is not on this machine.
    """
    from perfedit.candidates import model
    from perfedit.llm import load

    loaded = load(model_name, backend=settings.backend, endpoint=settings.endpoint)
    return model.model_proposer(lambda: loaded, settings)


def side_by_side(results: dict[str, Sequence[dict[str, Any]]], k: int) -> list[tuple[str, Summary]]:
    """Rows ``"<name> Best@1"`` and ``"<name> Best@k"`` for each named result set (records as
    :func:`evaluate` writes them), over only the programs scored in every set, so that the models
    are compared on the same programs.

    Raises:
        ValueError: no program was scored in every set.
    """
    scored = [{r["id"] for r in records if "skipped" not in r} for records in results.values()]
    common = set.intersection(*scored) if scored else set()
    if not common:
        raise ValueError("no program was scored in every result file")
    return [
        (f"{name} {metric}", summary)
        for name, records in results.items()
        for metric, summary in summaries([r for r in records if r["id"] in common], k)
    ]


#: ``on_record(index, total, record)``: called after each program (0-based ``index``).
RecordFn = Callable[[int, int, dict[str, Any]], None]


def evaluate(
    chosen: Sequence[Pair],
    propose: Proposer,
    settings: Settings,
    out: Path,
    *,
    meta: dict[str, Any],
    on_record: RecordFn | None = None,
    executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """:func:`evaluate_one` for every pair in ``chosen`` (one unit per pair on ``executor``,
    default: here, in order), appending each record (with ``meta``, e.g. the model and k) to the
    JSON Lines file ``out`` as it arrives; pairs already recorded there are not run again, except
    those recorded as failed on a cluster. Records come back in ``chosen``'s order.

    Raises:
        InputError: ``out`` holds records made with other ``meta`` (another model or k).
    """
    from perfedit.executors import LocalExecutor

    done: dict[str, dict[str, Any]] = {}
    if out.is_file():
        for line in out.read_text().splitlines():
            record = json.loads(line)
            if any(record.get(key) != value for key, value in meta.items()):
                raise InputError(
                    f"{out} holds results of another evaluation ({record.get('model')}, k={record.get('k')}); use another --out"
                )
            if not record.get("failed"):
                done[record["id"]] = record
    out.parent.mkdir(parents=True, exist_ok=True)
    reported = 0
    for pair in chosen:
        if pair.id in done and on_record:
            on_record(reported, len(chosen), done[pair.id])
            reported += 1
    pending = [pair for pair in chosen if pair.id not in done]
    executor = executor or LocalExecutor()
    units = [ProgramUnit.of(pair, propose, settings, ship=executor.remote) for pair in pending]
    for result in executor.run(evaluate_unit, units):
        pair = pending[result.index]
        record = result.value if result.error is None else failed_record(pair, result.error)
        done[pair.id] = {**meta, **record}
        with out.open("a") as handle:
            handle.write(json.dumps(done[pair.id]) + "\n")
        if on_record:
            on_record(reported, len(chosen), done[pair.id])
            reported += 1
    return [done[pair.id] for pair in chosen]
