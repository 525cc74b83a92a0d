"""The sandbox's protocol: everything that crosses its pipes, in the one file both sides load.

Processes and channels (every message is a :func:`send_frame` frame, a marshal-able value):

* manager -> keeper (:mod:`~perfedit.sandbox.confine`): one byte, :data:`GO`, on CMD_FD once the
  keeper is in the worker's pids cgroup; the keeper forks nothing before it. The keeper execs
  the worker with CMD_FD and RESULT_FD and the isolation facts (which guards took effect, see
  the keeper's docstring) as ``key=value`` arguments (:func:`facts_to_args`). The worker adds
  its RLIMIT_NPROC and RLIMIT_NOFILE to them and reports them all in its hello.
* manager -> worker (:mod:`~perfedit.sandbox.worker`), CMD_FD: first the job spec
  (:func:`job_spec`), answered ``{ISOLATION: facts}`` on RESULT_FD; then requests, each answered
  on RESULT_FD, which no child of the worker ever holds open: ``{"op": RUN, "calibrate": bool}``
  (:func:`run_request`), answered ``{TESTS: [record, ...]}`` (:func:`record`); in cases and
  pytest mode also :func:`profile_request` (one test under a line tracer), in differential
  mode :func:`inputs_request`, :func:`generate_request` and :func:`outcomes_request`
  (answered as their docstrings say; ``{PROBLEM: why}`` where the worker is gone).
* worker <-> pytest server and its sample children (their marks and reports, each mark
  acknowledged by the worker on a pipe of its own once it has read the sample's CPU clock), and
  worker <- differential child (:mod:`~perfedit.sandbox.differential_child`): frames of at most
  :data:`MAX_FRAME_BYTES`, as those processes run the untrusted program.

Stdlib only, and only modules every interpreter has loaded at start-up (marshal, os): the worker
loads this file, and whatever it imports would be pre-imported for the programs it times. The
manager imports it as ``perfedit.sandbox.protocol``. The worker and the keeper run as scripts
under ``python -I``, where neither the package nor the script's own folder is on ``sys.path``.
The worker loads this file by path, with ``exec`` into a module named
``_perfedit_sandbox_protocol`` (which the differential child imports by that name): not through
``importlib.util``, which would pre-import more modules for the timed programs, and not by
putting its folder on ``sys.path``, where a program's own ``protocol`` module would then resolve
to this one. The keeper runs no program and execs the worker, so it simply puts its folder first
on ``sys.path`` and imports ``protocol``.
"""

import marshal
import os

GO = b"G"  # the manager's first byte to the keeper: it is in the worker's pids cgroup now
OWN_PROCESSES = 4  # processes of the sandbox's own beside a test's: the keeper, the worker, the pytest server and its run child
MAX_FRAME_BYTES = 64 * 1024**2  # the largest frame read from a process that runs the program
MAX_DETAIL_BYTES = (
    4 * 1024
)  # a record's ``detail`` (UTF-8): what a program's output may put in a verdict, log or prompt

# Job modes (``job_spec``'s ``mode``).
CASES, PYTEST, DIFFERENTIAL = "cases", "pytest", "differential"

_TEST_FIELDS = ("inputs", "names", "node_ids", "doctest", "collect_timeout_s")

#: The fields of the job spec beside ``mode``, by mode; times in seconds, sizes in bytes, paths absolute.
SPEC_FIELDS = {
    "common": (
        "program",
        "sys_path",
        "output_dir",
        "timeout_s",  # wall clock per test (differential: per call)
        "run_timeout_s",  # wall clock per run (pytest: after collection; differential: per request)
        "cpu_s",  # RLIMIT_CPU of a pytest server or a differential child
        "memory_limit_bytes",
        "max_output_bytes",
        "max_processes",
    ),
    CASES: _TEST_FIELDS,
    PYTEST: _TEST_FIELDS,
    DIFFERENTIAL: ("module", "function"),  # the function to call, importable from ``sys_path``
}

# Request ops: manager -> worker, and (TIME) worker -> differential child.
RUN, INPUTS, GENERATE, OUTCOMES, TIME = "run", "inputs", "generate", "outcomes", "time"
PROFILE = "profile"

# Answer keys: the hello's facts, a run's records, why a request failed; GENERATE's inputs, an
# OUTCOMES entry for an input whose call did not finish (``{STOPPED: TIMEOUT | why}``), and
# PROFILE's seconds per line.
ISOLATION, TESTS, PROBLEM, GENERATED, STOPPED, LINES = (
    "isolation",
    "tests",
    "problem",
    "generated",
    "stopped",
    "lines",
)

# The isolation facts, keys and values (all strings).
PIDS, NETWORK, USERNS, ORPHANS = "pids", "network", "userns", "orphans"
FILESYSTEM, CAPABILITIES, NPROC, OPEN_FILES = "filesystem", "capabilities", "nproc", "open_files"
READS, SCRATCH, SHM, IPC = "reads", "scratch", "shm", "ipc"  # IPC: NAMESPACE | KEPT | SHARED
RUN_QUEUE = (
    "run_queue"  # YES: the kernel gives run-queue times (schedstat), taken out of the wall clock
)
NAMESPACE, SHARED, AUDIT_HOOK = (
    "namespace",
    "shared",
    "audit-hook",
)  # PIDS: NAMESPACE | SHARED; NETWORK: NAMESPACE | AUDIT_HOOK
YES, NO = "1", "0"  # USERNS: the namespaces live in a user namespace of their own
INIT, SUBREAPER, NONE = "init", "subreaper", "none"  # ORPHANS: who adopts them
LANDLOCK = "landlock-"  # FILESYSTEM: LANDLOCK + its ABI version, or NONE; READS: LANDLOCK + ABI, MASKED or NONE
MASKED = "masked"  # READS: empty file systems mounted over the folders that may hold secrets
TMPFS, DISK = (
    "tmpfs-",
    "disk",
)  # SCRATCH: TMPFS + its size in bytes (HOME, TMPDIR, output, /dev/shm), or DISK
PRIVATE, SWEPT = "private", "swept"  # SHM: PRIVATE (on the scratch tmpfs), SHARED (the host's),
# or SWEPT (the host's, and what a test child creates there is removed when it ends)
MQUEUE = (
    "mqueue"  # the path of the IPC namespace's mqueue file system (queues removed there), or NONE
)
DROPPED, KEPT = "dropped", "kept"  # CAPABILITIES
IGNORED_FOR_ROOT = "ignored for root"  # NPROC, else RLIMIT_NPROC; OPEN_FILES: RLIMIT_NOFILE
DUMPABLE = (
    "dumpable"  # NO: the worker and its children are not dumpable (no ptrace, no /proc/PID/mem)
)

# A test's status in a record.
PASSED, FAILED, ERROR, TIMEOUT, CRASHED = "passed", "failed", "error", "timeout", "crashed"
PYTEST_RUN = "pytest"  # the name of the record of a pytest run that failed as a whole
DIFFERENTIAL_RUN = "differential inputs"  # the one "test" of a timing run in differential mode

#: A test record's fields, in order (the manager's ``TestRecord``).
RECORD_FIELDS = (
    "name",
    "status",
    "seconds",
    "cpu_seconds",
    "peak_rss_bytes",
    "stdout",
    "detail",
    "sample_cpu_seconds",
)

#: An entry of an OUTCOMES answer, as the differential child describes a call.
OUTCOME_FIELDS = ("outcome", "call", "result", "args")


# The runners of the profiled runs: :mod:`perfedit.testsource.profiling` gives the profile runner
# (:mod:`~perfedit.sandbox.profile_runner`) a :class:`ProfileJob`, and
# :mod:`perfedit.testsource.workload` the workload runner (:mod:`~perfedit.sandbox.workload_runner`)
# a :class:`WorkloadJob`, as JSON on its stdin. Both are cases-mode programs of the worker, which
# find this module loaded as ``_perfedit_sandbox_protocol``.
PROFILE_PASS, PLAIN_PASS, LINES_PASS = "profile", "plain", "lines"
RECORD_PASS, REPLAY_PASS = "record", "replay"  # the workload runner's second and third passes
SCRIPT, MODULE = (
    "script",
    "module",
)  # a workload's kind: ``python SCRIPT ARGS``, ``python -m MODULE ARGS``


class _RunnerJob:
    """What the runner jobs share: their fields are their ``__slots__``."""

    __slots__ = ()

    def to_json(self):
        """The job as a JSON-able dict (field name -> value); ``type(job)(**it)`` reads it back."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self, **changes):
        """A copy with ``changes`` (field name -> value) applied."""
        return type(self)(**{**self.to_json(), **changes})


class ProfileJob(_RunnerJob):
    """What the profile runner does; times in seconds, paths absolute (``root``: the sandbox's
    copy of the project; ``out``: the file it writes its result to; both set by the manager,
    :func:`perfedit.testsource.profiling.run_runner`, once the copy exists).

    ``mode``: PROFILE_PASS (cProfile, then line timing of the ``hot_functions`` hottest over at
    most ``hot_line_tests`` tests, within ``line_budget_share`` of the tests' time but at least
    ``line_budget_min_s``), PLAIN_PASS (the tests once, no profiler) or, inside the runner,
    LINES_PASS (the line pass: ``wanted``, [file, function, line] of the functions it times,
    within ``budget_s``). ``paths``: the tests to run (empty: pytest's discovery);
    ``test_timeout_s``: the wall-clock limit of one test.
    """

    __slots__ = (
        "mode",
        "paths",
        "test_timeout_s",
        "hot_functions",
        "hot_line_tests",
        "line_budget_share",
        "line_budget_min_s",
        "out",
        "root",
        "wanted",
        "budget_s",
    )

    def __init__(
        self,
        mode,
        paths,
        test_timeout_s,
        hot_functions,
        hot_line_tests,
        line_budget_share,
        line_budget_min_s,
        out="",
        root="",
        wanted=(),
        budget_s=0.0,
    ):
        if mode not in (PROFILE_PASS, PLAIN_PASS, LINES_PASS):
            raise ValueError(f"unknown profile runner mode {mode!r}")
        self.mode, self.paths, self.out, self.root = mode, list(paths), out, root
        self.test_timeout_s, self.budget_s = test_timeout_s, budget_s
        self.hot_functions, self.hot_line_tests = hot_functions, hot_line_tests
        self.line_budget_share, self.line_budget_min_s = line_budget_share, line_budget_min_s
        self.wanted = [list(key) for key in wanted]


class WorkloadJob(_RunnerJob):
    """What the workload runner does; times in seconds, sizes in bytes, paths absolute (``root``
    and ``out`` as in :class:`ProfileJob`, set by the manager).

    ``mode``: PROFILE_PASS (cProfile; then, for the ``hot_functions`` hottest, line timing within
    ``line_budget_share`` of the profiled time but at least ``line_budget_min_s``, and call
    recording within ``record_share`` times the profiled time; then the replay of the recorded
    calls) or PLAIN_PASS (the command once, no profiler). ``kind`` SCRIPT (``target`` a path
    relative to ``root``, POSIX) or MODULE (``target`` a module name), run with ``argv``.
    Recording keeps at most ``max_calls`` calls per function, each of at most
    ``max_call_bytes`` pickled; the replay gives each call ``replay_limit_s`` and keeps at most
    ``max_function_bytes`` of one function's calls. Set inside the runner for its later passes:
    ``wanted`` ([file, function, line] of the functions recorded), ``budget_s`` (the line
    timing's), ``record_budget_s`` (the recording pass's) and ``recorded`` (``{"file:line":
    {"file", "function", "line", "kept": [[args, result] as base64, ...], "skipped": {reason:
    count}}}``, the calls to replay).
    """

    __slots__ = (
        "mode",
        "kind",
        "target",
        "argv",
        "hot_functions",
        "line_budget_share",
        "line_budget_min_s",
        "record_share",
        "max_calls",
        "max_call_bytes",
        "max_function_bytes",
        "replay_limit_s",
        "out",
        "root",
        "wanted",
        "budget_s",
        "record_budget_s",
        "recorded",
    )

    def __init__(
        self,
        mode,
        kind,
        target,
        argv,
        hot_functions,
        line_budget_share,
        line_budget_min_s,
        record_share,
        max_calls,
        max_call_bytes,
        max_function_bytes,
        replay_limit_s,
        out="",
        root="",
        wanted=(),
        budget_s=0.0,
        record_budget_s=0.0,
        recorded=None,
    ):
        if mode not in (PROFILE_PASS, PLAIN_PASS):
            raise ValueError(f"unknown workload runner mode {mode!r}")
        if kind not in (SCRIPT, MODULE):
            raise ValueError(f"unknown workload kind {kind!r}")
        self.mode, self.kind, self.target, self.argv = mode, kind, target, list(argv)
        self.out, self.root = out, root
        self.hot_functions, self.record_share = hot_functions, record_share
        self.line_budget_share, self.line_budget_min_s = line_budget_share, line_budget_min_s
        self.max_calls, self.max_call_bytes = max_calls, max_call_bytes
        self.max_function_bytes, self.replay_limit_s = max_function_bytes, replay_limit_s
        self.wanted = [list(key) for key in wanted]
        self.budget_s, self.record_budget_s = budget_s, record_budget_s
        self.recorded = dict(recorded or {})


class BrokenChannel(Exception):
    """A pipe carried something that is not a frame."""


class ChannelClosed(BrokenChannel):
    """A pipe was closed by every process that could write to it."""


def send_frame(fd, message):
    """Write ``message`` to ``fd`` as one frame: its marshal size (4 bytes, little-endian), then it."""
    data = marshal.dumps(message)
    view = memoryview(len(data).to_bytes(4, "little") + data)
    while view:
        view = view[os.write(fd, view) :]


def receive_frame(fd, max_bytes=MAX_FRAME_BYTES):
    """Read one frame of at most ``max_bytes`` (None: any size) from ``fd``; raises
    ChannelClosed at end of file, BrokenChannel on malformed data."""
    size = int.from_bytes(_read_exactly(fd, 4), "little")
    if max_bytes is not None and size > max_bytes:
        raise BrokenChannel(f"a frame of {size} bytes")
    try:
        return marshal.loads(_read_exactly(fd, size))
    except (EOFError, ValueError, TypeError) as exc:
        raise BrokenChannel("a malformed frame") from exc


def _read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise ChannelClosed("end of file")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def facts_to_args(facts):
    """The keeper's ``key=value`` arguments to the worker for the isolation ``facts`` (a dict)."""
    return [f"{key}={value}" for key, value in facts.items()]


def facts_from_args(args):
    """The isolation facts (a dict) from the worker's ``key=value`` arguments."""
    return dict(argument.partition("=")[::2] for argument in args)


def job_spec(mode, **fields):
    """The job spec of ``mode`` (see :data:`SPEC_FIELDS`); raises ValueError unless ``fields``
    are exactly that mode's."""
    expected = {*SPEC_FIELDS["common"], *SPEC_FIELDS[mode]}
    if set(fields) != expected:
        raise ValueError(f"a {mode} job spec needs {sorted(expected)}, got {sorted(fields)}")
    return {"mode": mode, **fields}


def run_request(calibrate, only=None):
    """One run of every test, or of the tests named in ``only`` (a list of test names; None:
    all); ``calibrate`` loops test calls for stable timings."""
    return {"op": RUN, "calibrate": calibrate, "only": only}


def inputs_request(inputs):
    """Hold ``inputs`` (pickled calls, bytes) for the next requests; answered ``{INPUTS: count}``."""
    return {"op": INPUTS, "inputs": inputs}


def generate_request(recorded, examples, max_input_bytes, storage_dir, widen=False):
    """Generate up to ``examples`` inputs of at most ``max_input_bytes`` each with hypothesis
    (``storage_dir``: its folder), from the types of the ``recorded`` calls' values where the
    function has no type hints (``widen``: beyond those types, see the differential child's
    ``widened``); answered ``{GENERATED: [bytes, ...], PROBLEM: str}``."""
    return {
        "op": GENERATE,
        "recorded": recorded,
        "examples": examples,
        "max_input_bytes": max_input_bytes,
        "storage_dir": storage_dir,
        "widen": widen,
    }


def outcomes_request(limits_s, go_past):
    """Call the function on every held input, input i within ``limits_s[i]`` seconds; the
    first ``go_past`` calls that do not finish (time out or crash) do not stop the later ones,
    the next one ends the request (0: the first). Answered ``{OUTCOMES: [entry, ...]}``, one
    entry per input: a dict of :data:`OUTCOME_FIELDS`, ``{STOPPED: ...}``, or None (not reached
    in time, or after the request ended); or ``{PROBLEM: why}``."""
    return {"op": OUTCOMES, "limits_s": limits_s, "go_past": go_past}


def profile_request(test, first_line, last_line, timeout_s):
    """Run ``test`` (a case's name, or a pytest node id) once with the program's lines timed by a
    line tracer (:mod:`perfedit.sandbox.worker`'s ``_line_tracer``): only the program's code
    objects that start within ``first_line`` ... ``last_line`` (1-based, inclusive; the target's
    span) count. Answered ``{LINES: {line: seconds}}`` (lines of the program file, 1-based), or
    ``{PROBLEM: why}`` when the test did not pass within ``timeout_s`` seconds of wall clock
    (then it is killed: a hang costs ``timeout_s``, never the job)."""
    return {
        "op": PROFILE,
        "test": test,
        "first_line": first_line,
        "last_line": last_line,
        "timeout_s": timeout_s,
    }


def line_seconds(lines):
    """``lines`` if it is a profile's ``{line: seconds}`` (positive int lines, non-negative float
    seconds), else None: the traced process runs the program, which may have sent anything."""
    if not isinstance(lines, dict):
        return None
    valid = all(
        type(line) is int and line > 0 and type(seconds) is float and 0.0 <= seconds < float("inf")
        for line, seconds in lines.items()
    )
    return lines if valid else None


def record(
    name, status, seconds, cpu_seconds, peak_rss_bytes, detail, stdout="", sample_cpu_seconds=None
):
    """A test record (:data:`RECORD_FIELDS`): ``status`` one of PASSED ... CRASHED, ``seconds``
    the test's wall-clock time (less the time the machine's load kept it waiting for a CPU) and
    ``cpu_seconds`` its CPU time (user + system), both of the
    timed part only (a case's whole process, a pytest test's call) and measured by the worker,
    outside the test's processes; ``peak_rss_bytes``, ``detail`` (a failure message, capped by
    :func:`cap_text`), ``stdout`` (case tests only), ``sample_cpu_seconds`` the CPU time the
    worker measured for each sample of the test from outside it, setup and teardown included
    (seconds; None: ``cpu_seconds``)."""
    sample_cpu_seconds = cpu_seconds if sample_cpu_seconds is None else sample_cpu_seconds
    values = (
        name,
        status,
        seconds,
        cpu_seconds,
        peak_rss_bytes,
        stdout,
        cap_text(detail),
        sample_cpu_seconds,
    )
    return dict(zip(RECORD_FIELDS, values, strict=True))


def cap_text(text, max_bytes=MAX_DETAIL_BYTES):
    """``text`` if its UTF-8 form is at most ``max_bytes`` long; else its first and last
    ``max_bytes // 2`` bytes around a line "… (N bytes cut) …" (a traceback's head and its
    last line both stay)."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    half = max_bytes // 2
    return joined_cut(data[:half], data[len(data) - half :], len(data) - 2 * half)


def joined_cut(head, tail, cut_bytes):
    """The text of ``head`` and ``tail`` (bytes) with the line saying that ``cut_bytes`` were cut between them."""
    return f"{head.decode('utf-8', 'ignore')}\n… ({cut_bytes} bytes cut) …\n{tail.decode('utf-8', 'ignore')}"
