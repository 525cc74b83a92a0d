"""Explanations: the measured facts about a suggestion (the model-written reason beside them
comes from :func:`perfedit.ask.why_faster`).

The facts are computed, never generated: speedup with its 95% CI and p-value, the tests run,
whether (and on how many inputs) differential testing checked it, peak memory before and
after, lines changed.
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
    """The sentence that marks a suggestion checked by differential testing (lower confidence)."""
    return (
        f"Checked by differential testing on {check.inputs} inputs ({check.recorded} recorded from your tests, "
        f"{check.generated} generated): same return values, exceptions and argument changes as the original; "
        "lower confidence than a full test suite — add tests to be sure."
    )


def facts(verdict: Verdict, baseline: Baseline, suite: TestSuite, changed_lines: int, changed_lines_before: int | None = None) -> list[str]:
    """Measured facts, one sentence each (times in ms, memory in MiB); ``changed_lines_before``
    is the diff size before minimisation."""
    comparison = verdict.comparison
    assert comparison is not None, "facts() needs a timed verdict"
    low, high = comparison.ci95
    timing = timed_quantity(suite)
    return [
        f"{comparison.speedup:.2f}x faster (95% CI {low:.2f}x–{high:.2f}x, one-sided Yuen's test p={comparison.p_value:.2g}): "
        f"{comparison.baseline_s * 1e3:.3f} ms → {comparison.candidate_s * 1e3:.3f} ms per run ({timing}).",
        *([f"Passes all {verdict.tests_passed} of {verdict.tests_total} tests ({suite.describe()})."] if suite.size else []),
        *([differential_fact(verdict.differential)] if verdict.differential else []),
        f"Peak memory {_mib(baseline.peak_rss_bytes)} → {_mib(verdict.peak_rss_bytes)}.",
        f"{changed_lines} line(s) changed"
        + (f" (minimised from {changed_lines_before}: the rest was not needed for the speedup)." if changed_lines_before not in (None, changed_lines) else "."),
    ]
