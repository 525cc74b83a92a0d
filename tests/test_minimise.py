"""Diff minimisation: hunks, ddmin, cosmetic reverts, and a real re-validated minimisation."""

from pathlib import Path

from perfedit.config import Settings
from perfedit.deliver.minimise import apply, ddmin, hunks, keep_trivia, minimise
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.timing import Comparison
from perfedit.verify.validate import Harness, Verdict

ORIGINAL = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"
CANDIDATE = "a = 10\nb = 2\nc = 30\nd = 4\ne = 50\n"


def faster(label: str = "x", speedup: float = 3.0, p_value: float = 0.001) -> Verdict:
    return Verdict(
        label,
        "faster",
        "",
        2,
        2,
        Comparison(1.0, 1 / speedup, speedup, (speedup * 0.9, speedup * 1.1), p_value, True),
    )


def test_hunks_apply_any_subset():
    found = hunks(ORIGINAL, CANDIDATE)
    assert len(found) == 3 and all(h.changed_lines == 2 for h in found)
    assert apply(ORIGINAL, CANDIDATE, found) == CANDIDATE
    assert apply(ORIGINAL, CANDIDATE, []) == ORIGINAL
    assert apply(ORIGINAL, CANDIDATE, [found[1]]) == "a = 1\nb = 2\nc = 30\nd = 4\ne = 5\n"


def test_ddmin_finds_the_needed_pair():
    items = hunks(
        "".join(f"x{i} = 0\n\n" for i in range(6)), "".join(f"x{i} = 1\n\n" for i in range(6))
    )
    needed = {items[2], items[4]}
    tried = []

    def test(subset):
        tried.append(subset)
        return needed <= set(subset)

    assert set(ddmin(items, test)) == needed
    assert len(tried) < 2 ** len(items)  # not an exhaustive search


def test_minimise_keeps_only_what_the_speedup_needs():
    checked = []

    def check(source: str) -> Verdict:  # only "c = 30" makes it faster
        checked.append(source)
        return faster() if "c = 30" in source else Verdict("x", "not_faster", "", 2, 2, None)

    result = minimise(ORIGINAL, CANDIDATE, faster(), check)
    assert result.source == "a = 1\nb = 2\nc = 30\nd = 4\ne = 5\n"
    assert (result.changed_lines_before, result.changed_lines_after) == (6, 2)
    assert (result.hunks_before, result.hunks_after) == (3, 1)
    assert result.validations == len(checked) <= 8


def test_a_smaller_version_must_keep_most_of_the_speedup():
    def check(source: str) -> Verdict:  # dropping hunks still "faster", but only 1.5x of 3x
        return faster(speedup=3.0 if source == CANDIDATE else 1.5)

    result = minimise(ORIGINAL, CANDIDATE, faster(speedup=3.0), check)
    assert result.source == CANDIDATE and result.changed_lines_after == 6


def test_a_subset_must_be_faster_beyond_the_minimisers_own_chances():
    """Eight re-validations are eight chances of a false "faster" (the A/A case: a subset left
    with only an added import): at p = 0.03 < alpha a subset is still not enough, the winner
    stays whole; at p = 0.001 < alpha / 8 it is."""

    def check(p_value: float):
        return lambda source: faster(p_value=p_value) if "c = 30" in source else faster(p_value=0.5)

    assert minimise(ORIGINAL, CANDIDATE, faster(), check(0.03)).source == CANDIDATE
    assert minimise(ORIGINAL, CANDIDATE, faster(), check(0.001)).source == (
        "a = 1\nb = 2\nc = 30\nd = 4\ne = 5\n"
    )


def test_cosmetic_hunks_are_reverted_without_running_anything():
    original = "def f(x):\n    return x+1\n\n\ndef g(y):\n    return [v for v in y if v in y]\n"
    candidate = "def f(x):\n    return x + 1  # spaced\n\n\ndef g(y):\n    s = set(y)\n    return [v for v in y if v in s]\n"

    def check(source: str) -> Verdict:
        raise AssertionError("a single substantive hunk needs no validation")

    result = minimise(original, candidate, faster(), check)
    assert (
        result.source
        == "def f(x):\n    return x+1\n\n\ndef g(y):\n    s = set(y)\n    return [v for v in y if v in s]\n"
    )
    assert result.validations == 0 and result.hunks_after == 1


def test_a_dropped_docstring_comes_back_without_running_anything():
    original = (
        'def g(y):\n    """Keep me."""\n    y = list(y)\n    return [v for v in y if v in y]\n'
    )
    candidate = "def g(y):\n    y = list(y)\n    s = set(y)\n    return [v for v in y if v in s]\n"

    def check(source: str) -> Verdict:
        raise AssertionError("a docstring hunk is cosmetic: no validation")

    result = minimise(original, candidate, faster(), check)
    assert (
        result.source
        == 'def g(y):\n    """Keep me."""\n    y = list(y)\n    s = set(y)\n    return [v for v in y if v in s]\n'
    )
    assert result.validations == 0


def test_a_hunk_that_alone_makes_it_slower_is_dropped():
    """The issue's case: the winner is 3x, the needed hunk alone 2.5x (short of the 0.9 floor, so
    ddmin keeps both), the other hunk alone 0.34x: it goes."""
    original, candidate = "a = 1\nb = 2\nc = 3\n", "a = 10\nb = 2\nc = 30\n"

    def check(source: str) -> Verdict:
        if "a = 10" in source and "c = 30" in source:
            return faster(speedup=3.0)
        if "a = 10" in source:
            return faster(speedup=2.5)
        return Verdict(
            "x", "not_faster", "", 2, 2, Comparison(1.0, 1 / 0.34, 0.34, (0.3, 0.4), 0.99, False)
        )

    result = minimise(original, candidate, faster(speedup=3.0), check)
    assert result.source == "a = 10\nb = 2\nc = 3\n"
    assert result.verdict.comparison is not None and result.verdict.comparison.speedup == 2.5
    assert (result.changed_lines_before, result.changed_lines_after) == (4, 2)


def test_a_users_comment_inside_the_function_survives_when_the_candidate_dropped_it():
    original = (
        "def g(y):\n    out = []\n    # keep the first of each, in order (ticket 42)\n    for v in y:\n"
        "        if v not in out:\n            out.append(v)\n\n    return out\n"
    )
    candidate = "def g(y):\n    # use a dict: O(1) lookups\n    return list(dict.fromkeys(y))\n"

    def check(source: str) -> Verdict:
        raise AssertionError("one substantive hunk: nothing to validate")

    result = minimise(original, candidate, faster(), check)
    assert (
        result.source
        == "def g(y):\n    # keep the first of each, in order (ticket 42)\n    return list(dict.fromkeys(y))\n\n"
    )
    assert "O(1) lookups" not in result.source  # the comment the candidate added is gone
    assert result.changed_lines_after < result.changed_lines_before


def test_keep_trivia_leaves_strings_and_untouched_lines_alone():
    original = 'x = 1\ns = """\n# inside a string\n"""\ny = 2\n'
    candidate = 'x = 10\ns = """\n"""\ny = 2\n'
    assert (
        keep_trivia(original, candidate) == candidate
    )  # putting the line back would change the string
    assert keep_trivia(ORIGINAL, CANDIDATE) == CANDIDATE


def test_validation_budget_is_respected():
    calls = []

    def check(source: str) -> Verdict:
        calls.append(source)
        return faster()

    minimise(ORIGINAL, CANDIDATE, faster(), check, max_validations=1)
    assert len(calls) == 1


def test_real_minimisation_reverts_an_unneeded_docstring_change(dedupe_project: Path):
    path = dedupe_project / "dedupe.py"
    target = find(path, path.read_text(), function="unique_in_order")
    code = (
        "def unique_in_order(items):\n"
        '    """Distinct items, first-seen order."""\n'
        "    result = []\n"
        "    seen = set()\n"
        "    for item in items:\n"
        "        if item not in seen:\n"
        "            seen.add(item)\n"
        "            result.append(item)\n"
        "    return result\n"
    )
    candidate = target.replace(code)
    with Harness(target, discover(target), Settings(runs=5)) as harness:
        harness.baseline()
        verdict = harness.validate("set", candidate)
        assert verdict.verdict == "faster"
        result = minimise(
            target.source, candidate, verdict, lambda s: harness.validate("set (minimised)", s)
        )
    assert (
        '"""Return the distinct items of ``items`` in the order they first appear."""'
        in result.source
    )
    assert "seen = set()" in result.source and result.verdict.verdict == "faster"
    assert result.changed_lines_after < result.changed_lines_before
