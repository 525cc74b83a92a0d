"""The timing set: a candidate is timed on the original's slowest tests that take most of its
time; every test still checks it, and a slowdown on the tests left out brings them back."""

from pathlib import Path

from helpers.projects import SLOW_SUM, write_project
from helpers.settings import fast_settings
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.validate import Harness, timing_set

TESTS = """\
from solution import slow_sum


def test_heavy():
    assert slow_sum(1_500_000) == 1_500_000 * 1_499_999 // 2


def test_small_a():
    assert slow_sum(3) == 3


def test_small_b():
    assert slow_sum(4) == 6


def test_small_c():
    assert slow_sum(0) == 0
"""

FORMULA = "def slow_sum(n):\n    return n * (n - 1) // 2 if n > 0 else 0\n"
#: Fast on the heavy test, but about 40 ms on each small input the original answers at once.
FORMULA_SLOW_WHEN_SMALL = (
    "import time\n\n\ndef slow_sum(n):\n    if n < 10:\n        time.sleep(0.04)\n"
    "    return n * (n - 1) // 2 if n > 0 else 0\n"
)


def test_the_set_is_the_slowest_tests_that_take_the_share():
    times = {"a": 0.5, "b": 0.3, "c": 0.15, "d": 0.05}
    assert timing_set(times, 0.95) == ("a", "b", "c")
    assert timing_set(times, 0.5) == ("a",)
    assert timing_set(times, 1.0) is None  # every test
    assert timing_set({"only": 1.0}, 0.95) is None
    assert timing_set({"a": 0.0, "b": 0.0}, 0.95) is None


def _harness(folder: Path, **settings: object) -> Harness:
    project = write_project(folder, SLOW_SUM, TESTS)
    path = project / "solution.py"
    target = find(path, path.read_text(), function="slow_sum")
    return Harness(target, discover(target), fast_settings(**settings))


def test_a_candidate_is_timed_on_the_heavy_test_and_checked_on_all(tmp_path: Path):
    with _harness(tmp_path / "p") as harness:
        harness.baseline()
        verdict = harness.validate("formula", FORMULA)
        broken = harness.validate(
            "broken", "def slow_sum(n):\n    return n * n // 2 if n > 0 else 0\n"
        )
    assert verdict.verdict == "faster", verdict.reason
    assert "timed on the 1 of 4 tests" in verdict.reason
    # the heavy test's time is the function's: its recorded calls do not decide, and no pass
    # over them is timed (CALLS_DECIDE_BELOW)
    assert list(verdict.per_test_s) == ["tests/test_solution.py::test_heavy"]
    assert broken.verdict == "rejected" and broken.tests_passed < 4  # all four checked it


def test_a_slowdown_on_the_tests_left_out_times_every_test(tmp_path: Path):
    with _harness(tmp_path / "p") as harness:
        harness.baseline()
        verdict = harness.validate("slow when small", FORMULA_SLOW_WHEN_SMALL)
    assert "timed on the" not in verdict.reason
    assert len(verdict.per_test_s) == 4


def test_timed_share_one_times_every_test(tmp_path: Path):
    with _harness(tmp_path / "p", timed_share=1.0) as harness:
        harness.baseline()
        verdict = harness.validate("formula", FORMULA)
    assert "timed on the" not in verdict.reason
    assert len(verdict.per_test_s) == 4
