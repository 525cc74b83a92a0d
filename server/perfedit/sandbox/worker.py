"""The warm worker: runs the tests of one program in forked, resource-limited children.

Started by :mod:`perfedit.sandbox.confine`, which confines it first, as
``python -I worker.py CMD_FD RESULT_FD key=value ...`` inside a throw-away copy of the
project; the ``key=value`` arguments say which guards took effect. It imports only built-in
modules and ``resource``: a program's own imports are part of its cost, so none may be
pre-loaded for it (``_signal`` rather than ``signal``, which would load enum, functools and
collections; pytest only in the pytest server). What crosses its pipes, and the frame format,
are defined in :mod:`perfedit.sandbox.protocol`, which it loads by path (``_load_beside`` of
:mod:`perfedit.sandbox.worker_common`, what the modes share), as it loads the module of its mode
(:data:`MODES`): :mod:`~perfedit.sandbox.worker_cases`, :mod:`~perfedit.sandbox.worker_pytest`
or :mod:`~perfedit.sandbox.worker_differential`. This file starts the worker and confines it:

* the manager sends the job spec; the worker answers ``{ISOLATION: {key: value}}``;
* then one ``{"op": RUN, "calibrate": bool, "only": [name, ...] or None}`` per run, answered ``{TESTS: [record, ...]}``
  on RESULT_FD, which no child ever holds open; in cases and pytest mode also ``{"op":
  PROFILE, ...}`` (:func:`protocol.profile_request`), answered ``{LINES: {line: seconds}}``.

Cases (stdin/stdout programs): one forked child per case. Its time is this worker's wall clock
from fork to exit less the time the child and the worker waited for a CPU (:func:`_queued_s`),
its CPU time its own (user + system from ``wait4``) plus that of any process
it left behind, neither of which the program can forge; interpreter start-up is excluded (the
interpreter is already running), the program's own imports are included.

pytest: one server child per worker imports pytest and collects once; it runs no test itself.
For each sample the worker asks for, it forks a sample child from the collected session, which
runs that one test once and exits, so every sample starts from the modules as collection left
them (no cache or global a candidate fills survives into the next sample). The worker measures
each sample from outside (:meth:`_Pytest._sample`): the sample marks the start and end of its
call on the report pipe and waits for the worker's acknowledgement on a pipe of its own; at each
mark the worker reads its own monotonic clock less the run-queue time of the sample and itself
(the call's wall-clock time without the machine's load) and the sample's CPU
time from the kernel's per-process CPU clock (its CPU time); the sample's own clock (captured before any of the project's code was imported)
must agree with it within CROSS_CHECK_RATIO and CROSS_CHECK_SLACK_S, and the
sample's CPU time from fork to report (with the server's meanwhile) goes into the record as
``sample_cpu_seconds`` for :func:`perfedit.verify.timing.cross_check`. Frames without the run's nonce and the
sample's number, out of order, or from a process other than the sample fail the run with
"timing report inconsistent". Before every case, sample and differential child the worker
restores every folder a test may write in (HOME/TMPDIR, the output folder, a private /dev/shm)
to what it started with or collection left (:func:`_refresh`) and removes the System V IPC
objects and POSIX message queues of its IPC namespace; the collected session blocks every signal, and a run fails if it
holds a thread or channel that every sample would share (:func:`_shared_channels`). The worker makes itself non-dumpable at start, so
no test can ptrace it or read its memory.

Differential mode (:mod:`perfedit.verify.differential`): the worker holds pickled calls (``{"op":
INPUTS, "inputs": [bytes, ...]}``) and forks one child per request, which loads
:mod:`perfedit.sandbox.differential_child` by path and calls the target function: ``{"op":
GENERATE, ...}`` makes inputs with hypothesis; ``{"op": OUTCOMES, "limits_s": [...],
"go_past": int}`` describes every call, each within its own wall-clock limit (a call that
times out or crashes is marked stopped, and for the first ``go_past`` of them a fresh child
goes on with the next input); ``{"op": RUN}`` times one pass over all the inputs in a fresh child like a test run,
measured here between the marks the child sends and waits at, as a pytest sample's call is
(:meth:`~perfedit.sandbox.worker_differential._Calls._timed_pass`). Every request has
``run_timeout_s`` in all.

Line profiles (PROFILE): one test runs once more, in a child of its own like any other (a
case's child, or a pytest sample), with :func:`_line_tracer` timing the program's lines; the
child sends the seconds per line (a case's child on a pipe of its own, a sample in its report)
and the worker checks their shape (:func:`protocol.line_seconds`). A test that fails, crashes or
does not end within the request's ``timeout_s`` (then killed, as at a run's limit) gives
``{PROBLEM: why}`` instead. The tracer is SOAP's and PerfCodeGen's execution feedback (Huang
et al. 2024, "EffiLearner"/SOAP: a line profile of the code shown to the model; Peng et al.
2024, section 2): it runs only on request, never in a timed run.

After every case and every pytest run, each process left below the worker is killed and reaped
(the worker is its PID namespace's init, or else a child subreaper, so daemonised processes are
its children too); a test that left processes running fails.
"""

import _signal  # not ``signal``: that would pre-import enum, functools and collections
import os
import sys

# worker_common.py carries the loader (:func:`_load_beside`) for the rest, protocol.py first.
_common = type(sys)("_perfedit_sandbox_worker_common")
_common.__file__ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_common.py")
sys.modules[_common.__name__] = _common
with open(_common.__file__, encoding="utf-8") as _source:
    exec(compile(_source.read(), _common.__file__, "exec"), _common.__dict__)

import _perfedit_sandbox_protocol as protocol  # noqa: E402
from _perfedit_sandbox_worker_common import (  # noqa: E402
    HOST_SHM,
    IPCRM,
    OPEN_FILES,
    ChannelClosed,
    _dumpable_setter,
    _load_beside,
    receive_frame,
    send_frame,
)

AF_UNIX = 1
NAME_LOOKUPS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}
)


def _refuse_network(event, args):
    """Audit hook, used when no network namespace could be made: refuses every socket but Unix
    sockets, and host name lookups (ctypes calls and other programs are not covered)."""
    if event == "socket.__new__" and args[1] != AF_UNIX or event in NAME_LOOKUPS:
        raise PermissionError(f"network access is blocked in the perfedit sandbox ({event})")


def _process_limit(spec, facts):
    """RLIMIT_NPROC for the children: ``max_processes`` more than this user runs now, counted in
    the worker's own user namespace if it has one, else machine-wide. The kernel ignores it for
    real root, whose cap is the manager's pids cgroup."""
    limit = spec["max_processes"] + protocol.OWN_PROCESSES
    if facts.get(protocol.USERNS) == protocol.YES or _is_real_root():
        return limit
    uid, count = os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat(f"/proc/{name}").st_uid == uid
            except OSError:
                continue
    return limit + count


def _is_real_root():
    """True for uid 0 of the initial user namespace (not root of a rootless container)."""
    try:
        with open("/proc/self/uid_map") as handle:
            return os.geteuid() == 0 and handle.read().split()[:2] == ["0", "0"]
    except OSError:
        return os.geteuid() == 0


class _Alarm:
    """Calls ``on_fire`` (in the worker, from SIGALRM) when a wall-clock limit passes."""

    def __init__(self):
        self.fired = False
        self._on_fire = None
        _signal.signal(_signal.SIGALRM, self._fire)

    def _fire(self, signum, frame):
        self.fired = True
        if self._on_fire is not None:
            self._on_fire()

    def arm(self, seconds, on_fire):
        self.fired, self._on_fire = False, on_fire
        _signal.setitimer(_signal.ITIMER_REAL, seconds)

    def disarm(self):
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        self._on_fire = None


def _schedstat_counts():
    """True if the kernel keeps schedstat times (this process has run, so its time on a CPU,
    the first field, is not 0 where it does)."""
    try:
        with open("/proc/self/schedstat", "rb") as handle:
            return int(handle.read().split()[0]) > 0
    except (OSError, IndexError, ValueError):
        return False


def _scratch_folders(spec, facts):
    """Every folder a test may write in, which :func:`_refresh` restores before each test child:
    HOME and TMPDIR, the output folder and, where it is private to the sandbox, /dev/shm
    (absolute paths)."""
    folders = {
        os.environ[key] for key in ("HOME", "TMPDIR") if os.path.isabs(os.environ.get(key, ""))
    }
    folders.add(spec["output_dir"])
    if facts.get(protocol.SHM) == protocol.PRIVATE:
        folders.add("/dev/shm")
    return sorted(folders)


def _make_undumpable():
    """PR_SET_DUMPABLE 0 for the worker and, as fork keeps it, for every process it forks: with
    no capabilities, no test can then ptrace them or open their ``/proc/PID/mem``. True if it
    took effect."""
    set_dumpable = _dumpable_setter()
    return set_dumpable is not None and set_dumpable(0)


#: The module (beside this file) and class of each mode, loaded by :func:`main` for its mode only.
MODES = {
    protocol.CASES: ("worker_cases.py", "_Cases"),
    protocol.PYTEST: ("worker_pytest.py", "_Pytest"),
    protocol.DIFFERENTIAL: ("worker_differential.py", "_Calls"),
}


def main():
    cmd_fd, result_fd = int(sys.argv[1]), int(sys.argv[2])
    facts = protocol.facts_from_args(sys.argv[3:])
    sys.dont_write_bytecode = True  # imports must not write .pyc files outside the workspace
    _signal.signal(
        _signal.SIGINT, _signal.SIG_IGN
    )  # as a namespace's init, a test cannot signal it then
    spec = receive_frame(cmd_fd, max_bytes=None)
    sys.path[:0] = spec["sys_path"]
    if facts.get(protocol.NETWORK) != protocol.NAMESPACE:
        sys.addaudithook(_refuse_network)
    facts[protocol.DUMPABLE] = protocol.NO if _make_undumpable() else protocol.YES
    spec["nproc"] = _process_limit(spec, facts)
    spec["scratch_folders"] = _scratch_folders(spec, facts)
    spec["private_ipc"] = facts.get(protocol.IPC) == protocol.NAMESPACE and os.access(
        IPCRM, os.X_OK
    )
    if facts.get(protocol.IPC) == protocol.NAMESPACE and not spec["private_ipc"]:
        facts[protocol.IPC] = protocol.KEPT  # private, but nothing here can remove its objects
    queues = facts.get(protocol.MQUEUE, protocol.NONE)
    spec["message_queues"] = queues if os.path.isabs(queues) else ""
    spec["host_shm"] = facts.get(protocol.SHM) != protocol.PRIVATE and os.access(
        HOST_SHM, os.W_OK | os.X_OK
    )
    spec["host_shm_before"] = frozenset()
    if spec["host_shm"]:
        facts[protocol.SHM] = protocol.SWEPT
    facts[protocol.NPROC] = str(spec["nproc"]) if not _is_real_root() else protocol.IGNORED_FOR_ROOT
    facts[protocol.OPEN_FILES] = str(OPEN_FILES)
    facts[protocol.RUN_QUEUE] = protocol.YES if _schedstat_counts() else protocol.NO
    send_frame(result_fd, {protocol.ISOLATION: facts})
    filename, name = MODES[spec["mode"]]
    mode = _load_beside(filename, "_perfedit_sandbox_" + filename.removesuffix(".py"))
    runner = getattr(mode, name)(spec, _Alarm(), (cmd_fd, result_fd))
    try:
        while True:
            try:
                command = receive_frame(cmd_fd, max_bytes=None)
            except ChannelClosed:
                return
            if command["op"] == protocol.RUN:
                answer = {protocol.TESTS: runner.run(command["calibrate"], command.get("only"))}
            else:
                answer = runner.handle(command)
            send_frame(result_fd, answer)
    finally:
        runner.close()


if __name__ == "__main__":
    main()
