"""Timing statistics and the sequential rule on fixed samples, checked against hand
computations, scipy, and seeded simulations of equal programs (no processes)."""

import math

import numpy as np
import pytest
from scipy import stats

from perfedit.verify.timing import (
    SequentialRule,
    compare,
    cross_check,
    speedup_ci95,
    trimmed,
    trimmed_mean,
    trimmed_sample,
    yuen_p,
)

BASE = [10.0, 10.2, 9.9, 10.1, 10.0, 30.0, 10.3, 9.8, 10.1, 10.0]  # one outlier (30)
FAST = [5.0, 5.1, 4.9, 5.0, 5.2, 4.8, 5.0, 5.1, 0.1, 5.0]  # one outlier (0.1)


def test_trimmed_mean_drops_min_and_max():
    assert trimmed([3, 1, 2]) == [2]
    assert trimmed_mean(BASE) == pytest.approx((sum(BASE) - 30.0 - 9.8) / 8)
    with pytest.raises(ValueError):
        trimmed_mean([])


def test_yuen_matches_scipy_trimmed_one_sided():
    """With 10 runs, scipy's trim=0.1 drops one value at each end, as perfedit does."""
    ref = stats.ttest_ind(BASE, FAST, equal_var=False, trim=0.1, alternative="greater")
    assert yuen_p(BASE, FAST) == pytest.approx(ref.pvalue)
    assert yuen_p(FAST, BASE) > 0.5  # wrong direction: no evidence
    assert yuen_p([1.0] * 5, [1.0] * 5) == 1.0 and yuen_p([2.0] * 5, [1.0] * 5) == 0.0


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
    """Yuen's squared standard error: winsorized variance * (n - 1) / (h * (h - 1)), h = n - 2."""
    b, c = [2.0, 2.2, 1.8, 2.0, 9.0, 1.0], [1.0, 1.1, 0.9, 1.0, 0.1, 5.0]
    low, high = speedup_ci95(b, c)

    def se2_of_log_mean(winsorized: list[float], mean: float) -> float:
        m = sum(winsorized) / 6
        return sum((x - m) ** 2 for x in winsorized) / 5 * 5 / (4 * 3) / mean**2

    vb = se2_of_log_mean([2.0, 2.2, 1.8, 2.0, 2.2, 1.8], 2.0)
    vc = se2_of_log_mean([1.0, 1.1, 0.9, 1.0, 0.9, 1.1], 1.0)
    dof = (vb + vc) ** 2 / (vb**2 / 3 + vc**2 / 3)
    half = stats.t.ppf(0.975, dof) * math.sqrt(vb + vc)
    assert (low, high) == pytest.approx((2 * math.exp(-half), 2 * math.exp(half)))
    assert trimmed_sample(b).mean_s == pytest.approx(2.0) and trimmed_sample(b).h == 4


def test_compare_needs_three_runs():
    with pytest.raises(ValueError):
        compare([1.0, 2.0], [1.0, 2.0, 3.0])
    three = compare([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])  # one value left after trimming: no test
    assert three.p_value == 1.0 and three.ci95 == (0.0, math.inf) and not three.faster


def _equal_programs(rng: np.random.Generator, runs: int) -> tuple[list[float], list[float]]:
    """Per-run times of two equal programs: lognormal noise, 5% spread, ~20 ms (seconds)."""
    return list(0.02 * rng.lognormal(0, 0.05, runs)), list(0.02 * rng.lognormal(0, 0.05, runs))


def _declared_faster(rule: SequentialRule, baseline: list[float], candidate: list[float]) -> bool:
    for pairs in range(1, rule.max_runs + 1):
        decision = rule.decide(baseline[:pairs], candidate[:pairs])
        if decision is not None:
            return decision.faster
    raise AssertionError("the rule must decide by max_runs")


def test_fixed_mode_is_one_look_at_alpha():
    rule = SequentialRule(max_runs=10, adaptive=False)
    assert (rule.first_look, rule.looks, rule.alpha_at(10)) == (10, 1, 0.05)
    assert rule.decide(BASE[:9], FAST[:9]) is None
    assert rule.decide(BASE, FAST) == compare(BASE, FAST)


def test_adaptive_mode_splits_alpha_over_its_looks_keeping_half_for_the_last():
    rule = SequentialRule(max_runs=10, min_runs=5, alpha=0.05)
    assert (rule.first_look, rule.looks) == (5, 6)
    thresholds = [rule.alpha_at(pairs) for pairs in range(5, 11)]
    assert thresholds[:5] == pytest.approx([0.025 / 5] * 5) and thresholds[5] == 0.025
    assert sum(thresholds) == pytest.approx(0.05)  # the union bound: alpha over all looks
    assert SequentialRule(max_runs=3, min_runs=5).looks == 1  # first look capped at max_runs


def test_a_close_candidate_is_decided_at_the_last_looks_threshold():
    """p between the equal split's alpha / 6 and the last look's alpha / 2: faster at the
    last look only (the case of a 1.2x candidate on noisy runs)."""
    rule = SequentialRule(max_runs=10, min_runs=5)
    base = [1.0, 1.2, 0.9, 1.3, 1.05, 0.95, 1.25, 1.1, 0.85, 1.15]
    fast = [x / 1.2 for x in (1.15, 0.9, 1.2, 1.0, 1.3, 1.1, 0.95, 1.25, 1.05, 0.85)]
    final = compare(base, fast, alpha=rule.alpha_at(10))
    assert 0.05 / 6 < final.p_value < 0.025 and final.speedup >= 1.10
    assert [rule.decide(base[:n], fast[:n]) for n in range(5, 10)] == [None] * 5
    decision = rule.decide(base, fast)
    assert decision is not None and decision.faster and decision.alpha == 0.025


def test_clearly_faster_stops_at_the_first_look():
    rule = SequentialRule(max_runs=10, min_runs=5)
    assert rule.decide(BASE[:4], FAST[:4]) is None
    decision = rule.decide(BASE[:5], FAST[:5])
    assert decision is not None and decision.faster and decision.runs == 5
    assert decision.alpha == pytest.approx(0.025 / 5)


def test_faster_on_the_wall_clock_but_slower_in_cpu_time_is_not_faster():
    """Work spread over more cores: half the wall-clock time, more CPU time (a thread pool)."""
    more_cpu = [1.3 * x for x in BASE]
    c = compare(BASE, FAST, baseline_cpu=BASE, candidate_cpu=more_cpu)
    assert c.wall_faster and c.cpu_slower and not c.faster
    assert c.cpu_speedup == pytest.approx(1 / 1.3) and c.cpu_p_slower < 0.05
    assert c.baseline_cpu_s == pytest.approx(trimmed_mean(BASE))
    assert c.candidate_cpu_runs_s == tuple(more_cpu)


def test_slower_on_the_wall_clock_however_little_cpu_is_not_faster():
    """A sleeping candidate: 30 times less CPU time, more wall-clock time."""
    sleeping = [1.2 * x for x in BASE]
    c = compare(BASE, sleeping, baseline_cpu=BASE, candidate_cpu=[x / 30 for x in BASE])
    assert not c.faster and not c.wall_faster and not c.cpu_slower
    assert c.speedup < 1 and c.cpu_speedup == pytest.approx(30)


def test_slower_on_the_wall_clock_is_yuens_test_the_other_way_round():
    """``slower`` guards a timing set that must not get slower beyond noise (the tests, when a
    workload's calls decide): significant at alpha, never for noise or for a faster side."""
    c = compare(BASE, [1.2 * x for x in BASE])
    assert c.slower and c.p_slower == pytest.approx(yuen_p([1.2 * x for x in BASE], BASE))
    a = [1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 0.95, 1.15, 0.85, 1.0]
    b = [1.1, 0.9, 1.0, 1.2, 0.95, 1.0, 1.05, 0.9, 1.1, 1.0]
    noise = compare(a, b)
    assert not noise.slower and noise.p_slower > 0.05
    assert not compare(BASE, FAST).slower and compare(BASE[:3], FAST[:3]).p_slower == 1.0


def test_equal_cpu_time_does_not_block_a_wall_clock_saving():
    same_cpu = [10.1, 9.9, 10.0, 10.2, 9.8, 10.05, 9.95, 10.15, 9.85, 10.0]
    c = compare(BASE, FAST, baseline_cpu=BASE, candidate_cpu=same_cpu)
    assert c.faster and not c.cpu_slower and c.cpu_p_slower > 0.05


def test_cpu_times_must_be_of_the_same_runs():
    with pytest.raises(ValueError, match="CPU times"):
        compare(BASE, FAST, baseline_cpu=BASE[:4], candidate_cpu=FAST[:4])


def test_a_wall_clock_decision_stops_even_when_the_cpu_time_forbids_faster():
    rule = SequentialRule(max_runs=10, min_runs=5)
    more_cpu = [1.3 * x for x in BASE]
    decision = rule.decide(BASE[:5], FAST[:5], BASE[:5], more_cpu[:5])
    assert decision is not None and decision.runs == 5
    assert decision.wall_faster and decision.cpu_slower and not decision.faster


def test_clearly_not_faster_stops_for_futility():
    """Equal programs: the whole CI lies below 1.10x at the first look, so timing stops."""
    same = [10.1, 9.9, 10.0, 10.2, 9.8]
    decision = SequentialRule(max_runs=10).decide(BASE[:5], same)
    assert decision is not None and not decision.faster and decision.ci95[1] < 1.10


def test_unclear_case_runs_to_the_maximum():
    """A noisy 1.15x speedup: neither boundary is crossed before max_runs."""
    noisy = [1.0, 1.3, 0.8, 1.2, 0.9, 1.1, 1.25, 0.85]
    quicker = [x / 1.15 for x in noisy[::-1]]
    rule = SequentialRule(max_runs=8, min_runs=5)
    assert all(rule.decide(noisy[:n], quicker[:n]) is None for n in range(5, 8))
    assert rule.decide(noisy, quicker) is not None


def test_strict_threshold_needs_more_evidence_than_one_look():
    """p between alpha/K and alpha: faster with one look, not yet with six."""
    base = [1.00, 1.10, 0.95, 1.05, 1.02]
    cand = [0.82, 1.00, 0.95, 0.85, 0.88]
    p = compare(base, cand).p_value
    assert 0.05 / 6 < p < 0.05
    assert SequentialRule(max_runs=5, adaptive=False).decide(base, cand).faster
    assert SequentialRule(max_runs=10, min_runs=5).decide(base, cand) is None


def test_repeated_looks_keep_the_false_positive_rate_below_alpha():
    """2000 seeded pairs of equal programs, speedup threshold off (1.0) so that only the test
    decides: the adaptive rule declares <= alpha of them faster, the fixed rule about alpha,
    while naive looks at the full alpha after every pair would declare far more (the reason for
    the split)."""
    rng = np.random.default_rng(20240603)
    samples = [_equal_programs(rng, 10) for _ in range(2000)]
    adaptive = SequentialRule(max_runs=10, min_runs=5, min_speedup=1.0)
    fixed = SequentialRule(max_runs=10, min_speedup=1.0, adaptive=False)
    naive = [
        any(compare(b[:n], c[:n], min_speedup=1.0).faster for n in range(5, 11)) for b, c in samples
    ]
    adaptive_rate = np.mean([_declared_faster(adaptive, b, c) for b, c in samples])
    fixed_rate = np.mean([_declared_faster(fixed, b, c) for b, c in samples])
    assert adaptive_rate <= 0.05
    assert 0.03 <= fixed_rate <= 0.065
    assert np.mean(naive) > 0.08


def test_adaptive_rule_detects_a_true_speedup_early():
    """Seeded 1.25x speedups with 5% noise: almost all are declared faster, most at the first look."""
    rng = np.random.default_rng(7)
    rule = SequentialRule(max_runs=10, min_runs=5)
    stops = []
    for _ in range(200):
        baseline, candidate = _equal_programs(rng, 10)
        candidate = [x / 1.25 for x in candidate]
        decision = next(
            d for n in range(1, 11) if (d := rule.decide(baseline[:n], candidate[:n])) is not None
        )
        stops.append((decision.faster, decision.runs))
    assert np.mean([faster for faster, _ in stops]) >= 0.95
    assert np.median([runs for _, runs in stops]) == 5


CALLS_B = [0.040, 0.041, 0.039, 0.040, 0.042]  # per-run call times, seconds
CALLS_C = [0.004, 0.004, 0.005, 0.004, 0.004]
CPU_B = [
    0.047,
    0.048,
    0.046,
    0.047,
    0.049,
]  # the same samples' CPU time, setup and teardown included


def test_cross_check_accepts_a_saving_the_cpu_time_shows():
    """A candidate whose calls save 36 ms per run and whose samples use 36 ms less CPU: the CPU
    time outside the calls stays where it was."""
    check = cross_check(CALLS_B, CALLS_C, CPU_B, [cpu - 0.036 for cpu in CPU_B])
    assert check.claimed_s == pytest.approx(0.035, abs=1e-9)
    assert abs(check.moved_s) < 0.005
    assert check.consistent


def test_cross_check_rejects_work_moved_out_of_the_timed_call():
    """The same call times, but the samples' CPU time unchanged: the work was done elsewhere."""
    check = cross_check(CALLS_B, CALLS_C, CPU_B, [cpu + 0.001 for cpu in CPU_B])
    assert check.moved_s == pytest.approx(0.036, abs=0.002) and check.noise_s < 0.005
    assert not check.consistent


def test_cross_check_accepts_no_claimed_saving_and_allows_for_noise():
    assert cross_check(CALLS_C, CALLS_B, CPU_B, CPU_B).consistent  # slower: nothing claimed
    noisy = [
        0.047,
        0.020,
        0.080,
        0.030,
        0.070,
    ]  # spread of tens of ms: a 36 ms claim cannot be refuted
    assert cross_check(CALLS_B, CALLS_C, CPU_B, noisy).consistent


# A CI run's figures (ms → s): three of the original's five runs slowed by half (another process
# on the core), none of the candidate's; the candidate moved its work out of the timed calls.
SLOWED_CALLS_B = [0.0277, 0.0460, 0.0327, 0.0487, 0.0461]
SLOWED_CPU_B = [0.0456, 0.0682, 0.0523, 0.0705, 0.0701]


def test_cross_check_sees_moved_work_past_slowdowns_of_some_runs():
    moved = cross_check(
        SLOWED_CALLS_B, [0.00008] * 5, SLOWED_CPU_B, [0.0472, 0.0422, 0.0444, 0.0434, 0.0451]
    )
    assert not moved.consistent
    honest = cross_check(
        SLOWED_CALLS_B,
        [0.00106, 0.00085, 0.00103, 0.0009, 0.00095],
        SLOWED_CPU_B,
        [0.0172, 0.0183, 0.0221, 0.0183, 0.0192],
    )
    assert honest.consistent


def test_cross_check_within_its_noise_is_not_settled():
    """Moved CPU time near half the claim, within the noise: more runs are needed; far from it,
    either way, the check is settled."""
    near = cross_check(
        SLOWED_CALLS_B, [0.00008] * 5, SLOWED_CPU_B, [0.034, 0.045, 0.029, 0.050, 0.036]
    )
    assert abs(near.moved_s - 0.5 * near.claimed_s) <= near.noise_s and not near.settled
    honest = cross_check(SLOWED_CALLS_B, [0.001] * 5, SLOWED_CPU_B, [0.019] * 5)
    assert honest.settled and honest.consistent
