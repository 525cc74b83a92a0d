"""The work-done progress bar of a job (:class:`perfedit.lsp.convert.ProgressBar`): the engine's
phase reports, as a job streams them, become percentages that never go back, keep moving, and
move at most :data:`~perfedit.lsp.convert.MAX_STEP` points from one value to the next, also when
a phase ends early (a rule's answer or the budget ends generation). Pure: no server."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from perfedit.lsp.convert import MAX_STEP, ProgressBar
from perfedit.progress import Phase

Report = tuple[Phase, float, float | None, str]

#: The first steps of a job: the original and the rules run while the model loads and generates.
START: list[Report] = [
    (Phase.LOADING_MODEL, 0, None, ""),
    (Phase.BASELINE, 0, None, ""),
    (Phase.RULES, 1, 2, ""),
    (Phase.VALIDATING, 0, 2, "rule 1"),
    (Phase.GENERATING, 1, 9, ""),
]

#: The explanation, reported at each token of the model's reply (at most 64).
EXPLAINING: list[Report] = [(Phase.EXPLAINING, tokens, 64, "") for tokens in range(65)]


def percentages(reports: list[Report], step_s: float = 0.5) -> list[int]:
    """The bar's percentage after each report, made ``step_s`` seconds apart (a 60 s budget)."""
    bar = ProgressBar(budget_s=60.0, now_s=0.0)
    return [
        bar.report(*report, now_s=index * step_s).percentage or 0
        for index, report in enumerate(reports)
    ]


def steady(seen: list[int], start: int = 0) -> bool:
    """True if ``seen`` (after ``start``) never goes back nor moves over MAX_STEP points at once."""
    moves = [later - earlier for earlier, later in zip([start, *seen], seen, strict=False)]
    return all(0 <= move <= MAX_STEP for move in moves)


def test_a_whole_streaming_job_only_moves_forward_and_steadily():
    bar = ProgressBar(budget_s=60.0, now_s=0.0)
    reports: list[Report] = [
        *START,
        (Phase.VALIDATING, 0, None, "greedy"),
        (Phase.FOUND, 0, None, "3.2× faster (validated)"),
        *[(Phase.GENERATING, n, 9, "") for n in range(2, 10)],
        (Phase.REFINING, 0, 1, ""),
        (Phase.REFINING, 1, 1, ""),
        (Phase.MINIMISING, 0, None, ""),
        *EXPLAINING,
    ]
    values = [bar.report(*report, now_s=float(i)) for i, report in enumerate(reports)]
    seen = [value.percentage or 0 for value in values]
    assert steady(seen) and seen[-1] >= 90, seen
    assert values[5].message == "validating: greedy"  # the bar stays in generation
    assert {phase for phase, *_ in reports} == set(Phase)


def test_an_earlier_phase_changes_only_the_message():
    """A model candidate validated while the next is generated: the bar stays in generation."""
    validated, ticked = ProgressBar(60.0, 0.0), ProgressBar(60.0, 0.0)
    for second, report in enumerate(START):
        validated.report(*report, now_s=float(second))
        ticked.report(*report, now_s=float(second))
    value = validated.report(Phase.VALIDATING, 0, None, "greedy", now_s=9.0)
    assert value.message == "validating: greedy"
    assert value.percentage == ticked.value(9.0).percentage
    later = validated.report(Phase.GENERATING, 5, 9, "", now_s=9.0).percentage
    assert later == ticked.report(Phase.GENERATING, 5, 9, "", now_s=9.0).percentage


def test_generation_ended_early_by_a_rule_hands_its_share_on_without_a_jump():
    """A rule's 10x answer stops generation after one candidate of nine: minimising and the
    explanation follow at once. The bar does not jump over the rest of generation's share (the
    issue saw 34% -> 90%); the explanation's tokens carry it to the end instead."""
    reports = [*START, (Phase.MINIMISING, 0, None, ""), *EXPLAINING]
    seen = percentages(reports)
    assert steady(seen), seen
    at_minimising = seen[len(START)]
    assert at_minimising < Phase.MINIMISING.start_percent  # no jump to the phase's own start
    assert seen[-1] >= 95  # the unused share went to the phases after it


def test_a_spent_budget_straight_into_the_explanation_moves_steadily():
    """The budget ends generation at two candidates of nine; no refinement, no minimisation."""
    reports = [*START, (Phase.GENERATING, 2, 9, ""), *EXPLAINING]
    seen = percentages(reports)
    assert steady(seen) and seen[-1] >= 95, seen


def test_a_count_that_leaps_is_caught_up_over_several_values():
    """One refinement round of one: the count goes 0 -> 1 at once; the bar gets there in steps."""
    bar = ProgressBar(budget_s=600.0, now_s=0.0)  # a long budget: time adds next to nothing
    bar.report(Phase.REFINING, 0, 1, "", now_s=0.0)
    seen = [bar.report(Phase.REFINING, 1, 1, "", now_s=0.0).percentage or 0]
    seen += [bar.value(float(second)).percentage or 0 for second in range(1, 10)]
    assert steady(seen) and seen[0] == MAX_STEP and seen[-1] > 2 * MAX_STEP, seen


def test_a_silent_phase_still_moves_with_time_and_stops_at_99():
    bar = ProgressBar(budget_s=60.0, now_s=0.0)
    bar.report(Phase.GENERATING, 0, 9, "", now_s=0.0)
    ticks = [bar.value(float(second)).percentage or 0 for second in range(0, 40, 4)]
    assert steady(ticks) and len(set(ticks)) == len(ticks)  # a slow first candidate: it moves
    bar.report(Phase.EXPLAINING, 0, None, "", now_s=40.0)
    later = [bar.value(float(second)).percentage or 0 for second in range(41, 200)]
    assert steady(later, ticks[-1]) and later[-1] == 99  # moving on its own, stopping at 99


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(Phase)),
            st.integers(min_value=0, max_value=10),
            st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
            st.floats(min_value=0.0, max_value=30.0),
        ),
        max_size=40,
    )
)
def test_any_order_of_reports_never_goes_back_nor_leaps(
    reports: list[tuple[Phase, int, int | None, float]],
):
    """Whatever the phases, counts and pauses between reports, and the ticks between them."""
    bar = ProgressBar(budget_s=60.0, now_s=0.0)
    now_s, seen = 0.0, []
    for phase, completed, total, pause_s in reports:
        now_s += pause_s
        seen.append(bar.value(now_s - pause_s / 2).percentage or 0)
        seen.append(bar.report(phase, completed, total, "", now_s=now_s).percentage or 0)
    assert steady(seen) and all(percent <= 99 for percent in seen), seen
