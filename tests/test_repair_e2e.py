"""Argument-copy repair through the CLI as a process: a stub candidate with the right idea that
sorts its argument in place is rejected by differential testing, and its repaired twin
("stub 1, argument copied", ``numbers = sorted(numbers)``) is validated right after it and
wins; ``--no-argument-repair`` leaves the rejection as it is."""

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.programs import QUADRATIC_DUPLICATES
from helpers.projects import write_project

SOLUTION = QUADRATIC_DUPLICATES
TESTS = """\
from solution import has_duplicate

DISTINCT = list(range(0, 3000, 3))


def test_small():
    assert has_duplicate([3, 1, 2, 3])
    assert not has_duplicate([3, 1, 2])


def test_large():
    assert not has_duplicate(DISTINCT)
"""
SORTS_IN_PLACE = '''\
def has_duplicate(numbers: list[int]) -> bool:
    """True if two of the numbers are equal."""
    numbers.sort()
    return any(a == b for a, b in zip(numbers, numbers[1:]))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = write_project(tmp_path / "dup", SOLUTION, TESTS)
    (tmp_path / "stub.py").write_text(SORTS_IN_PLACE)
    return folder


def suggest(project: Path, *options: str):
    return run_perfedit(
        "suggest",
        "solution.py",
        "--function",
        "has_duplicate",
        "--candidates",
        str(project.parent / "stub.py"),
        "--runs",
        "5",
        "--no-explain",
        "--json",
        *options,
        cwd=project,
    )


def test_a_candidate_that_sorts_its_argument_is_repaired_and_wins(project: Path):
    result = suggest(project)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    stub, repaired = report["candidates"]
    assert stub["label"] == "stub 1" and stub["verdict"] == "rejected"
    assert stub["reason"].startswith("differential testing: leaves argument 1 as [1, 2, 3, 3]")
    assert repaired["label"] == "stub 1, argument copied" and repaired["verdict"] == "faster"
    assert report["winner"] == "stub 1, argument copied"
    assert "+    numbers = sorted(numbers)" in report["diff"]


def test_without_the_repair_the_rejection_stands(project: Path):
    result = suggest(project, "--no-argument-repair")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert not report["found"] and list(report["candidates"]) == ["stub 1"]
    assert "leaves argument 1" in report["candidates"]["stub 1"]
