"""The sandbox: untrusted programs run only here, in a throw-away copy, in a limited child.

A :class:`Workspace` is a temporary copy of the files the tests need, with one file replaced by
the program under test. A :class:`Worker` is a warm ``python -I`` process started inside it
(:mod:`perfedit.sandbox_worker`) in its own session, with a scrubbed environment; it forks a
resource-limited child per test run (address space, CPU seconds, output bytes, open files,
wall-clock timeout) and answers on a private pipe. On any exit the whole process tree is
killed and reaped with psutil.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from perfedit.errors import SandboxError
from perfedit.testsource import TestSuite

WORKER = Path(__file__).with_name("sandbox_worker.py")
_IGNORED = (".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache", "*.pyc")
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT")


@dataclass(frozen=True)
class Limits:
    """Per test run: ``timeout_s`` wall clock (seconds), ``memory_limit_bytes`` address space,
    ``max_output_bytes`` of stdout/stderr and written files."""

    timeout_s: float = 10.0
    memory_limit_bytes: int = 2 * 1024**3
    max_output_bytes: int = 16 * 1024**2


@dataclass(frozen=True)
class TestRecord:
    """One test's outcome in one run.

    ``status`` is passed | failed | error | timeout | crashed; ``seconds`` is the test's time
    without interpreter start-up (see :mod:`perfedit.sandbox_worker`); ``stdout`` is the
    program's output (case tests only); ``detail`` is the failure message or traceback.
    """

    name: str
    status: str
    seconds: float
    wall_seconds: float
    peak_rss_bytes: int
    stdout: str
    detail: str

    @property
    def ran_cleanly(self) -> bool:
        """True if the test ran to the end without error (outputs are compared elsewhere)."""
        return self.status == "passed"


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and every descendant, then reap them (no-op if already gone)."""
    try:
        parent = psutil.Process(pid)
        processes = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(processes, timeout=5)


class Workspace:
    """A temporary copy of ``suite.root`` (pytest/doctest) or an empty folder (cases) in which
    ``relative_path`` holds ``program``. Removed by :meth:`close`."""

    def __init__(self, suite: TestSuite, relative_path: Path, program: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="perfedit-")
        self.root = Path(self._tmp.name) / "project"
        if suite.kind == "cases":
            self.root.mkdir()
            for index, case in enumerate(suite.cases):
                (self.root / f".perfedit-in.{index}").write_text(case.stdin, encoding="utf-8")
        else:
            shutil.copytree(suite.root, self.root, ignore=shutil.ignore_patterns(*_IGNORED), symlinks=True)
        (self.root / "home").mkdir(exist_ok=True)
        self.program = self.root / relative_path
        self.program.parent.mkdir(parents=True, exist_ok=True)
        self.program.write_text(program, encoding="utf-8")

    def close(self) -> None:
        self._tmp.cleanup()


def _environment(home: Path) -> dict[str, str]:
    """A scrubbed environment: no tokens or credentials from the user's, one thread per BLAS."""
    env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
    env.update(
        HOME=str(home), TMPDIR=str(home), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
    )
    return env


class Worker:
    """A warm worker process running ``suite`` against the program in ``workspace``.

    Use as a context manager; :meth:`run` performs one run of every test. Raises SandboxError if
    the worker itself dies or stops answering (the program's own failures are TestRecords).
    """

    def __init__(self, workspace: Workspace, suite: TestSuite, limits: Limits) -> None:
        self.suite = suite
        spec: dict[str, Any] = {
            "mode": "cases" if suite.kind == "cases" else "pytest",
            "program": str(workspace.program),
            "inputs": [f".perfedit-in.{i}" for i in range(len(suite.cases))],
            "names": [case.name for case in suite.cases],
            "node_ids": list(suite.node_ids),
            "doctest": suite.kind == "doctest",
            "sys_path": [str(workspace.root), str(workspace.program.parent)],
            "timeout_s": limits.timeout_s if suite.kind == "cases" else limits.timeout_s * max(1, suite.size) + 5,
            "memory_limit_bytes": limits.memory_limit_bytes,
            "max_output_bytes": limits.max_output_bytes,
        }
        self._run_timeout_s = spec["timeout_s"] * max(1, len(suite.cases)) + 30
        cmd_read, self._cmd_write = os.pipe()
        self._result_read, result_write = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER), str(cmd_read), str(result_write)],
                cwd=workspace.root, env=_environment(workspace.root / "home"),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=(cmd_read, result_write), start_new_session=True,
            )
        finally:
            os.close(cmd_read)
            os.close(result_write)
        self._commands = os.fdopen(self._cmd_write, "wb")
        self._results = os.fdopen(self._result_read, "rb")
        self._send(spec)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            marshal.dump(message, self._commands)
            self._commands.flush()
        except BrokenPipeError as exc:
            raise SandboxError(f"the sandbox worker exited early: {self._stderr()}") from exc

    def _stderr(self) -> str:
        self._process.poll()
        if self._process.returncode is None or self._process.stderr is None or self._process.stderr.closed:
            return "(still running)"
        return self._process.stderr.read().decode("utf-8", "replace")[-2000:] or f"exit code {self._process.returncode}"

    def run(self, *, calibrate: bool = False) -> list[TestRecord]:
        """Run every test once; ``calibrate`` loops pytest test calls for stable timings."""
        self._send({"op": "run", "calibrate": calibrate})
        ready, _, _ = select.select([self._results], [], [], self._run_timeout_s)
        if not ready:
            self.close()
            raise SandboxError(f"the sandbox worker did not answer within {self._run_timeout_s:g} s")
        try:
            answer = marshal.load(self._results)
        except (EOFError, ValueError, TypeError) as exc:
            kill_tree(self._process.pid)
            message = self._stderr()
            self.close()
            raise SandboxError(f"the sandbox worker failed: {message}") from exc
        return [TestRecord(**record) for record in answer["tests"]]

    def close(self) -> None:
        """Stop the worker and kill and reap its whole process tree."""
        kill_tree(self._process.pid)
        self._process.wait()
        for stream in (self._commands, self._results, self._process.stderr):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
