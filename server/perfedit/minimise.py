"""Minimal diffs: revert every hunk of the winning candidate that its speedup does not need.

The winner's diff against the original is split into hunks (maximal runs of changed lines, from
:class:`difflib.SequenceMatcher`). Then:

1. cosmetic hunks are reverted without running anything: those whose reversion leaves the
   candidate's syntax tree unchanged (reformatting, comments, blank lines, docstrings);
2. delta debugging over the remaining hunks (Zeller and Hildebrandt 2002, "Simplifying and
   Isolating Failure-Inducing Input", IEEE TSE 28(2), the ``ddmin`` algorithm) looks for the
   smallest subset that still passes the tests and is still significantly faster, keeping at
   least ``keep_fraction`` of the winner's speedup; every step is a full re-validation in the
   sandbox (tests, then interleaved timing). Renames that the speedup does not depend on go with
   the hunks that hold them.

The result is 1-minimal when the validation budget suffices: removing any single kept hunk loses
the speedup or breaks a test.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from perfedit.targets import split_lines
from perfedit.validate import Verdict

#: Validates a whole new file and returns its verdict (see :meth:`perfedit.validate.Harness.validate`).
CheckFn = Callable[[str], Verdict]


@dataclass(frozen=True)
class Hunk:
    """Lines ``old_start:old_end`` of the original replaced by ``new_start:new_end`` of the candidate
    (0-based, end exclusive)."""

    old_start: int
    old_end: int
    new_start: int
    new_end: int

    @property
    def changed_lines(self) -> int:
        """Lines removed plus lines added."""
        return (self.old_end - self.old_start) + (self.new_end - self.new_start)


@dataclass(frozen=True)
class Minimised:
    """The minimised winner: its whole new file ``source`` and ``verdict`` (the winner's own if
    nothing was reverted), diff sizes in changed lines, and the work done."""

    source: str
    verdict: Verdict
    changed_lines_before: int
    changed_lines_after: int
    hunks_before: int
    hunks_after: int
    validations: int

    @classmethod
    def as_is(cls, original: str, candidate: str, verdict: Verdict) -> Minimised:
        """``candidate`` unchanged (minimisation off)."""
        found = hunks(original, candidate)
        size = sum(h.changed_lines for h in found)
        return cls(candidate, verdict, size, size, len(found), len(found), 0)


def hunks(original: str, candidate: str) -> list[Hunk]:
    """The hunks turning ``original`` into ``candidate``, in file order."""
    matcher = difflib.SequenceMatcher(
        a=split_lines(original), b=split_lines(candidate), autojunk=False
    )
    return [Hunk(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def apply(original: str, candidate: str, kept: Sequence[Hunk]) -> str:
    """``original`` with only the ``kept`` hunks (of :func:`hunks` ``(original, candidate)``) applied."""
    old, new = split_lines(original), split_lines(candidate)
    out, position = [], 0
    for hunk in sorted(kept, key=lambda h: h.old_start):
        out += old[position : hunk.old_start] + new[hunk.new_start : hunk.new_end]
        position = hunk.old_end
    return "".join(out + old[position:])


def _tree(source: str) -> str | None:
    """A comparable dump of ``source``'s syntax tree without positions or docstrings (they do not
    change what the code does, and small models often drop them), None if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and ast.get_docstring(node, clean=False) is not None
        ):
            node.body = body[1:]
    return ast.dump(tree)


def _substantive(original: str, candidate: str, all_hunks: list[Hunk]) -> list[Hunk]:
    """The hunks without which the candidate's syntax tree would change (step 1)."""
    reference = _tree(candidate)
    needed = [
        h
        for h in all_hunks
        if _tree(apply(original, candidate, [k for k in all_hunks if k != h])) != reference
    ]
    return needed if _tree(apply(original, candidate, needed)) == reference else all_hunks


class BudgetSpent(Exception):
    """Raised by a ddmin test function to end the search early."""


def ddmin(items: list[Hunk], test: Callable[[list[Hunk]], bool]) -> list[Hunk]:
    """Zeller and Hildebrandt's ddmin: a 1-minimal subset of ``items`` for which ``test`` holds,
    assuming it holds for ``items``. ``test`` may raise :class:`BudgetSpent` to end the search;
    the smallest passing subset found so far is returned."""
    granularity = 2
    try:
        while len(items) >= 2:
            size = -(-len(items) // granularity)
            chunks = [items[i : i + size] for i in range(0, len(items), size)]
            complements = [[h for h in items if h not in chunk] for chunk in chunks]
            if found := next((c for c in chunks if test(c)), None):
                items, granularity = found, 2
            elif found := next((c for c in complements if len(chunks) > 2 and test(c)), None):
                items, granularity = found, max(granularity - 1, 2)
            elif granularity >= len(items):
                break
            else:
                granularity = min(len(items), granularity * 2)
    except BudgetSpent:
        pass
    return items


def minimise(
    original: str,
    candidate: str,
    verdict: Verdict,
    check: CheckFn,
    *,
    keep_fraction: float = 0.9,
    max_validations: int = 8,
) -> Minimised:
    """Revert the hunks of ``candidate`` (a whole new file, validated as ``verdict``, which must be
    "faster") that the speedup does not need; see the module docstring.

    A subset is kept only if ``check`` finds it "faster" with a speedup of at least
    ``keep_fraction`` times ``verdict``'s; at most ``max_validations`` calls of ``check``. Raises
    whatever ``check`` raises (Cancelled).
    """
    assert verdict.comparison is not None, "minimise() needs a faster verdict"
    floor = keep_fraction * verdict.comparison.speedup
    all_hunks = hunks(original, candidate)
    verdicts: dict[tuple[Hunk, ...], Verdict] = {}  # each validated subset's verdict

    def still_faster(kept: list[Hunk]) -> bool:
        if not kept:
            return False  # the original itself
        if len(verdicts) >= max_validations:
            raise BudgetSpent
        result = verdicts[tuple(kept)] = check(apply(original, candidate, kept))
        return (
            result.verdict == "faster"
            and result.comparison is not None
            and result.comparison.speedup >= floor
        )

    # Without the cosmetic hunks the tree, hence the behaviour and verdict, is the winner's; ddmin
    # only ever moves to a subset that passed, so its result carries a verdict.
    kept = ddmin(_substantive(original, candidate, all_hunks), still_faster)
    source = apply(original, candidate, kept)
    final = verdicts.get(tuple(kept), verdict)
    after = hunks(original, source)
    return Minimised(
        source=source,
        verdict=final,
        changed_lines_before=sum(h.changed_lines for h in all_hunks),
        changed_lines_after=sum(h.changed_lines for h in after),
        hunks_before=len(all_hunks),
        hunks_after=len(after),
        validations=len(verdicts),
    )
