"""A real Ray cluster of several nodes on 127.0.0.1 for the e2e tests (`-m ray`).

Each node is one `ray start --block` process in its own session, so teardown kills exactly the
processes of those sessions (never `ray stop`, which would stop every Ray instance of this user).
The cluster has its own auth token, so that a token another Ray run left in ~/.ray cannot split
the nodes between modes: the nodes and perfedit's driver (run with :data:`ENV`) all use it.
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
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from helpers.training_programs import DOUBLE_FAST, DOUBLE_WRONG, SUM_FAST, make_pie
from perfedit.formats import pairs

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    "COLUMNS": "200",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def perfedit(*args: str, stderr: Path | None = None) -> subprocess.Popen:
    """``perfedit ARGS`` as a process with the cluster's :data:`ENV`; stdout piped, stderr piped
    or written to the file ``stderr`` (to be read while it runs)."""
    with contextlib.ExitStack() as files:
        return subprocess.Popen(
            [sys.executable, "-m", "perfedit", *args],
            stdout=subprocess.PIPE,
            stderr=files.enter_context(stderr.open("w")) if stderr else subprocess.PIPE,
            text=True,
            env=ENV,
        )


def evaluate(data: Path, out: Path, *extra: str, stderr: Path | None = None) -> subprocess.Popen:
    """``perfedit evaluate`` of ``data``'s train.jsonl, k = 2, 5 timed runs, into ``out``;
    ``extra`` arguments after those (see :func:`perfedit`)."""
    return perfedit(
        "evaluate", "--pairs", str(data / "train.jsonl"), "--k", "2", "--runs", "5",
        "--out", str(out), *extra, stderr=stderr,
    )  # fmt: skip


def programs_with_candidates(folder: Path) -> tuple[Path, Path]:
    """The three small PIE-shaped programs (:func:`training_programs.make_pie`) under
    ``folder``/data and a candidates file for them (one wrong and one faster for pdouble, one
    faster and one wrong for psum): ``(data folder, candidates file)``."""
    data = make_pie(folder / "data")
    codes = {"pdouble": [DOUBLE_WRONG, DOUBLE_FAST], "psum": [SUM_FAST, "print(0)\n"]}
    candidates = folder / "candidates.jsonl"
    candidates.write_text(
        "".join(
            json.dumps({"id": p.id, "candidates": codes[p.problem_id]}) + "\n"
            for p in pairs.load(data / "train.jsonl")
        )
    )
    return data, candidates


def free_port() -> int:
    """A TCP port nothing listens on now."""
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
            kill(process)
            raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def session(pid: int) -> int | None:
    """The session id of process ``pid`` (None when it is gone or not ours)."""
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def kill(process: subprocess.Popen) -> None:
    """Kill every process of ``process``'s session (a node: its GCS, raylet and Ray workers,
    which run in process groups of their own), reap it and close its pipes."""
    members = [p for p in psutil.process_iter() if session(p.pid) == process.pid]
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(members, timeout=10)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    process.wait(timeout=30)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe:
            pipe.close()


def runs_a_unit(node: subprocess.Popen) -> bool:
    """True when one of ``node``'s processes runs a unit of work (a Ray task of the executor)."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            if session(process.pid) == node.pid and "ray::_call" in " ".join(
                process.info["cmdline"] or []
            ):
                return True
        except psutil.Error:
            continue
    return False


@contextlib.contextmanager
def cluster(logs: Path, cpus: Sequence[int]) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A head with ``cpus[0]`` CPUs and a joined node for each further count, on 127.0.0.1:
    ``(address, [head, *workers])``; every node is killed on exit."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    # Ray's sockets live in its temp dir: a pytest tmp_path is too long for a Unix socket path.
    temp_dir = tempfile.mkdtemp(prefix="perfedit-ray-")
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(
            _start(
                [
                    "--head",
                    "--num-cpus",
                    str(cpus[0]),
                    "--port",
                    str(port),
                    "--node-ip-address",
                    "127.0.0.1",
                    "--temp-dir",
                    temp_dir,
                    "--include-dashboard=false",
                ],
                logs / "head.log",
            )
        )
        for number, count in enumerate(cpus[1:], start=1):
            nodes.append(
                _start(
                    [
                        "--address",
                        address,
                        "--num-cpus",
                        str(count),
                        "--node-ip-address",
                        "127.0.0.1",
                    ],
                    logs / f"worker{number}.log",
                )
            )
        yield address, nodes
    finally:
        for node in reversed(nodes):
            if node.poll() is None or session(node.pid) is not None:
                kill(node)
        shutil.rmtree(temp_dir, ignore_errors=True)
