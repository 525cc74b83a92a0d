"""PerfRL's reward tiers from the product's validation harness (PerfRL, section 4).

Each candidate program for one training input is judged by :class:`perfedit.verify.validate.Harness`
against the input's stdin/stdout cases, with the slow program as the baseline:

====  ======  ===============================================================
tier  reward  the candidate
====  ======  ===============================================================
R1    0       does not parse (or the reply held no code at all)
R2    1       parses, but raises, times out or fails a test
R3    1.3     passes every test
R4    2       passes and is significantly faster (one-sided test, >= min_speedup)
====  ======  ===============================================================

:func:`score_inputs` fans the inputs out over worker processes (``spawn``, so a parent holding
torch threads is never forked); each worker judges all candidates of one input against one warm
baseline. Groups and results are plain picklable data (TRL's habit for reward functions).
"""

from __future__ import annotations

import ast
import concurrent.futures
import multiprocessing
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit.config import Settings
from perfedit.errors import OriginalFailsTests
from perfedit.job.locate import Request, locate
from perfedit.targets import Candidate
from perfedit.verify.validate import Harness, validate_candidates

if TYPE_CHECKING:
    from perfedit.training.remote import ShippingPool

#: R1–R4 of PerfRL, section 4.
NO_PARSE, FAILS, PASSES, FASTER = 0.0, 1.0, 1.3, 2.0


@dataclass(frozen=True)
class RewardGroup:
    """The candidates of one training input: ``slow`` is the original program (the baseline),
    ``tests`` its case folder, ``candidates`` whole programs (None: the reply held no code)."""

    slow: str
    tests: Path
    candidates: tuple[str | None, ...]
    settings: Settings


def tier(code: str | None, verdict: str) -> float:
    """The reward of one candidate: ``code`` None or unparseable → R1; otherwise by the harness's
    verdict (:attr:`Verdict.verdict <perfedit.verify.validate.Verdict>`: "rejected" → R2,
    "not_faster" → R3, "faster" → R4)."""
    if code is None or not _parses(code):
        return NO_PARSE
    return {"rejected": FAILS, "not_faster": PASSES, "faster": FASTER}[verdict]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def judge(group: RewardGroup) -> list[float] | None:
    """The rewards of ``group.candidates``, in order; None when the slow program itself fails its
    tests (the input cannot rank anything). Runs the programs in the sandbox
    (:func:`~perfedit.verify.validate.validate_candidates`: a repeated program is run once); seconds per
    candidate are about ``settings.runs`` times the tests' run time."""
    with tempfile.TemporaryDirectory(prefix="perfedit-reward-") as folder:
        program = Path(folder) / "prog.py"
        program.write_text(group.slow, encoding="utf-8")
        target, suite = locate(
            Request(path=program, source=group.slow, tests=group.tests), group.settings
        )
        with Harness(target, suite, group.settings) as harness:
            try:
                harness.baseline(runs=1)
            except OriginalFailsTests:
                return None
            candidates = [
                Candidate(f"candidate {index}", code, code)
                if code is not None
                else Candidate.unusable(f"candidate {index}")
                for index, code in enumerate(group.candidates)
            ]
            verdicts = validate_candidates(
                candidates, lambda c: harness.validate(c.label, c.source), {}
            )
            return [
                tier(code, verdict.verdict)
                for code, verdict in zip(group.candidates, verdicts, strict=True)
            ]


def reward_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """``workers`` worker processes for :func:`score_inputs` (started with ``spawn``); use it as
    a context manager so that the workers are shut down."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn")
    )


def score_inputs(
    groups: Sequence[RewardGroup], pool: concurrent.futures.Executor | ShippingPool | None = None
) -> list[list[float] | None]:
    """:func:`judge` for every group, in order: in the worker processes of ``pool`` (one group per
    worker at a time), or in this process when ``pool`` is None.

    Raises:
        SandboxError: the harness itself failed (re-raised from the worker).
    """
    if pool is None:
        return [judge(group) for group in groups]
    return list(pool.map(judge, groups))
