"""Explanations: the measured facts about a suggestion (the model-written reason beside them
comes from :func:`perfedit.ask.why_faster`).

The facts are computed, never generated: speedup with its 95% CI and p-value, the tests run,
whether (and on how many inputs) differential testing checked it, peak memory before and
after, lines changed, and the verdict's notes (what the tests cannot tell).
"""

from __future__ import annotations

from perfedit.differential import DifferentialCheck
from perfedit.testsource import TestSuite
from perfedit.validate import Baseline, Verdict


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
