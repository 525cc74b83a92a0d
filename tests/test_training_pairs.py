"""Pair files: PIE rows and user pairs load with their tests; only passing pairs are kept; a pair
renders as the proposer's exact prompt with labels on the reply only; accepted suggestions export
to the same format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from helpers.settings import FAST
from helpers.training_programs import DOUBLE_FAST, DOUBLE_SLOW, DOUBLE_WRONG, make_pie
from perfedit.errors import InputError
from perfedit.formats import pairs as pair_file
from perfedit.training import pairs


def test_pie_rows_load_with_their_case_folders(tmp_path: Path):
    data = make_pie(tmp_path)
    loaded = pair_file.load(data / "train.jsonl")
    assert [p.id for p in loaded] == ["s1", "s2", "s3"]
    assert loaded[0].tests == data / "tests" / "pdouble" and loaded[0].kind == "script"
    assert [p.passes for p in loaded] == [True, True, False]
    assert [p.slow_passes for p in loaded] == [True, True, True]
    assert [p.id for p in pairs.passing(loaded)] == ["s1", "s2"]


def test_unrecorded_pairs_are_run_against_their_tests(tmp_path: Path):
    data = make_pie(tmp_path)
    rows = [
        {"slow": DOUBLE_SLOW, "fast": DOUBLE_FAST, "tests": "tests/pdouble", "id": "good"},
        {"slow": DOUBLE_SLOW, "fast": DOUBLE_WRONG, "tests": "tests/pdouble", "id": "wrong"},
        {
            "slow": "def f(x):\n    return x\n",
            "fast": "def f(x):\n    return x\n",
            "kind": "function",
            "id": "vouched",
        },
    ]
    path = data / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = pair_file.load(path)
    assert loaded[0].passes is None and loaded[0].tests == data / "tests" / "pdouble"
    assert [p.id for p in pairs.passing(loaded, FAST)] == ["good", "vouched"]


def test_bad_pair_files_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        pair_file.load(tmp_path / "nope.jsonl")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"slow": "x = 1"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: .*missing fast"):
        pair_file.load(path)
    path.write_text("{not json\n")
    with pytest.raises(InputError, match="not JSON"):
        pair_file.load(path)


def test_round_robin_visits_every_problem_before_repeating():
    chosen = [
        pair_file.Pair("s", "f", problem_id=p, id=i)
        for p, i in [("b", "b1"), ("a", "a1"), ("a", "a2"), ("c", "c1"), ("b", "b2")]
    ]
    assert [p.id for p in pairs.round_robin(chosen, 0)] == ["a1", "b1", "c1", "a2", "b2"]
    assert [p.id for p in pairs.round_robin(chosen, 2)] == ["a1", "b1"]


@pytest.mark.model
def test_render_is_the_inference_prompt_with_labels_on_the_reply(smollm_tokenizer):
    from perfedit.candidates.model import extract_code
    from perfedit.candidates.prompts import optimize_messages

    pair = pair_file.Pair(DOUBLE_SLOW, DOUBLE_FAST, id="x")
    example = pairs.render(pair, smollm_tokenizer)
    inference_prompt = smollm_tokenizer.apply_chat_template(
        optimize_messages(DOUBLE_SLOW, "script"),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    prompt, reply = (
        example.input_ids[: example.prompt_tokens],
        example.input_ids[example.prompt_tokens :],
    )
    assert prompt == list(inference_prompt)
    assert example.labels[: example.prompt_tokens] == [pairs.IGNORE] * example.prompt_tokens
    assert example.labels[example.prompt_tokens :] == reply
    text = smollm_tokenizer.decode(reply)
    assert text.endswith("```<|im_end|>")
    assert extract_code(smollm_tokenizer.decode(reply, skip_special_tokens=True)) == [DOUBLE_FAST]
    assert example.reply_tokens == len(reply)


@pytest.mark.model
def test_render_all_drops_long_pairs_and_keeps_the_shortest(smollm_tokenizer, tmp_path: Path):
    loaded = pair_file.load(make_pie(tmp_path) / "train.jsonl")
    lengths = sorted(len(pairs.render(p, smollm_tokenizer).input_ids) for p in loaded)
    kept = pairs.render_all(loaded, smollm_tokenizer, max_tokens=lengths[1])
    assert len(kept) == 2
    assert [
        len(e.input_ids) for e in pairs.render_all(loaded, smollm_tokenizer, 10_000, count=1)
    ] == lengths[:1]
    with pytest.raises(InputError, match="fits in max_tokens=5"):
        pairs.render_all(loaded, smollm_tokenizer, max_tokens=5)


@pytest.fixture(scope="module")
def smollm_tokenizer():
    from transformers import AutoTokenizer

    from perfedit.llm import modelstore

    return AutoTokenizer.from_pretrained(modelstore.resolve("smollm2-135m"))


FAST_SEEN_BEFORE = "import sys\ndata = sys.stdin.read().split()\nseen = set()\nout = []\nfor x in data[1:]:\n    out.append('YES' if x in seen else 'NO')\n    seen.add(x)\nprint('\\n'.join(out))\n"


def test_suggest_exports_the_accepted_pair(script_project: Path):
    """End to end: `perfedit suggest --export-pair` appends a pair that `pairs.load` reads back."""
    (script_project / "fast.py").write_text(FAST_SEEN_BEFORE)
    result = run_perfedit(
        "suggest",
        "seen_before.py",
        "--candidates",
        "fast.py",
        "--runs",
        "5",
        "--no-explain",
        "--export-pair",
        "pairs/mine.jsonl",
        cwd=script_project,
        timeout_s=300,
    )
    assert result.returncode == 0, result.stderr
    [pair] = pair_file.load(script_project / "pairs" / "mine.jsonl")
    assert pair.slow == (script_project / "seen_before.py").read_text()
    # The minimised version keeps the user's comment that the candidate dropped.
    comment = (script_project / "seen_before.py").read_text().splitlines(keepends=True)[0]
    assert pair.fast == comment + FAST_SEEN_BEFORE and pair.kind == "script" and pair.passes is True
    assert pair.tests == script_project / "tests"
