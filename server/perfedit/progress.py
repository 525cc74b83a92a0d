"""Progress reporting shared by the engine, the CLI (rich) and the language server ($/progress).

The engine calls a :data:`ProgressFn` with the phase it is in and how far it got; the CLI turns
that into rich progress bars and the language server into work-done progress notifications.
The engine also polls a :data:`CancelFn` between steps and raises :class:`~perfedit.errors.Cancelled`.
"""

from __future__ import annotations

from collections.abc import Callable

#: ``report(phase, completed, total)``: ``phase`` is a short human label ("generating", "validating
#: candidate 3/9"); ``completed``/``total`` are in the phase's own unit (bytes, tokens, candidates);
#: ``total`` is None when unknown.
ProgressFn = Callable[[str, float, float | None], None]

#: Returns True once the user has asked to cancel.
CancelFn = Callable[[], bool]


def no_progress(phase: str, completed: float, total: float | None) -> None:
    """A :data:`ProgressFn` that ignores every report."""


def never_cancelled() -> bool:
    """A :data:`CancelFn` for jobs that cannot be cancelled."""
    return False
