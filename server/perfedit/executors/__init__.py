"""Executors: one unit of work per item, run here or fanned out over a Ray cluster.

A *unit* is a module-level function ``fn(item) -> plain data`` (dicts, lists, dataclasses of
them): "evaluate one program" (:func:`perfedit.training.evaluate.evaluate_unit`), "validate these
candidates for one target" (:func:`perfedit.training.rewards.judge`). The item and the result
cross process (and machine) boundaries, so they are picklable data, never closures.

Two executors run the same units the same way:

* :class:`LocalExecutor` (``--executor local``, the default): in this process, one item after
  another, in order; an exception from a unit propagates.
* :class:`~perfedit.executors.ray_cluster.RayExecutor` (``--executor ray``): one Ray task per
  item, each asking for one CPU (two timed runs never share a core), results returned as they
  arrive (``ray.wait``); a task whose worker or node dies is retried ``max_retries`` times by
  Ray and then reported as a failed :class:`Result` for that item (never as a verdict); an
  exception raised by the unit itself propagates as it does locally. Ray is imported only
  when this executor is opened (``pip install 'perfedit[ray]'``).

The caller writes each result as it arrives (``perfedit evaluate`` appends one JSON line per
program), so an interrupted run resumes with the items not yet written. No scheduler or queue of
our own: Ray schedules, retries and places the tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from perfedit.errors import ExecutorUnavailable
from perfedit.executors.base import ON_STALL, STALL_S, Executor, Result, T

__all__ = [
    "NAMES",
    "ON_STALL",
    "RAY_INSTALL",
    "STALL_S",
    "Executor",
    "LocalExecutor",
    "Result",
    "open_executor",
    "pack_folder",
    "unpack_folder",
]

#: The executors ``--executor`` accepts.
NAMES = ("local", "ray")
#: What a user without Ray runs to get it.
RAY_INSTALL = "pip install 'perfedit[ray]'"


class LocalExecutor:
    """Units in this process, in order; what perfedit did before executors existed."""

    name = "local"
    remote = False

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        """``fn(item)`` for each item, in order; exceptions propagate."""
        for index, item in enumerate(items):
            yield Result(index, fn(item))

    def map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``fn(item)`` for each item, in order; exceptions propagate."""
        return (fn(item) for item in items)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def open_executor(
    name: str,
    *,
    address: str | None = None,
    max_retries: int = 3,
    stall_s: float = STALL_S,
    on_stall: str = "stop",
) -> Executor:
    """The executor called ``name`` ("local" or "ray"). For Ray, ``address`` is the cluster to
    join ("auto": the one running on this machine or named by ``RAY_ADDRESS``; "HOST:PORT" or
    "ray://HOST:10001"); None starts a private local Ray instance for this run. ``max_retries``:
    how many times Ray restarts a task whose worker or node died; ``stall_s`` and ``on_stall``:
    after how many seconds without progress the job reports the cluster's state, and whether it
    then stops or waits (one of :data:`ON_STALL`).

    Raises:
        ExecutorUnavailable: ``name`` is unknown, Ray is not installed, or the cluster cannot be
            reached (the message says what to do).
    """
    if name == "local":
        return LocalExecutor()
    if name != "ray":
        raise ExecutorUnavailable(f"unknown executor {name!r}: choose one of {', '.join(NAMES)}")
    try:
        import ray  # noqa: F401  (only to tell a missing extra from a broken cluster)
    except ImportError as exc:
        raise ExecutorUnavailable(
            f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}"
        ) from exc
    from perfedit.executors.ray_cluster import RayExecutor

    return RayExecutor(address, max_retries=max_retries, stall_s=stall_s, on_stall=on_stall)


def pack_folder(folder: Path | None) -> dict[str, bytes] | None:
    """The files under ``folder`` as ``{relative path: bytes}`` (None for None), so that a unit
    can carry a small case folder to a node that does not share this file system."""
    if folder is None:
        return None
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def unpack_folder(files: dict[str, bytes], folder: Path) -> Path:
    """Write ``files`` (as :func:`pack_folder` made them) under ``folder``; returns ``folder``."""
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
