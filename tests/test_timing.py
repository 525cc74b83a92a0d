"""Timing statistics on fixed samples, checked against hand computations and scipy."""

import math

import pytest
from scipy import stats

from perfedit.timing import compare, speedup_ci95, trimmed, trimmed_mean, welch_greater

BASE = [10.0, 10.2, 9.9, 10.1, 10.0, 30.0, 10.3, 9.8, 10.1, 10.0]  # one outlier (30)
FAST = [5.0, 5.1, 4.9, 5.0, 5.2, 4.8, 5.0, 5.1, 0.1, 5.0]  # one outlier (0.1)


def test_trimmed_mean_drops_min_and_max():
    assert trimmed([3, 1, 2]) == [2]
    assert trimmed_mean(BASE) == pytest.approx((sum(BASE) - 30.0 - 9.8) / 8)
    with pytest.raises(ValueError):
        trimmed_mean([])


def test_welch_matches_scipy_one_sided():
    t, p = welch_greater(BASE, FAST)
    ref = stats.ttest_ind(BASE, FAST, equal_var=False, alternative="greater")
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    assert welch_greater(FAST, BASE)[1] > 0.5  # wrong direction: no evidence


def test_clear_speedup_is_faster_with_ci_around_two():
    c = compare(BASE, FAST)
    assert c.faster
    assert c.speedup == pytest.approx(trimmed_mean(BASE) / trimmed_mean(FAST))
    assert c.ci95[0] < c.speedup < c.ci95[1]
    assert c.ci95[0] > 1.9 and c.ci95[1] < 2.2
    assert c.rtr == pytest.approx(100 * (1 - 1 / c.speedup))


def test_small_speedup_below_threshold_is_not_faster():
    slightly = [x / 1.05 for x in BASE]  # 5% faster, very consistent
    c = compare(BASE, slightly)
    assert c.p_value < 0.05 and not c.faster


def test_noise_only_is_not_faster():
    a = [1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 0.95, 1.15, 0.85, 1.0]
    b = [1.1, 0.9, 1.0, 1.2, 0.95, 1.0, 1.05, 0.9, 1.1, 1.0]
    assert not compare(a, b).faster


def test_ci_delta_method_hand_computation():
    b, c = [2.0, 2.2, 1.8, 2.0], [1.0, 1.1, 0.9, 1.0]
    low, high = speedup_ci95(b, c)
    var = lambda xs: sum((x - sum(xs) / 4) ** 2 for x in xs) / 3  # noqa: E731
    vb, vc = var(b) / (4 * 2.0**2), var(c) / (4 * 1.0**2)
    dof = (vb + vc) ** 2 / (vb**2 / 3 + vc**2 / 3)
    half = stats.t.ppf(0.975, dof) * math.sqrt(vb + vc)
    assert (low, high) == pytest.approx((2 * math.exp(-half), 2 * math.exp(half)))


def test_compare_needs_three_runs():
    with pytest.raises(ValueError):
        compare([1.0, 2.0], [1.0, 2.0, 3.0])
