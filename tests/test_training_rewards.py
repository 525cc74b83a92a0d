"""PerfRL's reward tiers on known programs, judged by the product's harness in worker processes:
no code or unparseable → 0, failing → 1, passing → 1.3, passing and significantly faster → 2."""

from __future__ import annotations

from pathlib import Path

from helpers.settings import fast_settings
from helpers.training_programs import (
    DOUBLE_FAST,
    DOUBLE_RAISES,
    DOUBLE_SAME_SPEED,
    DOUBLE_SLOW,
    DOUBLE_WRONG,
    make_pie,
)
from perfedit.training.rewards import (
    FAILS,
    FASTER,
    NO_PARSE,
    PASSES,
    RewardGroup,
    reward_pool,
    score_inputs,
)

SETTINGS = fast_settings(runs=10)


def test_tiers_on_known_programs_in_parallel_workers(tmp_path: Path):
    tests = make_pie(tmp_path) / "tests" / "pdouble"
    tiers = RewardGroup(
        DOUBLE_SLOW,
        tests,
        (
            None,
            "print(int(input()) *\n",
            DOUBLE_WRONG,
            DOUBLE_RAISES,
            DOUBLE_SAME_SPEED,
            DOUBLE_FAST,
        ),
        SETTINGS,
    )
    broken_original = RewardGroup(DOUBLE_WRONG, tests, (DOUBLE_FAST,), SETTINGS)
    with reward_pool(2) as pool:
        rewarded, unrankable = score_inputs([tiers, broken_original], pool)
    assert rewarded == [NO_PARSE, NO_PARSE, FAILS, FAILS, PASSES, FASTER]
    assert unrankable is None  # the slow program fails its own tests: nothing to rank
    assert (NO_PARSE, FAILS, PASSES, FASTER) == (0.0, 1.0, 1.3, 2.0)
