"""What the sandbox worker's three modes share (see :mod:`perfedit.sandbox.worker`): the forked,
resource-limited child, its outcome, the clocks (wall-clock less run-queue time, CPU time), the
restoring of the folders a test may write in between children, and the sweep of the processes a
test leaves.

Loaded by path as ``_perfedit_sandbox_worker_common`` (see :func:`_load_beside`), like every
module of the worker: under ``python -I`` this folder is not on ``sys.path``, and the worker
imports only built-in modules and ``resource``.
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
PR_SET_DUMPABLE = 4
DETAIL_BYTES = protocol.MAX_DETAIL_BYTES
cap_text = protocol.cap_text
SWEEP_ROUNDS = 100
OPEN_FILES = 256
IPCRM = "/usr/bin/ipcrm"  # util-linux
HOST_SHM = "/dev/shm"
SIGNAL_NAMES: dict[int, str] = {}
for _name in sorted(dir(_signal)):
    if _name.startswith("SIG") and not _name.startswith("SIG_"):
        SIGNAL_NAMES.setdefault(getattr(_signal, _name), _name)


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


CPUCLOCK_SCHED = (
    2  # a process CPU clock id: ((~pid) << 3) | CPUCLOCK_SCHED, user + system time in ns
)
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


class BadReport(Exception):
    """A test child's marks or report are not consistent with what the worker saw."""


def _cpu_s(pid):
    """CPU seconds (user + system, every thread, not its children) that process ``pid`` has
    used so far, from the kernel's per-process CPU clock; raises BadReport if it is gone.

    The clock is the kernel's: nothing in that process can change what it reads."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | CPUCLOCK_SCHED) / 1e9
    except OSError as exc:
        raise BadReport(f"process {pid} ended before it was measured") from exc


def _children_cpu_s(pid):
    """CPU seconds of the children that process ``pid`` has reaped (``/proc/PID/stat`` cutime
    + cstime, in clock ticks, so to 1/CLK_TCK s)."""
    fields = _stat_fields(pid)
    try:
        return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS_PER_S
    except (IndexError, ValueError):
        return 0.0


def _living_below(pid):
    """Every process below ``pid`` that is not a zombie (a set of pids)."""
    living, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            if _is_running(child):
                living.add(child)
            todo.append(child)
    return living


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


def _blocked(pid, limit_s=0.05):
    """``pid``, once its main thread no longer runs or waits to (it blocks on the worker's
    acknowledgement right after a mark), so that its run-queue time up to the mark is all
    counted (the kernel adds a wait when the task gets the CPU); at most ``limit_s`` seconds."""
    deadline = time.perf_counter() + limit_s
    while _stat_fields(pid)[:1] == ["R"] and time.perf_counter() < deadline:
        os.sched_yield()
    return pid


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
    semaphore sets and message queues an earlier child made are removed too, and so are its
    POSIX message queues where their file system is mounted (``spec["message_queues"]``). Where
    /dev/shm is the host's (``spec["host_shm"]``), what is in it now is noted, for
    :func:`_clear_host_shm` to remove what the child creates there."""
    if spec["private_ipc"]:
        _remove_ipc_objects()
    if spec["message_queues"]:
        _remove_message_queues(spec["message_queues"])
    if spec["host_shm"]:
        spec["host_shm_before"] = _host_shm_entries()
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


def _host_shm_entries():
    """The names in the host's /dev/shm (a frozenset; empty if it cannot be listed)."""
    try:
        return frozenset(os.listdir(HOST_SHM))
    except OSError:
        return frozenset()


def _clear_host_shm(spec):
    """Where /dev/shm is the host's (no mount namespace: ``spec["host_shm"]``), remove what was
    created there since :func:`_refresh` before the test child that just ended (and whatever
    it left running was swept): entries of this user not there then, files and folders alike,
    no link followed. The worker cannot tell them from what another program of the same user
    made there meanwhile, which goes too; entries that were there before are left as they are."""
    if not spec["host_shm"]:
        return
    before, uid = spec["host_shm_before"], os.getuid()
    for name in _host_shm_entries() - before:
        path = os.path.join(HOST_SHM, name)
        try:
            if os.lstat(path).st_uid == uid:
                _remove_tree(path)
        except OSError:
            continue


def _remove_message_queues(folder):
    """Remove every POSIX message queue of this IPC namespace: ``folder`` is its ``mqueue`` file
    system, where removing a queue's file is ``mq_unlink``. A queue a process still holds open
    lives on, nameless, until it is closed (no test child is left running by now)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            continue


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


def _output(spec, name):
    """Path of the captured output file ``name`` ("out.3", "err") in the workspace's output folder."""
    return os.path.join(spec["output_dir"], name)
