"""The budget reserve: when the original is slow for the budget, its timed runs stop early and
its profile is skipped, so that the budget still holds the validation of a rule's and the greedy
candidate; with ``budget_reserve`` off, or time to spare, the baseline is as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfedit.config import Settings
from perfedit.job.pipeline import (
    RESERVED_VALIDATIONS,
    Deadline,
    Job,
    Request,
    locate,
    validation_estimate_s,
)
from perfedit.verify.validate import Harness


class Left(Deadline):
    """A deadline that always has ``seconds`` left: the job's decisions without waiting."""

    def left(self) -> float:
        return self.seconds


def settings(**changes: object) -> Settings:
    return Settings(**{"runs": 10, "min_runs": 5, "explain": False, **changes})  # type: ignore[arg-type]


def test_a_validation_is_estimated_from_one_run_of_the_tests():
    # correctness, a warm-up per side, then the pairs up to the first look
    assert validation_estimate_s(2.0, settings()) == 2.0 * (1 + 2 + 2 * 5)
    assert validation_estimate_s(2.0, settings(adaptive=False)) == 2.0 * (1 + 2 + 2 * 10)


@pytest.mark.parametrize(
    ("left_s", "reserve", "another"),
    [
        (100.0, True, True),  # 100 - 1 s leaves the 2 × 13 s reserve
        (20.0, True, False),  # it would not
        (20.0, False, True),  # the reserve is off
    ],
)
def test_another_run_of_the_original_only_while_it_leaves_the_reserve(
    script_project: Path, left_s: float, reserve: bool, another: bool
):
    conf = settings(budget_reserve=reserve)
    path = script_project / "seen_before.py"
    target, suite = locate(Request(path, path.read_text()), conf)
    with Harness(target, suite, conf) as harness:
        job = Job(conf, harness, deadline=Left(left_s))
        assert job.reserve_s(1.0) == (RESERVED_VALIDATIONS * 13.0 if reserve else 0.0)
        assert job.another_baseline_run(1.0) is another
        assert Job(conf, harness).another_baseline_run(1.0)  # no deadline: no reserve


@pytest.mark.parametrize(("left_s", "reserve"), [(1e-6, True), (1e-6, False), (3600.0, True)])
def test_a_slow_original_is_timed_once_and_not_profiled_when_the_budget_is_short(
    script_project: Path, left_s: float, reserve: bool
):
    """Short of time (a millionth of a second left, never spent), the reserve times the original
    once and does not profile it; without the reserve, or with an hour left, it is timed three
    times and profiled on its slowest case, as before."""
    conf = settings(budget_reserve=reserve)
    path = script_project / "seen_before.py"
    target, suite = locate(Request(path, path.read_text()), conf)
    with Harness(target, suite, conf) as harness:
        job = Job(conf, harness, deadline=Left(left_s))
        asked: list[bool] = []
        profiled: list[float] = []
        decide, profile = job.another_baseline_run, harness.hot_lines
        job.another_baseline_run = lambda run_s: asked.append(decide(run_s)) or asked[-1]  # type: ignore[method-assign]
        harness.hot_lines = lambda source, test, limit_s: (
            profiled.append(limit_s)
            or profile(  # type: ignore[method-assign]
                source, test, limit_s
            )
        )
        baseline = job.baseline()
        short = reserve and left_s < 1
        assert asked == ([False] if short else [True, True])  # asked before the 2nd and 3rd runs
        assert len(baseline.per_test_s) == len(suite.cases)
        assert (profiled == []) is short
        if short:
            assert job.target_hot_lines.result() == []
