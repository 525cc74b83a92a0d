"""The proposers that can travel with training-side work units (:mod:`perfedit.executors`) to
another process or node, and the pool that ships RRHF's reward jobs.

* Proposers that pickle: :class:`FileProposer` (fixed candidates from a file: ``evaluate
  --candidates``), :class:`NodeModelProposer` (the model held by the :class:`ModelHost
  <perfedit.executors.ray_cluster.ModelHost>` actor of the node the unit runs on) and
  :class:`EndpointProposer` (one OpenAI-compatible server for every node).
* :class:`ShippingPool` — RRHF's reward jobs (:func:`perfedit.training.rewards.judge`: validate
  these candidates for one input) on a remote executor, each with its case folder.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit.candidates import Feedback
from perfedit.config import Settings
from perfedit.errors import InputError
from perfedit.executors import pack_folder, unpack_folder
from perfedit.formats.pairs import Pair
from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import Candidate, Target

if TYPE_CHECKING:
    from perfedit.executors import Executor


@dataclass(frozen=True)
class FileProposer:
    """Fixed candidates per program, keyed by the program's source text: ``codes[slow]`` are
    whole programs, the greedy (Best@1) one first; an empty string stands for a reply without
    code."""

    codes: dict[str, tuple[str, ...]]

    def __call__(
        self, target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> list[Candidate]:
        """The candidates for ``target`` (a script), labelled "greedy", "sample 1", ... (a
        :data:`~perfedit.candidates.Proposer`; ``feedback``, ``progress`` and ``cancel`` unused)."""
        codes = self.codes.get(target.source, ())
        labels = ["greedy", *(f"sample {i}" for i in range(1, len(codes)))]
        return [
            Candidate(label, code, code) if code else Candidate.unusable(label)
            for label, code in zip(labels, codes, strict=False)
        ]


def read_candidates(path: Path, pairs: list[Pair]) -> FileProposer:
    """A :class:`FileProposer` from the JSON Lines file ``path``: one ``{"id": pair id,
    "candidates": [program, ...]}`` per line, matched to ``pairs`` by id.

    Raises:
        InputError: the file is missing, a line is not such an object, or a pair of ``pairs``
            has no candidates there.
    """
    if not path.is_file():
        raise InputError(f"candidates file {path} does not exist")
    slow = {p.id: p.slow for p in pairs}
    codes: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key, candidates = row["id"], tuple(row["candidates"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(
                f'{path.name}:{number}: expected {{"id": ..., "candidates": [...]}} ({exc})'
            ) from exc
        if key in slow and candidates:
            codes[slow[key]] = candidates
    missing = [p.id for p in pairs if p.slow not in codes]
    if missing:
        raise InputError(
            f"{path} has no candidates for {len(missing)} of the programs chosen (e.g. {', '.join(missing[:3])}); "
            "add them, or choose fewer with --programs"
        )
    return FileProposer(codes)


@dataclass(frozen=True)
class NodeModelProposer:
    """Candidates from a :class:`~perfedit.executors.ray_cluster.ModelHost` actor: ``hosts``
    maps a host's node id to its handle (handles pickle), ``serves`` each node id to the host
    its units ask (placed by :func:`~perfedit.executors.ray_cluster.model_hosts`)."""

    hosts: dict[str, Any]
    serves: dict[str, str]

    def __call__(
        self, target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> list[Candidate]:
        """The candidates for ``target``, greedy first, from this node's host or, when it is
        gone, another (blocks while it generates; a :data:`~perfedit.candidates.Proposer`,
        ``feedback``, ``progress`` and ``cancel`` unused).

        Raises:
            ModelError: a host could not load the model (e.g. not on that node).
            ClusterStalled: every host is gone.
        """
        from perfedit.executors.ray_cluster import ask_host

        return ask_host(self.hosts, self.serves, target)


@dataclass(frozen=True)
class EndpointProposer:
    """Candidates from the OpenAI-compatible server ``settings.endpoint``; the client is made
    once per process on first use, so the proposer itself pickles."""

    model: str
    settings: Settings

    def __call__(
        self, target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> list[Candidate]:
        """The server's candidates for ``target``, greedy first (a :data:`~perfedit.candidates.Proposer`)."""
        from perfedit.candidates.model import model_proposer, model_provider

        model = model_provider(dataclasses.replace(self.settings, model=self.model))
        return list(model_proposer(model, self.settings)(target, feedback, progress, cancel))


def _with_cases(unit: tuple[Callable[[Any], Any], Any, dict[str, bytes]]) -> Any:
    fn, job, cases = unit
    with tempfile.TemporaryDirectory(prefix="perfedit-cases-") as folder:
        return fn(dataclasses.replace(job, tests=unpack_folder(cases, Path(folder))))


class ShippingPool:
    """A ``concurrent.futures``-shaped pool over a remote ``executor`` for jobs that name a case
    folder in their ``tests`` field (:class:`~perfedit.training.rewards.RewardGroup`): each job
    travels with that folder's files, written out on the node that runs it. So
    ``rewards.score_inputs(jobs, ShippingPool(executor))`` scores RRHF candidates on a cluster."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        """``fn(job)`` for each job, in order, on the executor.

        Raises:
            ExecutorError: a job died on the cluster after its retries.
        """
        return self.executor.map(_with_cases, [(fn, job, pack_folder(job.tests)) for job in jobs])

    def __enter__(self) -> ShippingPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None
