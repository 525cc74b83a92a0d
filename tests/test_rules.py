"""Rule-based rewrites: each rule on a small example, checked by running old and new code."""

from pathlib import Path

import pytest

from helpers.rule_cases import CASES
from perfedit.candidates import Feedback
from perfedit.candidates.rules import RULES, propose_rules
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import find


def _run(code: str, args: tuple):
    namespace: dict = {}
    exec("import math\n" + code, namespace)
    return namespace["f"](*args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_rewrites_and_keeps_behaviour(name: str):
    code, expected, inputs = CASES[name]
    rewritten = RULES[name](code, "function")
    assert rewritten is not None and expected in rewritten, rewritten
    for args in inputs:
        assert _run(rewritten, args) == _run(code, args)


def test_rules_leave_unrelated_code_alone():
    code = "def f(xs):\n    # a comment\n    return [x for x in xs]\n"
    assert all(RULES[name](code, "function") is None for name in RULES if name != "unused imports")


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


def test_proposer_labels_and_combination():
    source = "import math\n\n\ndef f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total + sorted(xs)[0]\n"
    target = find(Path("m.py"), source, function="f")
    candidates = propose_rules(target, Feedback(), no_progress, never_cancelled)
    labels = [c.label for c in candidates]
    assert (
        "rule: accumulation loop → sum/join" in labels and "rule: sorted index → min/max" in labels
    )
    combined = next(c for c in candidates if c.label == "rules combined")
    assert "sum(x for x in xs)" in combined.code and "min(xs)" in combined.code
    assert combined.source.startswith("import math\n")
