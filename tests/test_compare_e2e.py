"""``perfedit compare`` as a process, on copies of examples/script and examples/dedupe: each
verdict (faster, not_faster, rejected) exits 0 with the documented JSON fields; bad input exits
2 with a message and changes no file. Also ``perfedit doctor``, the harness's other command."""

import json
import subprocess
import sys
from pathlib import Path

import pyperf as pyperf_api
import pytest

from helpers.cli import run_perfedit
from helpers.programs import FAST_SCRIPT
from perfedit.llm import modelstore

FAST_DEDUPE = '''\
"""An example project for perfedit: a correct but slow function and its tests."""


def unique_in_order(items):
    """Return the distinct items of ``items`` in the order they first appear."""
    return list(dict.fromkeys(items))
'''
JSON_FIELDS = {
    "verdict",
    "reason",
    "speedup",
    "ci95",
    "p_value",
    "tests_passed",
    "tests_total",
    "peak_rss_bytes",
}


def compare_json(*args: str, cwd: Path) -> dict:
    """Run ``perfedit compare ... --json``; it must exit 0 and print one object with every field."""
    result = run_perfedit("compare", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= JSON_FIELDS
    return report


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def bad_input(*args: str, cwd: Path) -> str:
    """Run ``perfedit compare``: it must exit 2, change no file, and print nothing on stdout;
    returns its message (stderr)."""
    before = _snapshot(cwd)
    result = run_perfedit("compare", *args, cwd=cwd)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert _snapshot(cwd) == before and result.stdout == ""
    return result.stderr


def test_faster_script_with_ci_p_value_and_memory(script_project: Path):
    (script_project / "fast.py").write_text(FAST_SCRIPT)
    report = compare_json("seen_before.py", "fast.py", cwd=script_project)
    assert report["verdict"] == "faster" and "faster" in report["reason"]
    low, high = report["ci95"]
    assert report["speedup"] > 1.5 and low <= report["speedup"] <= high
    assert report["p_value"] < report["alpha"] <= 0.05
    assert 5 <= report["runs"] <= 10
    sets = report["timing_sets"]  # no workload: the tests decide, alone
    assert sets.keys() == {"decided_by", "tests"} and sets["decided_by"] == "tests"
    assert sets["tests"]["speedup"] == report["speedup"] and sets["tests"]["runs"] == report["runs"]
    cpu = report["cpu"]  # beside the wall clock's figures
    assert cpu["speedup"] > 1.5 and not cpu["slower"] and cpu["p_slower"] > report["alpha"]
    assert cpu["time_s"]["original"] > cpu["time_s"]["candidate"] > 0
    assert report["tests_passed"] == report["tests_total"] == 4
    assert (
        report["peak_rss_bytes"]["original"] > 1_000_000
        and report["peak_rss_bytes"]["candidate"] > 1_000_000
    )


def test_identical_copy_is_not_faster(script_project: Path):
    (script_project / "same.py").write_text((script_project / "seen_before.py").read_text())
    report = compare_json("seen_before.py", "same.py", cwd=script_project)
    assert report["verdict"] == "not_faster" and "not significantly" in report["reason"]
    assert report["ci95"][0] < 1.10 and report["tests_passed"] == 4


def test_wrong_output_is_rejected_with_null_timings(script_project: Path):
    (script_project / "wrong.py").write_text("input()\nprint('NO')\n")
    report = compare_json("seen_before.py", "wrong.py", cwd=script_project)
    assert report["verdict"] == "rejected" and "wrong output" in report["reason"]
    assert report["speedup"] is report["ci95"] is report["p_value"] is report["cpu"] is None
    assert (
        report["peak_rss_bytes"]["candidate"] is None and report["peak_rss_bytes"]["original"] > 0
    )
    assert report["tests_passed"] < report["tests_total"] == 4


def test_text_report_states_verdict_speedup_and_memory(script_project: Path):
    (script_project / "fast.py").write_text(FAST_SCRIPT)
    result = run_perfedit(
        "compare", "seen_before.py", "fast.py", "--tests", "tests", cwd=script_project
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("faster: ")
    assert "95% CI" in result.stdout and "p=" in result.stdout
    assert "faster on the wall clock" in result.stdout and "CPU time" in result.stdout
    assert "Passes all 4 of 4 tests" in result.stdout and "Peak memory" in result.stdout


def test_function_mode_places_the_candidate_at_the_original_path(
    dedupe_project: Path, tmp_path: Path
):
    """The candidate lives outside the project; the tests' ``from dedupe import`` still reach it."""
    candidate = tmp_path / "dedupe_fast.py"
    candidate.write_text(FAST_DEDUPE)
    report = compare_json(
        "dedupe.py", str(candidate), "--function", "unique_in_order", cwd=dedupe_project
    )
    assert report["verdict"] == "faster" and report["speedup"] > 2
    assert report["tests_passed"] == report["tests_total"] == 2
    assert report["target"]["kind"] == "function" and report["target"]["name"] == "unique_in_order"


def test_function_mode_rejects_a_reordering(dedupe_project: Path):
    (dedupe_project / "wrong.py").write_text(
        "def unique_in_order(items):\n    return sorted(set(items))\n"
    )
    report = compare_json(
        "dedupe.py", "wrong.py", "--function", "unique_in_order", cwd=dedupe_project
    )
    assert report["verdict"] == "rejected" and "test_small" in report["reason"]
    assert "AssertionError" in report["detail"]


@pytest.mark.parametrize(
    ("candidate", "extra", "message"),
    [
        ("def unique_in_order(items:\n    pass\n", (), "candidate.py:1"),
        (
            "def something_else(items):\n    return items\n",
            (),
            "no function named 'unique_in_order'",
        ),
        (None, (), "cannot read"),
        (FAST_DEDUPE, ("--tests", "nowhere"), "does not exist"),
    ],
    ids=["syntax-error", "function-missing", "no-candidate-file", "no-such-tests"],
)
def test_bad_candidate_or_tests_exit_2(
    dedupe_project: Path, candidate: str | None, extra: tuple[str, ...], message: str
):
    if candidate is not None:
        (dedupe_project / "candidate.py").write_text(candidate)
    stderr = bad_input(
        "dedupe.py", "candidate.py", "--function", "unique_in_order", *extra, cwd=dedupe_project
    )
    assert message in stderr


def test_unknown_function_in_original_exits_2(dedupe_project: Path):
    (dedupe_project / "candidate.py").write_text(FAST_DEDUPE)
    assert "no function named 'nope'" in bad_input(
        "dedupe.py", "candidate.py", "--function", "nope", cwd=dedupe_project
    )


def test_script_without_cases_exits_2(script_project: Path):
    for case in (script_project / "tests").iterdir():
        case.unlink()
    (script_project / "fast.py").write_text(FAST_SCRIPT)
    assert "no input.N.txt/output.N.txt cases" in bad_input(
        "seen_before.py", "fast.py", cwd=script_project
    )


def test_tests_failing_on_the_original_exit_2(script_project: Path):
    (script_project / "tests" / "output.0.txt").write_text("YES\n")
    (script_project / "fast.py").write_text(FAST_SCRIPT)
    stderr = bad_input("seen_before.py", "fast.py", cwd=script_project)
    assert "tests fail on the original" in stderr and "case 0: wrong output" in stderr


def test_doctor_names_the_active_network_guard(tmp_path: Path):
    result = run_perfedit("doctor", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    checks = report.pop("timing checks (pyperf system show)")
    models = report.pop("models (SHA-256 check)")
    assert report["network"] and all(isinstance(value, str) for value in report.values())
    assert set(models) == set(modelstore.KNOWN_MODELS)  # each model's digest check, or why not
    assert report["CPU features the engine uses (llama.cpp's system info)"] != "unknown"
    assert any(line.startswith("CPU:") for line in checks["state"]), checks  # pyperf's own report


def test_timings_saved_as_pyperf_files(script_project: Path, tmp_path: Path):
    """--save-timings writes both sides' timed runs as pyperf files that pyperf's tools read."""
    (script_project / "fast.py").write_text(FAST_SCRIPT)
    out = tmp_path / "timings"
    report = compare_json(
        "seen_before.py", "fast.py", "--save-timings", str(out), cwd=script_project
    )
    pyperf = [sys.executable, "-m", "pyperf"]
    shown = subprocess.run(
        [*pyperf, "compare_to", str(out / "original.json"), str(out / "candidate.json")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "faster" in shown.stdout, shown.stdout
    dumped = subprocess.run(
        [*pyperf, "dump", str(out / "candidate.json")], capture_output=True, text=True, check=True
    )
    assert dumped.stdout.count("- value 1:") == report["runs"], dumped.stdout
    runs = pyperf_api.Benchmark.load(str(out / "candidate.json")).get_runs()
    assert all(run.get_metadata()["perfedit_cpu_s"] > 0 for run in runs)  # wall clock: the values
