"""Minimal diffs: revert every hunk of the winning candidate that its speedup does not need.

The winner's diff against the original is split into hunks (maximal runs of changed lines, from
:class:`difflib.SequenceMatcher`). Then:

1. cosmetic hunks are reverted without running anything: those whose reversion leaves the
   candidate's syntax tree unchanged (reformatting, comments, blank lines, docstrings);
2. delta debugging over the remaining hunks (Zeller and Hildebrandt 2002, "Simplifying and
   Isolating Failure-Inducing Input", IEEE TSE 28(2), the ``ddmin`` algorithm) looks for the
   smallest subset that still passes the tests and is still significantly faster, keeping at
   least ``keep_fraction`` of the winner's speedup; every step is a full re-validation in the
   sandbox (tests, then interleaved timing). Each re-validation is one more chance of a false
   "faster", so a subset's p-value is held to alpha / ``max_validations`` (Bonferroni over the
   minimiser's validations); one that only reaches alpha leaves the winner as it was. Renames that the speedup does not depend on go with
   the hunks that hold them.

3. a hunk that hurts is dropped even when ddmin ran out of budget or the rest fell just short of
   ``keep_fraction``: of several kept hunks, one whose removal leaves a significantly faster
   version while it alone makes the original slower (speedup < 1) goes;
4. comment and blank lines inside the kept hunks are put back as they were (:func:`keep_trivia`):
   a user's comment the candidate dropped returns and comments the candidate added go, wherever
   that leaves the syntax tree unchanged (so no re-validation is needed).

The result is 1-minimal when the validation budget suffices: removing any single kept hunk loses
the speedup or breaks a test. ``changed_lines_before - changed_lines_after`` is what the report
calls the lines minimisation removed.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from perfedit.targets import split_lines
from perfedit.verify.validate import Verdict

#: Validates a whole new file and returns its verdict (see :meth:`perfedit.verify.validate.Harness.validate`).
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


def _is_trivia(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _same_tree(a: str, b: str) -> bool:
    try:
        return ast.dump(ast.parse(a)) == ast.dump(ast.parse(b))
    except SyntaxError:
        return False


def _restored(old: list[str], new: list[str]) -> list[str]:
    """The lines ``new`` (a changed block) with ``old``'s comment and blank lines back in place and
    its own added ones left out: code lines are aligned by their stripped text; within a replaced
    run an old trivia line keeps its relative position among the new code lines."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(
        a=[x.strip() for x in old], b=[x.strip() for x in new], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += new[j1:j2]
            continue
        old_part, code = old[i1:i2], [line for line in new[j1:j2] if not _is_trivia(line)]
        # an old trivia line keeps its relative place: k of len(old_part) → before code line round(k * len(code) / len(old_part))
        slots: list[list[str]] = [[] for _ in range(len(code) + 1)]
        for k, line in enumerate(old_part):
            if _is_trivia(line):
                slots[round(k * len(code) / len(old_part))].append(line)
        for k, line in enumerate(code):
            out += slots[k] + [line]
        out += slots[len(code)]
    return out


def keep_trivia(original: str, candidate: str) -> str:
    """``candidate`` with the comment and blank lines of ``original`` that it dropped inside its
    changed blocks put back, and those it added removed, block by block wherever the syntax tree
    stays exactly the same (a line inside a multi-line string would change it: that block stays
    as it is). Untouched lines are never changed."""
    old, new = split_lines(original), split_lines(candidate)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    blocks = [
        (new[j1:j2], _restored(old[i1:i2], new[j1:j2]) if tag != "equal" else new[j1:j2])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]
    chosen = [as_is for as_is, _ in blocks]
    for index, (as_is, restored) in enumerate(blocks):
        if restored != as_is:
            trial = chosen[:index] + [restored] + chosen[index + 1 :]
            if _same_tree("".join(line for block in trial for line in block), candidate):
                chosen = trial
    return "".join(line for block in chosen for line in block)


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


def _held(verdict: Verdict | None, looks: int) -> bool:
    """True if ``verdict`` is "faster" with its p-value within its alpha / ``looks``: the
    Bonferroni correction over the minimiser's ``looks`` validations."""
    return (
        verdict is not None
        and verdict.verdict == "faster"
        and verdict.comparison is not None
        and verdict.comparison.p_value <= verdict.comparison.alpha / looks
    )


def _drop_harmful(
    kept: list[Hunk],
    original: str,
    candidate: str,
    check: CheckFn,
    verdicts: dict[tuple[Hunk, ...], Verdict],
    max_validations: int,
) -> list[Hunk]:
    """``kept`` without the hunks that hurt (step 3): one goes when the others alone are
    significantly faster and it alone is slower than the original. Uses ``verdicts`` (subset →
    verdict, updated) and at most ``max_validations`` validations in all."""

    def verdict_of(subset: list[Hunk]) -> Verdict | None:
        key = tuple(subset)
        if key not in verdicts:
            if len(verdicts) >= max_validations:
                return None
            verdicts[key] = check(apply(original, candidate, subset))
        return verdicts[key]

    for hunk in list(kept):
        if len(kept) < 2:
            break
        if not _held(verdict_of([h for h in kept if h != hunk]), max_validations):
            continue
        alone = verdict_of([hunk])
        if alone is not None and alone.comparison is not None and alone.comparison.speedup < 1:
            kept = [h for h in kept if h != hunk]
    return kept


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

    A subset is kept only if ``check`` finds it "faster" at alpha / ``max_validations`` with a
    speedup of at least ``keep_fraction`` times ``verdict``'s; at most ``max_validations`` calls
    of ``check``. Raises
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
        return _held(result, max_validations) and result.comparison.speedup >= floor  # type: ignore[union-attr]

    # Without the cosmetic hunks the tree, hence the behaviour and verdict, is the winner's; ddmin
    # only ever moves to a subset that passed, so its result carries a verdict.
    kept = ddmin(_substantive(original, candidate, all_hunks), still_faster)
    kept = _drop_harmful(kept, original, candidate, check, verdicts, max_validations)
    source = keep_trivia(original, apply(original, candidate, kept))
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
