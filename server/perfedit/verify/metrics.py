"""PIE's evaluation metrics over a set of programs (Shypula et al. 2024, "Learning
Performance-Improving Code Edits", section 2.2 and appendix A).

One :class:`Outcome` per program says what the best of its candidates achieved (Best@k: the
fastest candidate that is correct, and significant when it counts as optimised). From those:

* %Correct: programs with at least one candidate that passes every test;
* %OPT: programs with a candidate that is correct, significantly faster (one-sided Yuen's trimmed-mean
  test) and at least ``min_speedup`` faster: a suggestion is delivered;
* SP: mean speedup old/new; RTR: mean relative time reduction (old - new) / old * 100. Both are
  given over the optimised programs and, as PIE reports them, over all programs with a speedup
  of 1 (RTR 0) where no optimised candidate was found.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """The best result for one program: ``speedup`` (old/new, > 1 is faster) of the optimised
    candidate, None when no candidate was declared faster."""

    correct: bool
    speedup: float | None = None


def best_of(outcomes: Sequence[Outcome]) -> Outcome:
    """Best@k over the outcomes of k candidates for one program: correct if any is, the largest
    optimised speedup if any is optimised."""
    speedups = [o.speedup for o in outcomes if o.speedup is not None]
    return Outcome(
        correct=any(o.correct for o in outcomes), speedup=max(speedups) if speedups else None
    )


@dataclass(frozen=True)
class Summary:
    """The metrics over ``programs`` programs; percentages 0–100; NaN where undefined."""

    programs: int
    pct_correct: float
    pct_opt: float
    sp_optimised: float
    rtr_optimised: float
    sp_all: float
    rtr_all: float

    def row(self) -> list[str]:
        """Table cells: programs, %Correct, %OPT, SP and RTR over optimised, SP and RTR over all."""
        return [
            str(self.programs),
            f"{self.pct_correct:.1f}",
            f"{self.pct_opt:.1f}",
            f"{self.sp_optimised:.2f}",
            f"{self.rtr_optimised:.1f}",
            f"{self.sp_all:.2f}",
            f"{self.rtr_all:.1f}",
        ]


#: Column names matching :meth:`Summary.row`.
HEADER = [
    "programs",
    "%Correct",
    "%OPT",
    "SP (optimised)",
    "RTR % (optimised)",
    "SP (all)",
    "RTR % (all)",
]


def _mean(values: list[float]) -> float:
    return statistics.mean(values) if values else math.nan


def rtr(speedup: float) -> float:
    """Relative time reduction in percent for a speedup old/new: (old - new) / old * 100."""
    return (1 - 1 / speedup) * 100


def summarise(outcomes: Sequence[Outcome]) -> Summary:
    """PIE's metrics over one :class:`Outcome` per program; raises ValueError if empty."""
    if not outcomes:
        raise ValueError("no programs to summarise")
    n = len(outcomes)
    speedups = [o.speedup for o in outcomes if o.speedup is not None]
    every = [o.speedup if o.speedup is not None else 1.0 for o in outcomes]
    return Summary(
        programs=n,
        pct_correct=100 * sum(o.correct for o in outcomes) / n,
        pct_opt=100 * len(speedups) / n,
        sp_optimised=_mean(speedups),
        rtr_optimised=_mean([rtr(s) for s in speedups]),
        sp_all=_mean(every),
        rtr_all=_mean([rtr(s) for s in every]),
    )


def markdown_table(rows: Sequence[tuple[str, Summary]], first: str = "configuration") -> str:
    """A Markdown table with one line per ``(name, summary)``."""
    lines = ["| " + " | ".join([first, *HEADER]) + " |", "|" + "---|" * (len(HEADER) + 1)]
    lines += ["| " + " | ".join([name, *summary.row()]) + " |" for name, summary in rows]
    return "\n".join(lines)
