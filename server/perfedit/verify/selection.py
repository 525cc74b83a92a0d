"""Selection: the fastest significantly-faster candidate; near-ties go to the smaller diff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from perfedit.verify.validate import Verdict

#: Speedups within this factor of the best count as a tie (timing noise), broken by diff size.
TIE_FACTOR = 1.02


def choose(verdicts: Sequence[Verdict], changed_lines: Mapping[str, int]) -> Verdict | None:
    """The winner among ``verdicts`` with verdict "faster", or None if there is none.

    ``changed_lines`` maps each candidate label to its diff size (lines added + removed).
    Speedups are each verdict's deciding timing set's (``Verdict.comparison``: the workload's
    recorded calls when the job has a workload, else the tests), the same set for every
    candidate of a job.
    """
    faster = [v for v in verdicts if v.verdict == "faster" and v.comparison is not None]
    if not faster:
        return None
    best = max(v.comparison.speedup for v in faster if v.comparison)
    tied = [v for v in faster if v.comparison and v.comparison.speedup * TIE_FACTOR >= best]
    return min(
        tied, key=lambda v: (changed_lines[v.label], -(v.comparison.speedup if v.comparison else 0))
    )
