"""Timing statistics: trimmed means, the one-sided Welch's t-test, speedup with a 95% CI.

Samples are per-run times in seconds, E runs per side, taken interleaved (baseline, candidate,
baseline, ...) so that drift in the machine's speed hits both sides alike (DESIGN.md, step 5).
A candidate counts as faster only if the one-sided Welch's t-test rejects "not faster" at
``alpha`` and the speedup is at least ``min_speedup`` (PIE, section 2: %OPT counts programs
at least 10% faster).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def trimmed(samples: Sequence[float]) -> list[float]:
    """``samples`` without one minimum and one maximum (unchanged if fewer than 3 samples)."""
    if len(samples) < 3:
        return list(samples)
    ordered = sorted(samples)
    return ordered[1:-1]


def trimmed_mean(samples: Sequence[float]) -> float:
    """Mean after dropping the minimum and the maximum; raises ValueError if empty."""
    if not samples:
        raise ValueError("trimmed_mean of no samples")
    return float(np.mean(trimmed(samples)))


@dataclass(frozen=True)
class Comparison:
    """Baseline against candidate.

    ``speedup`` = baseline / candidate trimmed means (> 1 is faster); ``ci95`` its 95%
    confidence interval; ``p_value`` of the one-sided Welch's t-test (H1: candidate faster);
    ``faster`` applies both thresholds; times in seconds.
    """

    baseline_s: float
    candidate_s: float
    speedup: float
    ci95: tuple[float, float]
    p_value: float
    faster: bool

    @property
    def rtr(self) -> float:
        """Relative time reduction, percent: (old - new) / old * 100 (PIE, section 2)."""
        return (self.baseline_s - self.candidate_s) / self.baseline_s * 100


def welch_greater(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """One-sided Welch's t-test that the baseline mean exceeds the candidate mean.

    Returns ``(t statistic, p value)``; identical constant samples give p = 1 (no evidence).
    """
    if np.ptp(baseline) == 0 and np.ptp(candidate) == 0:
        return 0.0, 0.0 if np.mean(baseline) > np.mean(candidate) else 1.0
    result = stats.ttest_ind(baseline, candidate, equal_var=False, alternative="greater")
    return float(result.statistic), float(result.pvalue)


def speedup_ci95(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """95% CI of mean(baseline)/mean(candidate) by the delta method on the log ratio, with
    Welch-Satterthwaite degrees of freedom. Samples need at least 2 values each."""
    b, c = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    mb, mc = b.mean(), c.mean()
    vb, vc = b.var(ddof=1) / (len(b) * mb**2), c.var(ddof=1) / (len(c) * mc**2)
    se = math.sqrt(vb + vc)
    ratio = mb / mc
    if se == 0:
        return ratio, ratio
    dof = (vb + vc) ** 2 / (vb**2 / (len(b) - 1) + vc**2 / (len(c) - 1))
    half = stats.t.ppf(0.975, dof) * se
    return float(ratio * math.exp(-half)), float(ratio * math.exp(half))


def compare(
    baseline: Sequence[float], candidate: Sequence[float], *, alpha: float = 0.05, min_speedup: float = 1.10
) -> Comparison:
    """Compare per-run times (seconds, one value per run, E runs each side; E >= 3).

    Both sides are trimmed (minimum and maximum dropped) before the test and the means.
    Raises ValueError with fewer than 3 runs on a side.
    """
    if len(baseline) < 3 or len(candidate) < 3:
        raise ValueError("compare needs at least 3 runs per side")
    b, c = trimmed(baseline), trimmed(candidate)
    _, p_value = welch_greater(b, c)
    mean_b, mean_c = float(np.mean(b)), float(np.mean(c))
    speedup = mean_b / mean_c if mean_c > 0 else math.inf
    return Comparison(
        baseline_s=mean_b,
        candidate_s=mean_c,
        speedup=speedup,
        ci95=speedup_ci95(b, c),
        p_value=p_value,
        faster=p_value < alpha and speedup >= min_speedup,
    )
