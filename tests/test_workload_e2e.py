"""Workloads end to end (the CLI as a process): ``perfedit profile --workload`` ranks functions by
the time of a script that does real work, not by the tests' time; the calls it makes are recorded,
replayed alone, kept or skipped by reason; ``perfedit compare --workload`` checks a candidate on
them and times it on them as a timing set of their own, beside the tests'; ``perfedit scan
--workload`` shows both shares; a workload that fails, hangs, starts a process, reads stdin, is
not a Python command or never runs the project's code is refused with a clear message (exit
code 2); tables off a terminal keep their full width."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.projects import write_project

SOLUTION = """\
import functools

SCALE = {"factor": 1}


def spread(values):
    out = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def tested_only(n):
    return n + 1


def scaled(values):
    return [value * SCALE["factor"] for value in values]


def pairs(values):
    for value in values:
        yield value, value


class Box:
    def size(self, values):
        return len(values)


def a_function_with_a_really_long_name_that_a_narrow_table_would_cut(values):
    return sorted(values)
"""

TESTS = """\
import solution


def test_spread():
    assert solution.spread([1, 2, 1]) == [1, 2]


def test_tested_only():
    for _ in range(2000):
        assert solution.tested_only(1) == 2
"""

WORKLOAD = """\
import solution

solution.SCALE["factor"] = 3
solution.spread([1, 2, 1])  # a call the tests make too
for size in (300, 400, 500, 600, 700, 800):
    solution.spread([i % (size // 2) for i in range(size)])
solution.scaled([1, 2, 3])
list(solution.pairs([1, 2]))
solution.Box().size([1])
solution.a_function_with_a_really_long_name_that_a_narrow_table_would_cut(list(range(30)))
"""

# A candidate right on the tests' small lists but wrong on the workload's long ones.
WRONG_ON_LONG = SOLUTION.replace(
    "def spread(values):\n",
    "def spread(values):\n    if len(values) > 250:\n        values = values[:250]\n"
    "    return list(dict.fromkeys(values))\n\n\ndef _old(values):\n",
)
RIGHT = SOLUTION.replace(
    "def spread(values):\n",
    "def spread(values):\n    return list(dict.fromkeys(values))\n\n\ndef _old(values):\n",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_project(tmp_path_factory.mktemp("workload"), SOLUTION, TESTS)
    (folder / "bench").mkdir()
    (folder / "bench" / "run.py").write_text(WORKLOAD)
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_profile_ranks_by_the_workload_and_records_its_calls(project: Path, cache: Path):
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = run_perfedit(
        "profile", "--workload", "python bench/run.py", "--json", cwd=project, cache=cache
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["workload"] == "python bench/run.py" and report["tests"] == 0
    rows = report["functions"]
    assert rows[0]["function"] == "spread" and rows[0]["calls"] == 7
    assert "tested_only" not in {r["function"] for r in rows}
    assert all("tests" not in r and 0 <= r["share"] <= 1 for r in rows)
    assert any(h["line"] for h in rows[0]["hot_lines"])
    (calls_file,) = (cache / "profiles").glob("*.calls.json")
    calls = {c["function"]: c for c in json.loads(calls_file.read_text())["calls"].values()}
    assert len(calls["spread"]["kept"]) == 7 and not calls["spread"]["skipped"]
    assert calls["scaled"]["kept"] == [] and calls["scaled"]["skipped"] == {
        "another result when replayed alone (depends on state)": 1
    }
    assert calls["pairs"]["skipped"] == {"a generator or coroutine (consumed by the workload)": 1}
    assert calls["Box.size"]["skipped"] == {
        "a method or nested function (cannot be called alone)": 1
    }
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert after == before, "the workload's run writes nothing into the project"

    again = run_perfedit("profile", "--workload", "python bench/run.py", cwd=project, cache=cache)
    assert again.returncode == 0 and "from the cache" in again.stdout


def test_table_off_a_terminal_keeps_whole_names(project: Path, cache: Path):
    result = subprocess.run(
        [sys.executable, "-m", "perfedit", "profile", "--workload", "python bench/run.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,  # a profiled run on a loaded two-core machine
        env={
            **{k: v for k, v in os.environ.items() if k != "COLUMNS"},
            "PERFEDIT_CACHE_DIR": str(cache),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "a_function_with_a_really_long_name_that_a_narrow_table_would_cut" in result.stdout
    assert "solution.py:" in result.stdout and "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) > 80


def test_compare_checks_and_times_a_candidate_on_the_workloads_calls(
    project: Path, cache: Path, tmp_path: Path
):
    wrong, right = tmp_path / "wrong.py", tmp_path / "right.py"
    wrong.write_text(WRONG_ON_LONG)
    right.write_text(RIGHT)
    common = ("--function", "spread", "--workload", "python bench/run.py", "--json")
    rejected = run_perfedit("compare", "solution.py", str(wrong), *common, cwd=project, cache=cache)
    verdict = json.loads(rejected.stdout)
    assert verdict["verdict"] == "rejected", rejected.stdout
    assert "differential testing" in verdict["reason"] and "spread([" in verdict["reason"]

    accepted = run_perfedit("compare", "solution.py", str(right), *common, cwd=project, cache=cache)
    report = json.loads(accepted.stdout)
    assert report["verdict"] != "rejected", accepted.stdout
    checked = report["checked_by_differential_testing"]
    assert checked["workload"] == 7 and checked["shared"] == 1, checked
    assert report["timed_on"] == {"tests": 1, "workload_calls": 7, "test_calls": 0}
    sets = report["timing_sets"]  # the workload's calls decide; the tests are timed beside them
    assert sets.keys() == {"decided_by", "workload_calls", "tests"}
    assert sets["decided_by"] == "workload_calls"
    assert sets["workload_calls"]["speedup"] == report["speedup"]
    assert sets["tests"]["time_s"] != sets["workload_calls"]["time_s"]
    assert 0 <= sets["tests"]["p_slower"] <= 1
    text = run_perfedit(
        "compare", "solution.py", str(right), *common[:-1], cwd=project, cache=cache
    )
    assert "on the 7 calls recorded from the workload" in text.stdout, text.stdout
    assert "On its tests, " in text.stdout, text.stdout


def test_compare_says_when_the_workload_never_calls_the_target(
    project: Path, cache: Path, tmp_path: Path
):
    candidate = tmp_path / "candidate.py"
    candidate.write_text(SOLUTION.replace("return n + 1", "return 1 + n"))
    result = run_perfedit(
        "compare",
        "solution.py",
        str(candidate),
        "--function",
        "tested_only",
        "--workload",
        "python bench/run.py",
        cwd=project,
        cache=cache,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "never called tested_only" in result.stdout


def test_scan_shows_both_shares(project: Path, cache: Path, tmp_path: Path):
    candidates = tmp_path / "candidates.py"
    candidates.write_text(RIGHT)
    result = run_perfedit(
        "scan",
        "--workload",
        "python bench/run.py",
        "--top",
        "1",
        "--candidates",
        str(candidates),
        "--no-explain",
        "--json",
        cwd=project,
        cache=cache,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    (entry,) = report["functions"]
    assert report["workload"] == "python bench/run.py" and entry["function"] == "spread"
    assert entry["workload_share"] > entry["share"] >= 0
    if entry["found"]:  # its speedup is the workload calls', the tests' beside it
        assert entry["decided_by"] == "workload_calls" and entry["tests_speedup"] > 0
    else:
        assert entry["decided_by"] is None and entry["why"]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import solution\nraise SystemExit(3)\n", "exited with status 3"),
        ("import solution\nsolution.spread([1])\ninput()\n", "read from stdin"),
        (
            "import subprocess, sys, solution\nsolution.spread([1])\n"
            "subprocess.run([sys.executable, '-c', 'pass'])\n",
            "started another process",
        ),
        ("import time\nimport solution\ntime.sleep(600)\n", "ran longer than 20 s"),
        ("print('nothing of the project')\n", "ran none of the project's own functions"),
    ],
    ids=["fails", "reads-stdin", "starts-a-process", "hangs", "never-calls"],
)
def test_bad_workloads_are_refused_clearly(tmp_path: Path, cache: Path, script: str, message: str):
    project = write_project(tmp_path / "p", SOLUTION, TESTS, **{"work.py": script})
    result = run_perfedit(
        "profile", "--workload", "python work.py", "--timeout", "20", cwd=project, cache=cache
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback (most recent call last)" not in result.stderr


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("make bench", "is not a Python command"),
        ("python -X dev work.py", "interpreter option -X"),
        ("python missing.py", "does not exist"),
        ("python ../outside.py", "outside the project"),
    ],
)
def test_commands_that_cannot_run_are_refused(
    tmp_path: Path, cache: Path, command: str, message: str
):
    project = write_project(tmp_path / "p", SOLUTION, TESTS)
    result = run_perfedit("profile", "--workload", command, cwd=project, cache=cache)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_the_workload_setting_is_the_default(tmp_path: Path, cache: Path):
    project = write_project(tmp_path / "p", SOLUTION, TESTS, **{"work.py": WORKLOAD})
    with (project / "pyproject.toml").open("a") as handle:
        handle.write(textwrap.dedent('[tool.perfedit]\nworkload = "python work.py"\n'))
    result = run_perfedit("profile", "--json", cwd=project, cache=cache)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["workload"] == "python work.py"
