"""Rule-based rewrites: each rule of the catalogue on a small example, checked by running old
and new code, and on a near miss it must leave alone; the proposer's candidates; bad input."""

import contextlib
import io
import sys
from pathlib import Path

import pytest

from helpers.rule_cases import CASES
from perfedit.candidates import Feedback
from perfedit.candidates.rules import CATALOGUE, MAX_SINGLE_CANDIDATES, RULES, propose_rules
from perfedit.config import Settings
from perfedit.errors import NoFasterVersion
from perfedit.job.pipeline import Request, suggest
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import find


def _run(code: str, args, kind: str):
    """``f(*args)`` of a function (math imported), or a script's stdout for stdin ``args``."""
    namespace: dict = {"__name__": "rule_case"}
    if kind == "function":
        exec("import math\n" + code, namespace)
        return namespace["f"](*args)
    out = io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO(args)
    try:
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
    finally:
        sys.stdin = stdin
    return out.getvalue()


def test_every_rule_has_a_case_a_source_and_a_family():
    assert len(CATALOGUE) >= 60
    assert set(CASES) == set(RULES)
    families = {"builtins", "strings", "structures", "loops", "memo", "scripts"}
    assert all(rule.source and rule.family in families for rule in CATALOGUE)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_rewrites_and_keeps_behaviour(name: str):
    case = CASES[name]
    rewritten = RULES[name](case.code, case.kind)
    assert rewritten is not None and case.expected in rewritten, rewritten
    for args in case.inputs:
        assert _run(rewritten, args, case.kind) == _run(case.code, args, case.kind)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_leaves_the_near_miss_alone(name: str):
    case = CASES[name]
    assert RULES[name](case.negative, case.kind) is None


def test_rules_leave_unrelated_code_and_bad_input_alone():
    code = "def f(xs):\n    # a comment\n    return [x * 2 for x in xs]\n"
    assert [name for name in RULES if RULES[name](code, "function")] == []
    broken = "def f(xs:\n    for x in xs: return [x"
    assert [name for name in RULES if RULES[name](broken, "function")] == []


def test_buffered_stdin_only_for_scripts_reading_twice():
    script = "a = int(input())\nb = int(input())\nprint(a + b)\n"
    assert "sys.stdin.readline" in RULES["buffered stdin"](script, "script")
    assert RULES["buffered stdin"]("print(input())\n", "script") is None


@pytest.mark.parametrize(
    "use",
    [
        "seen.sort()",  # mutated otherwise
        "seen.append(x + 1)",  # an expression, evaluated twice
        "other = seen",  # aliased
        "g(seen)",  # passed on
        "seen = list(xs)",  # rebound
    ],
)
def test_set_twin_only_when_every_use_keeps_it_in_step(use: str):
    def code(line: str) -> str:
        return (
            "def f(xs):\n    seen = []\n    for x in xs:\n        if x in seen:\n"
            f"            continue\n        seen.append(x)\n    {line}\n    return len(seen)\n"
        )

    assert RULES["list membership → set twin"](code("pass"), "function") is not None
    assert RULES["list membership → set twin"](code(use), "function") is None


def test_set_twin_on_one_line_and_in_a_script():
    line = "def f(xs):\n    seen = []\n    for x in xs:\n        if x not in seen: seen.append(x); print(x)\n    return seen\n"
    rewritten = RULES["list membership → set twin"](line, "function")
    assert "if x not in seen_set: seen.append(x); seen_set.add(x); print(x)\n" in rewritten
    script = "seen = []\nfor x in map(int, input().split()):\n    print('YES' if x in seen else 'NO')\n    seen.append(x)\n"
    assert "seen = []\nseen_set = set()\n" in RULES["list membership → set twin"](script, "script")


def test_hoisting_goes_before_the_outermost_loop():
    code = (
        "def f(xs, ys):\n    n = 0\n    for x in xs:\n        for y in xs:\n"
        "            if y in ys:\n                n += 1\n    return n\n"
    )
    rewritten = RULES["invariant membership in loop → set"](code, "function")
    assert "    n = 0\n    ys_set = set(ys)\n    for x in xs:" in rewritten
    assert _run(rewritten, ([1, 2], [2]), "function") == _run(code, ([1, 2], [2]), "function")


def test_proposer_puts_the_combination_first():
    source = "import math\n\n\ndef f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total + sorted(xs)[0]\n"
    target = find(Path("m.py"), source, function="f")
    candidates = propose_rules(target, Feedback(), no_progress, never_cancelled)
    labels = [c.label for c in candidates]
    assert labels[0] == "rules combined"
    assert (
        "rule: accumulation loop → sum/join" in labels and "rule: sorted index → min/max" in labels
    )
    assert len(candidates) <= MAX_SINGLE_CANDIDATES + 1
    combined = candidates[0]
    assert "sum(x for x in xs)" in combined.code and "min(xs)" in combined.code
    assert combined.source.startswith("import math\n")


def _verdicts(request: Request) -> dict[str, str]:
    """Each rule candidate's verdict in a rules-only job (no model, no refinement)."""
    settings = Settings(runs=5, refine_rounds=0, minimise=False, explain=False, stop_at_speedup=0)
    no_model = lambda: pytest.fail("a rules-only job needs no model")  # noqa: E731
    try:
        result = suggest(request, settings, no_model, proposers=[propose_rules], refiners=[])
    except NoFasterVersion as error:
        return error.verdicts
    return {v.label: v.verdict for v in result.verdicts}


def test_a_catalogue_candidate_passes_validation_on_the_example(dedupe_project: Path):
    path = dedupe_project / "dedupe.py"
    verdicts = _verdicts(Request(path, path.read_text(), function="unique_in_order"))
    assert verdicts["rule: dedupe loop → dict.fromkeys"] in ("faster", "not_faster")


def test_a_rewrite_that_changes_behaviour_is_a_rejected_candidate(tmp_path: Path):
    """A set of a string tests characters, not substrings: the hoisting rule's candidate fails
    the tests and is rejected, and the job goes on."""
    path = tmp_path / "words.py"
    path.write_text("def found(words, text):\n    return [w for w in words if w in text]\n")
    (tmp_path / "test_words.py").write_text(
        "from words import found\n\n\ndef test_found():\n"
        "    assert found(['ab', 'x', 'b'], 'abc') == ['ab', 'b']\n"
    )
    verdicts = _verdicts(Request(path, path.read_text(), function="found"))
    assert verdicts == {"rule: invariant membership in loop → set": "rejected"}


def test_no_set_is_hoisted_for_a_set_a_dict_or_a_string():
    for value in ("set(ys)", "{1: 2}", "'abc'", "collections.Counter(ys)"):
        code = f"def f(xs, ys):\n    zs = {value}\n    return [x for x in xs if x in zs]\n"
        assert RULES["invariant membership in loop → set"](code, "function") is None
