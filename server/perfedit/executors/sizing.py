"""Where the model hosts go on a Ray cluster, decided before any work is submitted (no Ray here:
the plan is plain arithmetic on the nodes' CPU counts, so it is tested without a cluster).

The rule (docs/scale.md, "Sizing"): a model host reserves ``host_cpus`` (1) of its node's CPUs
for generation, and every unit of work asks for ``unit_cpus`` (1). So

* a node with at least ``host_cpus + unit_cpus`` CPUs (2) may host the model: it keeps a CPU for
  the units;
* when no node is that large, one node of a cluster of two or more is given to the model and the
  units run on the others (a 1-CPU node can host the model or run units, never both);
* there are never more hosts than units, and at most ``most`` when the user asked
  (``--model-hosts``); nodes without a host send their units' requests to a host elsewhere
  (round-robin), so one host serves several small nodes;
* a cluster where the hosts would leave no CPU for any unit cannot run the job: the units would
  wait for ever behind the hosts. :func:`plan_hosts` then raises :class:`ClusterTooSmall`
  naming the nodes and what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from perfedit.errors import ClusterTooSmall


@dataclass(frozen=True)
class Node:
    """A live node of the cluster: Ray's ``id`` (hex), its ``address`` (IP) and its ``cpus``
    (the ``CPU`` resource it was started with, ``ray start --num-cpus``)."""

    id: str
    address: str
    cpus: float

    def __str__(self) -> str:
        return f"{self.address} (node {self.id[:8]}, {self.cpus:g} CPU)"


@dataclass(frozen=True)
class HostPlan:
    """``hosts``: the node ids that load the model, in order; ``serves``: every node id → the
    node id of the host its units ask (itself when it hosts); ``unit_cpus``: the CPUs left for
    units over the whole cluster once the hosts have theirs."""

    hosts: tuple[str, ...]
    serves: dict[str, str]
    unit_cpus: float


def plan_hosts(
    nodes: Sequence[Node],
    *,
    units: int,
    most: int | None = None,
    host_cpus: float = 1,
    unit_cpus: float = 1,
) -> HostPlan:
    """The model hosts for ``units`` units on ``nodes`` (see the module docstring for the rule):
    as many as the cluster can afford, capped by ``units`` and by ``most`` (None: no cap).

    Raises:
        ClusterTooSmall: ``most`` is below 1, or no placement of even one host leaves
            ``unit_cpus`` for a unit (e.g. one node with 1 CPU); or ``most`` hosts were asked for
            and they would leave no CPU for the units. The message names the nodes too small
            and the ways out (more CPUs per node, fewer hosts, one shared ``--endpoint``).
    """
    if most is not None and most < 1:
        raise ClusterTooSmall("--model-hosts must be at least 1 (or leave it out: automatic)")
    by_size = sorted(nodes, key=lambda n: -n.cpus)
    roomy = [n for n in by_size if n.cpus >= host_cpus + unit_cpus]
    total = sum(n.cpus for n in nodes)
    wanted = max(1, min(units, most if most is not None else len(roomy) or 1))
    # Roomy nodes first (they keep CPUs for units), then small ones given wholly to the model.
    hosts = [n for n in [*roomy, *by_size] if n.cpus >= host_cpus]
    hosts = list(dict.fromkeys(hosts))[:wanted]
    left = total - host_cpus * len(hosts)
    if len(hosts) < wanted or left < unit_cpus:
        raise ClusterTooSmall(_too_small(nodes, len(hosts) or wanted, host_cpus, unit_cpus))
    serves = {n.id: n.id for n in hosts}
    for index, node in enumerate(n for n in nodes if n.id not in serves):
        serves[node.id] = hosts[index % len(hosts)].id
    return HostPlan(tuple(n.id for n in hosts), serves, left)


def _too_small(nodes: Sequence[Node], hosts: int, host_cpus: float, unit_cpus: float) -> str:
    small = [n for n in nodes if n.cpus < host_cpus + unit_cpus]
    names = "; ".join(map(str, small or nodes)) or "none"
    plural = "s" if hosts != 1 else ""
    return (
        f"this Ray cluster cannot run {hosts} model host{plural} and the programs: each host takes "
        f"{host_cpus:g} CPU of its node and each program needs {unit_cpus:g} more, and the nodes too small "
        f"to hold both are: {names}. Give the nodes at least {host_cpus + unit_cpus:g} CPUs each "
        "(`ray start --num-cpus N`) or add a node for the programs, ask for fewer hosts "
        "(--model-hosts 1), or serve the model once for every node (--endpoint URL of an "
        "OpenAI-compatible server)."
    )
