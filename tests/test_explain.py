"""Explanations: the model's reason is cut to two clean sentences, and the reason shown is
grounded in the diff (rule-derived unless the model's sentence agrees with it)."""

from pathlib import Path

import pytest

from helpers.rule_cases import CASES
from perfedit.candidates.ask import why_faster
from perfedit.candidates.rules import RULES
from perfedit.deliver.explain import agrees, changes, grounded_reason, hot_line_sentence


class CannedModel:
    """Stands in for ChatModel.complete with a fixed reply (the reply's cleaning is under test)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def complete(self, messages, *, max_new_tokens: int) -> str:
        assert "Faster version" in messages[-1]["content"]
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
    assert grounded_reason(code, rewritten, FALSE_REASON) == " ".join(c.sentence for c in found[:2])


SLOW_DEDUPE = (
    "def f(items):\n    out = []\n    for x in items:\n        if x not in out:\n"
    "            out.append(x)\n    return out\n"
)


def test_the_reason_names_the_hot_line_the_change_rewrote():
    """The profile's hottest line is named when the change rewrote it, and only then."""
    faster = "def f(items):\n    return list(dict.fromkeys(items))\n"
    sentence = hot_line_sentence(SLOW_DEDUPE, faster, [(5, 0.001), (4, 0.012)], "function")
    assert "line 4 of the function (`if x not in out:`, 12.00 ms)" in sentence
    untouched = SLOW_DEDUPE.replace("return out", "return list(out)")
    assert hot_line_sentence(SLOW_DEDUPE, untouched, [(4, 0.012)], "function") == ""
    assert hot_line_sentence(SLOW_DEDUPE, faster, [], "function") == ""
