"""Self-improvement data (EffiCoder-style): the fastest significantly faster sample becomes the
pair's fast side, in the pair-file format that train sft / rrhf read; a tiny real run on PIE."""

import json
from pathlib import Path

import pytest

from perfedit.config import Settings
from perfedit.proposers import Candidate
from perfedit.targets import find
from perfedit.timing import Comparison
from perfedit.training.pairs import Pair, load
from perfedit.training.selfimprove import best_record, self_improve
from perfedit.validate import Verdict

PIE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pie"
SLOW = "n = int(input())\nprint(sum(i for i in range(n)))\n"


def _verdict(label: str, verdict: str, speedup: float | None) -> Verdict:
    c = (
        Comparison(
            1.0, 1 / speedup, speedup, (speedup * 0.9, speedup * 1.1), 0.001, verdict == "faster"
        )
        if speedup
        else None
    )
    return Verdict(label, verdict, "", 1, 1, c)


def test_the_fastest_significantly_faster_sample_is_kept_with_every_samples_tier(tmp_path: Path):
    pair = Pair(
        SLOW,
        "n = int(input())\nprint(n * (n - 1) // 2)\n",
        problem_id="p1",
        id="s1",
        tests=tmp_path,
    )
    target = find(Path("prog.py"), SLOW)
    candidates = [
        Candidate("greedy", "x = (", "x = ("),
        Candidate("sample 1", "print(0)\n", ""),
        Candidate("sample 2", "A\n", ""),
        Candidate("sample 3", "B\n", ""),
        Candidate.unusable("sample 4"),
    ]
    verdicts = [
        _verdict("greedy", "rejected", None),
        _verdict("sample 1", "rejected", None),
        _verdict("sample 2", "faster", 1.5),
        _verdict("sample 3", "faster", 2.5),
        _verdict("sample 4", "rejected", None),
    ]
    record = best_record(pair, target, candidates, verdicts)
    assert record is not None and record["fast"] == "B\n" and record["speedup"] == 2.5
    assert [c["reward"] for c in record["candidates"]] == [0.0, 1.0, 2.0, 2.0, 0.0]  # PerfRL tiers
    (tmp_path / "si.jsonl").write_text(json.dumps(record) + "\n")
    (loaded,) = load(tmp_path / "si.jsonl")  # the pair-file format train sft / rrhf read
    assert (loaded.slow, loaded.fast, loaded.passes, loaded.problem_id) == (SLOW, "B\n", True, "p1")
    assert best_record(pair, target, candidates[:2], verdicts[:2]) is None


@pytest.mark.model
@pytest.mark.skipif(
    not (PIE / "train.jsonl").is_file(), reason="PIE data not in ../shared/data/pie"
)
def test_real_model_self_improvement_on_one_pie_problem(tmp_path: Path):
    from perfedit.llm import load as load_model
    from perfedit.training.evaluate import programs

    (pair,) = programs(load(PIE / "train.jsonl"), 1)
    model = load_model("smollm2-135m")
    out = tmp_path / "self-improve.jsonl"
    settings = Settings(
        model="smollm2-135m",
        samples=2,
        max_new_tokens=64,
        runs=5,
        exemplars=str(PIE),
        exemplars_k=1,
    )
    (outcome,) = self_improve([pair], lambda: model, settings, out)
    assert outcome.candidates == 3 and 0 <= outcome.correct <= 3
    if (
        outcome.record is None
    ):  # a 135M model rarely beats a human submission; then nothing is written
        assert outcome.skipped and not out.exists()
    else:
        assert out.read_text().count("\n") == 1 and outcome.record["speedup"] > 1
