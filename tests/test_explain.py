"""Explanations: the model's reason is cut to two clean sentences, and the reason shown is
grounded in the diff (rule-derived unless the model's sentence agrees with it); the headline and
cautions of a verdict read as plain, grammatical words; file line numbers; the machine's load."""

from pathlib import Path

import pytest

from helpers.rule_cases import CASES
from perfedit.candidates.ask import why_faster
from perfedit.candidates.rules import RULES
from perfedit.deliver.explain import (
    agrees,
    cautions,
    changes,
    facts,
    grounded_reason,
    headline,
    hot_line_sentence,
    plural,
)
from perfedit.formats import suites
from perfedit.verify.differential import DifferentialCheck
from perfedit.verify.machine import Load
from perfedit.verify.timing import Comparison
from perfedit.verify.validate import Baseline, Verdict


class CannedModel:
    """Stands in for ChatModel.complete with a fixed reply (the reply's cleaning is under test)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def complete(self, messages, *, max_new_tokens: int, on_step=None, should_stop=None) -> str:
        assert "Faster version" in messages[-1]["content"]
        if on_step is not None:
            on_step(max_new_tokens, max_new_tokens)
        return self.reply


def test_why_faster_keeps_two_sentences_without_list_markers_or_code():
    reply = (
        "The new version avoids **unused imports**. Here's a detailed explanation: 1. "
        "Importing datetime costs time at start-up. 2. Fewer globals.\n```python\nimport sys\n```"
    )
    assert why_faster(CannedModel(reply), "a", "b") == (
        "The new version avoids unused imports. Importing datetime costs time at start-up."
    )


# --- The reason grounded in the diff --------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEDUPE = (EXAMPLES / "dedupe" / "dedupe.py").read_text()
SCRIPT = (EXAMPLES / "script" / "seen_before.py").read_text()
FALSE_REASON = (
    "Sets are implemented as hash tables, which are generally faster than dictionaries for lookups."
)
FALSE_DEQUE = "A deque pops from the left in O(1), where a list shifts every item."
FROMKEYS = "def unique_in_order(items):\n    return list(dict.fromkeys(items))\n"
SEEN_SET = (
    "def unique_in_order(items):\n    seen = set()\n    result = []\n    for item in items:\n"
    "        if item not in seen:\n            seen.add(item)\n            result.append(item)\n    return result\n"
)
SCRIPT_SET = SCRIPT.replace("seen = []", "seen = set()").replace("seen.append", "seen.add")


def test_the_false_readme_reason_is_replaced_on_both_examples():
    """README's two examples: the model's sentence names sets *and* dictionaries, but each diff
    uses only one of them, so the rule-derived sentence is shown instead."""
    assert grounded_reason(DEDUPE, FROMKEYS, FALSE_REASON) == (
        "Duplicates are dropped by dict.fromkeys in one C-level pass with hashing (O(n)) instead of "
        "testing each item against a growing list (O(n²))."
    )
    for original, faster in ((DEDUPE, SEEN_SET), (SCRIPT, SCRIPT_SET)):
        reason = grounded_reason(original, faster, FALSE_REASON)
        assert reason.startswith(
            "Membership tests now look up a set (a hash lookup, O(1) on average) instead of scanning a list (O(n))."
        )
        assert "O(n²)" in reason  # the membership test was inside the loop


def test_a_model_reason_that_agrees_with_the_diff_is_kept():
    good = "Checking membership in a set is O(1), while scanning the list is O(n)."
    assert agrees(good, SCRIPT, SCRIPT_SET) and grounded_reason(SCRIPT, SCRIPT_SET, good) == good
    assert not agrees(
        "The code is faster because it uses a better approach.", SCRIPT, SCRIPT_SET
    )  # names nothing
    assert not agrees("A deque and a set are used.", SCRIPT, SCRIPT_SET)  # a deque appears nowhere
    assert (
        grounded_reason("x = 1\n", "x = 2\n", "Nothing named.") == ""
    )  # no rule, no agreement: no reason


@pytest.mark.parametrize("name", list(CASES))
def test_every_rule_rewrite_gets_a_rule_derived_reason(name: str):
    code, kind = CASES[name].code, CASES[name].kind
    rewritten = RULES[name](code, kind)
    assert rewritten is not None
    found = changes(code, rewritten)
    assert found, f"no change named for rule {name!r}"
    # a wrong model sentence: about sets, unless the rewrite brings sets in (str.translate's table)
    false = FALSE_REASON if not agrees(FALSE_REASON, code, rewritten) else FALSE_DEQUE
    assert not agrees(false, code, rewritten)
    assert grounded_reason(code, rewritten, false) == " ".join(c.sentence for c in found[:2])


SLOW_DEDUPE = (
    "def f(items):\n    out = []\n    for x in items:\n        if x not in out:\n"
    "            out.append(x)\n    return out\n"
)


def test_the_reason_names_the_hot_line_the_change_rewrote():
    """The profile's hottest line is named, by its line in the file, when the change rewrote it,
    and only then."""
    faster = "def f(items):\n    return list(dict.fromkeys(items))\n"
    sentence = hot_line_sentence(SLOW_DEDUPE, faster, [(5, 0.001), (4, 0.012)], first_line=10)
    assert "hottest line in the profiled tests, line 13 (`if x not in out:`, 12.00 ms)" in sentence
    untouched = SLOW_DEDUPE.replace("return out", "return list(out)")
    assert hot_line_sentence(SLOW_DEDUPE, untouched, [(4, 0.012)], first_line=1) == ""
    assert hot_line_sentence(SLOW_DEDUPE, faster, [], first_line=1) == ""


def test_why_faster_follows_the_reply_as_it_is_written():
    steps: list[tuple[int, int]] = []
    why_faster(CannedModel("Sets hash."), "a", "b", on_step=lambda *step: steps.append(step))
    assert steps and steps[-1][0] == steps[-1][1]


COMPARISON = Comparison(0.0171, 0.001, 17.1, (14.6, 20.0), 0.001, True, runs=10)
SUITE = suites.TestSuite(
    "pytest", Path("/p"), ("tests/test_d.py::test_small", "tests/test_d.py::test_large")
)


def verdict(**fields) -> Verdict:
    return Verdict(
        **{
            "label": "rule: set membership",
            "verdict": "faster",
            "reason": "",
            "tests_passed": 2,
            "tests_total": 2,
            "comparison": COMPARISON,
            **fields,
        }
    )


def test_plural_counts_grammatically():
    assert [plural(n, "test") for n in (0, 1, 2)] == ["0 tests", "1 test", "2 tests"]
    assert plural(1, "line") == "1 line" and plural(3, "child", "children") == "3 children"


def test_the_headline_is_the_decision_in_a_few_words():
    """Speedup and tests passed; the inputs checked when there are no tests; the unsafe mark."""
    assert headline(verdict(), SUITE) == "17.1× faster · 2 tests pass"
    one = suites.TestSuite("pytest", Path("/p"), ("tests/test_d.py::test_small",))
    assert headline(verdict(tests_passed=1, tests_total=1), one) == "17.1× faster · 1 test passes"
    untested = suites.TestSuite("differential", Path("/p"))
    checked = DifferentialCheck(recorded=0, generated=100)
    assert (
        headline(verdict(tests_total=0, tests_passed=0, differential=checked), untested)
        == "17.1× faster · checked on 100 inputs"
    )
    unsafe = verdict(differences=("differs from the original on f([[]]) (…): raises TypeError",))
    assert headline(unsafe, SUITE) == "17.1× faster · 2 tests pass · behaves differently"


def test_cautions_lead_with_differences_then_thin_tests_notes_and_a_busy_machine():
    difference = "differs from the original on f([[]]) (…): raises TypeError"
    unsafe = verdict(
        differences=(difference,),
        notes=(f"note: {difference}.", "note: the candidate contains an expected output."),
        differential=DifferentialCheck(recorded=3, generated=100, thin=True),
    )
    assert cautions(unsafe, Load(5.3, 2)) == [
        "Differs from the original on f([[]]) (…): raises TypeError.",
        "Few tests cover it (2): differential testing on 103 inputs is the main evidence of its "
        "behaviour; add tests to be sure.",
        "The candidate contains an expected output.",
        Load(5.3, 2).sentence(),
    ]
    assert cautions(verdict(), Load(0.5, 2)) == []


def test_the_machine_load_is_stated_and_a_busy_machine_warned_of():
    quiet, busy = Load(0.8, 2), Load(5.3, 2)
    assert not quiet.busy and busy.busy
    assert (
        quiet.sentence()
        == "Timed with the machine at load average 0.8 over the last minute on 2 CPUs."
    )
    assert busy.sentence().startswith("The machine was busy while it was timed (load average 5.3")
    baseline = Baseline({"t": 0.0171}, "t", 10 * 2**20, 2)
    shown = facts(verdict(), baseline, SUITE, changed_lines=1, changed_lines_before=4, load=busy)
    assert "1 line changed (minimised from 4: the rest was not needed for the speedup)." in shown
    assert busy.sentence() in shown
    assert "Passes all 2 of 2 tests (2 pytest tests in tests/test_d.py)." in shown


def test_the_cli_prints_labels_facts_and_reasons_as_they_are():
    """A rule's label, a fact and a reason hold brackets (``table[x]``, ``returns [1, 2]``):
    printed as text, not read as console markup that would drop them."""
    from types import SimpleNamespace

    from rich.console import Console

    from perfedit.cli.main import _print_suggestion

    suggestion = SimpleNamespace(
        target=SimpleNamespace(name="parse", path=Path("m.py")),
        winner=SimpleNamespace(label="rule: lambda x: table[x] → table.__getitem__"),
        diff="-a\n+b\n",
        facts=["note: differs from the original on f([1, 2]) [bold]"],
        reason="The table's own __getitem__ looks up each item [x].",
        verdicts=[],
        distinct_correct=1,
        changed_lines=1,
        changed_lines_before=1,
        stopped_early="",
    )
    console = Console(record=True, width=200, force_terminal=False)
    _print_suggestion(console, suggestion, applied=False)  # type: ignore[arg-type]
    text = console.export_text()
    assert "(rule: lambda x: table[x] → table.__getitem__)" in text
    assert "• note: differs from the original on f([1, 2]) [bold]" in text
    assert "• Why: The table's own __getitem__ looks up each item [x]." in text
