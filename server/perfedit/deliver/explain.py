"""Explanations: the measured facts about a suggestion, and the reason it is faster.

The reason is grounded in the diff (:func:`grounded_reason`): rules over the syntax trees name
the construct that changed (:func:`changes`), and the model-written sentence
(:func:`perfedit.candidates.ask.why_faster`, PIE appendix C style) is kept only when it agrees with them.

The facts are computed, never generated: speedup with its 95% CI and p-value, the tests run,
whether (and on how many inputs) differential testing checked it, peak memory before and
after, lines changed, the machine's load while it was timed, and the verdict's notes (what the
tests cannot tell). For the moment of decision the same verdict gives a :func:`headline`
("17.1× faster · 2 tests pass") and the :func:`cautions` the user must read before applying.
Line numbers in every message are the file's (1-based).
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
from perfedit.verify.machine import Load
from perfedit.verify.timing import Comparison
from perfedit.verify.validate import CALLS, Baseline, Verdict, calls_phrase


def plural(count: int, noun: str, nouns: str = "") -> str:
    """``count`` and the noun in the number it takes: "1 test", "2 tests" (``nouns``: an
    irregular plural; default ``noun`` + "s")."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def timed_quantity(suite: TestSuite) -> str:
    """What a run's time measures for ``suite``'s kind of tests."""
    if suite.kind == "cases":
        return "wall-clock time of the program, interpreter start-up excluded"
    if suite.kind == "differential":
        return "wall-clock time of one call on each differential testing input, import excluded"
    return "wall-clock time per test call, pytest start-up excluded"


def cpu_fact(c: Comparison) -> str:
    """The CPU-time sentence beside a timed verdict's wall-clock one (empty without CPU times)."""
    if not c.baseline_cpu_runs_s:
        return ""
    slower = (
        f", significantly more (p={c.cpu_p_slower:.2g}): not faster"
        if c.cpu_slower
        else f" (p={c.cpu_p_slower:.2g} that it uses more)"
    )
    return (
        f"CPU time {c.baseline_cpu_s * 1e3:.3f} ms → {c.candidate_cpu_s * 1e3:.3f} ms per run "
        f"({c.cpu_speedup:.2f}x){slower}."
    )


def _evidence(c: Comparison) -> str:
    """A comparison's 95% CI and test, in words."""
    return (
        f"95% CI {c.ci95[0]:.2f}x–{c.ci95[1]:.2f}x, one-sided Yuen's trimmed-mean test "
        f"p={c.p_value:.2g} against alpha {c.alpha:.2g}, {c.runs} timed runs per side"
    )


def _per_run(c: Comparison) -> str:
    """A comparison's trimmed means, original → candidate."""
    return f"{c.baseline_s * 1e3:.3f} ms → {c.candidate_s * 1e3:.3f} ms per run"


def _on_set(verdict: Verdict) -> str:
    """Which timing set the verdict's speedup is on, when it is the function's recorded calls."""
    check = verdict.differential
    if verdict.timing_set != CALLS or check is None:
        return ""
    if verdict.calls_from == "workload":
        return f" on the {plural(check.workload, 'call')} recorded from the workload"
    return f" on its {plural(check.recorded, 'call')} recorded from your tests"


def _set_quantity(verdict: Verdict, suite: TestSuite) -> str:
    """What a run's time measures in the verdict's deciding timing set."""
    if verdict.timing_set == CALLS:
        return "wall-clock time of one call on each of them, import excluded"
    return timed_quantity(suite)


def differential_fact(check: DifferentialCheck) -> str:
    """The sentence that marks a suggestion checked by differential testing (lower confidence
    when the tests are thin)."""
    widened = f", {check.widened} of kinds your tests do not use" if check.widened else ""
    shared = f" ({check.shared} of them also made by your tests)" if check.shared else ""
    workload = f"{check.workload} recorded from the workload{shared}, " if check.workload else ""
    return (
        f"Checked by differential testing on {check.inputs} inputs ({check.recorded} recorded from your tests, "
        f"{workload}{check.generated} generated{widened}): same return values, exceptions and argument changes as the original"
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
    load: Load | None = None,
) -> list[str]:
    """The measured facts of a verdict against ``baseline``, one sentence each (times in ms,
    memory in MiB): the one rendering the CLI and the language server show. The wall-clock
    speedup and the CPU time beside it only for a timed verdict; the diff size only when
    ``changed_lines`` is given (``changed_lines_before``: its size before minimisation); the
    machine's ``load`` while it was timed when given; the verdict's notes last."""
    c = verdict.comparison
    timed = []
    if c is not None:
        speedup = (
            f"{c.speedup:.2f}x faster on the wall clock"
            if verdict.verdict == "faster"
            else f"Wall-clock speedup {c.speedup:.2f}x"
        )
        timed = [
            f"{speedup}{_on_set(verdict)} ({_evidence(c)}): {_per_run(c)} ({_set_quantity(verdict, suite)}).",
            *filter(None, [cpu_fact(c)]),
        ]
        if (t := verdict.tests_comparison) is not None:
            slower = (
                "significantly slower: not faster"
                if t.slower
                else f"not slower beyond noise (p={t.p_slower:.2g} that it is slower)"
            )
            timed.append(
                f"On its tests, {t.speedup:.2f}x ({_evidence(t)}): {_per_run(t)} "
                f"({timed_quantity(suite)}); {slower}."
            )
    passed = "all " if verdict.tests_passed == verdict.tests_total else ""
    candidate_rss = _mib(verdict.peak_rss_bytes) if verdict.peak_rss_bytes else "not measured"
    diff = (
        []
        if changed_lines is None
        else [
            f"{plural(changed_lines, 'line')} changed"
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
                f"Passes {passed}{verdict.tests_passed} of {plural(verdict.tests_total, 'test')} ({suite.describe()})."
            ]
            if suite.size
            else []
        ),
        *([differential_fact(verdict.differential)] if verdict.differential else []),
        f"Peak memory {_mib(baseline.peak_rss_bytes)} → {candidate_rss}.",
        *diff,
        *([load.sentence()] if load else []),
        *verdict.notes,
    ]


def headline(verdict: Verdict, suite: TestSuite) -> str:
    """The facts a decision needs, in a few words, for a faster ``verdict``: "17.1× faster ·
    2 tests pass" ("… · checked on 103 inputs" with no tests; "… · behaves differently" when
    it does on some input the checks saw)."""
    c = verdict.comparison
    assert c is not None, "a faster verdict is always timed"
    on = calls_phrase(verdict.calls_from) if verdict.timing_set == CALLS else ""
    parts = [f"{c.speedup:.1f}× faster{on}"]
    if suite.size:
        noun = "case" if suite.kind == "cases" else "test"
        passed = plural(verdict.tests_passed, noun)
        parts.append(
            f"{passed} {'passes' if verdict.tests_passed == 1 else 'pass'}"
            if verdict.tests_passed == verdict.tests_total
            else f"{passed} of {verdict.tests_total} pass"
        )
    elif verdict.differential:
        parts.append(f"checked on {plural(verdict.differential.inputs, 'input')}")
    if verdict.differences:
        parts.append("behaves differently")
    return " · ".join(parts)


def cautions(verdict: Verdict, load: Load | None = None) -> list[str]:
    """What the user must know before applying ``verdict``'s candidate, one sentence each, most
    serious first: how it behaves differently from the original, thin tests (differential
    testing is the main evidence), the verdict's other notes, a busy machine while it was
    timed (``load``). Empty when there is nothing to add to the :func:`headline`."""
    differences = [f"{d[:1].upper()}{d[1:]}." for d in verdict.differences]
    check = verdict.differential
    thin = (
        [
            f"Few tests cover it ({verdict.tests_total}): differential testing on {plural(check.inputs, 'input')} "
            "is the main evidence of its behaviour; add tests to be sure."
        ]
        if check and check.thin and verdict.tests_total
        else []
    )
    noted = {f"note: {d}." for d in verdict.differences}
    notes = [
        note[len("note: ") :].capitalize() if note.startswith("note: ") else note
        for note in verdict.notes
        if note not in noted
    ]
    busy = [load.sentence()] if load and load.busy else []
    return [*differences, *thin, *notes, *busy]


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
    original: str, faster: str, hot_lines: Sequence[tuple[int, float]], first_line: int
) -> str:
    """The sentence naming the line whose time fell: the hottest of ``hot_lines`` ((line of
    ``original``, 1-based; seconds) from the profiled test run, or a script's profiled slowest
    case) when the change rewrote it, else "" (the profile says nothing about this change).
    ``first_line``: the file's line number (1-based) of ``original``'s first line, so that the
    sentence names the file's line, as every other message does. SOAP-style profile feedback, in
    the reason."""
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
        f"The change rewrote the hottest line in the profiled tests, line {first_line + line - 1} "
        f"(`{old_lines[line - 1].strip()}`, {seconds * 1e3:.2f} ms)."
    )
