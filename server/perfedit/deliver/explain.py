"""Explanations: the measured facts about a suggestion, and the reason it is faster.

The reason is grounded in the diff (:func:`grounded_reason`): rules over the syntax trees name
the construct that changed (:func:`changes`), and the model-written sentence
(:func:`perfedit.candidates.ask.why_faster`, PIE appendix C style) is kept only when it agrees with them.

The facts are computed, never generated: speedup with its 95% CI and p-value, the tests run,
whether (and on how many inputs) differential testing checked it, peak memory before and
after, lines changed, and the verdict's notes (what the tests cannot tell).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from perfedit.candidates.rules import CATALOGUE
from perfedit.candidates.rules.reasons import Construct, Diff, Reason, parse
from perfedit.formats.suites import TestSuite
from perfedit.verify.differential import DifferentialCheck
from perfedit.verify.validate import Baseline, Verdict


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def timed_quantity(suite: TestSuite) -> str:
    """What a run's time measures for ``suite``'s kind of tests."""
    if suite.kind == "cases":
        return "CPU time of the program, interpreter start-up excluded"
    if suite.kind == "differential":
        return "time of one call on each differential testing input, import excluded"
    return "time per test call, pytest start-up excluded"


def differential_fact(check: DifferentialCheck) -> str:
    """The sentence that marks a suggestion checked by differential testing (lower confidence
    when the tests are thin)."""
    widened = f", {check.widened} of kinds your tests do not use" if check.widened else ""
    return (
        f"Checked by differential testing on {check.inputs} inputs ({check.recorded} recorded from your tests, "
        f"{check.generated} generated{widened}): same return values, exceptions and argument changes as the original"
        + (
            "; lower confidence than a full test suite — add tests to be sure."
            if check.thin
            else "."
        )
    )


def facts(
    verdict: Verdict,
    baseline: Baseline,
    suite: TestSuite,
    changed_lines: int | None = None,
    changed_lines_before: int | None = None,
) -> list[str]:
    """The measured facts of a verdict against ``baseline``, one sentence each (times in ms,
    memory in MiB): the one rendering the CLI and the language server show. The speedup only
    for a timed verdict; the diff size only when ``changed_lines`` is given
    (``changed_lines_before``: its size before minimisation); the verdict's notes last."""
    c = verdict.comparison
    timed = []
    if c is not None:
        speedup = (
            f"{c.speedup:.2f}x faster"
            if verdict.verdict == "faster"
            else f"Speedup {c.speedup:.2f}x"
        )
        timed = [
            f"{speedup} (95% CI {c.ci95[0]:.2f}x–{c.ci95[1]:.2f}x, one-sided Yuen's trimmed-mean test "
            f"p={c.p_value:.2g} against alpha {c.alpha:.2g}, {c.runs} timed runs per side): "
            f"{c.baseline_s * 1e3:.3f} ms → {c.candidate_s * 1e3:.3f} ms per run ({timed_quantity(suite)})."
        ]
    passed = "all " if verdict.tests_passed == verdict.tests_total else ""
    candidate_rss = _mib(verdict.peak_rss_bytes) if verdict.peak_rss_bytes else "not measured"
    diff = (
        []
        if changed_lines is None
        else [
            f"{changed_lines} line(s) changed"
            + (
                f" (minimised from {changed_lines_before}: the rest was not needed for the speedup)."
                if changed_lines_before not in (None, changed_lines)
                else "."
            )
        ]
    )
    return [
        *timed,
        *(
            [
                f"Passes {passed}{verdict.tests_passed} of {verdict.tests_total} tests ({suite.describe()})."
            ]
            if suite.size
            else []
        ),
        *([differential_fact(verdict.differential)] if verdict.differential else []),
        f"Peak memory {_mib(baseline.peak_rss_bytes)} → {candidate_rss}.",
        *diff,
        *verdict.notes,
    ]


def summary(name: str, verdict: Verdict) -> str:
    """One line for a faster ``verdict`` of the target ``name``: speedup with its 95% CI, the
    tests passed and whether differential testing checked it (for notifications)."""
    c = verdict.comparison
    assert c is not None, "a faster verdict is always timed"
    low, high = c.ci95
    checked = verdict.differential
    evidence = f"{verdict.tests_passed} tests pass"
    if checked:
        evidence += f", checked by differential testing on {checked.inputs} inputs"
    return (
        f"perfedit: {name} is {c.speedup:.1f}x faster (95% CI {low:.1f}x–{high:.1f}x), {evidence}"
    )


# --- The reason, grounded in the diff -----------------------------------------------------------
# A small model's "why" is often false (both README examples got "sets are implemented as hash
# tables, which are generally faster than dictionaries"). The reason shown is therefore built from
# what the diff changed (rules over the two syntax trees, below), and the model's sentence is kept
# only when it agrees with that: it names a construct whose use changed and none absent from the code.


@dataclass(frozen=True)
class Change:
    """One construct the faster version changed: ``name``, the rule of the catalogue whose
    reason names it ("list membership → set twin"), and the ``sentence`` that explains it (with
    the complexity before and after when it is clear from the code)."""

    name: str
    sentence: str


def _reasons() -> list[tuple[str, Reason]]:
    """Each distinct reason of the rule catalogue, with the name of the first rule holding it,
    in the catalogue's order (most valuable first)."""
    seen: dict[int, tuple[str, Reason]] = {}
    for rewrite in CATALOGUE:
        seen.setdefault(id(rewrite.reason), (rewrite.name, rewrite.reason))
    return list(seen.values())


#: Construct name → the construct, every one a reason of the catalogue names.
_CONSTRUCTS: dict[str, Construct] = {
    construct.name: construct for _, reason in _reasons() for construct in reason.constructs
}


def construct_counts(code: str) -> Counter[str]:
    """How many syntax-tree nodes of ``code`` use each construct of the vocabulary (set, dict,
    list, join, concatenation, built-in, sort, deque, cache, stdin, import, comprehension, ...)."""
    tree = parse(code)
    counts: Counter[str] = Counter()
    for node in ast.walk(tree) if tree else ():
        counts.update(name for name, construct in _CONSTRUCTS.items() if construct.uses(node))
    return counts


def changes(original: str, faster: str) -> list[Change]:
    """The constructs ``faster`` changed relative to ``original`` (two versions of the target's
    code, from a rule or a model), named by the reasons of the rule catalogue
    (:data:`perfedit.proposers.rules.CATALOGUE`) in its order, most important first: list →
    set/dict membership, de-duplication, Counter, caching, buffered stdin, loops → built-ins
    or comprehensions, hoisted work, … Empty when either does not parse or no reason applies."""
    old, new = parse(original), parse(faster)
    if old is None or new is None:
        return []
    diff = Diff(old, new)
    found: list[Change] = []
    for name, reason in _reasons():
        sentence = reason.explain(diff)
        if sentence is not None:
            found.append(Change(name, sentence))
    return found


def mentioned(sentence: str) -> set[str]:
    """The constructs of the vocabulary that ``sentence`` names."""
    return {
        name
        for name, construct in _CONSTRUCTS.items()
        if re.search(construct.pattern, sentence, re.IGNORECASE)
    }


def agrees(sentence: str, original: str, faster: str) -> bool:
    """True if ``sentence`` (the model's reason) agrees with the diff: it names at least one
    construct whose use changed between ``original`` and ``faster``, and none that neither
    version uses."""
    named = mentioned(sentence)
    before, after = construct_counts(original), construct_counts(faster)
    used = {name for name in _CONSTRUCTS if before[name] or after[name]}
    changed = {name for name in _CONSTRUCTS if before[name] != after[name]}
    return bool(named & changed) and named <= used


def grounded_reason(original: str, faster: str, model_reason: str = "") -> str:
    """Why ``faster`` beats ``original`` (the target's code before and after, minimised diff),
    grounded in the diff (PIE appendix C asks the model, which a small model gets
    wrong): ``model_reason`` when it :func:`agrees` with the diff, else the sentences of
    :func:`changes` (at most two), else "" when no rule names the change and the model's
    sentence does not agree."""
    if model_reason and agrees(model_reason, original, faster):
        return model_reason
    return " ".join(change.sentence for change in changes(original, faster)[:2])


def hot_line_sentence(
    original: str, faster: str, hot_lines: Sequence[tuple[int, float]], kind: str
) -> str:
    """The sentence naming the line whose time fell: the hottest of ``hot_lines`` ((line of
    ``original``, 1-based; seconds) from the profiled test run, or a script's profiled slowest
    case) when the change rewrote it, else "" (the profile says nothing about this change).
    ``kind``: the target's, "function" or "script". SOAP-style profile feedback, in the reason."""
    if not hot_lines:
        return ""
    line, seconds = max(hot_lines, key=lambda item: item[1])
    old_lines = original.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=faster.splitlines(), autojunk=False)
    rewritten = {
        number + 1
        for tag, start, end, _, _ in matcher.get_opcodes()
        if tag != "equal"
        for number in range(start, end)
    }
    if line not in rewritten or not 0 < line <= len(old_lines):
        return ""
    return (
        f"The change rewrote the hottest line in the profiled tests, line {line} of the "
        f"{'function' if kind == 'function' else 'program'} "
        f"(`{old_lines[line - 1].strip()}`, {seconds * 1e3:.2f} ms)."
    )
