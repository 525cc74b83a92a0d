"""The Ray executor: one Ray task per unit, and one model per node (imports Ray; open it through
:func:`perfedit.executors.open_executor`, which says how to install Ray when it is missing).

What runs where:

* the driver (the ``perfedit`` process) submits one task per item and writes each result as it
  arrives (``ray.wait``); it runs no unit itself;
* each task runs on whichever node Ray places it, asking for ``num_cpus=1``: the unit's sandbox
  (the baseline worker and the candidates' runs, one at a time, A B A B interleaved) lives on that
  node and obeys that node's limits, so no two timed runs share a core and a speedup is always
  a ratio of two timings taken on the same node;
* Ray restarts a task whose worker process or node died, up to ``max_retries`` times, then the
  item is reported failed (:class:`~perfedit.executors.Result` with ``error``);
* model generation runs in a :class:`ModelHost` actor per node (:func:`node_models`), which loads
  the model once; a unit asks the host on its own node. With ``--endpoint`` every node calls
  that one OpenAI-compatible server instead and no host is started.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import perfedit
from perfedit.errors import ExecutorError, ExecutorUnavailable
from perfedit.executors import Result

T = TypeVar("T")


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


_remote_call = ray.remote(_call)


class RayExecutor:
    """Units as Ray tasks on the cluster at ``address`` (None: a private local instance started
    for this run and stopped by :meth:`close`; "auto": the running cluster). Each task asks for
    ``num_cpus`` CPUs and is retried ``max_retries`` times if its worker or node dies.

    Raises:
        ExecutorUnavailable: no cluster at ``address``.
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None, *, max_retries: int = 3, num_cpus: float = 1) -> None:
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self._started = not ray.is_initialized()
        if self._started:
            try:
                # address "local" starts a fresh instance instead of joining one found on the machine.
                # The driver's perfedit travels with the job, so every node runs the same code
                # (the nodes need perfedit's dependencies installed; see docs/scale.md).
                ray.init(
                    address=address or "local",
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                    runtime_env={
                        "py_modules": [str(Path(perfedit.__file__).parent)],
                        "excludes": ["__pycache__"],
                    },
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorUnavailable(
                    f"cannot reach a Ray cluster at {address!r} ({exc}); start one with `ray start --head` "
                    "or leave out --ray-address for a local instance"
                ) from exc
        self._pending: list[ray.ObjectRef] = []

    def nodes(self) -> list[str]:
        """The ids of the cluster's live nodes that have CPUs."""
        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        """``fn(item)`` as one Ray task per item, yielded as each finishes. Items are read
        lazily: at most twice the cluster's CPUs are submitted and not yet finished (Ray's
        pattern for bounding pending tasks), so a generator of large items is not held whole.
        A unit's own exception is raised here (the remaining tasks are cancelled); a task that
        died ``max_retries + 1`` times yields a :class:`Result` with ``error``."""
        task = _remote_call.options(
            num_cpus=self.num_cpus, max_retries=self.max_retries, retry_exceptions=False
        )
        function = ray.put(fn)
        window = max(2, int(2 * ray.cluster_resources().get("CPU", 1) / self.num_cpus))
        remaining = enumerate(items)
        index_of: dict[ray.ObjectRef, int] = {}
        self._pending = []
        while True:
            while len(self._pending) < window:
                index, item = next(remaining, (-1, None))
                if index < 0:
                    break
                ref = task.remote(function, item)
                index_of[ref] = index
                self._pending.append(ref)
            if not self._pending:
                return
            [ready], self._pending = ray.wait(self._pending, num_returns=1)
            index = index_of.pop(ready)
            try:
                value = ray.get(ready)
            except RayTaskError as exc:  # the unit raised: as it would locally
                self.cancel()
                raise exc.as_instanceof_cause() from None
            except RayError as exc:  # the worker or node died on every attempt
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                yield Result(
                    index,
                    error=f"{type(exc).__name__} after {self.max_retries + 1} attempts: {first_line}",
                    attempts=self.max_retries + 1,
                )
                continue
            yield Result(index, value)

    def map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``fn(item)`` for each item, in order (``concurrent.futures`` shape).

        Raises:
            ExecutorError: a task died on every attempt.
        """
        items = list(items)
        results: list[Any] = [None] * len(items)
        for result in self.run(fn, items):
            if result.error is not None:
                raise ExecutorError(
                    f"item {result.index} failed on the Ray cluster: {result.error}"
                )
            results[result.index] = result.value
        return iter(results)

    def cancel(self) -> None:
        """Cancel the tasks not yet finished (their results are dropped)."""
        for ref in self._pending:
            ray.cancel(ref, force=True)
        self._pending = []

    def close(self) -> None:
        """Cancel what is left; stop the Ray instance if this executor started it."""
        self.cancel()
        if self._started:
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@ray.remote
class ModelHost:
    """One per node: the model ``model`` (with ``settings``' backend and endpoint), loaded once
    (:func:`perfedit.candidates.model.shared_model`), and the model proposer over it (``settings.samples`` samples)."""

    def __init__(self, model: str, settings: Any) -> None:
        from perfedit.candidates.model import model_proposer, shared_model

        chat = shared_model(dataclasses.replace(settings, model=model))
        self.proposer = model_proposer(lambda: chat, settings)

    def propose(self, target: Any) -> list[Any]:
        """The candidates for ``target`` (:class:`~perfedit.targets.Target`), greedy first."""
        from perfedit.candidates import NO_FEEDBACK
        from perfedit.progress import never_cancelled, no_progress

        return list(self.proposer(target, NO_FEEDBACK, no_progress, never_cancelled))


def node_models(
    executor: RayExecutor, model: str, settings: Any, *, num_cpus: float = 1
) -> dict[str, Any]:
    """A :class:`ModelHost` on every live node (pinned there), ``{node id: actor handle}``; each
    reserves ``num_cpus`` of its node's CPUs for generation, so timing tasks do not run on the
    cores the model uses."""
    return {
        node: ModelHost.options(  # type: ignore[attr-defined]
            num_cpus=num_cpus,
            max_restarts=executor.max_retries,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(model, settings)
        for node in executor.nodes()
    }


def this_node() -> str:
    """The id of the node this code runs on (inside a Ray task or actor)."""
    return ray.get_runtime_context().get_node_id()
