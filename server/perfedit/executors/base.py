"""What every executor shares (:mod:`perfedit.executors`): a unit's :class:`Result`, the
:class:`Executor` interface and the stall settings; a module of its own, so that the Ray
executor imports it without importing the package that opens it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

#: Seconds without progress (no unit finished, no generation finished) before a Ray job reports
#: the cluster's state (``--stall-timeout``): longer than a program's generation and timing.
STALL_S = 900.0
#: What a stalled Ray job does after its report (``--on-stall``): stop (exit code 2; the
#: results written so far are kept, so the same command resumes) or wait and report again.
ON_STALL = ("stop", "wait")

T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """The outcome of one unit: ``index`` is the item's position in the submitted sequence;
    ``value`` the unit's return value when ``error`` is None; otherwise ``error`` says why the
    unit could not run to its end (e.g. "worker died (3 attempts): ..."), and ``attempts`` how
    many times it was started."""

    index: int
    value: Any = None
    error: str | None = None
    attempts: int = 1


class Executor(Protocol):
    """Runs units; see the module docstring. Use as a context manager."""

    name: str
    #: True when units run in other processes (their items and results are pickled).
    remote: bool

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        """``fn(item)`` for each of ``items`` (read lazily), yielded as each finishes (any order)."""
        ...

    def map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``fn(item)`` for each item, in order (``concurrent.futures.Executor.map``'s shape, so
        code that takes a process pool takes an executor).

        Raises:
            ExecutorError: a unit failed on the cluster after its retries.
        """
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc_info: object) -> None: ...
