"""Self-improvement data (EffiCoder-style): the fastest significantly faster sample becomes the
pair's fast side, in the pair-file format that train sft / rrhf read; the samples are judged by
the real harness, kept beside the output and resumed; a tiny real run on PIE."""

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from perfedit.config import Settings
from perfedit.formats.pairs import Pair, load
from perfedit.targets import Candidate
from perfedit.training.selfimprove import best_record, samples_file, self_improve

PIE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pie"
SLOW = "n = int(input())\nprint(sum(i for i in range(n)))\n"
FAST = "n = int(input())\nprint(n * (n - 1) // 2)\n"


def _judged(*samples: tuple[str | None, str, float | None]) -> dict:
    return {
        "id": "s1",
        "candidates": [
            {"label": f"c{i}", "code": code, "verdict": verdict, "speedup": speedup}
            for i, (code, verdict, speedup) in enumerate(samples)
        ],
    }


def test_the_fastest_significantly_faster_sample_is_kept_with_every_samples_tier(tmp_path: Path):
    pair = Pair(SLOW, FAST, problem_id="p1", id="s1", tests=tmp_path)
    judged = _judged(
        ("x = (", "rejected", None),
        ("print(0)\n", "rejected", None),
        ("A\n", "faster", 1.5),
        ("B\n", "faster", 2.5),
        ("C\n", "not_faster", 1.02),
        (None, "rejected", None),
    )
    record = best_record(pair, judged, tmp_path / "out")
    assert record is not None and record["fast"] == "B\n" and record["speedup"] == 2.5
    # PerfRL tiers: no parse 0, fails 1, passes 1.3, significantly faster 2
    assert [c["reward"] for c in record["candidates"]] == [0.0, 1.0, 2.0, 2.0, 1.3, 0.0]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "si.jsonl").write_text(json.dumps(record) + "\n")
    (loaded,) = load(tmp_path / "out" / "si.jsonl")  # the pair-file format train sft / rrhf read
    assert (loaded.slow, loaded.fast, loaded.passes, loaded.problem_id) == (SLOW, "B\n", True, "p1")
    assert loaded.tests is not None and loaded.tests.resolve() == tmp_path.resolve()
    rejected = _judged(("x = (", "rejected", None), ("C\n", "not_faster", 1.0))
    assert best_record(pair, rejected, tmp_path) is None


def test_samples_are_judged_by_the_harness_written_beside_and_resumed(tmp_path: Path):
    """Fixed candidates (no model) through the real harness: the significantly faster one is the
    pair's fast side; a second run judges nothing again and writes the same pairs."""
    cases = tmp_path / "tests" / "p1"
    cases.mkdir(parents=True)
    (cases / "input.0.txt").write_text("3000000\n")
    (cases / "output.0.txt").write_text(f"{3_000_000 * 2_999_999 // 2}\n")
    pair = Pair(SLOW, FAST, problem_id="p1", id="s1", tests=cases)
    calls: list[str] = []

    def propose(target, feedback, progress, cancel):
        calls.append(target.code)
        for label, code in (("greedy", "print(0)\n"), ("sample 1", FAST), ("sample 2", "x = (\n")):
            yield Candidate(label, code, code)

    out = tmp_path / "pairs" / "si.jsonl"
    settings = Settings(samples=2, runs=5)
    (outcome,) = self_improve([pair], propose, settings, out)
    assert len(calls) == 1 and outcome.candidates == 3 and outcome.correct == 1
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["fast"] == FAST and row["speedup"] > 1.1 and row["slow"] == SLOW
    assert [c["reward"] for c in row["candidates"]] == [1.0, 2.0, 0.0]
    (loaded,) = load(out)  # RRHF rewards from the row's cases, wherever the file is read
    assert loaded.tests is not None and loaded.tests.resolve() == cases.resolve()
    (judged,) = [json.loads(line) for line in samples_file(out).read_text().splitlines()]
    assert judged["id"] == "s1" and [c["code"] for c in judged["candidates"]][1] == FAST

    (again,) = self_improve([pair], propose, settings, out)
    assert len(calls) == 1, "a judged program is not run again"
    assert again.record == outcome.record and out.read_text().count("\n") == 1


@pytest.mark.model
@pytest.mark.skipif(
    not (PIE / "train.jsonl").is_file(), reason="PIE data not in ../shared/data/pie"
)
def test_cli_self_improvement_with_the_real_model_on_one_pie_program(tmp_path: Path):
    """``perfedit data self-improve`` as a process, SmolLM2-135M on the first PIE training
    program, exemplars retrieved from PIE; run twice, the second resumes."""
    out = tmp_path / "self-improve.jsonl"
    command = [
        "data", "self-improve",
        "--pairs", str(PIE / "train.jsonl"), "--programs", "1", "--samples", "2",
        "--max-new-tokens", "64", "--runs", "5", "--model", "smollm2-135m",
        "--exemplars", str(PIE), "--out", str(out),
    ]  # fmt: skip
    first = run_perfedit(*command, timeout_s=600)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["programs"] == 1 and summary["pairs"] == out.read_text().count("\n")
    assert "samples correct" in first.stderr and "Traceback" not in first.stderr
    (judged,) = [json.loads(line) for line in samples_file(out).read_text().splitlines()]
    assert len(judged["candidates"]) == 3 and judged["model"] == "smollm2-135m"
    # A 135M model rarely beats a human submission; a written pair must be significantly faster.
    assert all(json.loads(row)["speedup"] > 1 for row in out.read_text().splitlines())
    second = run_perfedit(*command, timeout_s=600)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == summary
    assert samples_file(out).read_text().count("\n") == 1  # nothing judged again
