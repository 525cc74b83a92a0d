"""Executors without a cluster: the local executor runs units in order, a unit that died on the
cluster becomes a recorded failure (no verdict) that a resumed evaluation runs again,
``--executor ray`` without Ray says how to install it, the model hosts are placed so that
every cluster they fit on keeps a CPU for the programs, and a program whose host is gone asks
another."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from helpers.settings import FAST
from helpers.training_programs import DOUBLE_FAST, DOUBLE_SLOW, DOUBLE_WRONG, SUM_FAST, make_pie
from perfedit.errors import ClusterTooSmall
from perfedit.executors import LocalExecutor, Result, pack_folder, unpack_folder
from perfedit.executors.sizing import Node, plan_hosts
from perfedit.formats import pairs
from perfedit.training import evaluate, mining, remote, rewards

SLOW_TOTAL = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
FAST_TOTAL = "def total(n):\n    return n * (n - 1) // 2 if n > 0 else 0\n"
TEST_TOTAL = "from mod import total\n\n\ndef test_total():\n    assert total(300_000) == 300_000 * 299_999 // 2\n"


def test_local_executor_runs_in_order_and_maps_like_a_pool():
    results = list(LocalExecutor().run(str.upper, ["a", "b"]))
    assert results == [Result(0, "A"), Result(1, "B")]
    assert list(LocalExecutor().map(len, ["ab", "c"])) == [2, 1]


def test_a_case_folder_travels_as_bytes(tmp_path: Path):
    data = make_pie(tmp_path / "data")
    files = pack_folder(data / "tests" / "pdouble")
    assert files == {
        "input.0.txt": b"3\n",
        "input.1.txt": b"10\n",
        "output.0.txt": b"6\n",
        "output.1.txt": b"20\n",
    }
    assert pack_folder(unpack_folder(files, tmp_path / "copy")) == files


class PicklingHere:
    """A remote-shaped executor that runs here: each item and result goes through pickle, as
    across Ray's process boundary, so a closure or an open handle would fail here too."""

    name, remote = "pickling-here", True

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        for index, item in enumerate(items):
            yield Result(index, pickle.loads(pickle.dumps(fn(pickle.loads(pickle.dumps(item))))))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return (result.value for result in self.run(fn, items))


def test_rrhf_rewards_travel_with_their_cases(tmp_path: Path):
    """RRHF's reward jobs on a remote executor: each carries its case folder."""
    data = make_pie(tmp_path / "data")
    job = rewards.RewardGroup(
        DOUBLE_SLOW, data / "tests" / "pdouble", (DOUBLE_FAST, DOUBLE_WRONG, None), FAST
    )
    assert rewards.score_inputs([job], remote.ShippingPool(PicklingHere())) == [
        [rewards.FASTER, rewards.FAILS, rewards.NO_PARSE]
    ]


def test_mining_units_carry_the_parent_tree(tmp_path: Path):
    """`data pairs --git` on a remote executor: the unit holds the parent's files as a tar, so
    the node needs no repository."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "mod.py").write_text(SLOW_TOTAL)
    (repo / "tests" / "test_mod.py").write_text(TEST_TOTAL)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "slow"], check=True)
    (repo / "mod.py").write_text(FAST_TOTAL)
    subprocess.run([*git, "commit", "-qam", "fast"], check=True)
    [pair] = mining.mine_git(repo, FAST, executor=PicklingHere())
    assert (pair["slow"], pair["fast"]) == (SLOW_TOTAL, FAST_TOTAL) and pair["speedup"] > 1.1


class DiesOnce:
    """An executor whose first unit "dies on the cluster": the shape RayExecutor yields after
    its retries; the other units run here, through the shipped (packed) case folders."""

    name, remote = "dies-once", True

    def __init__(self) -> None:
        self.runs = 0

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Result]:
        self.runs += 1
        for index, item in enumerate(items):
            assert item.cases is not None  # shipped, as for a remote node
            yield (
                Result(index, error="WorkerCrashedError after 4 attempts", attempts=4)
                if self.runs == 1 and index == 0
                else Result(index, fn(item))
            )


def test_a_lost_unit_is_recorded_as_failed_and_run_again_on_resume(tmp_path: Path):
    data = make_pie(tmp_path / "data")
    chosen = evaluate.programs(pairs.load(data / "train.jsonl"), 2)
    codes = {"pdouble": (DOUBLE_WRONG, DOUBLE_FAST), "psum": (SUM_FAST, "print(")}
    propose = remote.FileProposer({p.slow: codes[p.problem_id] for p in chosen})
    out = tmp_path / "eval.jsonl"
    executor = DiesOnce()
    first = evaluate.evaluate(
        chosen, propose, FAST, out, meta={"model": "file", "k": 2}, executor=executor
    )
    assert (
        first[0]["failed"]
        and "WorkerCrashedError" in first[0]["skipped"]
        and "candidates" not in first[0]
    )
    assert [c["verdict"] for c in first[1]["candidates"]][1] == "rejected"
    [(_, best1), _] = evaluate.summaries(first, 2)
    assert best1.programs == 1  # the failed program counts in no metric

    again = evaluate.evaluate(
        chosen, propose, FAST, out, meta={"model": "file", "k": 2}, executor=executor
    )
    assert [c["verdict"] for c in again[0]["candidates"]] == ["rejected", "faster"]
    assert again[1] == first[1]  # kept from the file, not run again
    assert len(out.read_text().splitlines()) == 3


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path: Path):
    """With Ray unimportable (as in a plain install), `--executor ray` exits 2 with the command
    that installs it, and no traceback."""
    data = make_pie(tmp_path / "data")
    blocked = "import sys; sys.modules['ray'] = None; from perfedit.cli.main import main; sys.exit(main())"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked,
            "evaluate",
            "--pairs",
            str(data / "train.jsonl"),
            "--candidates",
            str(tmp_path / "none.jsonl"),
            "--out",
            str(tmp_path / "out.jsonl"),
            "--executor",
            "ray",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'perfedit[ray]'" in done.stderr and "Traceback" not in done.stderr


def _nodes(*cpus: float) -> list[Node]:
    return [Node(f"{i:02d}" * 14, f"10.0.0.{i}", c) for i, c in enumerate(cpus)]


def test_one_cpu_nodes_give_one_node_to_the_model_and_the_others_to_the_programs():
    """The issue's cluster (two nodes of 1 CPU): not a host per node (no CPU left for any
    program), but one host whose node's neighbour runs the programs and asks it."""
    a, b = _nodes(1, 1)
    plan = plan_hosts([a, b], units=4)
    assert plan.hosts == (a.id,) and plan.serves == {a.id: a.id, b.id: a.id}
    assert plan.unit_cpus == 1


def test_roomy_nodes_host_the_model_and_small_ones_share_a_host():
    big, small, bigger = _nodes(4, 1, 8)
    plan = plan_hosts([big, small, bigger], units=10)
    assert plan.hosts == (bigger.id, big.id)  # largest first; the 1-CPU node hosts nothing
    assert plan.serves[small.id] in plan.hosts and plan.unit_cpus == 11
    # Never more hosts than programs, nor than asked for.
    assert plan_hosts([big, small, bigger], units=1).hosts == (bigger.id,)
    assert plan_hosts([big, small, bigger], units=10, most=1).hosts == (bigger.id,)


def test_a_cluster_that_cannot_host_the_model_and_run_a_program_is_refused_with_the_fix():
    [only] = _nodes(1)
    with pytest.raises(ClusterTooSmall) as refused:
        plan_hosts([only], units=4)
    message = str(refused.value)
    assert "10.0.0.0" in message and "--num-cpus" in message and "--endpoint" in message
    # Two 1-CPU nodes, each asked to host: both named, fewer hosts suggested.
    a, b = _nodes(1, 1)
    with pytest.raises(ClusterTooSmall, match="--model-hosts 1") as refused:
        plan_hosts([a, b], units=4, most=2)
    assert "10.0.0.0" in str(refused.value) and "10.0.0.1" in str(refused.value)
    with pytest.raises(ClusterTooSmall):
        plan_hosts([], units=1)


class _Reply:
    """What ``handle.propose.remote(target)`` gives: an object ref's ``future()``."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def future(self) -> Any:
        from concurrent.futures import Future

        future: Future = Future()
        if isinstance(self.outcome, BaseException):
            future.set_exception(self.outcome)
        else:
            future.set_result(self.outcome)
        return future


class _Host:
    """A stand-in for a ModelHost actor handle whose ``propose.remote`` replies ``outcome``."""

    def __init__(self, outcome: Any) -> None:
        self.propose = self
        self.outcome = outcome

    def remote(self, target: Any) -> _Reply:
        return _Reply(self.outcome)


def test_a_unit_whose_model_host_is_gone_asks_another_and_stops_clearly_when_none_is_left(
    monkeypatch: pytest.MonkeyPatch,
):
    pytest.importorskip("ray")
    from ray.exceptions import RayActorError

    from perfedit.errors import ClusterStalled, ModelError
    from perfedit.executors import ray_cluster

    monkeypatch.setattr(ray_cluster, "this_node", lambda: "small")
    dead = _Host(RayActorError(error_msg="the node died"))
    serves = {"small": "gone", "gone": "gone", "alive": "alive"}
    # The host that serves this node answers, not the first one...
    hosts = {"alive": _Host(["from alive"]), "gone": _Host(["from the serving host"])}
    assert ray_cluster.ask_host(hosts, serves, "target") == ["from the serving host"]
    # ...until it dies with its node: then another host answers.
    hosts = {"alive": _Host(["from alive"]), "gone": dead}
    assert ray_cluster.ask_host(hosts, serves, "target") == ["from alive"]
    with pytest.raises(ClusterStalled, match="every model host is gone.*run the same command"):
        ray_cluster.ask_host({"gone": dead}, serves, "target")
    # A host that could not load the model is the model's problem, not the cluster's.
    broken = _Host(RayActorError(error_msg="no model", actor_init_failed=True))
    with pytest.raises(ModelError, match="perfedit model pull"):
        ray_cluster.ask_host({"gone": broken, "alive": _Host(["x"])}, serves, "target")
