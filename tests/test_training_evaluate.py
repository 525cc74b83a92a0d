"""`perfedit evaluate`: candidates are validated by the product's harness and summarised as PIE's
Best@1 (the greedy candidate) and Best@k; results resume from the output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.settings import fast_settings
from helpers.training_programs import DOUBLE_FAST, DOUBLE_WRONG, SUM_FAST, make_pie
from perfedit.candidates import Feedback
from perfedit.errors import InputError
from perfedit.formats import pairs
from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import Candidate, Target
from perfedit.training import evaluate

SETTINGS = fast_settings(runs=10)


class FixedProposer:
    """Stands in for the model proposer: per program, the greedy reply first, then the samples."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> list[Candidate]:
        self.calls += 1
        if (
            "n * 2" in target.code
        ):  # pdouble: a wrong greedy reply, a faster sample, a repeat, no code
            codes = [DOUBLE_WRONG, DOUBLE_FAST, DOUBLE_FAST, ""]
        else:  # psum: the greedy reply is correct, the sample does not parse
            codes = [SUM_FAST, "print(", SUM_FAST, SUM_FAST]
        labels = ["greedy", "sample 1", "sample 2", "sample 3"]
        return [
            Candidate(label, code, code) if code else Candidate.unusable(label)
            for label, code in zip(labels, codes, strict=True)
        ]


def test_best_at_1_and_k_from_harness_verdicts(tmp_path: Path):
    chosen = evaluate.programs(pairs.load(make_pie(tmp_path / "data") / "train.jsonl"), 2)
    assert [p.problem_id for p in chosen] == ["pdouble", "psum"]
    proposer = FixedProposer()
    out = tmp_path / "eval.jsonl"
    records = evaluate.evaluate(chosen, proposer, SETTINGS, out, meta={"model": "fixed", "k": 4})
    double, total = records
    assert [c["verdict"] for c in double["candidates"]] == [
        "rejected",
        "faster",
        "faster",
        "rejected",
    ]
    assert (
        double["candidates"][2]["speedup"] == double["candidates"][1]["speedup"]
    )  # validated once
    assert (
        total["candidates"][0]["verdict"] in ("faster", "not_faster")
        and total["candidates"][1]["verdict"] == "rejected"
    )
    (name1, best1), (namek, bestk) = evaluate.summaries(records, 4)
    assert (name1, namek) == ("Best@1", "Best@4")
    assert best1.pct_correct == 50.0 and bestk.pct_correct == 100.0
    assert bestk.pct_opt >= 50.0 and bestk.sp_optimised > 1.1
    assert best1.pct_opt == (50.0 if total["candidates"][0]["verdict"] == "faster" else 0.0)

    again = evaluate.evaluate(chosen, proposer, SETTINGS, out, meta={"model": "fixed", "k": 4})
    assert again == records and proposer.calls == 2  # resumed from the file, nothing re-run
    with pytest.raises(InputError, match="another evaluation"):
        evaluate.evaluate(chosen, proposer, SETTINGS, out, meta={"model": "other", "k": 4})


@pytest.mark.model
def test_evaluate_cli_with_the_tiny_model(tmp_path: Path):
    data = make_pie(tmp_path / "data")
    out = tmp_path / "eval.jsonl"
    done = run_perfedit(
        "evaluate",
        "--pairs",
        str(data / "val.jsonl"),
        "--model",
        "smollm2-135m",
        "--k",
        "2",
        "--programs",
        "1",
        "--max-new-tokens",
        "24",
        "--runs",
        "5",
        "--out",
        str(out),
        timeout_s=600,
    )
    assert done.returncode == 0, done.stderr
    assert "| Best@1 | 1 |" in done.stdout and "| Best@2 | 1 |" in done.stdout
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["model"] == "smollm2-135m" and [c["label"] for c in record["candidates"]] == [
        "greedy",
        "sample 1 (built-ins)",
    ]


def _record(model: str, pid: str, verdicts: list[tuple[str, float | None]]) -> dict:
    return {
        "model": model,
        "k": 2,
        "id": pid,
        "problem_id": "p" + pid,
        "candidates": [
            {"label": f"c{i}", "verdict": v, "reason": "", "speedup": s}
            for i, (v, s) in enumerate(verdicts)
        ],
    }


def test_compare_cli_uses_the_programs_every_model_scored(tmp_path: Path):
    base = [
        _record("base", "1", [("not_faster", None), ("rejected", None)]),
        _record("base", "2", [("rejected", None), ("faster", 2.0)]),
        {"model": "base", "k": 2, "id": "3", "problem_id": "p3", "skipped": "fails its tests"},
    ]
    tuned = [
        _record("sft", "1", [("faster", 4.0), ("faster", 2.0)]),
        _record("sft", "2", [("rejected", None), ("rejected", None)]),
        _record("sft", "4", [("faster", 9.0), ("faster", 9.0)]),
    ]  # not run for base: left out
    for name, records in (("base", base), ("sft", tuned)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    command = ("evaluate", "--k", "2", "--compare")
    done = run_perfedit(
        *command, f"base={tmp_path / 'base.jsonl'}", f"sft={tmp_path / 'sft.jsonl'}", timeout_s=120
    )
    assert done.returncode == 0, done.stderr
    rows = {
        line.split(" | ")[0].strip("| "): line.split(" | ")[1:4]
        for line in done.stdout.splitlines()
        if " Best@" in line
    }
    assert rows == {
        "base Best@1": ["2", "50.0", "0.0"],
        "base Best@2": ["2", "100.0", "50.0"],
        "sft Best@1": ["2", "50.0", "50.0"],
        "sft Best@2": ["2", "50.0", "50.0"],
    }

    missing = run_perfedit(
        *command, f"base={tmp_path / 'base.jsonl'}", f"sft={tmp_path / 'none.jsonl'}", timeout_s=120
    )
    assert missing.returncode != 0 and "NAME=FILE" in missing.stderr
