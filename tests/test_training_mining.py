"""Pair mining: PIE's filters (section 2.1) on a small synthetic trajectory file, through the real
`perfedit data pairs` process; and a synthetic git repository where one commit made a function
measurably faster under its tests."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

from helpers.cli import run_perfedit
from perfedit.config import Settings
from perfedit.training import mining

BASE = "n = int(input())\nvalues = list(map(int, input().split()))\n"
SLOW = BASE + "best = 0\nfor v in values:\n    if v > best:\n        best = v\nprint(best)\n"
FAST = BASE + "best = max(values)\nprint(best)\n"
FAST_AGAIN = BASE + "best = max(values)\nprint(best )\n"
LONG = "".join(f"x{i} = {i}\n" for i in range(160)) + "print(x0)\n"

#: (user, problem, timestamp, status, cpu_time ms, source)
SUBMISSIONS = [
    ("u1", "pA", "2020-01-01T10:00:00", "Accepted", 100, SLOW),
    ("u1", "pA", "2020-01-01T10:05:00", "Wrong Answer", 10, "print(0)\n"),
    ("u1", "pA", "2020-01-01T10:10:00", "Accepted", 50, FAST),  # kept: 50% faster, small change
    ("u1", "pA", "2020-01-01T10:20:00", "Accepted", 48, FAST_AGAIN),  # 4% faster: dropped
    ("u2", "pB", "2020-01-02T09:00:00", "Accepted", 100, "import numpy\n" + SLOW),
    (
        "u2",
        "pB",
        "2020-01-02T09:10:00",
        "Accepted",
        60,
        SLOW,
    ),  # only an unused import went: dropped
    ("u3", "pC", "2020-01-03T09:00:00", "Accepted", 100, SLOW),
    (
        "u3",
        "pC",
        "2020-01-03T09:10:00",
        "Accepted",
        10,
        "print(max(map(int, open(0).read().split()[1:])))\n",
    ),  # rewritten
    ("u4", "pD", "2020-01-04T09:00:00", "Accepted", 100, LONG),
    ("u4", "pD", "2020-01-04T09:10:00", "Accepted", 10, LONG.replace("x0)", "0)")),  # too long
]


def write_trajectories(folder: Path) -> Path:
    (folder / "src").mkdir(parents=True)
    path = folder / "trajectories.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["submission_id", "user_id", "problem_id", "date", "status", "cpu_time", "filename"]
        )
        for i, (user, problem, when, status, cpu, code) in enumerate(SUBMISSIONS):
            (folder / "src" / f"s{i}.py").write_text(code)
            writer.writerow([f"s{i}", user, problem, when, status, cpu, f"src/s{i}.py"])
    return path


def test_pie_filters_keep_one_pair(tmp_path: Path):
    pairs, dropped = mining.mine_trajectories(
        mining.read_trajectories(write_trajectories(tmp_path))
    )
    assert [(p["submission_id_v0"], p["submission_id_v1"]) for p in pairs] == [("s0", "s2")]
    assert (
        pairs[0]["slow"] == SLOW
        and pairs[0]["fast"] == FAST
        and pairs[0]["improvement_frac"] == 50.0
    )
    assert pairs[0]["split"] == mining.split_of("pA", 0.1, 0.1)
    assert dropped == {
        "not more than 10% faster": 1,
        "the only change is an unused import (or the code does not parse)": 1,
        "50% or more of the lines changed": 1,
        "150 or more non-empty lines": 1,
    }


def test_split_is_by_problem_and_stable():
    splits = {p: mining.split_of(p, 0.2, 0.2) for p in (f"p{i:05d}" for i in range(500))}
    assert {"train", "val", "test"} == set(splits.values())
    assert splits == {p: mining.split_of(p, 0.2, 0.2) for p in splits}
    assert 0.1 < sum(s == "val" for s in splits.values()) / 500 < 0.3


def test_data_pairs_cli(tmp_path: Path):
    trajectories = write_trajectories(tmp_path)
    done = run_perfedit(
        "data",
        "pairs",
        str(trajectories),
        "--out",
        str(tmp_path / "out"),
        "--val-fraction",
        "0",
        "--test-fraction",
        "0",
        timeout_s=600,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"train": 1, "val": 0, "test": 0}
    [row] = [
        json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    ]
    assert row["problem_id"] == "pA" and "dropped 1: not more than 10% faster" in done.stderr
    missing = run_perfedit("data", "pairs", str(tmp_path / "nope.csv"), "--out", "x", timeout_s=600)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


SLOW_TOTAL = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
FAST_TOTAL = "def total(n):\n    return n * (n - 1) // 2 if n > 0 else 0\n"
TEST_TOTAL = "from mod import total\n\n\ndef test_total():\n    assert total(300_000) == 300_000 * 299_999 // 2\n    assert total(0) == 0\n"


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def test_git_history_yields_the_commit_that_made_a_function_faster(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text('[project]\nname = "m"\nversion = "0"\n')
    (repo / "mod.py").write_text(SLOW_TOTAL + "\n\ndef other(x):\n    return x\n")
    (repo / "tests" / "test_mod.py").write_text(TEST_TOTAL)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "slow")
    (repo / "mod.py").write_text(FAST_TOTAL + "\n\ndef other(x):\n    return x\n")
    git(repo, "commit", "-qam", "fast")
    (repo / "mod.py").write_text(
        FAST_TOTAL + "\n\ndef other(x):\n    return x + 0\n"
    )  # untested change
    git(repo, "commit", "-qam", "untested")
    pairs = mining.mine_git(repo, Settings(runs=10))
    assert [(p["slow"], p["fast"], p["kind"]) for p in pairs] == [
        (SLOW_TOTAL, FAST_TOTAL, "function")
    ]
    assert pairs[0]["speedup"] > 1.1 and pairs[0]["id"].endswith(":mod.py:total")
