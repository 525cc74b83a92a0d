"""Progress reporting shared by the engine, the CLI (rich) and the language server ($/progress).

The main job (:func:`perfedit.job.pipeline.suggest`) calls a :class:`ProgressFn` with the
:class:`Phase` it is in and how far it got; the CLI turns that into rich progress bars on stderr
and the language server into work-done progress percentages. Work outside the job (fetching a
model, mining commits) reports through a :data:`TaskProgressFn` with a free label instead.
The engine also polls a :data:`CancelFn` between steps and raises :class:`~perfedit.errors.Cancelled`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol


class Phase(enum.Enum):
    """A phase of the main job, in the order the job reaches them, with its share of the whole
    job's work in percent (the shares sum to 100). ``FOUND`` is an announcement, not a step:
    a validated faster candidate (its speedup in the report's detail); it has no share.

    The job streams, so phases overlap: the model loads and generates in the background while
    the original and the rule candidates run, and each model candidate is validated while the
    next is generated (a ``VALIDATING`` report after ``GENERATING`` began belongs to it).
    """

    BASELINE = ("running the original", 10)
    RULES = ("applying the rules", 2)
    VALIDATING = ("validating", 8)
    LOADING_MODEL = ("loading the model", 5)
    GENERATING = ("generating", 50)
    REFINING = ("refining", 10)
    MINIMISING = ("minimising the diff", 5)
    EXPLAINING = ("explaining why it is faster", 10)  # counted in tokens of the model's reply
    FOUND = ("found", 0)

    def __init__(self, label: str, share_percent: int) -> None:
        self.label = label
        self.share_percent = share_percent

    @property
    def start_percent(self) -> int:
        """Where the phase starts on a 0–100 bar: the shares of the phases before it."""
        members = list(Phase)
        return sum(phase.share_percent for phase in members[: members.index(self)])


class ProgressFn(Protocol):
    """``report(phase, completed, total, detail)``: ``completed``/``total`` count the phase's own
    unit (candidates generated, refinement rounds), ``total`` is None when unknown; ``detail`` is
    a short human note ("greedy", "3.2× faster (validated)")."""

    def __call__(
        self, phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None: ...


#: ``report(label, completed, total)`` for work outside the main job: ``label`` names it
#: ("fetching qwen.gguf"), ``completed``/``total`` are in its own unit (bytes, commits); ``total``
#: is None when unknown.
TaskProgressFn = Callable[[str, float, float | None], None]

#: Returns True once the user has asked to cancel.
CancelFn = Callable[[], bool]


def no_progress(*report: object, **detail: object) -> None:
    """A :class:`ProgressFn` or :data:`TaskProgressFn` that ignores every report."""


def never_cancelled() -> bool:
    """A :data:`CancelFn` for jobs that cannot be cancelled."""
    return False
