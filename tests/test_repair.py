"""Argument-copy repair: a candidate rejected because it changes an argument the original leaves
alone gets a repaired twin that works on a copy (``p.sort()`` → ``p = sorted(p)``, else
``p = p.copy()`` after the docstring), labelled after its parent; nothing else is repaired."""

from pathlib import Path

import pytest

from perfedit.candidates.repair import argument_repair, changed_parameters, repaired
from perfedit.targets import MODEL, REPAIR, Candidate, find
from perfedit.verify.differential import DifferentialCheck
from perfedit.verify.validate import Verdict

ORIGINAL = '''\
import math


def has_close_elements(numbers, threshold):
    """True if two numbers are closer than threshold."""
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
'''
SORTS = '''\
def has_close_elements(numbers, threshold):
    """True if two numbers are closer than threshold."""
    numbers.sort()
    return any(b - a < threshold for a, b in zip(numbers, numbers[1:]))
'''
APPENDS = '''\
def has_close_elements(numbers: list[float], threshold):
    """True if two numbers are closer than threshold."""
    numbers.append(math.inf)
    numbers.sort()
    return any(b - a < threshold for a, b in zip(numbers, numbers[1:]))
'''


def _target():
    return find(Path("close.py"), ORIGINAL, function="has_close_elements")


def _candidate(code: str, label: str = "sample 2 (algorithm)", origin: str = MODEL) -> Candidate:
    target = _target()
    return Candidate(label, code, target.replace(code), origin=origin)


def _differential_rejection(label: str = "sample 2 (algorithm)", argument: int | None = 0):
    return Verdict(
        label,
        "rejected",
        "differential testing: leaves argument 1 as [1.0, 2.2] where the original leaves [2.2, 1.0] "
        "for has_close_elements([2.2, 1.0], 0.3)",
        3,
        3,
        failed_test="has_close_elements([2.2, 1.0], 0.3)",
        differential=DifferentialCheck(recorded=3, generated=40),
        mutated_argument=argument,
    )


def test_an_in_place_sort_becomes_sorted_and_the_label_names_the_parent():
    repair = argument_repair(_target(), _candidate(SORTS), _differential_rejection())
    assert repair is not None
    assert repair.label == "sample 2 (algorithm), argument copied" and repair.origin == REPAIR
    assert repair.code == SORTS.replace("numbers.sort()", "numbers = sorted(numbers)")
    assert repair.source == _target().replace(repair.code)


def test_other_changes_get_a_copy_after_the_docstring():
    repair = argument_repair(_target(), _candidate(APPENDS), _differential_rejection())
    assert repair is not None
    lines = repair.code.splitlines()
    assert lines[1].strip().startswith('"""') and lines[2] == "    numbers = numbers.copy()"
    assert "numbers.sort()" in repair.code  # the sort of the copy stays


@pytest.mark.parametrize(
    ("hint", "copy"),
    [("list[int]", "xs.copy()"), ("Sequence[int]", "list(xs)"), ("typing.Iterable", "list(xs)")],
)
def test_an_abstract_collection_hint_is_copied_with_list(hint: str, copy: str):
    code = f"def f(xs: {hint}):\n    xs.append(1)\n    return xs\n"
    assert (
        repaired(code, "f", [0])
        == f"def f(xs: {hint}):\n    xs = {copy}\n    xs.append(1)\n    return xs\n"
    )


def test_sort_arguments_are_kept_and_reverse_becomes_a_slice():
    code = (
        "def f(xs, ys):\n    xs.sort(key=abs, reverse=True)\n    ys.reverse()\n    return xs + ys\n"
    )
    assert repaired(code, "f", [0, 1]) == (
        "def f(xs, ys):\n    xs = sorted(xs, key=abs, reverse=True)\n    ys = ys[::-1]\n"
        "    return xs + ys\n"
    )


def test_a_sort_inside_a_nested_function_is_not_rebound_there():
    code = "def f(xs):\n    def g():\n        xs.sort()\n    g()\n    return xs[0]\n"
    assert repaired(code, "f", [0]) == (
        "def f(xs):\n    xs = xs.copy()\n    def g():\n        xs.sort()\n    g()\n    return xs[0]\n"
    )


def test_a_one_line_body_becomes_a_block():
    assert repaired("def f(p): p.append(1); return p\n", "f", [0]) == (
        "def f(p):\n    p = p.copy()\n    p.append(1)\n    return p\n"
    )


def test_changed_parameters_are_read_from_the_syntax_tree():
    code = (
        "def f(a, b, c, d, e, self_like, g):\n"
        "    a[0] = 1\n    b += [1]\n    del c[0]\n    d.x = 1\n    e = list(e)\n    e.sort()\n"
        "    print(self_like)\n    g.update({})\n"
    )
    assert changed_parameters(code, "f") == [True, True, True, True, False, False, True]
    assert changed_parameters("def f(self, xs):\n    self.xs = xs\n", "f") == [False, False]
    assert changed_parameters("def f(:\n", "f") == [] and changed_parameters("x = 1\n", "f") == []


def test_a_failed_test_repairs_the_parameters_the_original_leaves_alone():
    failed = Verdict("sample 2", "rejected", "fails 1 of 3 tests: ...", 2, 3, failed_test="t::x")
    repair = argument_repair(_target(), _candidate(SORTS, "sample 2"), failed)
    assert repair is not None and "numbers = sorted(numbers)" in repair.code
    reads_only = SORTS.replace("numbers.sort()\n", "numbers = sorted(numbers)\n")
    assert argument_repair(_target(), _candidate(reads_only, "sample 2"), failed) is None


@pytest.mark.parametrize(
    ("candidate", "verdict"),
    [
        # a repair is never repaired again
        (_candidate(SORTS, "s, argument copied", REPAIR), _differential_rejection("s")),
        # a differential difference in the return value, not in an argument
        (_candidate(SORTS), _differential_rejection(argument=None)),
        # not rejected
        (_candidate(SORTS), Verdict("sample 2 (algorithm)", "not_faster", "correct but …", 3, 3)),
        # rejected for a reason that is no test: a duplicate, the budget
        (_candidate(SORTS), Verdict("sample 2 (algorithm)", "rejected", "same as greedy", 0, 0)),
        # no usable code
        (Candidate.unusable("sample 2 (algorithm)"), _differential_rejection()),
    ],
)
def test_nothing_else_is_repaired(candidate: Candidate, verdict: Verdict):
    assert argument_repair(_target(), candidate, verdict) is None


def test_an_argument_past_the_parameters_is_not_repaired():
    assert (
        argument_repair(_target(), _candidate(SORTS), _differential_rejection(argument=5)) is None
    )
