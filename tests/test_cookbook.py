"""The cookbook of slow→fast pairs: every pair's two versions agree on its examples, the entries
are retrieved for targets of their kind beside a pair file's, and a missing or corrupt cookbook
or pair file turns that source off with one warning instead of failing the job."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from perfedit.candidates import cookbook
from perfedit.candidates.cookbook import COOKBOOK, Entry, cookbook_index, load
from perfedit.candidates.model import exemplars_for
from perfedit.candidates.retrieval import Exemplar, interleaved
from perfedit.config import Settings
from perfedit.targets import find

ENTRIES = load()
PAIR_LOOP = """\
def find_pair(nums, goal):
    n = len(nums)
    for a in range(n):
        for b in range(a + 1, n):
            if nums[a] + nums[b] == goal:
                return True
    return False
"""


def run_function(code: str, call: str) -> object:
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return eval(call, namespace)


def run_script(code: str, stdin: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,  # generous: a numpy import under a loaded machine; the programs take ms
        check=True,
    )
    return done.stdout


def test_the_cookbook_covers_both_kinds_with_distinct_entries():
    ids = [entry.id for entry in ENTRIES]
    assert 30 <= len(ENTRIES) <= 50 and len(set(ids)) == len(ids)
    assert {entry.kind for entry in ENTRIES} == {"function", "script"}
    assert all(entry.slow.strip() != entry.fast.strip() for entry in ENTRIES)


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.kind == "function"], ids=lambda e: e.id)
def test_function_entries_agree_on_their_calls(entry: Entry):
    for call in entry.examples:
        assert call.split("(", 1)[0].strip().isidentifier()  # a call of the entry's function
        assert run_function(entry.fast, call) == run_function(entry.slow, call), call


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.kind == "script"], ids=lambda e: e.id)
def test_script_entries_print_the_same_on_their_inputs(entry: Entry):
    printed = []
    for stdin in entry.examples:
        printed.append(run_script(entry.slow, stdin))
        assert run_script(entry.fast, stdin) == printed[-1], stdin
    assert any(text.strip() for text in printed)  # the examples exercise the program


def test_a_function_target_gets_cookbook_functions_nearest_first(tmp_path: Path):
    program = tmp_path / "pairs.py"
    program.write_text(PAIR_LOOP)
    target = find(program, PAIR_LOOP, function="find_pair")
    found = exemplars_for(target, Settings(exemplars_k=3))
    assert len(found) == 3 and all(e.kind == "function" for e in found)
    assert found[0].id in {"cookbook:pairs-to-hashing", "cookbook:sort-two-pointers"}
    assert exemplars_for(target, Settings(cookbook=False)) == []


def test_a_script_target_gets_pair_file_and_cookbook_scripts_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "cache"))
    slow = "n = int(input())\nfor i in range(n):\n    print(i)\n"
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"slow": slow, "fast": "print(*range(int(input())), sep='\\n')\n"}) + "\n"
    )
    program = tmp_path / "main.py"
    code = (
        "n = int(input())\ntotal = 0\nfor i in range(n):\n    total += int(input())\nprint(total)\n"
    )
    program.write_text(code)
    target = find(program, code)
    found = exemplars_for(target, Settings(exemplars=str(pairs), exemplars_k=3))
    assert found[0].id == "pairs.jsonl:1"  # the pair file first, then the cookbook's scripts
    assert len(found) == 3 and all(e.id.startswith("cookbook:") for e in found[1:])
    assert all(e.kind == "script" for e in found)


def test_interleaved_takes_each_source_in_turn():
    def made(name: str) -> Exemplar:
        return Exemplar(name, name)

    a, b, c, d = (made(n) for n in "abcd")
    assert interleaved([[a, b, c], [d]]) == [a, d, b, c]
    assert interleaved([]) == [] and interleaved([[], [a]]) == [a]


@pytest.mark.parametrize(
    "text",
    [
        None,  # missing
        "[[pair]\nid = 1",  # not TOML
        '[[pair]]\nid = "x"\nkind = "function"\nslow = "def f(): pass"\n',  # no fast, no calls
        '[[pair]]\nid = "x"\nkind = "class"\nslow = "a"\nfast = "b"\ncalls = ["f()"]\n',
        "title = 'no pairs'\n",
    ],
)
def test_a_missing_or_corrupt_cookbook_is_off_with_one_warning(
    tmp_path: Path, text: str | None, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "cookbook.toml"
    if text is not None:
        path.write_text(text)
    with caplog.at_level(logging.WARNING, logger=cookbook.__name__):
        assert cookbook_index(path) is None
        assert cookbook_index(path) is None  # asked again: no second warning
    assert len(caplog.records) == 1 and "cookbook" in caplog.records[0].getMessage()
    assert cookbook_index(COOKBOOK) is not None


def test_a_missing_pair_file_leaves_the_cookbook_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    program = tmp_path / "pairs.py"
    program.write_text(PAIR_LOOP)
    target = find(program, PAIR_LOOP, function="find_pair")
    settings = Settings(exemplars=str(tmp_path / "missing.jsonl"))
    with caplog.at_level(logging.WARNING):
        first = exemplars_for(target, settings)
        assert exemplars_for(target, settings) == first
    assert len(first) == 2 and all(e.id.startswith("cookbook:") for e in first)
    warnings = [r for r in caplog.records if "missing.jsonl" in r.getMessage()]
    assert len(warnings) == 1
