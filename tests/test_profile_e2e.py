"""Tests chosen by execution, end to end: ``perfedit suggest`` (the CLI as a process, with the stub
candidates-file proposer) finds tests that reach the target through a ``getattr`` helper, through
the public API (the target is a private helper) and through ``parametrize`` over function
objects, none of which names the target in its body, and validates the faster candidate.
``perfedit profile`` ranks the functions in a table, as JSON and as an HTML picture."""

import json
import textwrap
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.projects import COUNT_WORDS, DEDUPE, NORMALISE, SLOW_SUM, module, write_project

SOLUTION = module(NORMALISE, COUNT_WORDS, SLOW_SUM, DEDUPE)

TESTS = """\
import pytest

import solution

TEXT = " ".join(f"Word{i % 300}" for i in range(6000))
ITEMS = [i % 1500 for i in range(3000)]
FUNCTIONS = [solution.dedupe]


def _f():
    return getattr(solution, "slow" + "_sum")


def test_through_helper():
    assert _f()(300_000) == 300_000 * 299_999 // 2


def test_public_api():
    counts = solution.count_words(TEXT)
    assert counts["word7"] == 20 and len(counts) == 300


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_parametrised(fn):
    assert fn(ITEMS) == list(range(1500))
"""

CANDIDATES = {
    "slow_sum": "def slow_sum(n):\n    return sum(range(n))\n",
    "_normalise": "def _normalise(word):\n    return word.lower()\n",
    "dedupe": "def dedupe(items):\n    return list(dict.fromkeys(items))\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("indirect"), SOLUTION, TESTS)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.mark.parametrize(
    ("function", "test"),
    [
        ("slow_sum", "tests/test_solution.py::test_through_helper"),
        ("_normalise", "tests/test_solution.py::test_public_api"),
        ("dedupe", "tests/test_solution.py::test_parametrised[dedupe]"),
    ],
)
def test_suggest_finds_tests_by_execution(
    project: Path, cache: Path, tmp_path: Path, function: str, test: str
):
    stub = tmp_path / "stub.py"
    stub.write_text(CANDIDATES[function])
    # Up to 20 timed runs: the verdict must be clear on a loaded CI machine (each stub is several times faster).
    result = run_perfedit(
        "suggest",
        "solution.py",
        "--function",
        function,
        "--candidates",
        str(stub),
        "--runs",
        "20",
        "--no-explain",
        "--json",
        cwd=project,
        cache=cache,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (
        report["tests"]["kind"] == "pytest"
        and report["tests"]["total"] == 1
        and report["tests"]["passed"] == 1
    )
    assert test.split("::")[0] in report["tests"]["description"]
    assert report["winner"] == "stub 1" and report["speedup"] > 1.1
    assert (project / "solution.py").read_text() == SOLUTION, "not applied without --apply"


def test_given_tests_that_never_run_the_target(project: Path, cache: Path, tmp_path: Path):
    other = project / "other_tests"
    other.mkdir(exist_ok=True)
    (other / "test_other.py").write_text(
        "import solution\n\ndef test_a():\n    assert solution.slow_sum(3) == 3\n\n"
        "def test_b():\n    assert solution.slow_sum(1) == 0\n"
    )
    stub = tmp_path / "stub.py"
    stub.write_text(CANDIDATES["dedupe"])
    try:
        result = run_perfedit(
            "suggest",
            "solution.py",
            "--function",
            "dedupe",
            "--tests",
            "other_tests",
            "--candidates",
            str(stub),
            cwd=project,
            cache=cache,
        )
    finally:
        (other / "test_other.py").unlink()
        other.rmdir()
    assert result.returncode == 2
    assert "ran 2 test(s) in" in result.stderr and "none of them executed dedupe()" in result.stderr


def test_profile_command_table_json_and_html(project: Path, cache: Path, tmp_path: Path):
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    picture = tmp_path / "profile.html"
    result = run_perfedit(
        "profile", "--json", "--top", "3", "--html", str(picture), cwd=project, cache=cache
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["functions"]
    assert len(rows) == 3
    assert set(rows[0]) == {
        "file",
        "function",
        "line",
        "own_s",
        "cumulative_s",
        "share",
        "tests",
        "hot_lines",
    }
    assert [r["own_s"] for r in rows] == sorted((r["own_s"] for r in rows), reverse=True)
    assert all(0 <= r["share"] <= 1 and r["file"] == "solution.py" for r in rows)
    by_name = {r["function"]: r for r in rows}
    assert "dedupe" in by_name and by_name["dedupe"]["tests"] == [
        "tests/test_solution.py::test_parametrised[dedupe]"
    ]
    assert all({"line", "s"} == set(h) for r in rows for h in r["hot_lines"])
    assert any(r["hot_lines"] for r in rows)
    text = picture.read_text()
    assert text.startswith("<!DOCTYPE html>") and "dedupe" in text and "<svg" in text

    chart = tmp_path / "profile.svg"
    table = run_perfedit("profile", "--top", "2", "--svg", str(chart), cwd=project, cache=cache)
    assert table.returncode == 0, table.stderr
    assert (
        "solution.py" in table.stdout
        and "share" in table.stdout.lower()
        and "from the cache" in table.stdout
    )
    assert "<svg" in chart.read_text() and "solution.py" in chart.read_text()
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert after == before, "profiling writes nothing into the project"


def test_profile_command_without_tests(tmp_path: Path, cache: Path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "m.py").write_text(textwrap.dedent("def f():\n    return 1\n"))
    result = run_perfedit("profile", cwd=tmp_path, cache=cache)
    assert result.returncode == 2 and "pytest found no tests" in result.stderr
