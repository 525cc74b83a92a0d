"""A function's candidate is timed on its own calls recorded from the tests: ``perfedit compare``
as a process, on a project whose tests spend most of their time on their own set-up, so that a
much faster function barely changes the tests' time. Its calls decide (``time_calls``, the
default); with ``--no-time-calls`` the tests' time decides, as before."""

import json
from pathlib import Path

from helpers.cli import run_perfedit
from helpers.programs import QUADRATIC_DUPLICATES

WITH_A_SET = '''\
def has_duplicate(numbers: list[int]) -> bool:
    """True if two of the numbers are equal."""
    return len(set(numbers)) != len(numbers)
'''
#: Each test first does about 40 ms of work of its own (a checksum it asserts), then calls the
#: function on 300 items (a few ms for the quadratic original, microseconds with a set).
TESTS = """\
from solution import has_duplicate


def _setup():
    total = sum(range(3_000_000))
    assert total == 3_000_000 * 2_999_999 // 2


def test_distinct():
    _setup()
    assert not has_duplicate(list(range(300)))


def test_repeat_at_the_end():
    _setup()
    assert has_duplicate(list(range(300)) + [7])


def test_small():
    _setup()
    assert has_duplicate([1, 2, 1]) and not has_duplicate([])
"""


def _project(folder: Path) -> Path:
    (folder / "tests").mkdir(parents=True)
    (folder / "solution.py").write_text(QUADRATIC_DUPLICATES)
    (folder / "faster.py").write_text(WITH_A_SET)
    (folder / "tests" / "test_solution.py").write_text(TESTS)
    return folder


def _compare(folder: Path, *options: str) -> dict:
    result = run_perfedit(
        "compare",
        "solution.py",
        "faster.py",
        "--function",
        "has_duplicate",
        "--tests",
        "tests",
        "--json",
        *options,
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_functions_calls_decide_and_the_tests_guard(tmp_path: Path):
    report = _compare(_project(tmp_path / "p"))
    sets = report["timing_sets"]
    assert report["verdict"] == "faster", report["reason"]
    assert sets["decided_by"] == "test_calls" and "on its calls in the tests" in report["reason"]
    assert report["timed_on"]["test_calls"] == 4  # the four distinct calls the tests made
    calls, tests = sets["test_calls"], sets["tests"]
    assert calls["speedup"] == report["speedup"] > 3  # quadratic → a set, on 300 items
    # the tests' own 40 ms of set-up dilute the same saving: far less on the tests
    assert tests["speedup"] < calls["speedup"] / 2
    assert tests["p_slower"] > tests["alpha"]  # and not slower there: the guard holds


def test_without_time_calls_the_tests_decide(tmp_path: Path):
    report = _compare(_project(tmp_path / "p"), "--no-time-calls")
    sets = report["timing_sets"]
    assert sets.keys() == {"decided_by", "tests"} and sets["decided_by"] == "tests"
    assert report["timed_on"]["test_calls"] == 0
    assert "on its calls" not in report["reason"]
