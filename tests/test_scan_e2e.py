"""``perfedit scan`` as a process: the tests are profiled once, the hottest functions get a
faster version each (from the stub candidates-file proposer, so no model is needed), and one
report (table, JSON, Markdown or HTML) lists them hottest first; files change only with
``--apply``. Bad input (no tests, failing tests, a report path that cannot be written) gives a
clear message and exit code 2 (or, for one function's failing tests, a reason in the report)."""

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.projects import DEDUPE, SLOW_SUM, module, write_project

SOLUTION = module(SLOW_SUM, DEDUPE)

TESTS = """\
import solution

ITEMS = [i % 1500 for i in range(3000)]


def test_sum():
    assert solution.slow_sum(100_000) == 100_000 * 99_999 // 2


def test_dedupe():
    assert solution.dedupe(ITEMS) == list(range(1500))
"""

CANDIDATES = """\
def slow_sum(n):
    return sum(range(n))
# --- candidate ---
def dedupe(items):
    return list(dict.fromkeys(items))
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def make_project(folder: Path, tests: str = TESTS) -> Path:
    return write_project(folder, SOLUTION, tests, **{"candidates.txt": CANDIDATES})


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


STUB = ("--candidates", "candidates.txt", "--runs", "5", "--no-explain")


def test_scan_reports_the_hottest_first_and_changes_nothing(tmp_path: Path, cache: Path):
    project = make_project(tmp_path / "project")
    before = snapshot(project)
    report_md, report_html = tmp_path / "scan.md", tmp_path / "scan.html"

    result = run_perfedit(
        "scan", "--top", "2", *STUB, "--json", "--report", str(report_md), cwd=project, cache=cache
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["functions"]
    assert [r["function"] for r in rows] == ["dedupe", "slow_sum"]  # the hottest first
    assert (
        rows[0]["share"] > rows[1]["share"] > 0
        and report["tests"] == 2
        and report["executor"] == "local"
    )
    dedupe = rows[0]
    assert (
        dedupe["found"]
        and dedupe["speedup"] > 1.1
        and dedupe["ci95"][0] > 1
        and dedupe["file"] == "solution.py"
    )
    assert (
        dedupe["line"] == 8
        and "+    return list(dict.fromkeys(items))" in dedupe["diff"]
        and dedupe["applied"] is False
    )
    assert rows[1]["found"] or rows[1]["why"]  # a speedup, or why none was found
    text = report_md.read_text()
    assert (
        text.index("`dedupe`") < text.index("`slow_sum`")
        and "of test time" in text
        and "```diff" in text
    )
    assert "[1/2] dedupe (solution.py:8" in result.stderr
    assert snapshot(project) == before, "nothing is applied without --apply"

    table = run_perfedit(
        "scan", "--top", "1", *STUB, "--report", str(report_html), cwd=project, cache=cache
    )
    assert table.returncode == 0, table.stderr
    assert (
        "dedupe" in table.stdout and "faster" in table.stdout and "nothing applied" in table.stdout
    )
    assert (
        report_html.read_text().startswith("<!DOCTYPE html>")
        and "dict.fromkeys" in report_html.read_text()
    )


def test_scan_apply_writes_the_faster_version(tmp_path: Path, cache: Path):
    project = make_project(tmp_path / "project")
    result = run_perfedit(
        "scan", "--top", "1", *STUB, "--apply", "--json", cwd=project, cache=cache
    )
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["functions"]
    assert row["function"] == "dedupe" and row["applied"] is True
    source = (project / "solution.py").read_text()
    assert "return list(dict.fromkeys(items))" in source and "total += i" in source
    assert not list(project.glob(".solution.py.*")), "no temporary file is left behind"


def test_scan_without_tests(tmp_path: Path, cache: Path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    result = run_perfedit("scan", "--candidates", "m.py", cwd=tmp_path, cache=cache)
    assert (
        result.returncode == 2
        and "pytest found no tests" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_scan_when_every_test_fails(tmp_path: Path, cache: Path):
    project = make_project(
        tmp_path / "project",
        TESTS.replace("== list(range(1500))", "== []").replace("99_999 // 2", "0"),
    )
    before = snapshot(project)
    result = run_perfedit("scan", *STUB, cwd=project, cache=cache)
    assert result.returncode == 2 and "all 2 test(s) failed while profiling" in result.stderr
    assert (
        "test_solution.py::test_" in result.stderr
        and "Traceback (most recent call last)" not in result.stderr
    )
    assert snapshot(project) == before


def test_scan_when_the_hot_function_tests_fail(tmp_path: Path, cache: Path):
    """One failing test: the scan goes on, and says why nothing was found for the function it reaches."""
    project = make_project(tmp_path / "project", TESTS.replace("== list(range(1500))", "== []"))
    result = run_perfedit("scan", "--top", "1", *STUB, "--json", cwd=project, cache=cache)
    assert result.returncode == 1, result.stderr
    (row,) = json.loads(result.stdout)["functions"]
    assert row["function"] == "dedupe" and not row["found"] and "fail" in row["why"]


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("missing/scan.md", "does not exist"),
        ("scan.txt", "name a .md or .html file"),
        (".", "name a .md or .html file"),
        ("tests.md", "cannot write there"),
    ],
)
def test_scan_refuses_a_report_path_it_cannot_write_before_any_work(
    tmp_path: Path, cache: Path, where: str, said: str
):
    project = make_project(tmp_path / "project")
    (project / "tests.md").mkdir()
    before = snapshot(project)
    result = run_perfedit("scan", *STUB, "--report", where, cwd=project, cache=cache)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr
    assert "profiled" not in result.stderr and snapshot(project) == before
