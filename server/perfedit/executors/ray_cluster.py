"""The Ray executor: one Ray task per unit, and the model hosts (imports Ray; open it through
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
* model generation runs in :class:`ModelHost` actors placed by :func:`model_hosts` as the
  cluster affords them (:mod:`perfedit.executors.sizing`: never so many that no CPU is left for
  the units); each loads the model once and serves the units of its node and of the nodes
  assigned to it. With ``--endpoint`` every node calls that one OpenAI-compatible server instead
  and no host is started.

A job never waits in silence: when no unit finishes and no host finishes a generation for
``stall_s`` seconds, the executor writes Ray's view of the cluster (each node's CPUs in use, the
resource demand Ray cannot place, each model host's state) to stderr and then stops
(:class:`~perfedit.errors.ClusterStalled`) or goes on, as ``on_stall`` says; an address where
nothing answers is refused at once (:func:`head_of`). A cluster that goes away mid-job is
:mod:`perfedit.executors.supervise`'s: Ray ends the driver process then.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import perfedit
from perfedit.errors import (
    ClusterStalled,
    ExecutorError,
    ExecutorUnavailable,
    ModelError,
    PerfeditError,
)
from perfedit.executors.base import ON_STALL, STALL_S, Result
from perfedit.executors.sizing import Node, plan_hosts

T = TypeVar("T")

#: Seconds between two looks at the clock while no unit finishes (for the stall timeout).
POLL_S = 5.0
#: Seconds a model host has to answer a status probe in a stall report.
PROBE_S = 5.0


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


_remote_call = ray.remote(_call)


def _say(text: str) -> None:
    print(f"perfedit: {text}", file=sys.stderr, flush=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def head_of(address: str) -> tuple[str, int]:
    """The (host, port) of the head node named by ``address`` ("HOST:PORT", "ray://HOST:PORT"
    or "auto": ``RAY_ADDRESS``, else the cluster started on this machine), once it accepts a
    connection: ``ray.init`` would retry for minutes where nothing answers.

    Raises:
        ExecutorUnavailable: no cluster is named by "auto", the address is malformed, or no
            process accepts a connection there within 5 s.
    """
    target = address.removeprefix("ray://")
    try:
        if target == "auto":
            from ray._private.services import canonicalize_bootstrap_address

            target = canonicalize_bootstrap_address("auto") or ""
        head = _host_port(target)
        socket.create_connection(head, timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ExecutorUnavailable(
            f"no Ray cluster answers at {address!r} ({exc}); check the address (HOST:PORT of the "
            "head node, as `ray start --head` printed it) and that the head node runs, or leave "
            "out --ray-address for a local instance"
        ) from None
    return head


class RayExecutor:
    """Units as Ray tasks on the cluster at ``address`` (None: a private local instance started
    for this run and stopped by :meth:`close`; "auto": the running cluster). Each task asks for
    ``num_cpus`` CPUs and is retried ``max_retries`` times if its worker or node dies. After
    ``stall_s`` seconds without progress the executor reports the cluster's state through
    ``say`` (default: a line on stderr), then stops or goes on as ``on_stall`` ("stop" or
    "wait") says.

    Raises:
        ExecutorUnavailable: no cluster at ``address``.
    """

    name = "ray"
    remote = True

    def __init__(
        self,
        address: str | None,
        *,
        max_retries: int = 3,
        num_cpus: float = 1,
        stall_s: float = STALL_S,
        on_stall: str = "stop",
        say: Callable[[str], None] = _say,
    ) -> None:
        if on_stall not in ON_STALL:
            raise ExecutorUnavailable(f"--on-stall {on_stall}: choose one of {', '.join(ON_STALL)}")
        if stall_s <= 0:
            raise ExecutorUnavailable("--stall-timeout must be a positive number of seconds")
        self.max_retries = max_retries
        self.num_cpus = num_cpus
        self.stall_s = stall_s
        self.on_stall = on_stall
        self._say = say
        #: The model hosts started by :func:`model_hosts`: node id → actor handle.
        self.hosts: dict[str, Any] = {}
        self._started = not ray.is_initialized()
        if self._started:
            if address not in (None, "local"):
                head_of(address)
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
        # Through Ray Client (ray://) the client does not see the GCS: no autoscaler view in
        # the stall reports.
        client = (address or "").startswith("ray://")
        self._gcs = "" if client else ray.get_runtime_context().gcs_address
        self._pending: list[ray.ObjectRef] = []

    def cluster_nodes(self) -> list[Node]:
        """The cluster's live nodes that have CPUs."""
        return [
            Node(n["NodeID"], n["NodeManagerAddress"], n["Resources"]["CPU"])
            for n in ray.nodes()
            if n["Alive"] and n["Resources"].get("CPU", 0) > 0
        ]

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        """``fn(item)`` as one Ray task per item, yielded as each finishes. Items are read
        lazily: at most twice the cluster's CPUs are submitted and not yet finished (Ray's
        pattern for bounding pending tasks), so a generator of large items is not held whole.
        A unit's own exception is raised here (the remaining tasks are cancelled); a task that
        died ``max_retries + 1`` times yields a :class:`Result` with ``error``.

        Raises:
            ClusterStalled: nothing progressed for ``stall_s`` seconds and ``on_stall`` is "stop".
        """
        task = _remote_call.options(
            num_cpus=self.num_cpus, max_retries=self.max_retries, retry_exceptions=False
        )
        function = ray.put(fn)
        window = max(2, int(2 * ray.cluster_resources().get("CPU", 1) / self.num_cpus))
        remaining = enumerate(items)
        index_of: dict[ray.ObjectRef, int] = {}
        self._pending = []
        finished = 0
        progress = (time.monotonic(), 0)  # (when something last progressed, generations then)
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
            ready, self._pending = ray.wait(
                self._pending, num_returns=1, timeout=min(POLL_S, self.stall_s)
            )
            if not ready:
                progress = self._check_stall(progress, finished)
                continue
            finished += 1
            progress = (time.monotonic(), progress[1])
            index = index_of.pop(ready[0])
            try:
                value = ray.get(ready[0])
            except RayTaskError as exc:  # the unit raised: as it would locally
                self.cancel()
                if isinstance(exc.cause, PerfeditError):
                    raise exc.cause from None
                raise exc.as_instanceof_cause() from None
            except RayError as exc:  # the worker or node died on every attempt
                yield Result(
                    index,
                    error=f"{type(exc).__name__} after {self.max_retries + 1} attempts: {_first_line(exc)}",
                    attempts=self.max_retries + 1,
                )
                continue
            yield Result(index, value)

    def _generations(self) -> int:
        """Generations the model hosts have finished so far (those that answer)."""
        return sum(n for _, n in self._host_states() if isinstance(n, int))

    def _check_stall(self, progress: tuple[float, int], finished: int) -> tuple[float, int]:
        """``progress`` is (when something last progressed, the hosts' generations then); past
        ``stall_s`` without a new generation, report and stop or go on. Returns the new
        ``progress``."""
        since, generations = progress
        if time.monotonic() - since < self.stall_s:
            return progress
        now = self._generations()
        if now > generations:
            return (time.monotonic(), now)
        report = self.stall_report(finished)
        if self.on_stall == "stop":
            self.cancel()
            raise ClusterStalled(
                f"{report}\nStopped (--on-stall stop). The results written so far are kept: make "
                "room on the cluster (or size it as docs/scale.md says) and run the same command to resume."
            )
        self._say(
            f"{report}\nGoing on (--on-stall wait); the next report follows if nothing moves."
        )
        return (time.monotonic(), generations)

    def stall_report(self, finished: int) -> str:
        """What Ray says about the cluster, for a job that stopped progressing: the units
        finished and waiting, each node's CPUs in use, the resource demand Ray cannot place
        (the autoscaler's view, as `ray status` prints it) and each model host's state."""
        lines = [
            f"nothing progressed on the Ray cluster for {self.stall_s:.0f} s: {len(self._pending)} "
            f"units submitted and not finished, {finished} finished in this run."
        ]
        try:
            from ray.autoscaler.v2.sdk import get_cluster_status

            if not self._gcs:
                raise ConnectionError("not seen through Ray Client")
            status = get_cluster_status(self._gcs)
            demand = [
                f"{b.count} × {b.bundle}"
                for d in status.resource_demands.ray_task_actor_demand
                for b in d.bundles_by_count
            ]
            lines.append(
                "Ray's pending demand (tasks and actors waiting for resources): "
                + (", ".join(demand) or "none")
            )
            for info in [*status.active_nodes, *status.idle_nodes]:
                usage = info.resource_usage.usage if info.resource_usage else []
                cpu = next((u for u in usage if u.resource_name == "CPU"), None)
                used = f"CPU {cpu.used:g}/{cpu.total:g} in use" if cpu else "no CPU"
                lines.append(f"  node {info.ip_address} ({(info.node_id or '')[:8]}): {used}")
        except (RayError, OSError) as exc:
            lines.append(f"Ray's view of the cluster is unavailable: {_first_line(exc)}")
        dead = [n for n in ray.nodes() if not n["Alive"]]
        lines += [f"  node {n['NodeManagerAddress']} ({n['NodeID'][:8]}): dead" for n in dead]
        for node, state in self._host_states():
            what = (
                f"running ({state} generations done)"
                if isinstance(state, int)
                else state or "not running: waiting for a CPU on its node, or restarting"
            )
            lines.append(f"  model host on node {node[:8]}: {what}")
        return "\n".join(lines)

    def _host_states(self) -> list[tuple[str, int | str | None]]:
        """Each model host's node and state: its generations done (it answered), "dead: ..."
        or None (no answer within :data:`PROBE_S`: not placed yet or restarting)."""
        refs = {node: host.generations.remote() for node, host in self.hosts.items()}
        if not refs:
            return []
        ray.wait(list(refs.values()), num_returns=len(refs), timeout=PROBE_S)
        states: list[tuple[str, int | str | None]] = []
        for node, ref in refs.items():
            ready, _ = ray.wait([ref], timeout=0)
            if not ready:
                states.append((node, None))
                continue
            try:
                states.append((node, int(ray.get(ref))))
            except RayError as exc:
                states.append((node, f"dead: {_first_line(exc)}"))
        return states

    def map(self, fn: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``fn(item)`` for each item, in order (``concurrent.futures`` shape).

        Raises:
            ExecutorError: a task died on every attempt.
            ClusterStalled: nothing progressed for ``stall_s`` and ``on_stall`` is "stop".
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


@ray.remote(concurrency_groups={"status": 1})  # type: ignore[call-overload]
class ModelHost:
    """The model ``model`` (with ``settings``' backend and endpoint; :func:`perfedit.candidates.model.shared_model`),
    loaded once, and the model proposer over it (``settings.samples`` samples). Generations run one at a time;
    :meth:`generations` answers beside them (its own concurrency group), so a stall report can
    tell a busy host from one that never started."""

    def __init__(self, model: str, settings: Any) -> None:
        from perfedit.candidates.model import model_proposer, shared_model

        chat = shared_model(dataclasses.replace(settings, model=model))
        self.proposer = model_proposer(lambda: chat, settings)
        self.done = 0

    def propose(self, target: Any) -> list[Any]:
        """The candidates for ``target`` (:class:`~perfedit.targets.Target`), greedy first."""
        from perfedit.candidates import NO_FEEDBACK
        from perfedit.progress import never_cancelled, no_progress

        candidates = list(self.proposer(target, NO_FEEDBACK, no_progress, never_cancelled))
        self.done += 1
        return candidates

    @ray.method(concurrency_group="status")
    def generations(self) -> int:
        """How many :meth:`propose` calls have finished."""
        return self.done


def model_hosts(
    executor: RayExecutor,
    model: str,
    settings: Any,
    *,
    units: int,
    most: int | None = None,
    num_cpus: float = 1,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Start the :class:`ModelHost` actors for ``units`` units, placed by
    :func:`~perfedit.executors.sizing.plan_hosts` (at most ``most``; each pinned to its node and
    reserving ``num_cpus`` of its CPUs for generation, so timing tasks do not run on the cores the
    model uses). Returns ``({host node id: actor handle}, {node id: host node id its units
    ask})``; the executor keeps the handles for its stall reports.

    Raises:
        ClusterTooSmall: the hosts would leave no CPU for the units (the message says what to do).
    """
    plan = plan_hosts(
        executor.cluster_nodes(),
        units=units,
        most=most,
        host_cpus=num_cpus,
        unit_cpus=executor.num_cpus,
    )
    executor.hosts = {
        node: ModelHost.options(  # type: ignore[attr-defined]
            num_cpus=num_cpus,
            max_restarts=executor.max_retries,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(model, settings)
        for node in plan.hosts
    }
    return executor.hosts, plan.serves


def this_node() -> str:
    """The id of the node this code runs on (inside a Ray task or actor)."""
    return ray.get_runtime_context().get_node_id()


def ask_host(hosts: dict[str, Any], serves: dict[str, str], target: Any) -> list[Any]:
    """The candidates for ``target`` from the host that serves this node (``serves``), or, when
    that host is gone (its node died), from the next live one; blocks while it generates,
    keeping this unit's CPU (so no other unit's timing starts on it meanwhile).

    Raises:
        ModelError: a host could not load the model (e.g. not on that node).
        ClusterStalled: every host is gone.
    """
    node = this_node()
    first = serves.get(node, next(iter(hosts), ""))
    lost = []
    for host_node in sorted(hosts, key=lambda n: n != first):
        try:
            # Through a future, not ray.get: Ray lends the CPU of a task blocked in ray.get to
            # another task, which would then time its runs on the core this unit times on next.
            return hosts[host_node].propose.remote(target).future().result()
        except RayActorError as exc:
            if exc.actor_init_failed:
                raise ModelError(
                    f"the model host on Ray node {host_node[:8]} could not load the model "
                    f"({_first_line(exc)}); is the model on every node (`perfedit model pull` there)?"
                ) from None
            lost.append(f"{host_node[:8]} ({_first_line(exc)})")
    raise ClusterStalled(
        f"every model host is gone: {'; '.join(lost) or 'none was started'}. The results written "
        "so far are kept: run the same command again to resume (new hosts are placed on the "
        "nodes alive then), or use --endpoint."
    )
