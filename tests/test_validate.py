"""Validation in the sandbox: correctness first, then interleaved timing against the baseline."""

import time
from pathlib import Path

import psutil
import pytest

from helpers.programs import FAST_SCRIPT
from perfedit.config import Settings
from perfedit.errors import OriginalFailsTests
from perfedit.sandbox import TestRecord as Record
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.timing import SequentialRule, compare
from perfedit.verify.validate import (
    CALLS,
    TESTS,
    Harness,
    TimedPairs,
    judge,
    outputs_match,
)


def _harness(project: Path, settings: Settings) -> Harness:
    path = project / "seen_before.py"
    target = find(path, path.read_text())
    return Harness(target, discover(target), settings)


def _record(name: str, seconds: float) -> Record:
    return Record(name, "passed", seconds, seconds, 0, "", "", seconds)


def test_the_workloads_calls_are_a_timing_set_of_their_own():
    """Slow tests reaching the function no longer swamp its workload calls: each timing set
    sums its own records, and the cross-check still sees every record."""
    pairs = TimedPairs(CALLS)
    for run in range(5):
        tests = [_record(f"test_{i}", 0.100 + 0.001 * run) for i in range(3)]
        pairs.baseline.append([*tests, _record(CALLS, 0.010)])
        pairs.candidate.append([*tests, _record(CALLS, 0.002)])
    wall_b, wall_c, cpu_b, cpu_c = pairs.totals(CALLS)
    assert wall_b == pytest.approx([0.010] * 5) and wall_c == pytest.approx([0.002] * 5)
    assert cpu_c == pytest.approx(wall_c)
    tests_b, tests_c, _, _ = pairs.totals(TESTS)
    assert tests_b == tests_c and tests_b[0] == pytest.approx(0.300)
    assert pairs.cross_check().claimed_s == pytest.approx(0.008)


def test_the_workloads_calls_decide_and_the_tests_must_not_get_slower():
    rule = SequentialRule(max_runs=10, min_runs=5)
    base = [1.0, 1.02, 0.99, 1.01, 1.0, 1.03, 0.98, 1.0, 1.01, 0.99]
    workload = compare(base, [x / 2 for x in base], alpha=rule.alpha_at(5))
    same = compare(base, base[::-1], alpha=workload.alpha)
    verdict, reason = judge(rule, workload, same)
    assert verdict == "faster" and "on the workload's calls" in reason
    assert "on the tests 1.00x" in reason and "that it is slower" in reason
    slower = compare(base, [1.3 * x for x in base], alpha=workload.alpha)
    verdict, reason = judge(rule, workload, slower)
    assert verdict == "not_faster" and "significantly slower on the tests (0.77x" in reason
    verdict, reason = judge(rule, workload)
    assert verdict == "faster" and "workload" not in reason and "tests" not in reason


def test_outputs_match_like_pie():
    assert outputs_match("1 2  \n3\n\n", "1 2\n3")
    assert outputs_match("0.3333333\n", "0.3334\n")
    assert not outputs_match("0.33\n", "0.34\n")
    assert not outputs_match("YES\n", "NO\n")
    assert not outputs_match("1\n2\n", "1\n")


def test_script_candidates_judged(script_project: Path):
    before = {
        p.pid for p in psutil.Process().children(recursive=True)
    }  # e.g. multiprocessing's resource tracker
    with _harness(script_project, Settings(runs=5, timeout_s=2)) as harness:
        baseline = harness.baseline()
        assert baseline.tests_total == 4
        assert baseline.slowest_test == "case 3"  # the largest input
        assert baseline.peak_rss_bytes > 1_000_000

        faster = harness.validate("set", FAST_SCRIPT)
        assert faster.verdict == "faster", faster.reason
        assert faster.comparison.speedup > 1.5 and faster.comparison.p_value < 0.05
        assert faster.tests_passed == faster.tests_total == 4

        wrong = harness.validate("wrong", "input()\nprint('NO')\n")
        assert wrong.verdict == "rejected" and "wrong output" in wrong.reason

        same = harness.validate("same", (script_project / "seen_before.py").read_text())
        assert same.verdict == "not_faster"

        hang = harness.validate("hang", "while True:\n    pass\n")
        assert hang.verdict == "rejected" and "timeout" in hang.reason

        broken = harness.validate("broken", "def f(:\n")
        assert broken.verdict == "rejected" and "does not parse" in broken.reason
    leftovers = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert leftovers == []


def test_original_must_pass(script_project: Path):
    (script_project / "tests" / "output.0.txt").write_text("YES\n")
    with (
        _harness(script_project, Settings(runs=5)) as harness,
        pytest.raises(OriginalFailsTests, match="case 0: wrong output"),
    ):
        harness.baseline()


def test_pytest_suite_rejects_reordering(dedupe_project: Path):
    path = dedupe_project / "dedupe.py"
    target = find(path, path.read_text(), function="unique_in_order")
    with Harness(target, discover(target), Settings(runs=5)) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate(
            "set", target.replace("def unique_in_order(items):\n    return list(set(items))\n")
        )
    assert verdict.verdict == "rejected"
    assert "test_small" in verdict.reason and "assert [" in verdict.reason
    assert "AssertionError" in verdict.detail


def test_a_line_profile_names_the_hot_line(script_project: Path, dedupe_project: Path):
    """One sandboxed run under the line tracer names the line where the time goes, as a line of
    the target's code, hottest first: the script's ``x in seen`` over a list on its largest case
    (the original, in the baseline's worker), and a function's membership test on its pytest
    test, in the original and in a candidate whose loop sits elsewhere in its code."""
    with _harness(script_project, Settings(runs=5)) as harness:
        hot = harness.hot_lines(harness.target.source, "case 3", 10.0)
    assert hot[0][0] == 6  # if x in seen:
    assert len(hot) <= 5 and [s for _, s in hot] == sorted((s for _, s in hot), reverse=True)

    path = dedupe_project / "dedupe.py"
    target = find(path, path.read_text(), function="unique_in_order")
    counting = "def unique_in_order(items):\n    result = []\n    for item in items:\n        if not result.count(item):\n            result.append(item)\n    return result\n"
    with Harness(target, discover(target), Settings(runs=5)) as harness:
        test = "tests/test_dedupe.py::test_large"
        original = harness.hot_lines(target.source, test, 10.0)
        candidate = harness.hot_lines(target.replace(counting), test, 10.0)
    assert target.code.splitlines()[original[0][0] - 1].strip() == "if item not in result:"
    assert candidate[0][0] == 4  # if not result.count(item):


def test_a_candidate_that_hangs_or_crashes_has_no_hot_lines(script_project: Path):
    """A profiled run that does not end in time is killed at its limit, and one that crashes
    or exits non-zero gives no hot lines either: never an error; the harness goes on."""
    with _harness(script_project, Settings(runs=5, timeout_s=2)) as harness:
        started = time.monotonic()
        assert harness.hot_lines("while True:\n    pass\n", "case 3", 1.0) == []
        assert time.monotonic() - started < 60  # killed at the 1 s limit, not left to hang
        assert harness.hot_lines("import os\nos._exit(0)\n", "case 3", 5.0) == []
        assert harness.hot_lines("raise ValueError('broken')\n", "case 3", 5.0) == []
        assert harness.hot_lines(harness.target.source, "no such case", 5.0) == []
        assert harness.hot_lines(harness.target.source, "case 3", 10.0)[0][0] == 6
        assert harness.validate("fast", FAST_SCRIPT).verdict == "faster"
