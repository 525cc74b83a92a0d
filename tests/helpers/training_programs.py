"""A tiny PIE-format data folder for the training tests: pair files and case folders.

Problem ``pdouble`` prints twice its input; its slow version first spins for about 50 ms (a
gap the harness's significance test sees even on a busy machine). Problem ``psum`` sums a line
of numbers. Both slow versions read stdin, so they are scripts.
"""

from __future__ import annotations

import json
from pathlib import Path

SPIN = "for _ in range(1_500_000):\n    pass\n"

DOUBLE_SLOW = "n = int(input())\n" + SPIN + "print(n * 2)\n"
DOUBLE_FAST = "print(int(input()) * 2)\n"
DOUBLE_SAME_SPEED = "n = int(input())\n" + SPIN + "print(2 * n)\n"
DOUBLE_WRONG = "print(int(input()) * 3)\n"
DOUBLE_RAISES = "raise ValueError(input())\n"

SUM_SLOW = (
    "input()\ntotal = 0\nfor x in input().split():\n    total = total + int(x)\nprint(total)\n"
)
SUM_FAST = "input()\nprint(sum(map(int, input().split())))\n"


def _cases(folder: Path, cases: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (stdin, stdout) in enumerate(cases):
        (folder / f"input.{i}.txt").write_text(stdin)
        (folder / f"output.{i}.txt").write_text(stdout)


def pie_row(problem: str, submission: str, slow: str, fast: str, fast_passes: bool = True) -> dict:
    """A row as in PIE's JSONL files (the fields perfedit reads, and a few it does not)."""
    return {
        "problem_id": problem,
        "user_id": "u1",
        "submission_id_v0": submission,
        "submission_id_v1": submission + "f",
        "cpu_time_v0": 100,
        "cpu_time_v1": 50,
        "improvement_frac": 50.0,
        "slow": slow,
        "fast": fast,
        "sample_tests_py311": {"slow": "pass", "fast": "pass" if fast_passes else "wrong answer"},
        "split": "train",
    }


def make_pie(folder: Path) -> Path:
    """``folder`` with train.jsonl (3 pairs, one whose fast version is recorded as failing),
    val.jsonl (1 pair) and tests/{pdouble,psum}/; returns ``folder``."""
    _cases(folder / "tests" / "pdouble", [("3\n", "6\n"), ("10\n", "20\n")])
    _cases(folder / "tests" / "psum", [("3\n1 2 3\n", "6\n")])
    train = [
        pie_row("pdouble", "s1", DOUBLE_SLOW, DOUBLE_FAST),
        pie_row("psum", "s2", SUM_SLOW, SUM_FAST),
        pie_row("psum", "s3", SUM_SLOW, "print(0)\n", fast_passes=False),
    ]
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in train))
    (folder / "val.jsonl").write_text(
        json.dumps(pie_row("pdouble", "s4", DOUBLE_SLOW, DOUBLE_FAST)) + "\n"
    )
    return folder
