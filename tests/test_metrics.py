import math

import pytest

from perfedit.verify.metrics import Outcome, best_of, markdown_table, rtr, summarise


def test_best_of_takes_the_largest_optimised_speedup_and_any_correct():
    best = best_of([Outcome(False), Outcome(True, 1.5), Outcome(True, 3.0), Outcome(True)])
    assert best == Outcome(True, 3.0)
    assert best_of([Outcome(False), Outcome(True)]) == Outcome(True, None)
    assert not best_of([Outcome(False)]).correct


def test_summary_follows_pie_definitions():
    summary = summarise([Outcome(True, 2.0), Outcome(True, 4.0), Outcome(True), Outcome(False)])
    assert summary.programs == 4
    assert summary.pct_correct == 75.0 and summary.pct_opt == 50.0
    assert summary.sp_optimised == 3.0
    assert summary.rtr_optimised == pytest.approx((50.0 + 75.0) / 2)
    assert summary.sp_all == pytest.approx((2 + 4 + 1 + 1) / 4)
    assert summary.rtr_all == pytest.approx((50.0 + 75.0) / 4)
    assert rtr(1.0) == 0.0


def test_no_optimised_program_gives_nan_not_an_error():
    summary = summarise([Outcome(True), Outcome(False)])
    assert math.isnan(summary.sp_optimised) and summary.sp_all == 1.0
    table = markdown_table([("model only", summary)])
    assert "| model only | 2 | 50.0 | 0.0 | nan |" in table
    with pytest.raises(ValueError):
        summarise([])
