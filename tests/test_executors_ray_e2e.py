"""`perfedit evaluate --executor ray` on a real two-node Ray cluster on 127.0.0.1: the verdicts
equal the local executor's on the same programs, and killing the worker node while it runs a
program loses no program's result (Ray retries the task on the head node).

The cluster is two `ray start --block` processes (a head with 2 CPUs and a worker node with 1),
each in its own session, so teardown kills exactly the processes of those sessions (never
`ray stop`, which would stop every Ray instance of this user). Candidates come from a file, so no model runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from helpers.training_programs import DOUBLE_FAST, DOUBLE_WRONG, SUM_FAST, make_pie
from perfedit.formats import pairs

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.ray

#: Seconds for a whole evaluation: Ray's start-up, its detection of the lost node (health checks
#: every few seconds) and the retried program, on a machine whose 2 cores other jobs share.
EVALUATE_TIMEOUT_S = 420
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
# The cluster's own token, so that a token another Ray run left in ~/.ray cannot split the
# nodes between modes (the head, the worker and perfedit's driver all use this one).
ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    "COLUMNS": "200",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], log: Path, timeout_s: float = 120) -> subprocess.Popen:
    """``ray start ARGS --block`` in a new session; returns once it says it started."""
    with log.open("w") as handle:
        process = subprocess.Popen(
            [*RAY, "start", *args, "--block", "--disable-usage-stats"],
            env=ENV,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while "Ray runtime started" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            _kill(process)
            raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def _session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _kill(process: subprocess.Popen) -> None:
    """Kill every process of ``process``'s session (the node: its GCS, raylet and Ray workers,
    which run in process groups of their own) and reap it."""
    members = [p for p in psutil.process_iter() if _session(p.pid) == process.pid]
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(members, timeout=10)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    process.wait(timeout=30)


@pytest.fixture
def ray_cluster(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A head (2 CPUs) and a joined worker node (1 CPU) on 127.0.0.1: (address, worker process)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    # Ray's sockets live in its temp dir: a pytest tmp_path is too long for a Unix socket path.
    temp_dir = tempfile.mkdtemp(prefix="perfedit-ray-")
    head = _start(
        [
            "--head",
            "--num-cpus",
            "2",
            "--port",
            str(port),
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            temp_dir,
            "--include-dashboard=false",
        ],
        tmp_path / "head.log",
    )
    try:
        worker = _start(
            ["--address", address, "--num-cpus", "1", "--node-ip-address", "127.0.0.1"],
            tmp_path / "worker.log",
        )
        try:
            yield address, worker
        finally:
            _kill(worker)
    finally:
        _kill(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _evaluate(data: Path, candidates: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "perfedit",
            "evaluate",
            "--pairs",
            str(data / "train.jsonl"),
            "--candidates",
            str(candidates),
            "--k",
            "2",
            "--runs",
            "5",
            "--out",
            str(out),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def _kill_worker_node_while_it_works(
    worker: subprocess.Popen, evaluation: subprocess.Popen
) -> bool:
    """Kill the worker node as soon as one of its processes runs a unit; True if it did."""
    deadline = time.monotonic() + EVALUATE_TIMEOUT_S
    while evaluation.poll() is None and time.monotonic() < deadline:
        for process in psutil.process_iter(["cmdline"]):
            try:
                busy = _session(process.pid) == worker.pid and "ray::_call" in " ".join(
                    process.info["cmdline"] or []
                )
            except psutil.Error:
                continue
            if busy:
                _kill(worker)
                return True
        time.sleep(0.2)
    return False


def test_ray_verdicts_equal_local_and_a_lost_node_loses_no_program(tmp_path: Path, ray_cluster):
    address, worker = ray_cluster
    data = make_pie(tmp_path / "data")
    chosen = pairs.load(data / "train.jsonl")
    assert len(chosen) == 3  # pdouble s1, psum s2 and s3
    candidates = tmp_path / "candidates.jsonl"
    codes = {"pdouble": [DOUBLE_WRONG, DOUBLE_FAST], "psum": [SUM_FAST, "print(0)\n"]}
    candidates.write_text(
        "".join(json.dumps({"id": p.id, "candidates": codes[p.problem_id]}) + "\n" for p in chosen)
    )

    remote = _evaluate(
        data, candidates, tmp_path / "ray.jsonl", "--executor", "ray", "--ray-address", address
    )
    killed = _kill_worker_node_while_it_works(worker, remote)
    remote_out, remote_err = remote.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert remote.returncode == 0, remote_err[-3000:]
    local = _evaluate(data, candidates, tmp_path / "local.jsonl")
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
