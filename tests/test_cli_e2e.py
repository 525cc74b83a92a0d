"""The CLI as a process: every bad input gives a clear message and a non-zero exit, and no
file changes; the stub proposer drives the selection and --apply paths deterministically."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from perfedit.candidates.prompts import STRATEGIES
from perfedit.candidates.repair import LABEL_SUFFIX

FAST = '''\
def unique_in_order(items):
    """Return the distinct items of ``items`` in the order they first appear."""
    return list(dict.fromkeys(items))
'''
WRONG = "def unique_in_order(items):\n    return sorted(set(items))\n"
SUGGEST_DEDUPE = ("suggest", "dedupe.py", "--function", "unique_in_order")


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted(folder.rglob("*.py"))}


def failing_run(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run perfedit and assert that no file in ``cwd`` changed."""
    before = _snapshot(cwd)
    result = run_perfedit(*args, cwd=cwd, **kwargs)
    assert _snapshot(cwd) == before, "a failed run must not change any file"
    return result


@pytest.fixture
def unchanged(dedupe_project: Path) -> Path:
    return dedupe_project


def test_syntax_error(unchanged: Path):
    (unchanged / "dedupe.py").write_text("def unique_in_order(items:\n    pass\n")
    result = failing_run(*SUGGEST_DEDUPE, cwd=unchanged)
    assert (
        result.returncode == 2
        and "syntax error" in result.stderr
        and "dedupe.py:1" in result.stderr
    )


def test_unknown_function(unchanged: Path):
    result = failing_run("suggest", "dedupe.py", "--function", "nope", cwd=unchanged)
    assert result.returncode == 2 and "no function named 'nope'" in result.stderr


def test_no_tests(unchanged: Path):
    (unchanged / "dedupe.py").write_text(
        (unchanged / "dedupe.py").read_text() + "\n\ndef untested(x):\n    return x\n"
    )
    result = failing_run("suggest", "dedupe.py", "--function", "untested", cwd=unchanged)
    assert (
        result.returncode == 2 and "no pytest test" in result.stderr and "--tests" in result.stderr
    )


def test_tests_fail_on_original(unchanged: Path):
    test_file = unchanged / "tests" / "test_dedupe.py"
    test_file.write_text(test_file.read_text().replace("[3, 1, 2]", "[1, 2, 3]"))
    result = failing_run(*SUGGEST_DEDUPE, cwd=unchanged)
    assert result.returncode == 2 and "tests fail on the original" in result.stderr


def test_model_missing_names_the_pull_command(unchanged: Path, tmp_path: Path):
    env = {
        "PERFEDIT_CACHE_DIR": str(tmp_path / "empty-cache"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
    }
    result = failing_run(
        *SUGGEST_DEDUPE,
        "--runs",
        "5",
        cwd=unchanged,
        env=env,
    )
    assert result.returncode == 3 and "perfedit model pull qwen2.5-coder-1.5b" in result.stderr


def test_every_candidate_fails(unchanged: Path, tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text(WRONG + "# --- candidate ---\ndef unique_in_order(items):\n    return items\n")
    result = failing_run(
        *SUGGEST_DEDUPE,
        "--candidates",
        str(stub),
        "--runs",
        "5",
        "--apply",
        cwd=unchanged,
    )
    assert result.returncode == 1
    assert "no faster version of unique_in_order found" in result.stderr
    assert "stub 1: fails" in result.stderr and "stub 2: fails" in result.stderr


def test_no_usable_code(unchanged: Path, tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text("def something_else():\n    pass\n")
    result = failing_run(
        *SUGGEST_DEDUPE,
        "--candidates",
        str(stub),
        cwd=unchanged,
    )
    assert result.returncode == 1 and "usable code" in result.stderr


def test_stub_winner_applied_and_reported_as_json(dedupe_project: Path, tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text(WRONG + "# --- candidate ---\n" + FAST)
    result = run_perfedit(
        *SUGGEST_DEDUPE,
        "--candidates",
        str(stub),
        "--runs",
        "5",
        "--no-explain",
        "--apply",
        "--json",
        cwd=dedupe_project,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["winner"] == "stub 2" and report["applied"]
    assert report["speedup"] > 2 and report["ci95"][0] <= report["speedup"] <= report["ci95"][1]
    assert report["p_value"] < 0.05 and report["tests"]["passed"] == 2
    assert "+    return list(dict.fromkeys(items))" in report["diff"]
    assert [c["verdict"] for c in report["candidates"]] == ["rejected", "faster"]
    assert report["distinct_correct_candidates"] == 1
    assert (
        report["lines_removed_by_minimisation"]
        == report["changed_lines_before_minimisation"] - report["changed_lines"]
        >= 0
    )
    assert report["reason"].startswith(
        "Duplicates are dropped by dict.fromkeys"
    )  # grounded in the diff, no model asked
    assert "dict.fromkeys" in (dedupe_project / "dedupe.py").read_text()


def test_unwritable_target_keeps_the_suggestion(dedupe_project: Path, tmp_path: Path):
    """--apply on a file that cannot be written: the file stays as it was, the suggestion is still
    reported, and its diff is saved as a patch file the message names (which applies cleanly)."""
    stub = tmp_path / "stub.py"
    stub.write_text(FAST)
    work = tmp_path / "work"
    work.mkdir()
    original = (dedupe_project / "dedupe.py").read_text()
    # The tests run as root, which file modes do not stop: the immutable attribute does.
    if subprocess.run(["chattr", "+i", str(dedupe_project)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        result = run_perfedit(
            "suggest",
            str(dedupe_project / "dedupe.py"),
            "--function",
            "unique_in_order",
            "--candidates",
            str(stub),
            "--runs",
            "5",
            "--no-explain",
            "--apply",
            "--json",
            cwd=work,
        )
    finally:
        subprocess.run(["chattr", "-i", str(dedupe_project)], check=True)
    assert result.returncode == 2, result.stderr
    assert (dedupe_project / "dedupe.py").read_text() == original
    report = json.loads(result.stdout)
    assert report["winner"] == "stub 1" and not report["applied"]
    patch = work / ".perfedit" / "dedupe.py.unique_in_order.patch"
    assert (
        f"could not write {dedupe_project / 'dedupe.py'}" in result.stderr
        and str(patch) in result.stderr
    )
    subprocess.run(
        ["patch", "-p1", "-d", str(dedupe_project), "-i", str(patch)],
        check=True,
        capture_output=True,
    )
    assert "dict.fromkeys" in (dedupe_project / "dedupe.py").read_text()


def test_undecodable_case_file(script_project: Path):
    (script_project / "tests" / "output.1.txt").write_bytes(b"\xff\xfe not text")
    result = failing_run("suggest", "seen_before.py", "--tests", "tests", cwd=script_project)
    assert result.returncode == 2 and "output.1.txt: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_fails_before_any_work(unchanged: Path):
    """The model is checked with the arguments: the message comes before the original is run."""
    result = failing_run(
        *SUGGEST_DEDUPE,
        "--model",
        "no-such-model",
        cwd=unchanged,
    )
    assert result.returncode == 3 and "'no-such-model' is not a GGUF file" in result.stderr
    assert "running the original" not in result.stderr


def test_piped_messages_are_not_wrapped(unchanged: Path):
    """Output to a pipe (a CI log) keeps each message on one line, whatever its length."""
    result = failing_run(
        "suggest",
        "dedupe.py",
        "--function",
        "no_such_function_" + "x" * 120,
        cwd=unchanged,
        env={"COLUMNS": "80"},
    )
    assert result.returncode == 2
    assert any("no_such_function_" + "x" * 120 in line for line in result.stderr.splitlines())


def test_piped_report_has_whole_lines_and_no_progress_bars(dedupe_project: Path, tmp_path: Path):
    """Output to a pipe (a CI log): one plain line per step, no bars or spinners, the diff whole
    even where a line is longer than the console is wide."""
    stub = tmp_path / "stub.py"
    long_comment = "  # " + "keeps the first occurrence of each item, in order " * 3
    stub.write_text(
        FAST.replace(
            "return list(dict.fromkeys(items))", "return list(dict.fromkeys(items))" + long_comment
        )
    )
    result = run_perfedit(
        *SUGGEST_DEDUPE,
        "--candidates",
        str(stub),
        "--runs",
        "5",
        "--no-explain",
        cwd=dedupe_project,
        env={"COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    assert "━" not in result.stderr and not set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏") & set(result.stderr)
    assert "running the original" in result.stderr.splitlines()
    assert "+    return list(dict.fromkeys(items))" + long_comment in result.stderr.splitlines()


def test_script_mode_with_case_folder(script_project: Path, tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text(
        "import sys\ndata = sys.stdin.read().split()\nseen = set()\nfor x in data[1:]:\n"
        "    print('YES' if x in seen else 'NO')\n    seen.add(x)\n"
    )
    result = run_perfedit(
        "suggest",
        "seen_before.py",
        "--tests",
        "tests",
        "--candidates",
        str(stub),
        "--runs",
        "5",
        "--no-explain",
        "--json",
        cwd=script_project,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["target"]["kind"] == "script" and report["tests"]["kind"] == "cases"
    assert report["speedup"] > 1.1 and not report["applied"]


@pytest.mark.model
def test_real_model_generates_candidates(dedupe_project: Path):
    """SmolLM2-135M really generates (and refines, with a small token budget); whatever it
    proposes is validated and reported."""
    pyproject = dedupe_project / "pyproject.toml"
    # Rules off: a rule's dict.fromkeys is over 10x faster, which ends generation before a reply.
    pyproject.write_text(pyproject.read_text() + "max_new_tokens = 96\nrules = false\n")
    result = run_perfedit(
        *SUGGEST_DEDUPE,
        "--model",
        "smollm2-135m",
        "--samples",
        "2",
        "--runs",
        "5",
        "--json",
        cwd=dedupe_project,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    labels = (
        [c["label"] for c in report["candidates"]]
        if report["found"]
        else list(report["candidates"])
    )
    # a fix ("… → fixed") or a repair ("…, argument copied") is named after its parent
    from_model = {
        label.split(" → ")[0].removesuffix(LABEL_SUFFIX)
        for label in labels
        if not label.startswith("rule")
    }
    samples = sorted(from_model - {"greedy"})
    strategies = [re.fullmatch(r"sample \d+ \((.+)\)", label) for label in samples]
    # The greedy reply, then samples over distinct strategies (which ones first depends on the
    # original's measured scaling: dedupe's is worse than linear, so "algorithm" leads).
    assert from_model and all(strategies)
    named = [m.group(1) for m in strategies if m]
    assert set(named) <= set(STRATEGIES) and len(set(named)) == len(named)
