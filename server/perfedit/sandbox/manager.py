"""The sandbox, manager side: untrusted programs run only in a throw-away copy, in a confined child.

A :class:`Workspace` is a temporary copy of the files the tests need, with one file replaced by
the program under test. A :class:`WorkerHandle` starts a warm ``python -I`` worker process inside
it, in its own session, with a scrubbed environment and HOME and TMPDIR in the workspace, and
talks to it (:mod:`perfedit.sandbox.protocol`). A keeper process
(:mod:`perfedit.sandbox.confine`) confines the worker first: PID, mount and network namespaces,
Landlock (writes only to HOME/TMPDIR and the output folder, reads only of the workspace, the
interpreter and its libraries; no signals out of the sandbox), a private tmpfs with a size cap
for HOME, TMPDIR and /dev/shm, no capabilities; where the pids controller is writable, all of it runs in its own
:class:`~perfedit.sandbox.pids_cgroup.PidsCgroup`. The worker (:mod:`perfedit.sandbox.worker`) forks a
resource-limited child per test run (address space, CPU seconds, processes, file size, open
files, wall-clock timeout) and answers on a private pipe. Whatever a program does,
:meth:`WorkerHandle.run` returns records: a worker that dies or stops answering turns into "crashed"
tests. On close the process tree, the session and the cgroup are killed and reaped.
:func:`isolation_report` says which of these guards are in force on this machine.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from perfedit.config import NOT_SOURCE_DIRS
from perfedit.errors import SandboxError
from perfedit.formats.suites import TestSuite
from perfedit.sandbox import protocol
from perfedit.sandbox.pids_cgroup import PidsCgroup

CONFINE = Path(__file__).with_name("confine.py")
DIFFERENTIAL_BUDGET = 3  # a differential request may take this many times timeout_s in all
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT")
_START_TIMEOUT_S = 30.0
_ANSWER_SLACK_S = 30.0
STOP_POLL_S = 0.1  # how often a watched run checks whether it should be stopped (seconds)
_KILL_ROUNDS = 50
_OUTPUT_FILES = (
    6  # captured output files a worker may hold at once, each at most Limits.max_output_bytes
)


@dataclass(frozen=True)
class Limits:
    """Per test run: ``timeout_s`` wall clock (seconds), ``memory_limit_bytes`` address space,
    ``max_output_bytes`` of stdout/stderr and of any file written, ``max_processes`` that a test
    may start. Per worker: ``max_scratch_bytes``, all that its tests may keep in HOME, TMPDIR
    and /dev/shm together (where the scratch tmpfs can be mounted; the captured output has a
    tmpfs of its own of a few times ``max_output_bytes``)."""

    timeout_s: float = 10.0
    memory_limit_bytes: int = 2 * 1024**3
    max_output_bytes: int = 16 * 1024**2
    max_processes: int = 64
    max_scratch_bytes: int = 256 * 1024**2


@dataclass(frozen=True)
class Calls:
    """What a worker in differential mode calls: ``function``, a module-level function of the
    module named ``module``, importable from the folder ``import_root`` (relative to the
    workspace root)."""

    module: str
    function: str
    import_root: Path


@dataclass(frozen=True)
class TestRecord:
    """One test's outcome in one run.

    The fields are :data:`protocol.RECORD_FIELDS <perfedit.sandbox.protocol.RECORD_FIELDS>`:
    ``status`` is passed | failed | error | timeout | crashed; ``seconds`` is the test's
    wall-clock time and ``cpu_seconds`` its CPU time, both of the timed part without
    interpreter start-up, read by the worker outside the test's processes (see
    :mod:`perfedit.sandbox.worker`); ``stdout`` is the program's output (case tests only);
    ``detail`` is the failure message or traceback; ``sample_cpu_seconds`` is the CPU time of
    one sample of the test measured from outside it, setup and teardown included (pytest; else
    ``cpu_seconds``), for :mod:`perfedit.verify.validate`'s cross-check.
    """

    name: str
    status: str
    seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    stdout: str
    detail: str
    sample_cpu_seconds: float

    @property
    def ran_cleanly(self) -> bool:
        """True if the test ran to the end without error (outputs are compared elsewhere)."""
        return self.status == protocol.PASSED


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and every descendant, then reap them (no-op if already gone).

    Descendants go first, round by round, so that processes a sandbox worker adopts as child
    subreaper while it still lives are found too; zombies are left to their parents.
    """
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for _ in range(_KILL_ROUNDS):
        try:
            living = [child for child in root.children(recursive=True) if _is_living(child)]
        except psutil.NoSuchProcess:
            break
        if not living:
            break
        for process in living:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
    with contextlib.suppress(psutil.NoSuchProcess):
        root.kill()
    psutil.wait_procs([root], timeout=5)


def _is_living(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_session(sid: int) -> None:
    """Kill every process of session ``sid`` (those that left the tree but not the session)."""
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if os.getsid(pid) == sid and pid != os.getpid():
                os.kill(pid, signal.SIGKILL)


class Workspace:
    """A temporary folder, removed by :meth:`close`, holding:

    * ``root``: a copy of ``suite.root`` (pytest/doctest) or an empty folder with the cases'
      inputs, in which ``relative_path`` holds ``program``; the tests' working directory;
    * ``scratch``, holding ``home``: HOME and TMPDIR of the tests, and ``output``: their captured
      stdout and stderr. Inside the sandbox a tmpfs of ``Limits.max_scratch_bytes`` is mounted on
      ``scratch`` (and /dev/shm is a folder of it), in the worker's own mount namespace: nothing
      written there ever reaches this folder, and it is gone with the worker's last process;
    * ``exchange``: a folder the tests may write in only when the worker is started with
      ``exchange=True`` (the differential recording), on disk, so that the manager reads it.

    Where Landlock is available a test may write only in ``scratch`` (and ``exchange``): the
    copy is read-only, so a program cannot rewrite the tests or their data (or shadow a module);
    and it may read only the workspace, the interpreter and its libraries (see
    :mod:`perfedit.sandbox.confine`).
    """

    def __init__(self, suite: TestSuite, relative_path: Path, program: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="perfedit-")
        self.folder = folder = Path(self._tmp.name)
        self.root, self.scratch, self.exchange = (
            folder / "project",
            folder / "scratch",
            folder / "exchange",
        )
        self.home, self.output = self.scratch / "home", self.scratch / "output"
        if suite.kind == "cases":
            self.root.mkdir()
            for index, case in enumerate(suite.cases):
                (self.root / f".perfedit-in.{index}").write_text(case.stdin, encoding="utf-8")
        else:
            shutil.copytree(
                suite.root,
                self.root,
                ignore=shutil.ignore_patterns(*NOT_SOURCE_DIRS, "*.pyc"),
                symlinks=True,
            )
        for made in (self.home, self.output, self.exchange):
            made.mkdir(parents=True)
        self.program = self.root / relative_path
        self.program.parent.mkdir(parents=True, exist_ok=True)
        self.program.write_text(program, encoding="utf-8")

    def close(self) -> None:
        self._tmp.cleanup()


def _environment(home: Path) -> dict[str, str]:
    """A scrubbed environment: no tokens or credentials from the user's, one thread per BLAS."""
    env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
    env.update(
        HOME=str(home),
        TMPDIR=str(home),
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


def _spec(
    workspace: Workspace, suite: TestSuite, limits: Limits, calls: Calls | None
) -> dict[str, Any]:
    """The job spec the worker receives first (:func:`protocol.job_spec
    <perfedit.sandbox.protocol.job_spec>`); times in seconds."""
    if calls is not None:
        run_timeout_s = limits.timeout_s * DIFFERENTIAL_BUDGET
        return protocol.job_spec(
            protocol.DIFFERENTIAL,
            program=str(workspace.program),
            module=calls.module,
            function=calls.function,
            sys_path=[str(workspace.root / calls.import_root), str(workspace.root)],
            output_dir=str(workspace.output),
            timeout_s=limits.timeout_s,
            run_timeout_s=run_timeout_s,
            cpu_s=int(run_timeout_s) + 1,
            memory_limit_bytes=limits.memory_limit_bytes,
            max_output_bytes=limits.max_output_bytes,
            max_processes=limits.max_processes,
        )
    tests = max(1, suite.size)
    return protocol.job_spec(
        protocol.CASES if suite.kind == "cases" else protocol.PYTEST,
        program=str(workspace.program),
        inputs=[f".perfedit-in.{i}" for i in range(len(suite.cases))],
        names=[case.name for case in suite.cases],
        node_ids=list(suite.node_ids),
        doctest=suite.kind == "doctest",
        sys_path=[str(workspace.root), str(workspace.program.parent)],
        output_dir=str(workspace.output),
        timeout_s=limits.timeout_s,
        run_timeout_s=limits.timeout_s * tests + 1,
        collect_timeout_s=limits.timeout_s + 5,
        cpu_s=int(limits.timeout_s * (tests + 1) + 5)
        + 1,  # the pytest server: collection and a run
        memory_limit_bytes=limits.memory_limit_bytes,
        max_output_bytes=limits.max_output_bytes,
        max_processes=limits.max_processes,
    )


class WorkerHandle:
    """The manager's handle of a warm worker process running ``suite`` against the program in
    ``workspace``, or, given ``calls``, calling that function on inputs (differential mode,
    :mod:`perfedit.verify.differential`).

    Use as a context manager; :meth:`run` performs one run of every test (in differential mode:
    one timed pass over the inputs), :meth:`request` sends any other request (a line profile of
    one test, differential mode's requests). ``isolation`` says
    which guards are in force (see :func:`isolation_report`). Raises SandboxError only if the
    worker cannot start; a worker the program kills or stops yields "crashed" records.
    ``readable``: folders the tests may read beside the workspace, the interpreter and its
    libraries; ``exchange``: the tests may write in ``workspace.exchange``.
    """

    def __init__(
        self,
        workspace: Workspace,
        suite: TestSuite,
        limits: Limits,
        calls: Calls | None = None,
        *,
        readable: tuple[Path, ...] = (),
        exchange: bool = False,
    ) -> None:
        self.suite = suite
        self._lost = ""  # why the worker is gone; every later run fails with it
        spec = _spec(workspace, suite, limits, calls)
        if calls is not None:
            self._run_names = [protocol.DIFFERENTIAL_RUN]
            per_run_s = spec["run_timeout_s"] + limits.timeout_s
        else:
            self._run_names = (
                [case.name for case in suite.cases] or list(suite.node_ids) or [protocol.PYTEST_RUN]
            )
            per_run_s = (
                (limits.timeout_s + 1) * len(suite.cases)
                if suite.kind == "cases"
                else (spec["collect_timeout_s"] + spec["run_timeout_s"])
            )
        self._answer_timeout_s = per_run_s + _ANSWER_SLACK_S
        self._cgroup = PidsCgroup.create(limits.max_processes + protocol.OWN_PROCESSES)
        cmd_read, cmd_write = os.pipe()
        result_read, result_write = os.pipe()
        writable = (workspace.home, workspace.output, *((workspace.exchange,) if exchange else ()))
        options = {
            "scratch": workspace.scratch,
            "scratch_bytes": limits.max_scratch_bytes,
            "output": workspace.output,
            "output_bytes": _OUTPUT_FILES * limits.max_output_bytes,
            "readable": os.pathsep.join(map(str, (workspace.folder, *readable))),
        }
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    str(CONFINE),
                    os.pathsep.join(map(str, writable)),
                    str(cmd_read),
                    str(result_write),
                    *(f"{key}={value}" for key, value in options.items()),
                ],
                cwd=workspace.root,
                env=_environment(workspace.home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(cmd_read, result_write),
                start_new_session=True,
            )
        finally:
            os.close(cmd_read)
            os.close(result_write)
        self._commands = os.fdopen(cmd_write, "wb", buffering=0)  # frames go straight to the fd
        self._results = os.fdopen(result_read, "rb", buffering=0)
        self._join_cgroup()
        with contextlib.suppress(BrokenPipeError):
            self._commands.write(
                protocol.GO
            )  # the keeper forks the worker only now, inside the cgroup
        hello = self._exchange(spec, _START_TIMEOUT_S)
        if hello is None:
            self.close()
            raise SandboxError(f"the sandbox worker did not start: {self._lost}")
        self.isolation = _describe(hello[protocol.ISOLATION], limits, self._cgroup)

    def _join_cgroup(self) -> None:
        """Move the keeper into the pids cgroup (it forks nothing before it reads ``protocol.GO``)."""
        if self._cgroup is None:
            return
        try:
            self._cgroup.add(self._process.pid)
        except OSError:
            self._cgroup.close()
            self._cgroup = None

    def _exchange(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """Send ``message`` and return the worker's answer; None, with ``_lost`` saying why, if
        the worker died or gave no answer within ``timeout_s`` (its tree is then killed)."""
        try:
            protocol.send_frame(self._commands.fileno(), message)
            ready, _, _ = select.select([self._results], [], [], timeout_s)
            if not ready:
                self._give_up(
                    f"the sandbox worker did not answer within {timeout_s:g} s (did the program stop it?)"
                )
                return None
            return protocol.receive_frame(self._results.fileno(), max_bytes=None)
        except (OSError, ValueError, protocol.BrokenChannel):
            self._give_up("the sandbox worker was killed (did the program kill its parent?)")
            return None

    def _give_up(self, reason: str) -> None:
        kill_tree(self._process.pid)
        self._process.wait()
        self._lost = f"{reason}\n{self._stderr()}".strip()
        return None

    def _stderr(self) -> str:
        """The dead worker's last words (a traceback if it failed by itself)."""
        if self._process.stderr is None or self._process.stderr.closed:
            return ""
        return self._process.stderr.read().decode("utf-8", "replace")[-2000:]

    def run(
        self, *, calibrate: bool = False, only: Sequence[str] | None = None
    ) -> list[TestRecord]:
        """Run every test once, or the tests named in ``only`` (None: all; a differential
        run is one test and ignores it); ``calibrate`` loops pytest test calls for stable
        timings."""
        wanted = None if only is None else list(only)
        answer = (
            None
            if self._lost
            else self._exchange(protocol.run_request(calibrate, wanted), self._answer_timeout_s)
        )
        if answer is None:
            return [
                TestRecord(**protocol.record(name, protocol.CRASHED, 0.0, 0.0, 0, self._lost))
                for name in self._run_names
                if wanted is None or name in wanted or name == protocol.DIFFERENTIAL_RUN
            ]
        return [TestRecord(**record) for record in answer[protocol.TESTS]]

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request other than a run (see :mod:`perfedit.sandbox.protocol`) and return the
        answer, or ``{PROBLEM: why}`` if the worker is gone."""
        answer = None if self._lost else self._exchange(message, self._answer_timeout_s)
        return answer if answer is not None else {protocol.PROBLEM: self._lost}

    def stop(self) -> None:
        """Kill the worker's tree from another thread (see :meth:`stopped_when`): the run in progress
        ends with "crashed" records; :meth:`close` still reaps it."""
        kill_tree(self._process.pid)

    @contextlib.contextmanager
    def stopped_when(self, should_stop: Callable[[], bool]) -> Iterator[threading.Event]:
        """While the block runs, a thread asks ``should_stop`` every :data:`STOP_POLL_S` seconds
        and kills the worker's tree (:meth:`stop`) once it answers True (a user cancelled, a
        job's time budget ran out): a run in progress then ends at once with "crashed" records
        instead of at its wall-clock limit. Yields an Event, set if the worker was stopped, so
        that the caller can tell those records from a crash of the program's own."""
        stopped, done = threading.Event(), threading.Event()

        def watch() -> None:
            while not done.wait(STOP_POLL_S):
                if should_stop():
                    stopped.set()
                    self.stop()
                    return

        watcher = threading.Thread(target=watch, name="perfedit-worker-stop", daemon=True)
        watcher.start()
        try:
            yield stopped
        finally:
            done.set()
            watcher.join()

    def close(self) -> None:
        """Stop the worker; kill and reap its tree, its session and its cgroup."""
        kill_tree(self._process.pid)
        self._process.wait()
        kill_session(self._process.pid)
        if self._cgroup is not None:
            self._cgroup.close()
        for stream in (self._commands, self._results, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> WorkerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _describe(facts: dict[str, str], limits: Limits, cgroup: PidsCgroup | None) -> dict[str, str]:
    """One line per guard from the worker's ``facts`` (see :mod:`perfedit.sandbox.protocol`)."""
    filesystem = facts.get(protocol.FILESYSTEM, protocol.NONE)
    landlock = (
        int(filesystem.removeprefix(protocol.LANDLOCK))
        if filesystem.startswith(protocol.LANDLOCK)
        else 0
    )
    return {
        "network": _network_line(facts, landlock),
        "filesystem": (
            f"Landlock ABI {landlock}: files change only in the sandbox's HOME/TMPDIR and output folders, /dev/shm"
            + (
                ", the sandbox's own message queues"
                if os.path.isabs(facts.get(protocol.MQUEUE, protocol.NONE))
                else ""
            )
            + " and /dev/null (the project copy is read-only)"
            if landlock
            else "no guard: HOME, TMPDIR and the working directory are in the workspace, other paths stay writable"
        ),
        "reads": _reads_line(facts.get(protocol.READS, protocol.NONE)),
        "scratch": (
            f"private tmpfs of {limits.max_scratch_bytes} bytes for HOME, TMPDIR, the output folder and /dev/shm together, "
            "in the sandbox's mount namespace: nothing written there reaches the disk or outlives the worker"
            if facts.get(protocol.SCRATCH, protocol.DISK).startswith(protocol.TMPFS)
            else "on disk in the workspace (removed when the worker closes): RLIMIT_FSIZE caps each file, nothing caps the total"
        ),
        "writable": _writable_line(
            landlock,
            facts.get(protocol.SHM, protocol.SHARED),
            os.path.isabs(facts.get(protocol.MQUEUE, protocol.NONE)),
        ),
        "ipc": _ipc_line(facts),
        "shm": _shm_line(facts.get(protocol.SHM, protocol.SHARED), landlock),
        "signals": (
            "Landlock scope: no signals or abstract Unix sockets to processes outside the sandbox"
            if landlock >= 6
            else "not scoped: a test may signal any process of this user"
        ),
        "capabilities": (
            "all dropped, bounding set included; no new privileges"
            if facts.get(protocol.CAPABILITIES) == protocol.DROPPED
            else "kept"
        ),
        "processes": _processes_line(facts, limits, cgroup),
        "orphans": {
            protocol.INIT: "adopted by the worker (PID 1 of the namespace), killed and reaped after every test",
            protocol.SUBREAPER: "adopted by the worker (child subreaper), killed and reaped after every test",
        }.get(facts.get(protocol.ORPHANS, ""), "killed with the worker's session when it closes"),
        "wall_clock": f"{limits.timeout_s:g} s per test",
        "measured": _measured_line(facts),
        "cpu": f"RLIMIT_CPU {int(limits.timeout_s) + 1} s per case (pytest: the run's wall-clock limit + 5 s)",
        "memory": f"RLIMIT_AS {limits.memory_limit_bytes} bytes",
        "file_size": f"RLIMIT_FSIZE {limits.max_output_bytes} bytes",
        "open_files": f"RLIMIT_NOFILE {facts.get(protocol.OPEN_FILES, '?')}",
        "ptrace": (
            "the worker and the test processes are not dumpable: no test can ptrace them or open their memory"
            if facts.get(protocol.DUMPABLE) == protocol.NO
            else "dumpable: a test may ptrace the measuring worker"
        ),
        "environment": "scrubbed (PATH and locale kept); HOME and TMPDIR in the workspace (see writable)",
        "between_runs": "every process a test leaves is killed after its case or sample; the collected pytest "
        "session blocks every signal and may hold no thread, pipe, socket, anonymous inode, deleted file, file no "
        "path leads to (a message queue) or shared writable memory (its runs fail if it does)",
    }


def _network_line(facts: dict[str, str], landlock: int) -> str:
    """The doctor's line on what keeps tests off the network."""
    network = {
        protocol.NAMESPACE: "network namespace: no interface but a loopback that is down",
        protocol.AUDIT_HOOK: "audit hook: Python refuses non-Unix sockets and name lookups (not ctypes, not other programs)",
    }[facts.get(protocol.NETWORK, protocol.AUDIT_HOOK)]
    if landlock >= 4:
        network += "; Landlock refuses TCP bind and connect"
    return network


def _processes_line(facts: dict[str, str], limits: Limits, cgroup: PidsCgroup | None) -> str:
    """The doctor's line on what bounds the processes a test may start."""
    processes = [f"RLIMIT_NPROC {facts.get(protocol.NPROC, '?')}"]
    if facts.get(protocol.PIDS) == protocol.NAMESPACE:
        processes.append(
            "own PID namespace: the worker is its init, tests cannot kill it, all die with it"
        )
    if cgroup is not None:
        processes.append(
            f"pids cgroup: at most {limits.max_processes + protocol.OWN_PROCESSES} per worker"
        )
    elif facts.get(protocol.NPROC) == protocol.IGNORED_FOR_ROOT:
        processes.append(
            "no pids cgroup writable here: a fork bomb runs until the wall-clock limit"
        )
    return "; ".join(processes)


def _ipc_line(facts: dict[str, str]) -> str:
    """The doctor's line on System V and POSIX IPC objects a test leaves."""
    system_v = {
        protocol.NAMESPACE: "own IPC namespace, emptied between test children: System V shared memory, semaphores "
        "and message queues a test makes are removed before the next case, sample or call",
        protocol.KEPT: "own IPC namespace, not emptied (no ipcrm here): System V objects a test makes reach later "
        "runs of the same worker",
    }.get(
        facts.get(protocol.IPC, protocol.SHARED),
        "shared with the host: System V objects a test makes stay and reach later runs",
    )
    if facts.get(protocol.IPC) == protocol.SHARED:
        return f"{system_v}; so do POSIX message queues (mq_open)"
    if os.path.isabs(facts.get(protocol.MQUEUE, protocol.NONE)):
        return (
            f"{system_v}; POSIX message queues (mq_open) too (their file system is mounted in the sandbox, "
            "where the worker removes every queue)"
        )
    return f"{system_v}; POSIX message queues (mq_open) are not emptied (their file system could not be mounted)"


def _shm_line(shm: str, landlock: int) -> str:
    """The doctor's line on /dev/shm (the SHM fact) and how it is kept fresh between runs."""
    if shm == protocol.PRIVATE:
        return "private: /dev/shm is a folder of the scratch tmpfs, restored between test children, gone with the worker"
    if shm == protocol.SWEPT:
        return (
            "the host's (no mount namespace here): what a case, pytest sample or differential call creates there is "
            "removed when it ends (its entries are those of this user not there when it started; what another program "
            "of this user makes there meanwhile goes too); entries that were there before are not restored"
        )
    return "shared: /dev/shm is the host's; what a test leaves there stays" + (
        "" if landlock else ", and other paths stay writable too"
    )


def _measured_line(facts: dict[str, str]) -> str:
    """The doctor's line on what the worker's clock measures."""
    return (
        "wall-clock time by the worker's monotonic clock, outside the test's processes (a case from "
        "fork to exit, a pytest call or a pass over the differential inputs between its marks), "
        + (
            "less the time the machine's load kept the test's process waiting for a CPU (its run-queue time, "
            "/proc/PID/schedstat), "
            if facts.get(protocol.RUN_QUEUE) == protocol.YES
            else "load included (this kernel gives no run-queue times), "
        )
        + "with the kernel's CPU time of the same part beside it"
    )


def _writable_line(landlock: int, shm: str, queues: bool) -> str:
    """The doctor's line on where a test may write and what of it a later test child sees
    (``shm``: the SHM fact; ``queues``: the IPC namespace's message queues are mounted)."""
    places = "HOME and TMPDIR (one folder), the output folder" + (
        " and /dev/shm" if shm == protocol.PRIVATE else ""
    )
    line = (
        f"{places}: restored before every case, pytest sample and differential call to what the worker "
        "started with (pytest: what collection left), files inside folders included"
    )
    if shm == protocol.SWEPT:
        line += "; /dev/shm is the host's: what a test child creates there is removed when it ends (see shm)"
    elif shm != protocol.PRIVATE:
        line += "; /dev/shm is the host's and is not restored: what a test leaves there reaches later runs"
    if landlock:
        queue_files = " and the sandbox's message queues (emptied, see ipc)" if queues else ""
        return f"{line}; nothing else (Landlock), but /dev/null{queue_files}"
    return (
        f"{line}; without Landlock every other path this user can write (the working directory, /tmp, /var/tmp, "
        "...) stays writable and is not restored"
    )


def _reads_line(reads: str) -> str:
    """The doctor's line for the READS fact."""
    if reads.startswith(protocol.LANDLOCK):
        return (
            f"Landlock ABI {reads.removeprefix(protocol.LANDLOCK)}: only the workspace, the interpreter, its standard "
            "library and site-packages, system libraries, /proc and a few /etc files (loader, time zone, passwd) "
            "are readable"
        )
    if reads == protocol.MASKED:
        return (
            "mount namespace: /root, /home, /etc/ssh, /tmp, /opt, /srv, /var/lib and other folders that may hold "
            "secrets are hidden under empty file systems (but the way to the interpreter and the workspace)"
        )
    return "no guard: a test may read every file this user can"


def isolation_report() -> dict[str, str]:
    """How a test run is confined on this machine, measured by starting a worker with the
    default :class:`Limits`: guard name ("network", "filesystem", "processes", ...) -> one line."""
    with tempfile.TemporaryDirectory(prefix="perfedit-probe-") as folder:
        suite = TestSuite(kind="cases", root=Path(folder))
        workspace = Workspace(suite, Path("probe.py"), "")
        try:
            with WorkerHandle(workspace, suite, Limits()) as worker:
                return dict(worker.isolation)
        finally:
            workspace.close()
