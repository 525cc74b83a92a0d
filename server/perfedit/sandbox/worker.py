"""The warm worker: runs the tests of one program in forked, resource-limited children.

Started by :mod:`perfedit.sandbox.confine`, which confines it first, as
``python -I worker.py CMD_FD RESULT_FD key=value ...`` inside a throw-away copy of the
project; the ``key=value`` arguments say which guards took effect. It imports only built-in
modules and ``resource``: a program's own imports are part of its cost, so none may be
pre-loaded for it (``_signal`` rather than ``signal``, which would load enum, functools and
collections; pytest only in the pytest server). What crosses its pipes, and the frame format,
are defined in :mod:`perfedit.sandbox.protocol`, which it loads by path (:func:`_load_beside`):

* the manager sends the job spec; the worker answers ``{ISOLATION: {key: value}}``;
* then one ``{"op": RUN, "calibrate": bool}`` per run, answered ``{TESTS: [record, ...]}``
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
objects of its IPC namespace; the collected session blocks every signal, and a run fails if it
holds a thread or channel that every sample would share (:func:`_shared_channels`). The worker makes itself non-dumpable at start, so
no test can ptrace it or read its memory.

Differential mode (:mod:`perfedit.verify.differential`): the worker holds pickled calls (``{"op":
INPUTS, "inputs": [bytes, ...]}``) and forks one child per request, which loads
:mod:`perfedit.sandbox.differential_child` by path and calls the target function: ``{"op":
GENERATE, ...}`` makes inputs with hypothesis; ``{"op": OUTCOMES, "limits_s": [...],
"keep_going": bool}`` describes every call, each within its own wall-clock limit (a call that
times out or crashes is marked stopped; with ``keep_going`` a fresh child goes on with the next
input); ``{"op": RUN}`` times passes over all the inputs like a test run. Every request has
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
import resource
import stat as _stat  # loaded by os at start-up: nothing more is pre-imported
import sys
import time


def _load_beside(filename, name):
    """Load ``filename`` from this file's folder as module ``name`` (also in ``sys.modules``).

    By path and with ``exec``: under ``python -I`` neither the package nor this folder is on
    ``sys.path``; ``importlib.util`` would pre-import modules for the timed programs, and this
    folder on ``sys.path`` would shadow a program's own ``protocol`` module (see
    :mod:`perfedit.sandbox.protocol`)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), filename)
    module = type(sys)(name)
    module.__file__ = path
    sys.modules[name] = module
    with open(path, encoding="utf-8") as handle:
        exec(compile(handle.read(), path, "exec"), module.__dict__)
    return module


protocol = _load_beside("protocol.py", "_perfedit_sandbox_protocol")
BrokenChannel, ChannelClosed = protocol.BrokenChannel, protocol.ChannelClosed
send_frame, receive_frame = protocol.send_frame, protocol.receive_frame
PASSED, FAILED, ERROR, TIMEOUT, CRASHED = (
    protocol.PASSED,
    protocol.FAILED,
    protocol.ERROR,
    protocol.TIMEOUT,
    protocol.CRASHED,
)

MIN_SAMPLE_S = 0.005
MAX_LOOPS = 10_000  # differential mode's calibration loops
MAX_SAMPLES = 3  # fresh samples of a pytest test per calibrated run, until they last MIN_SAMPLE_S
CROSS_CHECK_RATIO = (
    2.0  # a call's kernel CPU time may exceed its in-process time by this factor ...
)
CROSS_CHECK_SLACK_S = 0.001  # ... plus this, before the run is rejected
PR_SET_DUMPABLE = 4
CPUCLOCK_SCHED = (
    2  # a process CPU clock id: ((~pid) << 3) | CPUCLOCK_SCHED, user + system time in ns
)
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
DETAIL_BYTES = protocol.MAX_DETAIL_BYTES
cap_text = protocol.cap_text
SWEEP_ROUNDS = 100
OPEN_FILES = 256
IPCRM = "/usr/bin/ipcrm"  # util-linux
CLOCK_SLACK_S = 0.002  # between the run child's clock and the worker's
AF_UNIX = 1
NAME_LOOKUPS = frozenset(
    {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"}
)
SIGNAL_NAMES: dict[int, str] = {}
for _name in sorted(dir(_signal)):
    if _name.startswith("SIG") and not _name.startswith("SIG_"):
        SIGNAL_NAMES.setdefault(getattr(_signal, _name), _name)


class BadReport(Exception):
    """A pytest run's report is not consistent with what the worker saw."""


class SharedChannel(Exception):
    """The collected pytest session holds something every sample would share."""


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


def _limit(spec, cpu_s):
    """Apply the spec's resource limits (``cpu_s`` CPU seconds) to the current child."""
    limits = [
        (resource.RLIMIT_AS, spec["memory_limit_bytes"]),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_FSIZE, spec["max_output_bytes"]),
        (resource.RLIMIT_NOFILE, OPEN_FILES),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, spec["nproc"]),
    ]
    for kind, value in limits:
        _, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))


def _redirect(stdin_path, out_path, err_path):
    for fd, path, flags in (
        (0, stdin_path, os.O_RDONLY),
        (1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND),
        (2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)


def _read(path, limit):
    """The first ``limit`` bytes of the file at ``path``, as text ("" if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _read_detail(path, max_bytes=DETAIL_BYTES):
    """The file at ``path`` as a detail: whole if at most ``max_bytes``, else its head and tail
    around the cut's marker (:func:`protocol.cap_text`); "" if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= max_bytes:
                return handle.read(max_bytes).decode("utf-8", "replace")
            half = max_bytes // 2
            head = handle.read(half)
            handle.seek(size - half)
            tail = handle.read(half)
    except OSError:
        return ""
    return protocol.joined_cut(head, tail, size - 2 * half)


def _flush_stdio():
    """Flush sys.stdout and sys.stderr; False if either failed."""
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            ok = False
    return ok


def _wait_for_threads():
    """Wait for the program's non-daemon threads, as the interpreter does at exit."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()


def _line_tracer(program, first_line, last_line, seconds):
    """A ``sys.settrace`` function timing the lines of the file ``program`` in its code objects
    that start within ``first_line`` ... ``last_line`` (1-based: the target's span; a script's
    module code and every function of it); fills ``seconds`` ({line: seconds}) in place.

    A line's time runs from its line event to the next event of a counted frame, by
    ``time.perf_counter``: so it includes the time of the code it calls that does not count (other
    files, the standard library, built-ins: ``x in some_list`` is charged to its line), while a
    counted function it calls has its lines timed on their own (a script's ``main()`` line does
    not count ``main``'s body again, recursion is not counted twice). Without nested counted
    frames this is line_profiler's rule: the time until the next line event of the same frame.
    The tracer's own cost falls on the lines too, most on those that run most often. Threads
    other than the calling one are not traced."""
    clock = time.perf_counter
    wanted = os.path.realpath(program)
    is_program = {}  # co_filename -> whether it names the program (a path may reach it by a link)
    callers = []  # the line each counted frame below the innermost one was running
    running = [0, clock()]  # the line being charged (0: none yet) and since when

    def charge():
        now = clock()
        if running[0]:
            seconds[running[0]] = seconds.get(running[0], 0.0) + now - running[1]
        running[1] = now

    def local(frame, event, arg):
        charge()
        if event == "line":
            running[0] = frame.f_lineno
        elif event == "return":
            running[0] = callers.pop() if callers else 0
        return local

    def call(frame, event, arg):
        code = frame.f_code
        name = code.co_filename
        if name not in is_program:
            is_program[name] = os.path.realpath(name) == wanted
        if not (is_program[name] and first_line <= code.co_firstlineno <= last_line):
            return None
        charge()
        callers.append(running[0])
        running[0] = frame.f_lineno
        return local

    return call


def _unknown(command):
    """The answer to a request this mode does not serve."""
    return {protocol.PROBLEM: f"unknown request {command['op']!r}"}


def _child(spec, closed_fds, cpu_s, body):
    """In a freshly forked child: own process group, limits, ``body()``, exit; never returns."""
    status = 70
    try:
        os.setpgid(0, 0)
        for fd in closed_fds:
            os.close(fd)
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)  # Python ignores it; die at the size limit
        _limit(spec, cpu_s)
        status = body()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        if not _flush_stdio():
            status = status or 1
        os._exit(status & 0xFF if isinstance(status, int) else 1)


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


def _kill(pid):
    try:
        os.kill(pid, _signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pgid):
    try:
        os.killpg(pgid, _signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_child(pid):
    """Kill a test child and its process group (the child itself may have left the group)."""
    _kill(pid)
    _kill_group(pid)


def _children(pid):
    """The direct children of ``pid`` (of all its threads), from /proc."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children = []
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/children", "rb") as handle:
                children.extend(int(child) for child in handle.read().split())
        except FileNotFoundError:
            return _children_by_scan(pid)  # a kernel without CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return children


def _children_by_scan(pid):
    """The direct children of ``pid``, from every process's /proc/PID/stat."""
    children = []
    for name in os.listdir("/proc"):
        if name.isdigit() and _stat_fields(int(name))[1:2] == [str(pid)]:
            children.append(int(name))
    return children


def _stat_fields(pid):
    """/proc/PID/stat after the command name: [state, ppid, ...]; [] if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].decode().split()
    except OSError:
        return []


def _is_running(pid):
    """True unless ``pid`` is gone or a zombie."""
    return _stat_fields(pid)[:1] not in ([], ["Z"], ["X"])


def _cpu_s(pid):
    """CPU seconds (user + system, every thread, not its children) that process ``pid`` has
    used so far, from the kernel's per-process CPU clock; raises BadReport if it is gone.

    The clock is the kernel's: nothing in that process can change what it reads."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | CPUCLOCK_SCHED) / 1e9
    except OSError as exc:
        raise BadReport(f"process {pid} ended before it was measured") from exc


def _schedstat(pid):
    """(seconds on a CPU, seconds ready to run but waiting for one) of the main thread of process
    ``pid`` ("self": this one): the kernel's /proc/PID/schedstat, whose waits are added when the
    task gets a CPU; (0.0, 0.0) where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as handle:
            on_cpu, waiting = handle.read().split()[:2]
        return int(on_cpu) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return 0.0, 0.0


def _queued_s(pid):
    """Seconds the main thread of process ``pid`` has waited for a CPU (:func:`_schedstat`)."""
    return _schedstat(pid)[1]


def _unloaded_clock(pid, starting):
    """(this worker's monotonic clock less the run-queue time of process ``pid`` so far, the
    time its main thread has spent on a CPU), seconds, read after ``pid`` has blocked
    (:func:`_blocked`). Two readings give an interval's wall clock without the time the
    machine's load kept ``pid`` waiting for a CPU (:func:`_unloaded_s`). The clock is read first
    when ``starting`` an interval and last when ending one, so that the worker's being
    preempted between the reads can only leave some load in. The worker's own waits are left
    in where they may overlap ``pid``'s (two waits at once would take out twice the time that
    passed)."""
    clock = time.perf_counter() if starting else 0.0
    on_cpu, queued = _schedstat(_blocked(pid))
    return (clock if starting else time.perf_counter()) - queued, on_cpu


def _unloaded_s(start, end, also_queued_s=0.0):
    """The wall clock between two :func:`_unloaded_clock` readings, less ``also_queued_s``
    (seconds), and never less than the time the main thread spent on a CPU meanwhile: the
    kernel adds a wait with the clock of the CPU the task arrives on, and where CPUs' clocks
    differ a wait can come out longer than it was."""
    return max(end[0] - start[0] - also_queued_s, end[1] - start[1])


def _schedstat_counts():
    """True if the kernel keeps schedstat times (this process has run, so its time on a CPU,
    the first field, is not 0 where it does)."""
    try:
        with open("/proc/self/schedstat", "rb") as handle:
            return int(handle.read().split()[0]) > 0
    except (OSError, IndexError, ValueError):
        return False


def _blocked(pid, limit_s=0.05):
    """``pid``, once its main thread no longer runs or waits to (it blocks on the worker's
    acknowledgement right after a mark), so that its run-queue time up to the mark is all
    counted (the kernel adds a wait when the task gets the CPU); at most ``limit_s`` seconds."""
    deadline = time.perf_counter() + limit_s
    while _stat_fields(pid)[:1] == ["R"] and time.perf_counter() < deadline:
        os.sched_yield()
    return pid


def _children_cpu_s(pid):
    """CPU seconds of the children that process ``pid`` has reaped (``/proc/PID/stat`` cutime
    + cstime, in clock ticks, so to 1/CLK_TCK s)."""
    fields = _stat_fields(pid)
    try:
        return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS_PER_S
    except (IndexError, ValueError):
        return 0.0


def _shared_channels(pid, own_fds):
    """What process ``pid`` (the pytest server, whose collected session every sample is forked
    from) holds that could carry data from one sample to the next, as text ("" if nothing):
    threads beside its main one, descriptors other than ``own_fds`` of pipes, sockets (abstract
    Unix ones included), anonymous inodes (eventfd, memfd, ...) or deleted files, and writable
    shared memory. Read between samples, while the server waits for the next request."""
    held = []
    try:
        threads = len(os.listdir(f"/proc/{pid}/task"))
        fds = [int(fd) for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return ""
    if threads > 1:
        held.append(f"{threads - 1} thread(s)")
    for fd in sorted(set(fds) - set(own_fds)):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("pipe:", "socket:", "anon_inode:", "/memfd:")) or target.endswith(
            " (deleted)"
        ):
            held.append(f"descriptor {fd} ({target})")
    try:
        with open(f"/proc/{pid}/maps", "rb") as handle:
            for line in handle:
                fields = line.split()
                if fields[1][1:2] == b"w" and fields[1][3:4] == b"s":
                    name = b" ".join(fields[5:]).decode("utf-8", "replace") or "anonymous"
                    held.append(f"shared writable memory ({name})")
    except OSError:
        pass
    return ", ".join(held)


def _living_below(pid):
    """Every process below ``pid`` that is not a zombie (a set of pids)."""
    living, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            if _is_running(child):
                living.add(child)
            todo.append(child)
    return living


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


def _snapshot(folders):
    """Everything in ``folders`` as :func:`_refresh` will restore it: {path: entry}, an entry
    being None for a folder, the target (str) of a symbolic link, or a file's [bytes, mode,
    identity] (identity: inode, size, mtime and ctime; a test can set the mtime back, not the
    ctime). Files are held in memory: these folders hold what collection wrote, which the
    scratch tmpfs caps."""
    kept = {}
    todo = list(folders)
    while todo:
        folder = todo.pop()
        kept[folder] = None
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    kept[entry.path] = os.readlink(entry.path)
                elif entry.is_dir():
                    todo.append(entry.path)
                else:
                    with open(entry.path, "rb") as handle:
                        data = handle.read()
                        info = os.fstat(handle.fileno())
                    kept[entry.path] = [data, info.st_mode & 0o777, _identity(info)]
            except OSError:
                continue
    return kept


def _identity(info):
    """What changes whenever a file is written, replaced or has its mode changed."""
    return info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _refresh(kept, spec):
    """Restore the writable folders to ``kept`` (from :func:`_snapshot`): folders first (made
    again, mode 0700), then what is not in ``kept`` removed, then links and files put back;
    no symbolic link is followed. So no test child finds what an earlier one wrote, in HOME,
    TMPDIR, /dev/shm or the output folder. A changed file is rewritten in place (truncated), so
    that the pytest server's output files stay the files it writes to. Where the sandbox has an
    IPC namespace of its own (``spec["private_ipc"]``), the System V shared memory segments,
    semaphore sets and message queues an earlier child made are removed too."""
    if spec["private_ipc"]:
        _remove_ipc_objects()
    folders = sorted(path for path, entry in kept.items() if entry is None)
    for folder in folders:
        _restore(folder, None)
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.path not in kept:
                _remove_tree(entry.path)
    for path, entry in kept.items():
        if entry is not None:
            _restore(path, entry)


def _remove_ipc_objects():
    """Remove every System V IPC object of this IPC namespace (``ipcrm --all``, run only when
    /proc/sysvipc lists one: the worker has no other way to call shmctl and friends without
    loading ctypes for the programs it times)."""
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}", "rb") as handle:
                listed = len(handle.read().splitlines()) > 1  # a header line, then one per object
        except OSError:
            continue
        if listed:
            break
    else:
        return
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execv(IPCRM, [IPCRM, "--all"])
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def _remove_tree(path):
    """Remove the file, link or folder at ``path`` and all below it (links are not followed)."""
    try:
        if _stat.S_ISDIR(os.lstat(path).st_mode):
            os.chmod(path, 0o700)
            for inner in os.listdir(path):
                _remove_tree(os.path.join(path, inner))
            os.rmdir(path)
        else:
            os.unlink(path)
    except OSError:
        pass


def _restore(path, entry):
    """Make ``path`` what ``entry`` (see :func:`_snapshot`) says, if it is not already."""
    try:
        info = os.lstat(path)
    except OSError:
        info = None
    kind = None if info is None else _stat.S_IFMT(info.st_mode)
    try:
        if entry is None:
            if kind != _stat.S_IFDIR:
                _remove_tree(path)
                os.mkdir(path, 0o700)
            os.chmod(path, 0o700)
        elif isinstance(entry, str):
            if kind != _stat.S_IFLNK or os.readlink(path) != entry:
                _remove_tree(path)
                os.symlink(entry, path)
        elif kind != _stat.S_IFREG or _identity(info) != entry[2]:
            if kind != _stat.S_IFREG:
                _remove_tree(path)
            else:
                os.chmod(path, 0o600)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, entry[0])
                os.fchmod(fd, entry[1])
                entry[2] = _identity(os.fstat(fd))
            finally:
                os.close(fd)
    except OSError:
        pass


def _dumpable_setter():
    """A function ``set(flag)`` calling PR_SET_DUMPABLE (True if it took effect), or None where
    libc cannot be loaded. ctypes is imported for it and then dropped from ``sys.modules``, so no
    module is pre-imported for the programs."""
    before = set(sys.modules)
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        prctl = None
    for name in set(sys.modules) - before:
        del sys.modules[name]
    return None if prctl is None else lambda flag: prctl(PR_SET_DUMPABLE, flag, 0, 0, 0) == 0


def _make_undumpable():
    """PR_SET_DUMPABLE 0 for the worker and, as fork keeps it, for every process it forks: with
    no capabilities, no test can then ptrace them or open their ``/proc/PID/mem``. True if it
    took effect."""
    set_dumpable = _dumpable_setter()
    return set_dumpable is not None and set_dumpable(0)


def _inspectable(pid):
    """True if this worker may read process ``pid``'s /proc files that ptrace rules guard (it is
    dumpable: no capability is left to read those of one that is not)."""
    try:
        os.close(os.open(f"/proc/{pid}/maps", os.O_RDONLY))
    except OSError:
        return False
    return True


def _sweep(spare=0):
    """Kill and reap every process below the worker but ``spare`` (a pid; 0: none).

    Returns (how many of them were still running, the CPU seconds of those reaped). Orphans
    are re-parented to the worker (init or subreaper), so killing and reaping its children
    round by round exposes their children in the next round.
    """
    me = os.getpid()
    running, cpu_s = set(), 0.0
    for _ in range(SWEEP_ROUNDS):
        pids = [pid for pid in _children(me) if pid != spare]
        if not pids:
            break
        running.update(pid for pid in pids if _is_running(pid))
        for pid in pids:
            _kill(pid)
        for pid in pids:
            try:
                _, _, usage = os.wait4(pid, 0)
            except ChildProcessError:
                continue
            cpu_s += usage.ru_utime + usage.ru_stime
    return len(running), cpu_s


def _outcome(wait_status, timed_out, spec):
    """(status, detail) of a child from its wait status; a clean exit is (PASSED | ERROR, "")."""
    if timed_out:
        return TIMEOUT, f"killed after the {spec['timeout_s']:g} s wall-clock limit"
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        if signum == _signal.SIGXCPU:
            return TIMEOUT, "killed after exceeding its CPU-time limit"
        if signum == _signal.SIGXFSZ:
            return (
                ERROR,
                f"wrote more than {spec['max_output_bytes']} bytes to a file or its output",
            )
        return CRASHED, f"killed by signal {SIGNAL_NAMES.get(signum, signum)}"
    return (PASSED if os.WEXITSTATUS(wait_status) == 0 else ERROR), ""


def _left_running(count):
    return f"left {count} process(es) running after it ended (killed)"


class _Cases:
    """Runs each stdin/stdout case of the program in its own forked child."""

    def __init__(self, spec, alarm, closed_fds):
        self.spec, self.alarm, self.closed_fds = spec, alarm, closed_fds
        program = spec["program"]
        self.code, self.problem = None, ""
        self.kept = _snapshot(spec["scratch_folders"])
        try:
            with open(program, encoding="utf-8") as handle:
                self.code = compile(handle.read(), program, "exec")
        except (SyntaxError, ValueError, UnicodeDecodeError, OSError) as exc:
            self.problem = f"the program does not compile: {exc!r}"

    def run(self, calibrate):
        return [self._case(index) for index in range(len(self.spec["inputs"]))]

    def handle(self, command):
        if command["op"] != protocol.PROFILE:
            return _unknown(command)
        names = self.spec["names"]
        if self.problem or command["test"] not in names:
            return {protocol.PROBLEM: self.problem or f"no case named {command['test']!r}"}
        return self._profile(names.index(command["test"]), command)

    def _execute(self, stdin_path, out_path, err_path, tracer=None):
        """The child's body: run the program like ``python program.py < stdin_path`` (under
        ``tracer``, a ``sys.settrace`` function, if given)."""
        _redirect(stdin_path, out_path, err_path)
        program = self.spec["program"]
        sys.argv = [program]
        main = type(sys)("__main__")  # a real module, so that pickle finds the program's functions
        main.__file__, main.__builtins__ = program, __builtins__
        sys.modules["__main__"] = main
        sys.settrace(tracer)
        try:
            exec(self.code, main.__dict__)
        finally:
            _wait_for_threads()
            import atexit

            atexit._run_exitfuncs()
            sys.settrace(None)
        return 0

    def _fork(self, cpu_s, body, closed_fds=()):
        """Fork a child running ``body()`` within ``cpu_s`` CPU seconds (``closed_fds``: this
        process's own ends of the child's pipes) in its own process group; its pid."""
        pid = os.fork()
        if pid == 0:
            _child(self.spec, (*self.closed_fds, *closed_fds), cpu_s, body)
        try:
            os.setpgid(pid, pid)
        except (ProcessLookupError, PermissionError):
            pass  # the child did it first
        return pid

    def _case(self, index):
        spec = self.spec
        name = spec["names"][index]
        if self.problem:
            return protocol.record(name, ERROR, 0.0, 0.0, 0, self.problem)
        out_path, err_path = _output(spec, f"out.{index}"), _output(spec, f"err.{index}")
        _refresh(self.kept, self.spec)  # nothing an earlier case wrote is there
        started = (time.perf_counter(), 0.0)
        pid = self._fork(
            int(spec["timeout_s"]) + 1,
            lambda: self._execute(spec["inputs"][index], out_path, err_path),
        )
        self.alarm.arm(spec["timeout_s"], lambda: _kill_child(pid))
        queued = _queued_s("self")
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: its schedstat stays
        # the worker's wait for a CPU once the child ended: it cannot overlap the child's waits
        woken_s = _queued_s("self") - queued
        elapsed = _unloaded_s(started, _unloaded_clock(pid, False), woken_s)
        _, wait_status, usage = os.wait4(pid, 0)
        self.alarm.disarm()
        left_running, left_cpu_s = _sweep()
        status, detail = _outcome(wait_status, self.alarm.fired, spec)
        if status == ERROR and not detail:
            detail = _read_detail(err_path) or f"exit status {os.WEXITSTATUS(wait_status)}"
        if left_running and status == PASSED:
            status, detail = ERROR, _left_running(left_running)
        cpu_s = usage.ru_utime + usage.ru_stime + left_cpu_s
        stdout = _read(out_path, spec["max_output_bytes"])
        return protocol.record(
            name, status, elapsed, cpu_s, usage.ru_maxrss * 1024, detail, stdout=stdout
        )

    def _profile(self, index, command):
        """Case ``index`` once more under :func:`_line_tracer` (see :func:`protocol.profile_request`):
        the child sends its seconds per line on a pipe once the program has ended, and is killed
        (with all it started) if it has not within ``command["timeout_s"]``."""
        spec, timeout_s = self.spec, command["timeout_s"]
        out_path, err_path = _output(spec, "profile.out"), _output(spec, "profile.err")
        frames, child_frames = os.pipe()
        _refresh(self.kept, self.spec)

        def body():
            lines = {}
            tracer = _line_tracer(
                spec["program"], command["first_line"], command["last_line"], lines
            )
            try:
                return self._execute(spec["inputs"][index], out_path, err_path, tracer)
            finally:  # the exit status says whether the run counts
                send_frame(child_frames, lines)

        pid = self._fork(int(timeout_s) + 1, body, (frames,))
        os.close(child_frames)
        self.alarm.arm(timeout_s, _sweep)  # the program's descendants may hold the pipe open too
        try:
            lines = protocol.line_seconds(receive_frame(frames))
        except BrokenChannel:
            lines = None
        try:
            _, wait_status, _ = os.wait4(pid, 0)
        except ChildProcessError:  # the alarm's sweep reaped it (a timeout)
            wait_status = 0
        finally:
            self.alarm.disarm()
        os.close(frames)
        _sweep()
        if self.alarm.fired:
            problem = f"the profiled run took longer than {timeout_s:g} s"
        else:
            status, problem = _outcome(wait_status, False, spec)
            if status == PASSED:
                problem = "" if lines is not None else "the profiled run sent no usable profile"
            elif not problem:
                problem = _read_detail(err_path) or f"exit status {os.WEXITSTATUS(wait_status)}"
        return {protocol.PROBLEM: problem} if problem else {protocol.LINES: lines}

    def close(self):
        _sweep()


def _output(spec, name):
    """Path of the captured output file ``name`` ("out.3", "err") in the workspace's output folder."""
    return os.path.join(spec["output_dir"], name)


def _last_words(spec, reason):
    """``reason`` after the tail of the pytest processes' stderr (the headline is the last line)."""
    return f"{_read_detail(_output(spec, 'err'))}\n{reason}".strip()


def _read_tail(path, limit=DETAIL_BYTES):
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - limit))
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


class _Pytest:
    """The worker's side of the pytest server: start it, ask it for samples, measure them."""

    def __init__(self, spec, alarm, closed_fds):
        self.spec, self.alarm, self.closed_fds = spec, alarm, closed_fds
        self.server = 0
        self.server_fds = ()  # the server's own descriptors: stdio and its ends of the pipes
        self.commands = self.reports = self.acks = -1
        self.collected = []
        self.kept = {}  # the writable folders after collection (see _refresh)
        self.samples = 0  # samples asked for so far: each one's number is in its acks
        self.problem = ""  # why the tests cannot run at all (collection failed): every run fails

    def run(self, calibrate):
        if not self.server and not self.problem:
            self._start()
        if self.problem:
            return [protocol.record(protocol.PYTEST_RUN, ERROR, 0.0, 0.0, 0, self.problem)]
        nonce = os.urandom(8).hex()
        started = time.perf_counter()
        failure, records = None, []
        self.alarm.arm(self.spec["run_timeout_s"], self._kill_server)
        try:
            for index, node_id in enumerate(self.collected):
                record = self._test(index, node_id, nonce, calibrate)
                if record["name"] == protocol.PYTEST_RUN:  # a sample ended without reporting
                    records = [record]
                    break
                records.append(record)
        except (BrokenChannel, OSError, BadReport, SharedChannel) as exc:
            failure = exc
        finally:
            self.alarm.disarm()
        if failure is not None or self.alarm.fired:
            return [self._failed_run(failure, time.perf_counter() - started)]
        return self._check_leftovers(records)

    def handle(self, command):
        """A PROFILE request: one sample of the test whose call runs under :func:`_line_tracer`
        (see :func:`protocol.profile_request`); the server is killed, to be restarted by the
        next request, if the sample has not reported within ``command["timeout_s"]``."""
        if command["op"] != protocol.PROFILE:
            return _unknown(command)
        if not self.server and not self.problem:
            self._start()
        test, timeout_s = command["test"], command["timeout_s"]
        if self.problem or test not in self.collected:
            return {protocol.PROBLEM: self.problem or f"no test {test!r} was collected"}
        trace = (self.spec["program"], command["first_line"], command["last_line"])
        failure, sample = None, None
        self.alarm.arm(timeout_s, self._kill_server)
        try:
            sample = self._sample(self.collected.index(test), test, os.urandom(8).hex(), trace)
        except (BrokenChannel, OSError, BadReport, SharedChannel) as exc:
            failure = exc
        finally:
            self.alarm.disarm()
        if failure is not None or self.alarm.fired:
            detail = self._failed_run(failure, 0.0)["detail"]
            timed_out = f"the profiled test took longer than {timeout_s:g} s"
            return {protocol.PROBLEM: timed_out if self.alarm.fired else detail}
        if isinstance(sample, dict):
            return {protocol.PROBLEM: sample["detail"]}
        outcome, detail, *_, lines = sample
        if outcome != "passed":
            return {protocol.PROBLEM: f"the profiled test {outcome}: {detail}"}
        lines = protocol.line_seconds(lines)
        if lines is None:
            return {protocol.PROBLEM: "the profiled test sent no usable profile"}
        return {protocol.LINES: lines}

    def _test(self, index, node_id, nonce, calibrate):
        """One test's record: one fresh sample, or with ``calibrate`` fresh samples until their
        calls last MIN_SAMPLE_S of wall clock (at most MAX_SAMPLES); ``seconds``,
        ``cpu_seconds`` and ``sample_cpu_seconds`` are the means over the samples. A sample that
        does not pass ends the test (its outcome)."""
        figures, peak_rss_bytes = [], 0  # (wall, CPU, sample CPU) seconds per sample
        while True:
            sample = self._sample(index, node_id, nonce)
            if isinstance(sample, dict):
                return sample  # it ended without a report (a crash, os._exit), or left processes
            outcome, detail, *measured, rss_bytes, _ = sample
            peak_rss_bytes = max(peak_rss_bytes, rss_bytes)
            if outcome != "passed":
                return protocol.record(node_id, FAILED, *measured[:2], peak_rss_bytes, detail)
            figures.append(measured)
            if (
                not calibrate
                or len(figures) >= MAX_SAMPLES
                or sum(f[0] for f in figures) >= MIN_SAMPLE_S
            ):
                break
        wall_s, cpu_s, sample_cpu_s = (
            sum(column) / len(figures) for column in zip(*figures, strict=True)
        )
        return protocol.record(
            node_id, PASSED, wall_s, cpu_s, peak_rss_bytes, "", sample_cpu_seconds=sample_cpu_s
        )

    def _sample(self, index, node_id, nonce, trace=None):
        """Ask the server for one sample of test ``index`` (a child forked from the collected
        session that runs it once) and measure it here, outside the test's process; with
        ``trace`` (the program, first and last line: :func:`_line_tracer`'s arguments) its call
        runs under the line tracer and its report carries the seconds per line.

        The sample sends marks (start, stop, report) and waits for this worker's
        acknowledgement of each, so that what is read here at a mark is read while it stands
        still. At its start mark the sample must be a child of the server, and no process may
        run below the worker but the server, the sample and the sample's own descendants.
        Returns (outcome, detail, call seconds, call CPU seconds, sample CPU seconds, peak RSS
        bytes, seconds per line as reported: None without ``trace``), or a record if it ended
        without a report or left processes running. Call seconds are this worker's monotonic
        clock between the marks less the time the sample stood in the run queue meanwhile and
        this worker did on waking for the stop mark (:func:`_unloaded_s`: wall clock without
        the machine's load; what the call waits for itself counts); call CPU seconds the
        kernel's CPU time of the sample between them; sample CPU seconds are everything the
        sample and the server used on CPU for it (the sample to its report, the children it
        reaped, the server meanwhile, whatever was left below the worker). Raises BadReport if the kernel's figure exceeds the sample's own
        clock more than CROSS_CHECK_RATIO times (plus CROSS_CHECK_SLACK_S): its clock was
        tampered with, or the call kept several CPUs busy; or if a frame is out of place."""
        self.samples += 1
        number = self.samples
        _refresh(self.kept, self.spec)  # the writable folders as collection left them
        send_frame(self.commands, {"inspect": True})  # the server turns dumpable, so it can be read
        frame = receive_frame(self.reports)
        if frame != {"inspectable": True} or not _inspectable(self.server):
            raise SharedChannel(
                "the pytest process could not be inspected between samples (a test changed the sandbox's plugin?)"
            )
        channels = _shared_channels(self.server, self.server_fds)
        if channels:
            raise SharedChannel(
                f"the collected tests keep {channels} in the pytest process, which every test "
                "sample would share: a channel from one timed run to the next (open no pipe, "
                "socket, shared memory or thread at import time)"
            )
        server_cpu_s = _cpu_s(self.server)
        send_frame(
            self.commands, {"index": index, "nonce": nonce, "number": number, "trace": trace}
        )
        pid, marks, report = 0, {}, None
        while True:
            waiting_since = _queued_s("self")
            frame = receive_frame(self.reports)
            woken_s = _queued_s("self") - waiting_since  # this worker's wait for a CPU on waking
            if not isinstance(frame, dict):
                raise BadReport("a frame that is not a report")
            if "done" in frame:
                break
            mark = frame.get("mark")
            if (
                frame.get("nonce") != nonce
                or frame.get("number") != number
                or mark in marks
                or report is not None
            ):
                raise BadReport("an unexpected report")
            if mark == "start":
                pid = frame.get("pid")
                if (
                    not isinstance(pid, int)
                    or pid not in _children(self.server)
                    or _living_below(os.getpid()) - _living_below(pid) != {self.server, pid}
                ):
                    raise BadReport("a start mark from a process that is not the sample")
                if _inspectable(self.server):
                    raise BadReport("the pytest process stayed dumpable while its sample ran")
            elif mark not in ("stop", "report") or not pid and mark == "stop":
                raise BadReport("a mark out of order")
            marks[mark] = (
                _cpu_s(pid) if pid else 0.0,
                frame,
                _unloaded_clock(pid, mark == "start"),
                woken_s,
            )
            if mark == "report":
                report = frame
                total_s = marks[mark][0] + (_children_cpu_s(pid) if pid else 0.0)
            os.write(self.acks, number.to_bytes(4, "little"))
        peak_rss_bytes = frame.get("peak_rss_bytes")
        peak_rss_bytes = peak_rss_bytes if isinstance(peak_rss_bytes, int) else 0
        left_running, left_cpu_s = _sweep(spare=self.server)
        if report is None:
            return self._no_report(frame, peak_rss_bytes)
        if left_running:
            return protocol.record(
                node_id, ERROR, 0.0, 0.0, peak_rss_bytes, _left_running(left_running)
            )
        outcome, detail = report.get("outcome"), report.get("detail")
        if not (isinstance(outcome, str) and isinstance(detail, str)):
            raise BadReport("a malformed report")
        if outcome == "passed" and not ("start" in marks and "stop" in marks):
            raise BadReport("a passed test without a timed call")
        call_s = call_cpu_s = 0.0
        if "stop" in marks:
            own_s = marks["stop"][1].get("seconds")
            if not isinstance(own_s, float) or own_s < 0.0:
                raise BadReport("impossible figures")
            kernel_s = marks["stop"][0] - marks["start"][0]
            if kernel_s > CROSS_CHECK_RATIO * own_s + CROSS_CHECK_SLACK_S:
                raise BadReport(
                    f"timing cross-check failed: the test's clock measured {own_s * 1e3:.3f} ms for a call "
                    f"that used {kernel_s * 1e3:.3f} ms of CPU time (was its clock replaced?)"
                )
            call_s = _unloaded_s(marks["start"][2], marks["stop"][2], marks["stop"][3])
            call_cpu_s = kernel_s
        cpu_s = total_s + left_cpu_s + _cpu_s(self.server) - server_cpu_s
        return (
            outcome,
            detail,
            call_s,
            call_cpu_s,
            max(cpu_s, call_cpu_s),
            peak_rss_bytes,
            report.get("lines"),
        )

    def _no_report(self, done, peak_rss_bytes):
        """The record of a sample that ended without reporting (``done``: the server's frame)."""
        wait_status = done["done"] if isinstance(done["done"], int) else 0
        status, detail = _outcome(wait_status, False, self.spec)
        if status in (PASSED, ERROR):
            status, detail = (
                ERROR,
                _last_words(
                    self.spec,
                    f"the test process exited with status {os.WEXITSTATUS(wait_status)} before reporting (os._exit in a test?)",
                ),
            )
        return protocol.record(protocol.PYTEST_RUN, status, 0.0, 0.0, peak_rss_bytes, detail)

    def _failed_run(self, exc, wall_s):
        """The record of a run that timed out (``exc`` may be None then) or ended without a
        usable report (``exc``); the server is killed, to be restarted by the next run."""
        self._kill_server()
        self._forget_server()
        if self.alarm.fired:
            status, detail = (
                TIMEOUT,
                f"killed after the {self.spec['run_timeout_s']:g} s wall-clock limit",
            )
        elif isinstance(exc, SharedChannel):
            status, detail = ERROR, str(exc)
        elif isinstance(exc, BadReport | BrokenChannel) and not isinstance(exc, ChannelClosed):
            status, detail = ERROR, f"timing report inconsistent: {exc}"
        else:
            status, detail = (
                CRASHED,
                _last_words(
                    self.spec,
                    "the pytest process exited unexpectedly (did a test kill its parent?)",
                ),
            )
        return protocol.record(protocol.PYTEST_RUN, status, wall_s, wall_s, 0, detail)

    def _check_leftovers(self, records):
        """Fail every test of a run that left processes running (then restart the server)."""
        me = os.getpid()
        strays = [pid for pid in _children(me) if pid != self.server]
        if self.server:
            strays += _children(self.server)
        running = sum(1 for pid in strays if _is_running(pid))
        if not running:
            _sweep(spare=self.server)  # reap processes that ended without being waited for
            return records
        self._kill_server()
        self._forget_server()
        return [{**record, "status": ERROR, "detail": _left_running(running)} for record in records]

    def _start(self):
        """Fork the server and wait until it has collected the tests (sets ``problem`` if not);
        what an earlier server's samples left is gone before it starts."""
        _refresh(self.kept, self.spec)
        commands_read, self.commands = os.pipe()
        self.reports, reports_write = os.pipe()
        acks_read, self.acks = os.pipe()
        spec = self.spec
        pid = os.fork()
        if pid == 0:
            _child(
                spec,
                (*self.closed_fds, self.commands, self.reports, self.acks),
                spec["cpu_s"],
                lambda: _serve(spec, commands_read, reports_write, acks_read),
            )
        os.close(commands_read)
        os.close(reports_write)
        os.close(acks_read)
        try:
            os.setpgid(pid, pid)
        except (ProcessLookupError, PermissionError):
            pass  # the child did it first
        self.server = pid
        self.server_fds = (0, 1, 2, commands_read, reports_write, acks_read)
        self.alarm.arm(spec["collect_timeout_s"], self._kill_server)
        try:
            hello = receive_frame(self.reports)
            self.collected = [node_id for node_id in hello["collected"] if isinstance(node_id, str)]
            error = hello["error"]
        except (BrokenChannel, KeyError, TypeError):
            self.collected, error = [], "pytest exited before collecting the tests"
        finally:
            self.alarm.disarm()
        if self.alarm.fired:
            error = f"collecting the tests took longer than {spec['collect_timeout_s']:g} s"
        if error or not self.collected:
            output = _read_detail(_output(spec, "out")) + _read_detail(_output(spec, "err"))
            self.problem = f"{error or 'pytest collected no tests'}\n{output}".strip()
            self._kill_server()
            self._forget_server()
        self.kept = _snapshot(spec["scratch_folders"])

    def _kill_server(self):
        """Kill the server and everything below the worker (safe inside the alarm's handler)."""
        if self.server:
            _kill_child(self.server)
        _sweep()

    def _forget_server(self):
        for fd in (self.commands, self.reports, self.acks):
            if fd >= 0:
                os.close(fd)
        self.server, self.commands, self.reports, self.acks = 0, -1, -1, -1

    def close(self):
        self._kill_server()
        self._forget_server()


class _Calls:
    """Differential mode: one forked child per request calls the target function on the held
    inputs (see the module docstring and :mod:`perfedit.sandbox.differential_child`)."""

    def __init__(self, spec, alarm, closed_fds):
        self.spec, self.alarm, self.closed_fds = spec, alarm, closed_fds
        self.inputs = []
        self.kept = _snapshot(spec["scratch_folders"])

    def handle(self, command):
        op = command["op"]
        if op == protocol.INPUTS:
            self.inputs = [data for data in command["inputs"] if isinstance(data, bytes)]
            return {protocol.INPUTS: len(self.inputs)}
        if op == protocol.GENERATE:
            return self._generate(command)
        if op == protocol.OUTCOMES:
            return self._outcomes(command["limits_s"], command["keep_going"])
        return _unknown(command)

    def _start(self, task):
        """Fork a child serving ``task`` (the writable folders as they were when the worker
        started); returns its pid and the read end of its frames."""
        _refresh(self.kept, self.spec)
        frames, child_frames = os.pipe()
        spec = self.spec
        pid = os.fork()
        if pid == 0:
            _child(
                spec,
                (*self.closed_fds, frames),
                spec["cpu_s"],
                lambda: _serve_calls(spec, task, self.inputs, child_frames),
            )
        os.close(child_frames)
        try:
            os.setpgid(pid, pid)
        except (ProcessLookupError, PermissionError):
            pass  # the child did it first
        return pid, frames

    def _receive(self, frames, timeout_s):
        """The child's next frame (a dict), or None if it sent none within ``timeout_s``
        (``alarm.fired``; everything below the worker is killed then) or ended without one."""
        self.alarm.arm(max(timeout_s, 0.001), _sweep)
        try:
            frame = receive_frame(frames)
        except BrokenChannel:
            frame = None
        finally:
            self.alarm.disarm()
        return frame if isinstance(frame, dict) else None

    def _end(self, pid, frames, stopped, kill=False):
        """Reap the child (killed first if ``kill``) and whatever it left. Returns why it
        ``stopped`` early ("" if it did not): "timeout", else how it ended; and its peak
        resident memory in bytes (0 if the alarm's sweep reaped it)."""
        timed_out = self.alarm.fired
        if kill:
            _kill_child(pid)
        self.alarm.arm(self.spec["timeout_s"], _sweep)  # a child that stopped sending but runs on
        try:
            _, wait_status, usage = os.wait4(pid, 0)
            peak_rss_bytes = usage.ru_maxrss * 1024
        except ChildProcessError:
            wait_status, peak_rss_bytes = 0, 0
        finally:
            lingered = self.alarm.fired
            self.alarm.disarm()
        _sweep()
        os.close(frames)
        if not stopped:
            return "", peak_rss_bytes
        if timed_out:
            return TIMEOUT, peak_rss_bytes
        if lingered:
            return "stopped sending results but kept running (killed)", peak_rss_bytes
        if os.WIFSIGNALED(wait_status):
            return _outcome(wait_status, False, self.spec)[1], peak_rss_bytes
        last_words = _read_tail(_output(self.spec, "differential.err"), 600).strip().splitlines()
        return f"exited with status {os.WEXITSTATUS(wait_status)} before it finished" + (
            f": {last_words[-1]}" if last_words else ""
        ), peak_rss_bytes

    def _generate(self, command):
        pid, frames = self._start({**command, "start": 0})
        frame = self._receive(frames, self.spec["run_timeout_s"])
        reason, _ = self._end(pid, frames, frame is None)
        if frame is None:
            return {
                protocol.GENERATED: [],
                protocol.PROBLEM: f"generating inputs stopped: {reason}",
            }
        generated = frame.get(protocol.GENERATED, [])
        problem = frame.get(protocol.PROBLEM, "")
        return {
            protocol.GENERATED: [data for data in generated if isinstance(data, bytes)]
            if isinstance(generated, list)
            else [],
            protocol.PROBLEM: cap_text(problem) if isinstance(problem, str) else "",
        }

    def _outcomes(self, limits_s, keep_going):
        """One entry per input: a dict of OUTCOME_FIELDS, ``{STOPPED: TIMEOUT | reason}``, or None where none was reached within ``run_timeout_s``; or
        ``{PROBLEM: ...}`` if the module does not import."""
        deadline = time.perf_counter() + self.spec["run_timeout_s"]
        entries = [None] * len(self.inputs)
        start = 0
        while start < len(self.inputs) and time.perf_counter() < deadline:
            pid, frames = self._start({"op": protocol.OUTCOMES, "start": start})
            ready = self._receive(
                frames, min(self.spec["timeout_s"], deadline - time.perf_counter())
            )
            if ready is None or ready.get("ready") is not True:
                reason, _ = self._end(pid, frames, True)
                problem = ready.get(protocol.PROBLEM) if ready else None
                if reason == TIMEOUT:
                    reason = f"importing it took longer than {self.spec['timeout_s']:g} s"
                return {
                    protocol.PROBLEM: cap_text(problem)
                    if isinstance(problem, str)
                    else f"the module did not load: {reason}"
                }
            index, malformed = start, False
            while index < len(self.inputs):
                frame = self._receive(frames, min(limits_s[index], deadline - time.perf_counter()))
                if not _is_outcome(frame, index):
                    malformed = frame is not None
                    break
                entries[index] = {key: frame[key] for key in protocol.OUTCOME_FIELDS}
                index += 1
            stopped = index < len(self.inputs)
            reason, _ = self._end(pid, frames, stopped, kill=malformed)
            if not stopped:
                break
            if time.perf_counter() < deadline:
                entries[index] = {
                    protocol.STOPPED: "sent a malformed result" if malformed else reason
                }
            if not keep_going:
                break
            start = index + 1
        return {protocol.OUTCOMES: entries}

    def run(self, calibrate):
        """Time passes over every input like one test run (one record, DIFFERENTIAL_RUN)."""
        spec = self.spec
        started = time.perf_counter()
        pid, frames = self._start(
            {
                "op": protocol.TIME,
                "calibrate": calibrate,
                "min_sample_s": MIN_SAMPLE_S,
                "max_loops": MAX_LOOPS,
            }
        )
        frame = self._receive(frames, spec["run_timeout_s"])
        wall_s = time.perf_counter() - started
        reason, peak_rss_bytes = self._end(pid, frames, frame is None)
        if frame is None:
            status = TIMEOUT if reason == TIMEOUT else CRASHED
            return [
                protocol.record(
                    protocol.DIFFERENTIAL_RUN, status, wall_s, wall_s, peak_rss_bytes, reason
                )
            ]
        seconds, cpu_s, timed_s = (
            frame.get("seconds"),
            frame.get("cpu_seconds"),
            frame.get("timed_s"),
        )
        if not (
            isinstance(seconds, float)
            and isinstance(cpu_s, float)
            and isinstance(timed_s, float)
            and 0.0 <= seconds <= timed_s <= wall_s + CLOCK_SLACK_S
            and cpu_s >= 0.0
        ):
            detail = (
                frame.get(protocol.PROBLEM)
                if isinstance(frame.get(protocol.PROBLEM), str)
                else "timing report inconsistent"
            )
            return [
                protocol.record(
                    protocol.DIFFERENTIAL_RUN, ERROR, wall_s, wall_s, peak_rss_bytes, detail
                )
            ]
        return [
            protocol.record(protocol.DIFFERENTIAL_RUN, PASSED, seconds, cpu_s, peak_rss_bytes, "")
        ]

    def close(self):
        _sweep()


def _is_outcome(frame, index):
    """True if ``frame`` describes the call of input ``index`` as the helper does."""
    return (
        isinstance(frame, dict)
        and frame.get("index") == index
        and all(isinstance(frame.get(key), str) for key in protocol.OUTCOME_FIELDS if key != "args")
        and isinstance(frame.get("args"), list)
        and all(isinstance(text, str) for text in frame["args"])
    )


def _serve_calls(spec, task, inputs, frames):
    """A differential child's body: load :mod:`perfedit.sandbox.differential_child`, serve ``task``."""
    clocks = (time.perf_counter, time.process_time)  # before any of the project's code runs
    _redirect(os.devnull, _output(spec, "differential.out"), _output(spec, "differential.err"))
    helper = _load_beside("differential_child.py", "_perfedit_differential")
    helper.serve(spec, task, inputs, lambda message: send_frame(frames, message), clocks)
    return 0


def _serve(spec, commands, reports, acks):
    """The pytest server's body: collect once, then fork samples (see :func:`_server_plugin`)."""
    set_dumpable = _dumpable_setter()  # before the project's code runs
    import pytest

    _redirect(os.devnull, _output(spec, "out"), _output(spec, "err"))
    args = [
        "-q",
        "--capture=no",  # pytest's capture files would be open in every sample (see _shared_channels)
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--rootdir",
        ".",
        *spec["node_ids"],
    ]
    if spec["doctest"]:
        args.insert(0, "--doctest-modules")
    pytest.main(args, plugins=[_server_plugin(pytest, commands, reports, acks, set_dumpable)])
    return 0


def _server_plugin(pytest, commands, reports, acks, set_dumpable):
    """The server's pytest plugin: after collection it runs no test itself; for each request of
    the worker it forks a sample child from the collected session, which runs that one test once
    and exits, so every sample starts from the modules as collection left them. The sample times
    its call with a clock captured here, before collection imports any of the project's code,
    and marks the call's start and end to the worker, which measures it from outside."""
    clock = time.perf_counter

    class Server:
        def __init__(self):
            self.signal_mask = set()  # the signals blocked before the server blocked them all
            self.collect_errors = []
            self.command = None  # in a sample: the worker's request
            self.outcome = None  # in a sample: (outcome, detail)
            self.lines = None  # in a traced sample: seconds per line of the program

        def pytest_collectreport(self, report):
            if report.failed:
                self.collect_errors.append(cap_text(report.longreprtext))

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(self, session):
            collected = [item.nodeid for item in session.items]
            # No signal reaches the collected session from now on (a sample could otherwise
            # leave data in it, through a handler, for the next sample); each sample unblocks them.
            self.signal_mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
            send_frame(reports, {"collected": collected, "error": "\n".join(self.collect_errors)})
            if self.collect_errors or not collected:
                return True
            import gc

            gc.freeze()  # the collected session is shared by every sample: their collections skip it, copying no page of it
            while True:
                try:
                    command = receive_frame(commands)
                except BrokenChannel:
                    return True
                if (
                    "inspect" in command
                ):  # no other process is in the sandbox now: let the worker look
                    inspectable = set_dumpable is not None and set_dumpable(1)
                    send_frame(reports, {"inspectable": inspectable})
                    continue
                if set_dumpable is None or not set_dumpable(0):
                    return True  # never fork a sample that could ptrace this process
                _flush_stdio()
                pid = os.fork()
                if pid == 0:
                    self._sample(session.items[command["index"]], command)
                _, status, usage = os.wait4(pid, 0)
                send_frame(reports, {"done": status, "peak_rss_bytes": usage.ru_maxrss * 1024})

        def _mark(self, message):
            """Send a mark to the worker and wait until it has measured this process."""
            command = self.command
            send_frame(reports, {**message, "nonce": command["nonce"], "number": command["number"]})
            expected = command["number"].to_bytes(4, "little")
            while os.read(acks, 4) != expected:
                continue  # an acknowledgement meant for an earlier sample that died first

        def _sample(self, item, command):
            """In a sample child: run ``item`` once, report, exit; never returns."""
            status = 1
            try:
                _signal.pthread_sigmask(_signal.SIG_SETMASK, self.signal_mask)
                os.close(commands)
                self.command = command
                item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
                _wait_for_threads()
                outcome, detail = self.outcome or ("failed", "did not run")
                self._mark(
                    {"mark": "report", "outcome": outcome, "detail": detail, "lines": self.lines}
                )
                status = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                _flush_stdio()
                os._exit(status)

        @pytest.hookimpl(hookwrapper=True, trylast=True, specname="pytest_pyfunc_call")
        def pytest_pyfunc_call_timed(self, pyfuncitem):
            """A test function's call (or its coroutine's, by its plugin), marked closest to it."""
            yield from self._timed()

        @pytest.hookimpl(tryfirst=True)
        def pytest_pyfunc_call(self, pyfuncitem):
            """Call a plain test function directly (no other plugin's hook in the timed interval)."""
            function = pyfuncitem.obj
            if getattr(function, "__code__", None) and function.__code__.co_flags & 0x180:
                return None  # coroutine / async generator: leave it to its plugin
            function(
                **{name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
            )
            return True

        @pytest.hookimpl(hookwrapper=True, trylast=True)
        def pytest_runtest_call(self, item):
            """Any other test's call (a doctest), marked closest to it."""
            if isinstance(item, pytest.Function):
                yield
            else:
                yield from self._timed()

        def _timed(self):
            """The body of a hook wrapper that marks and times what it wraps (under the line
            tracer when the worker asked for a profile)."""
            trace = self.command["trace"]
            self._mark({"mark": "start", "pid": os.getpid()})
            started = clock()
            if trace:
                self.lines = {}
                sys.settrace(_line_tracer(*trace, self.lines))
            try:
                yield
            finally:
                if trace:
                    sys.settrace(None)
                elapsed = clock() - started
                self._mark({"mark": "stop", "seconds": elapsed})

        def pytest_runtest_logreport(self, report):
            if (report.when == "call" or report.outcome != "passed") and (
                self.outcome is None or self.outcome[0] == "passed"
            ):
                self.outcome = (report.outcome, cap_text(report.longreprtext))

    return Server()


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
    facts[protocol.NPROC] = str(spec["nproc"]) if not _is_real_root() else protocol.IGNORED_FOR_ROOT
    facts[protocol.OPEN_FILES] = str(OPEN_FILES)
    facts[protocol.RUN_QUEUE] = protocol.YES if _schedstat_counts() else protocol.NO
    send_frame(result_fd, {protocol.ISOLATION: facts})
    runner = {protocol.CASES: _Cases, protocol.PYTEST: _Pytest, protocol.DIFFERENTIAL: _Calls}[
        spec["mode"]
    ]
    runner = runner(spec, _Alarm(), (cmd_fd, result_fd))
    try:
        while True:
            try:
                command = receive_frame(cmd_fd, max_bytes=None)
            except ChannelClosed:
                return
            if command["op"] == protocol.RUN:
                answer = {protocol.TESTS: runner.run(command["calibrate"])}
            else:
                answer = runner.handle(command)
            send_frame(result_fd, answer)
    finally:
        runner.close()


if __name__ == "__main__":
    main()
