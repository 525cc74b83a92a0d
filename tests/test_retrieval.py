"""Retrieved exemplars (PIE section 3.1 dynamic retrieval) and diverse strategies: the BM25 index
ranks by code tokens, never returns the program itself or its problem, is cached by path and
mtime; the prompts carry exemplars and strategies; the sample plan spreads 1 + k replies."""

import json
import os
from pathlib import Path

import pytest

from perfedit.candidates import NO_FEEDBACK
from perfedit.candidates.ask import TEMPERATURE_SPREAD, sample_plan
from perfedit.candidates.model import exemplars_for, model_proposer
from perfedit.candidates.prompts import STRATEGIES, optimize_messages
from perfedit.candidates.retrieval import (
    Exemplar,
    ExemplarIndex,
    code_tokens,
    load_index,
    problems_in,
)
from perfedit.config import Settings
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import find

PIE = Path(__file__).resolve().parents[2] / "shared" / "data" / "pie"

MEMBERSHIP = "n = int(input())\nseen = []\nfor x in input().split():\n    if x in seen:\n        print('YES')\n    seen.append(x)\n"
CONCAT = "s = ''\nfor i in range(int(input())):\n    s += str(i) + ' '\nprint(s)\n"
SORTING = "a = list(map(int, input().split()))\nfor i in range(len(a)):\n    for j in range(len(a) - 1):\n        if a[j] > a[j + 1]:\n            a[j], a[j + 1] = a[j + 1], a[j]\nprint(a)\n"


def pairs() -> list[Exemplar]:
    return [
        Exemplar(
            MEMBERSHIP,
            MEMBERSHIP.replace("seen = []", "seen = set()").replace("append", "add"),
            "script",
            "p001",
            "a",
        ),
        Exemplar(
            CONCAT, "print(' '.join(map(str, range(int(input())))) + ' ')\n", "script", "p002", "b"
        ),
        Exemplar(
            SORTING, "a = sorted(map(int, input().split()))\nprint(a)\n", "script", "p003", "c"
        ),
        Exemplar(
            "def f(xs):\n    return [x for x in xs if x in list(xs)]\n",
            "def f(xs):\n    return list(xs)\n",
            "function",
            "",
            "d",
        ),
    ]


def test_code_tokens_drop_comments_and_strings_and_split_names():
    assert code_tokens("read_all = 'text'  # a comment\nx += 1\n") == [
        "read_all",
        "read",
        "all",
        "=",
        "x",
        "+=",
        "1",
    ]
    assert code_tokens("def f(:\n  'unterminated") == [
        "def",
        "f(:",
        "'unterminated",
    ]  # falls back to whitespace


def test_nearest_ranks_by_code_and_filters_kind_problem_and_the_query_itself():
    index = ExemplarIndex.build(pairs())
    query = "m = int(input())\nfound = []\nfor y in input().split():\n    if y in found:\n        print('YES')\n    found.append(y)\nprint(len(found))\n"
    assert [e.id for e in index.nearest(query, 1, kind="script")] == ["a"]
    assert "a" not in [
        e.id for e in index.nearest(query, 3, kind="script", exclude_problems={"p001"})
    ]
    assert all(e.kind == "script" for e in index.nearest(query, 4, kind="script"))
    assert [e.id for e in index.nearest(MEMBERSHIP, 1)] != [
        "a"
    ]  # the very program is never its own exemplar
    assert index.nearest("", 2) == [] and index.nearest(query, 0) == []


def test_index_is_cached_by_path_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / "pairs.jsonl"
    file.write_text(
        "\n".join(
            json.dumps({"slow": e.slow, "fast": e.fast, "kind": e.kind, "problem_id": e.problem_id})
            for e in pairs()
        )
    )
    first = load_index(file)
    assert len(first.exemplars) == 4 and load_index(file) is first
    folders = list((tmp_path / "cache" / "exemplars").iterdir())
    assert len(folders) == 1 and (folders[0] / "exemplars.json").is_file()
    assert (
        len(ExemplarIndex.load(folders[0]).nearest(SORTING.replace("a", "b"), 1)) == 1
    )  # the saved index answers
    file.write_text(file.read_text().splitlines()[0])
    os.utime(file, ns=(1, 1))
    assert len(load_index(file).exemplars) == 1  # a changed file is indexed again
    assert len(list((tmp_path / "cache" / "exemplars").iterdir())) == 2


def test_prompt_shows_exemplars_and_strategy():
    chosen = pairs()[:2]
    messages = optimize_messages("print(1)\n", "script", chosen, "I/O")
    assert [m["role"] for m in messages] == [
        "system",
        *["user", "assistant"] * 3,
        "user",
    ]
    plain = optimize_messages(
        "print(1)\n", "script"
    )  # without exemplars: the built-in demonstration
    assert len(plain) == 4 and messages[:3] == plain[:3]  # it comes first (the primed beginning)
    assert (
        MEMBERSHIP.rstrip() in messages[3]["content"] and "seen = set()" in messages[4]["content"]
    )
    assert messages[-1]["content"].endswith(f"Strategy: {STRATEGIES['I/O']}")


def test_sample_plan_spreads_replies_over_strategies_and_temperatures():
    plan = sample_plan(8, 0.8, 0)
    assert sum(g.replies for g in plan) == 9
    assert [g.strategy for g in plan] == [None, *STRATEGIES]
    temperatures = [g.temperature for g in plan[1:]]
    assert temperatures == sorted(temperatures) and temperatures[0] == pytest.approx(
        0.8 * TEMPERATURE_SPREAD[0]
    )
    assert temperatures[-1] == pytest.approx(0.8 * TEMPERATURE_SPREAD[1])
    assert len({g.seed for g in plan}) == len(plan)
    assert [g.greedy for g in plan] == [
        True,
        False,
        False,
        False,
        False,
    ]  # one greedy reply; the strategies' are sampled
    assert sum(g.replies for g in sample_plan(2, 0.7, 0)) == 3 and len(sample_plan(2, 0.7, 0)) == 3
    functions = sample_plan(8, 0.7, 0, kind="function")
    assert "I/O" not in [g.strategy for g in functions] and sum(g.replies for g in functions) == 9
    assert sample_plan(8, 0.7, 0, strategies=False) == [
        sample_plan(0, 0.7, 0)[0].__class__(None, 8, 0.7, 0)
    ]


@pytest.mark.skipif(
    not (PIE / "train.jsonl").is_file(), reason="PIE data not in ../shared/data/pie"
)
def test_pie_exemplars_never_come_from_the_targets_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "cache"))
    row = json.loads((PIE / "train.jsonl").read_text().splitlines()[0])
    program = tmp_path / row["problem_id"] / "main.py"
    program.parent.mkdir()
    program.write_text(row["slow"])
    target = find(program, row["slow"])
    assert row["problem_id"] in problems_in(program)
    found = exemplars_for(target, Settings(exemplars=str(PIE), exemplars_k=3))
    assert len(found) == 3 and all(e.problem_id != row["problem_id"] for e in found)


@pytest.mark.model
def test_real_model_proposes_one_candidate_per_strategy_with_exemplars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from perfedit.llm import load

    model = load("smollm2-135m")  # from the real cache, before the index's cache moves to tmp_path
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / "pairs.jsonl"
    file.write_text(
        "\n".join(json.dumps({"slow": e.slow, "fast": e.fast, "kind": e.kind}) for e in pairs())
    )
    program = tmp_path / "prog.py"
    program.write_text(CONCAT.replace("s ", "t ").replace("s)", "t)"))
    target = find(program, program.read_text())
    settings = Settings(exemplars=str(file), exemplars_k=1, samples=2, max_new_tokens=24)
    assert [e.id for e in exemplars_for(target, settings)] == [
        "pairs.jsonl:2"
    ]  # the concatenation pair
    candidates = list(
        model_proposer(lambda: model, settings)(target, NO_FEEDBACK, no_progress, never_cancelled)
    )
    assert [c.label for c in candidates] == [
        "greedy",
        "sample 1 (built-ins)",
        "sample 2 (repeated work)",
    ]
    assert all(c.tokens > 0 for c in candidates)
