"""`perfedit evaluate --executor ray` on a real two-node Ray cluster on 127.0.0.1: the verdicts
equal the local executor's on the same programs, and killing the worker node while it runs a
program loses no program's result (Ray retries the task on the head node).

The cluster (tests/helpers/ray_nodes.py) is a head with 2 CPUs and a worker node with 1. Candidates come
from a file, so no model runs.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.ray_nodes import cluster, evaluate, kill, programs_with_candidates, runs_a_unit
from perfedit.formats import pairs

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.ray

#: Seconds for a whole evaluation: Ray's start-up, its detection of the lost node (health checks
#: every few seconds) and the retried program, on a machine whose 2 cores other jobs share.
EVALUATE_TIMEOUT_S = 420


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A head (2 CPUs) and a joined worker node (1 CPU) on 127.0.0.1: (address, worker process)."""
    with cluster(tmp_path, (2, 1)) as (address, [_, worker]):
        yield address, worker


def _kill_worker_node_while_it_works(
    worker: subprocess.Popen, evaluation: subprocess.Popen
) -> bool:
    """Kill the worker node as soon as one of its processes runs a unit; True if it did."""
    deadline = time.monotonic() + EVALUATE_TIMEOUT_S
    while evaluation.poll() is None and time.monotonic() < deadline:
        if runs_a_unit(worker):
            kill(worker)
            return True
        time.sleep(0.2)
    return False


def test_ray_verdicts_equal_local_and_a_lost_node_loses_no_program(tmp_path: Path, ray_cluster):
    address, worker = ray_cluster
    data, candidates = programs_with_candidates(tmp_path)
    chosen = pairs.load(data / "train.jsonl")
    assert len(chosen) == 3  # pdouble s1, psum s2 and s3
    remote = evaluate(
        data, tmp_path / "ray.jsonl", "--candidates", str(candidates), "--executor", "ray",
        "--ray-address", address,
    )  # fmt: skip
    killed = _kill_worker_node_while_it_works(worker, remote)
    remote_out, remote_err = remote.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert remote.returncode == 0, remote_err[-3000:]
    local = evaluate(data, tmp_path / "local.jsonl", "--candidates", str(candidates))
    local_out, local_err = local.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert local.returncode == 0, local_err[-3000:]

    by_id = {
        name: {
            r["id"]: r
            for r in map(json.loads, (tmp_path / f"{name}.jsonl").read_text().splitlines())
        }
        for name in ("ray", "local")
    }
    assert killed, "the worker node never ran a unit"
    assert set(by_id["ray"]) == set(by_id["local"]) == {p.id for p in chosen}
    for pid, record in by_id["ray"].items():
        assert "failed" not in record, record  # retried on the head node, not lost
        ray_verdicts = [c["verdict"] for c in record["candidates"]]
        local_verdicts = [c["verdict"] for c in by_id["local"][pid]["candidates"]]
        # Correct or not: exactly the same. Faster or not: the same where the gap is large
        # (DOUBLE_FAST skips a ~50 ms loop); SUM_FAST's gain on one tiny case may go either way.
        assert [v == "rejected" for v in ray_verdicts] == [
            v == "rejected" for v in local_verdicts
        ], pid
        if record["problem_id"] == "pdouble":
            assert ray_verdicts == local_verdicts == ["rejected", "faster"]
    assert "| Best@1 | 3 |" in remote_out and "| Best@1 | 3 |" in local_out
