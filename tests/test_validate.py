"""Validation in the sandbox: correctness first, then interleaved timing against the baseline."""

from pathlib import Path

import psutil
import pytest

from perfedit.config import Settings
from perfedit.errors import OriginalFailsTests
from perfedit.targets import find
from perfedit.testsource import discover
from perfedit.validate import Harness, outputs_match
from programs import FAST_SCRIPT


def _harness(project: Path, settings: Settings) -> Harness:
    path = project / "seen_before.py"
    target = find(path, path.read_text())
    return Harness(target, discover(target), settings)


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
