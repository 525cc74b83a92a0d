"""Timing statistics: trimmed means, the one-sided Yuen's trimmed-mean test, speedup with a 95% CI, and
the sequential rule that decides when enough runs have been taken.

Samples are per-run times in seconds, E runs per side, taken interleaved (baseline, candidate,
baseline, ...) so that drift in the machine's speed hits both sides alike: wall-clock times,
which the verdict is about (what the user waits for), and beside them the same runs' CPU times.
Each side is summarised by its trimmed mean (minimum and maximum dropped). A candidate counts as
faster only if the one-sided Yuen's trimmed-mean test rejects "not faster" on the wall clock at
``alpha``, the wall-clock speedup is at least ``min_speedup`` (PIE, section 2: %OPT counts
programs at least 10% faster), and it is not significantly slower in CPU time (the same test the
other way round, at the same ``alpha``): waiting is not saving, and neither is work spread over
more cores than the original used.
Yuen's (1974) test compares trimmed means with standard errors from the winsorized variance and
Welch–Satterthwaite degrees of freedom: a plain Welch's t-test on the trimmed values (which
perfedit used before) underestimates their spread and
declares 7.8-9.1% of simulated equal pairs faster at alpha = 0.05 (docs/benchmarks.md, figure 5).
:class:`SequentialRule` applies the test after every pair and stops as soon as the answer is
clear, holding the false-positive rate at ``alpha`` over all its looks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


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
    confidence interval; ``p_value`` of the one-sided Yuen's trimmed-mean test (H1: candidate faster);
    ``faster`` applies both thresholds; times in seconds. ``runs`` is the number of runs per
    side compared (E, before trimming) and ``alpha`` the threshold the p-value was held to
    (smaller than the configured alpha when the sequential rule split it over its looks);
    ``baseline_runs_s``/``candidate_runs_s`` are the raw per-run wall-clock times (``runs``
    values each). The CPU side, when CPU times were given: ``cpu_speedup`` = baseline /
    candidate trimmed-mean CPU time (``baseline_cpu_s`` / ``candidate_cpu_s``; < 1: the
    candidate uses more CPU), ``cpu_p_slower`` the
    one-sided Yuen's p-value of "the candidate uses more CPU time", ``cpu_slower`` whether that
    is significant at ``alpha`` (it then cannot be faster), and the raw per-run CPU times.
    Without CPU times ``cpu_speedup`` is NaN and ``cpu_slower`` False. ``wall_faster``: the
    wall clock alone says faster (``faster`` is that and not ``cpu_slower``). ``p_slower``: the
    one-sided Yuen's p-value of "the candidate is slower on the wall clock", ``slower`` whether
    that is significant at ``alpha``: a timing set that must not get slower beyond noise
    (the tests, when a workload's calls decide) is held to it.
    """

    baseline_s: float
    candidate_s: float
    speedup: float
    ci95: tuple[float, float]
    p_value: float
    faster: bool
    runs: int = 0
    alpha: float = 0.05
    baseline_runs_s: tuple[float, ...] = ()  # the raw per-run times compared, in run order
    candidate_runs_s: tuple[float, ...] = ()
    cpu_speedup: float = math.nan
    baseline_cpu_s: float = math.nan
    candidate_cpu_s: float = math.nan
    cpu_p_slower: float = 1.0
    cpu_slower: bool = False
    baseline_cpu_runs_s: tuple[float, ...] = ()
    candidate_cpu_runs_s: tuple[float, ...] = ()
    wall_faster: bool = False
    p_slower: float = 1.0
    slower: bool = False

    @property
    def rtr(self) -> float:
        """Relative time reduction, percent: (old - new) / old * 100 (PIE, section 2)."""
        return (self.baseline_s - self.candidate_s) / self.baseline_s * 100


class TrimmedSample(NamedTuple):
    """One side as Yuen's test sees it: ``mean_s`` the trimmed mean (seconds), ``se2`` its
    squared standard error (seconds squared) and ``h`` the number of values left after trimming."""

    mean_s: float
    se2: float
    h: int


def trimmed_sample(samples: Sequence[float]) -> TrimmedSample:
    """Trimmed mean and its squared standard error from the winsorized variance, one value
    trimmed at each end (Yuen 1974, "The two-sample trimmed t for unequal population
    variances", Biometrika 61(1); Wilcox, "Introduction to Robust Estimation and Hypothesis
    Testing", 4th ed., section 5.3). Needs at least 4 samples (h >= 2)."""
    x = np.sort(np.asarray(samples, dtype=float))
    n, h = len(x), len(x) - 2
    winsorized = np.clip(x, x[1], x[-2])
    se2 = (n - 1) * float(winsorized.var(ddof=1)) / (h * (h - 1))
    return TrimmedSample(float(x[1:-1].mean()), se2, h)


def _satterthwaite_dof(v1: float, h1: int, v2: float, h2: int) -> float:
    """Welch-Satterthwaite degrees of freedom for squared standard errors ``v1``, ``v2``."""
    return (v1 + v2) ** 2 / (v1**2 / (h1 - 1) + v2**2 / (h2 - 1))


def yuen_p(baseline: Sequence[float], candidate: Sequence[float]) -> float:
    """One-sided p-value of Yuen's trimmed-mean test, H1: the baseline's trimmed mean
    exceeds the candidate's (the same test as ``scipy.stats.ttest_ind(..., equal_var=False,
    trim=1/n, alternative="greater")``). Raw per-run samples, at least 4 each; two constant
    samples give 0 if the baseline is slower, else 1."""
    from scipy import stats  # slow to import: only when a candidate is timed

    b, c = trimmed_sample(baseline), trimmed_sample(candidate)
    se2 = b.se2 + c.se2
    if se2 == 0:
        return 0.0 if b.mean_s > c.mean_s else 1.0
    t = (b.mean_s - c.mean_s) / math.sqrt(se2)
    return float(stats.t.sf(t, _satterthwaite_dof(b.se2, b.h, c.se2, c.h)))


def speedup_ci95(baseline: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """95% CI of trimmed mean(baseline) / trimmed mean(candidate) by the delta method on the log
    ratio, with Yuen's standard errors and Welch-Satterthwaite degrees of freedom. Raw per-run
    samples, at least 4 each."""
    from scipy import stats

    b, c = trimmed_sample(baseline), trimmed_sample(candidate)
    ratio = b.mean_s / c.mean_s
    vb, vc = b.se2 / b.mean_s**2, c.se2 / c.mean_s**2  # squared standard errors of the log means
    if vb + vc == 0:
        return ratio, ratio
    half = stats.t.ppf(0.975, _satterthwaite_dof(vb, b.h, vc, c.h)) * math.sqrt(vb + vc)
    return float(ratio * math.exp(-half)), float(ratio * math.exp(half))


def compare(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    alpha: float = 0.05,
    min_speedup: float = 1.10,
    baseline_cpu: Sequence[float] = (),
    candidate_cpu: Sequence[float] = (),
) -> Comparison:
    """Compare per-run wall-clock times (seconds, one value per run, E runs each side; E >= 3),
    with the same runs' CPU times (seconds; optional, both or neither) beside them.

    Means are trimmed (minimum and maximum dropped); the test is :func:`yuen_p`, on the wall
    clock for "faster" and, the other way round, for "slower" (on the wall clock and in CPU
    time).
    With 3 runs on a side one value is left after trimming, too few to estimate spread: p = 1
    and the CI is (0, inf). Raises ValueError with fewer than 3 runs on a side, or CPU times
    for other runs than the wall-clock times.
    """
    if len(baseline) < 3 or len(candidate) < 3:
        raise ValueError("compare needs at least 3 runs per side")
    if (len(baseline_cpu), len(candidate_cpu)) not in ((0, 0), (len(baseline), len(candidate))):
        raise ValueError("compare needs the CPU times of the same runs, or none")
    mean_b, mean_c = trimmed_mean(baseline), trimmed_mean(candidate)
    speedup = _ratio(mean_b, mean_c)
    enough = min(len(baseline), len(candidate)) >= 4
    if not enough:
        p_value, p_slower, ci95 = 1.0, 1.0, (0.0, math.inf)
    else:
        p_value, ci95 = yuen_p(baseline, candidate), speedup_ci95(baseline, candidate)
        p_slower = yuen_p(candidate, baseline)
    cpu_b = cpu_c = cpu_speedup = math.nan
    cpu_p_slower = 1.0
    if baseline_cpu:
        cpu_b, cpu_c = trimmed_mean(baseline_cpu), trimmed_mean(candidate_cpu)
        cpu_speedup = _ratio(cpu_b, cpu_c)
        cpu_p_slower = yuen_p(candidate_cpu, baseline_cpu) if enough else 1.0
    cpu_slower = cpu_p_slower < alpha
    wall_faster = p_value < alpha and speedup >= min_speedup
    return Comparison(
        baseline_s=mean_b,
        candidate_s=mean_c,
        speedup=speedup,
        ci95=ci95,
        p_value=p_value,
        faster=wall_faster and not cpu_slower,
        runs=len(baseline),
        alpha=alpha,
        baseline_runs_s=tuple(baseline),
        candidate_runs_s=tuple(candidate),
        cpu_speedup=cpu_speedup,
        baseline_cpu_s=cpu_b,
        candidate_cpu_s=cpu_c,
        cpu_p_slower=cpu_p_slower,
        cpu_slower=cpu_slower,
        baseline_cpu_runs_s=tuple(baseline_cpu),
        candidate_cpu_runs_s=tuple(candidate_cpu),
        wall_faster=wall_faster,
        p_slower=p_slower,
        slower=p_slower < alpha,
    )


def _ratio(baseline_s: float, candidate_s: float) -> float:
    """baseline / candidate, infinite for a candidate that took no time."""
    return baseline_s / candidate_s if candidate_s > 0 else math.inf


CROSS_CHECK_SHARE = (
    0.5  # of the claimed saving, at most this much may reappear as CPU time outside the calls
)
CROSS_CHECK_SIGMAS = 3.0  # ... plus this many standard errors of that CPU time's difference


class CrossCheck(NamedTuple):
    """The timed calls' saving against the CPU time that the worker measured for the same
    samples from outside them, less the calls (setup, teardown, other processes: the *untimed*
    CPU time), both per run, seconds: ``claimed_s`` = fastest baseline run's calls - fastest
    candidate run's calls, ``moved_s`` = the candidate's fastest untimed CPU time - the
    baseline's, ``noise_s`` the allowance for the untimed CPU time's spread."""

    claimed_s: float
    moved_s: float
    noise_s: float

    @property
    def consistent(self) -> bool:
        """True unless more than :data:`CROSS_CHECK_SHARE` of the claimed saving (plus
        ``noise_s``) reappears as CPU time outside the timed calls."""
        return self.claimed_s <= 0 or self.moved_s <= (
            CROSS_CHECK_SHARE * self.claimed_s + self.noise_s
        )

    @property
    def settled(self) -> bool:
        """True when the noise cannot change the outcome: nothing claimed, or the moved CPU time
        further than ``noise_s`` from :data:`CROSS_CHECK_SHARE` of the claim (more runs, else)."""
        return self.claimed_s <= 0 or abs(self.moved_s - CROSS_CHECK_SHARE * self.claimed_s) > (
            self.noise_s
        )


def cross_check(
    baseline_s: Sequence[float],
    candidate_s: Sequence[float],
    baseline_cpu_s: Sequence[float],
    candidate_cpu_s: Sequence[float],
) -> CrossCheck:
    """Cross-check a claimed saving (per-run call times, seconds) against the samples' CPU time
    per run (seconds, the same runs). Work that a candidate moves out of its timed call (into
    fixture setup, teardown, another process) leaves its CPU time where it was: the untimed
    part grows by about what the calls saved; an honest candidate's stays put.

    Each side is summarised by its fastest run: on a busy machine a run is slowed (another
    process on the same core, a lower clock) and never sped up, so the minimum is the estimate
    that such slowdowns, which can hit a few runs of one side only, disturb least (Chen &
    Revels 2016, "Robust benchmarking in noisy environments"). The noise allowance is
    :data:`CROSS_CHECK_SIGMAS` of Yuen's standard error of the difference of the untimed CPU
    times (0 with fewer than 4 runs a side), which a slowdown, scaling calls and the rest
    alike, moves little."""
    untimed_b = [cpu - calls for cpu, calls in zip(baseline_cpu_s, baseline_s, strict=True)]
    untimed_c = [cpu - calls for cpu, calls in zip(candidate_cpu_s, candidate_s, strict=True)]
    claimed = min(baseline_s) - min(candidate_s)
    moved = min(untimed_c) - min(untimed_b)
    noise = 0.0
    if min(len(untimed_b), len(untimed_c)) >= 4:
        se2 = trimmed_sample(untimed_b).se2 + trimmed_sample(untimed_c).se2
        noise = CROSS_CHECK_SIGMAS * math.sqrt(se2)
    return CrossCheck(claimed, moved, noise)


#: The share of alpha that :class:`SequentialRule` keeps for its last look.
LAST_LOOK_SHARE = 0.5


@dataclass(frozen=True)
class SequentialRule:
    """When to stop taking interleaved pairs of runs, and the decision at that point.

    Fixed mode (``adaptive=False``) looks once, after ``max_runs`` pairs, and applies
    :func:`compare` at ``alpha``. Adaptive mode looks after every pair from ``min_runs`` on
    (capped at ``max_runs``), K = max_runs - first look + 1 looks in all, and stops at the
    first look where either

    * the candidate is **clearly faster**: :func:`compare` declares it faster at the look's
      stricter threshold :meth:`alpha_at` (p below it and speedup >= ``min_speedup``); or
    * it is **clearly not faster enough** (futility): the whole 95% CI of the speedup lies below
      ``min_speedup``;

    and otherwise decides at ``max_runs``, at the last look's threshold.

    Why the false-positive rate stays <= alpha despite repeated looks: testing the same data
    again and again inflates the chance that *some* look is significant by noise alone (about
    14% for five looks at 0.05, Armitage, McPherson & Rowe 1969, "Repeated significance tests
    on accumulating data", J. R. Stat. Soc. A 132(2)). Splitting alpha over the K planned looks
    bounds that chance by the union (Bonferroni) bound: P(any look rejects | no speedup) <= the
    sum of the looks' thresholds = alpha, whatever the correlation between looks and whatever
    the split. The split is weighted (Rosenthal & Rubin 1983, "Ensemble-adjusted p values",
    Psychological Bulletin 94(3)): the last look, which has the most runs and decides every
    candidate close to ``min_speedup``, gets :data:`LAST_LOOK_SHARE` of alpha and the earlier
    looks share the rest equally, as alpha-spending functions spend little early (Lan & DeMets
    1983, "Discrete sequential boundaries for clinical trials", Biometrika 70(3)); a clear
    winner still stops at its first look. An equal split (alpha / K at every look) is the
    conservative form of Pocock's constant boundary (Pocock 1977, Biometrika 64(2); Jennison &
    Turnbull 2000, "Group Sequential Methods with Applications to Clinical Trials", ch. 2),
    and left a 1.21x candidate at p = 0.0094 after 10 runs short of 0.05 / 6; the union bound
    needs neither normality nor equal thresholds.
    Futility stops never declare a candidate faster, so they can only lower the false-positive
    rate (a "non-binding" futility boundary); they cost power only for candidates whose true
    speedup is close to ``min_speedup``. Measured rates are in docs/benchmarks.md.
    """

    max_runs: int
    min_runs: int = 5
    alpha: float = 0.05
    min_speedup: float = 1.10
    adaptive: bool = True

    @property
    def first_look(self) -> int:
        """Pairs taken before the first decision can be made."""
        return min(self.min_runs, self.max_runs) if self.adaptive else self.max_runs

    @property
    def looks(self) -> int:
        """K, the number of planned looks (1 in fixed mode)."""
        return self.max_runs - self.first_look + 1

    def alpha_at(self, pairs: int) -> float:
        """The p-value threshold of the look after ``pairs`` pairs: alpha at a single look;
        else :data:`LAST_LOOK_SHARE` of alpha at the last look (``max_runs`` pairs or more) and
        an equal part of the rest at each earlier one (a weighted Bonferroni split: the
        thresholds of all K looks sum to alpha)."""
        if self.looks == 1:
            return self.alpha
        if pairs >= self.max_runs:
            return self.alpha * LAST_LOOK_SHARE
        return self.alpha * (1 - LAST_LOOK_SHARE) / (self.looks - 1)

    def decide(
        self,
        baseline: Sequence[float],
        candidate: Sequence[float],
        baseline_cpu: Sequence[float] = (),
        candidate_cpu: Sequence[float] = (),
    ) -> Comparison | None:
        """The decision after ``len(baseline)`` pairs (per-run wall-clock seconds, one value per
        run and side, in run order; the same runs' CPU seconds, optional), or None to take
        another pair. A look that finds the candidate clearly faster on the wall clock stops,
        whether or not it is slower in CPU time (then it is not faster)."""
        if len(baseline) < self.first_look:
            return None
        comparison = compare(
            baseline,
            candidate,
            alpha=self.alpha_at(len(baseline)),
            min_speedup=self.min_speedup,
            baseline_cpu=baseline_cpu,
            candidate_cpu=candidate_cpu,
        )
        futile = comparison.ci95[1] < self.min_speedup
        if comparison.wall_faster or futile or len(baseline) >= self.max_runs:
            return comparison
        return None
