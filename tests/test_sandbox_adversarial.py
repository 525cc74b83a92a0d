"""Adversarial candidates through the real harness: the sandbox holds.

Each candidate attacks the harness: it hangs, exhausts memory or processes, floods its output,
tampers with files, opens a socket, kills its parent, crashes, exits early, leaves processes or
threads running, fakes its timing or its report; or it attacks the measurement: slows
the clocks it can reach through the garbage collector, moves its work out of the timed call,
caches answers in HOME, in memory or in the names of message queues between runs, ptraces the
measuring worker; with no tests (differential mode) it sleeps, or makes its calls outside the
timed passes. Each must end rejected with a clear reason (the
timer monkeypatch: not declared faster); after each, the same Harness must still validate a
correct candidate, the canary files outside the workspace must be unchanged, a loopback
listener must have seen no connection, and no process may be left beyond the baseline worker's.
When the harness closes, no process it started may remain.
"""

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from helpers.programs import BUBBLE_SORT, FAST_SCRIPT
from helpers.settings import fast_settings
from perfedit.sandbox import isolation_report
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.validate import Harness, Verdict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MARKER = f"perfedit-adversary-{uuid.uuid4().hex}"  # in the command line of every process a candidate starts
SETTINGS = fast_settings(timeout_s=1.0, memory_limit_bytes=256 * 1024**2)
CANARY_TEXT = "a canary: nothing may change me\n"

FAST_FUNCTION = "def unique_in_order(items):\n    return list(dict.fromkeys(items))\n"
SLEEPER = 'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", MARKER], start_new_session=True)'


@dataclass
class Arena:
    """A Harness with its baseline taken, canaries outside its workspace and a listener."""

    harness: Harness
    canaries: list[Path]
    listener: socket.socket
    baseline_pids: set[int]
    correct: str
    target_replace: bool  # candidates are function sources to put in the target's place

    def fill(self, template: str) -> str:
        """The candidate's source: placeholders replaced, a function put into the whole file."""
        source = (
            template.replace("HOME_CANARY", repr(str(self.canaries[0])))
            .replace("PROJECT_CANARY", repr(str(self.canaries[1])))
            .replace("WORKSPACES", repr(tempfile.gettempdir()))
            .replace("PORT", str(self.listener.getsockname()[1]))
            .replace("SLEEPER", SLEEPER)
            .replace("MARKER", repr(MARKER))
            .replace("FAST_SCRIPT", FAST_SCRIPT)
        )
        return self.harness.target.replace(source) if self.target_replace else source

    def attack(self, template: str) -> Verdict:
        """Validate the candidate, then check that the sandbox held."""
        verdict = self.harness.validate("adversary", self.fill(template))
        for canary in self.canaries:
            assert canary.read_text() == CANARY_TEXT, f"{canary} changed"
        with pytest.raises(BlockingIOError):
            self.listener.accept()
        assert _lasting(_descendants() - self.baseline_pids) == set(), (
            "the candidate left processes behind"
        )
        assert _marked_processes() == []
        correct = self.harness.validate("correct", self.correct)
        assert correct.verdict != "rejected", f"the harness stopped working: {correct.reason}"
        return verdict


def _descendants() -> set[int]:
    return {process.pid for process in psutil.Process().children(recursive=True)}


def _lasting(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running after 10 s (a worker that is being shut down as the check
    runs exits within that, on a loaded machine too)."""
    processes = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(processes, timeout=10)
    return {process.pid for process in alive}


def _marked_processes() -> list[int]:
    """Every process on the machine started by a candidate (MARKER in its command line)."""
    marked = []
    for process in psutil.process_iter(["cmdline"]):
        if MARKER in " ".join(process.info["cmdline"] or ()):
            marked.append(process.pid)
    return marked


@pytest.fixture(scope="module")
def isolation() -> dict[str, str]:
    return isolation_report()


def _arena(
    tmp: Path, example: str, file: str, function: str | None, correct: str
) -> Iterator[Arena]:
    """Copy ``example``, plant canaries (in a temporary HOME and in the project), start a
    loopback listener and a Harness with its baseline; afterwards, check that nothing leaked."""
    project = Path(shutil.copytree(EXAMPLES / example, tmp / example))
    home = tmp / "home"
    home.mkdir()
    canaries = [home / "canary.txt", project / "canary.txt"]
    for canary in canaries:
        canary.write_text(CANARY_TEXT)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    path = project / file
    target = find(path, path.read_text(), function=function)
    before = _descendants()  # another module-scoped arena's processes
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        with Harness(target, discover(target), SETTINGS) as harness:
            harness.baseline(runs=3)
            yield Arena(harness, canaries, listener, _descendants(), correct, function is not None)
    listener.close()
    assert _descendants() <= before, "processes outlived the harness"
    assert _marked_processes() == []
    assert all(canary.read_text() == CANARY_TEXT for canary in canaries)


@pytest.fixture(scope="module")
def script_arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """Cases mode: examples/script, a stdin/stdout program with input.N/output.N cases."""
    yield from _arena(
        tmp_path_factory.mktemp("script"), "script", "seen_before.py", None, FAST_SCRIPT
    )


@pytest.fixture(scope="module")
def dedupe_arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """pytest mode: examples/dedupe, a function with pytest tests."""
    yield from _arena(
        tmp_path_factory.mktemp("dedupe"), "dedupe", "dedupe.py", "unique_in_order", FAST_FUNCTION
    )


# (name, candidate, the rejection reason must match this, needs Landlock)
SCRIPT_ATTACKS = [
    (
        "loops forever",
        "while True:\n    pass\n",
        r"timeout: killed after the 1 s wall-clock limit",
        False,
    ),
    (
        "allocates without bound",
        "blocks = []\nwhile True:\n    blocks.append(bytearray(10**7))\n",
        r"MemoryError",
        False,
    ),
    (
        "fork bomb (bounded at 300)",
        "import os, time\nfor _ in range(300):\n    if os.fork() == 0:\n        time.sleep(30)\n        os._exit(0)\n",
        r"Resource temporarily unavailable|process\(es\) running",
        False,
    ),
    (
        "prints gigabytes",
        'import sys\nchunk = "x" * 2**20 + "\\n"\nfor _ in range(4096):\n    sys.stdout.write(chunk)\n',
        r"wrote more than \d+ bytes",
        False,
    ),
    (
        "deletes a file of the project by absolute path",
        "import os\nos.remove(PROJECT_CANARY)\n",
        r"PermissionError",
        True,
    ),
    (
        "rewrites a file in HOME by absolute path",
        'with open(HOME_CANARY, "w") as f:\n    f.write("owned")\n',
        r"PermissionError",
        True,
    ),
    (
        "deletes every perfedit workspace",
        "import glob, os, shutil\n"
        'for folder in glob.glob(os.path.join(WORKSPACES, "perfedit-*")):\n    shutil.rmtree(folder)\n',
        r"PermissionError|wrong output",
        True,
    ),  # with Landlock read rules the glob finds nothing: /tmp cannot be listed
    (
        "connects to a loopback listener",
        'import socket\nsocket.create_connection(("127.0.0.1", PORT), timeout=1).sendall(b"x")\n',
        r"PermissionError|Network is unreachable",
        False,
    ),
    (
        "kills its parent, leaving a daemon",
        "import os, signal, subprocess, sys\nSLEEPER\nos.kill(os.getppid(), signal.SIGKILL)\n",
        r"wrong output|process\(es\) running|the sandbox worker was killed",
        False,
    ),
    (
        "segfaults through ctypes",
        "import ctypes\nctypes.string_at(0)\n",
        r"crashed: killed by signal SIGSEGV",
        False,
    ),
    ("calls os._exit(0)", "import os\nos._exit(0)\n", r"wrong output", False),
    ("calls sys.exit(3)", "import sys\nsys.exit(3)\n", r"exit status 3", False),
    (
        "leaves processes and a thread running (setsid, double fork)",
        "import os, subprocess, sys, threading, time\nSLEEPER\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(1000)\n    os._exit(0)\n"
        "os.wait()\nthreading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\nFAST_SCRIPT",
        r"left \d+ process\(es\) running",
        False,
    ),
    (
        "prints a fake passed report and writes to other descriptors",
        'import os\nprint("==== 4 passed in 0.01s ====")\nfor fd in range(3, 21):\n'
        '    try:\n        os.write(fd, b"{\\"tests\\": []}")\n    except OSError:\n        pass\n',
        r"wrong output",
        False,
    ),
]

DEDUPE_ATTACKS = [
    (
        "loops forever",
        "def unique_in_order(items):\n    while True:\n        pass\n",
        r"timeout",
        False,
    ),
    (
        "allocates without bound",
        "def unique_in_order(items):\n    blocks = []\n    while True:\n        blocks.append(bytearray(10**7))\n",
        r"MemoryError",
        False,
    ),
    (
        "calls os._exit(0) in the function",
        "def unique_in_order(items):\n    import os\n    os._exit(0)\n",
        r"exited with status 0 before reporting",
        False,
    ),
    (
        "calls sys.exit(0) in the function",
        "def unique_in_order(items):\n    import sys\n    sys.exit(0)\n",
        r"SystemExit",
        False,
    ),
    (
        "kills its parent",
        "def unique_in_order(items):\n    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "    return list(dict.fromkeys(items))\n",
        r"the pytest process exited unexpectedly|the sandbox worker was killed",
        False,
    ),
    (
        "segfaults through ctypes",
        "def unique_in_order(items):\n    import ctypes\n    ctypes.string_at(0)\n",
        r"crashed: killed by signal SIGSEGV",
        False,
    ),
    (
        "leaves a process running",
        "def unique_in_order(items):\n    import subprocess, sys\n    SLEEPER\n    return list(dict.fromkeys(items))\n",
        r"left \d+ process\(es\) running",
        False,
    ),
    (
        "leaves a thread running",
        "def unique_in_order(items):\n    import threading, time\n"
        "    threading.Thread(target=time.sleep, args=(1000,)).start()\n    return list(dict.fromkeys(items))\n",
        r"timeout",
        False,
    ),
    (
        "rewrites the tests at import",
        'with open("tests/test_dedupe.py", "w") as f:\n    f.write("def test_ok(): pass\\n")\n\n\n'
        + FAST_FUNCTION,
        r"PermissionError",
        True,
    ),
    (
        "keeps answers in shared memory made at import",
        "import mmap\n\n_SHARED = mmap.mmap(-1, 1 << 16)\n\n\n" + FAST_FUNCTION,
        r"keep shared writable memory",
        False,
    ),
    (
        "keeps a pipe made at import",
        "import os\n\n_READ, _WRITE = os.pipe()\n\n\n" + FAST_FUNCTION,
        r"keep descriptor \d+ \(pipe:",
        False,
    ),
    (
        "starts a thread at import",
        "import threading, time\n\nthreading.Thread(target=time.sleep, args=(1000,), daemon=True).start()\n\n\n"
        + FAST_FUNCTION,
        r"keep 1 thread",
        False,
    ),
    (
        "forges the report: old report file, descriptors 3..20, stdout",
        "def unique_in_order(items):\n    import marshal, os\n"
        '    fake = marshal.dumps({"tests": {}, "nonce": "", "reports": {}, "exit_code": 0})\n'
        '    try:\n        with open(".perfedit-pytest-report", "wb") as f:\n            f.write(fake)\n'
        "    except OSError:\n        pass\n"
        '    print("==== 2 passed in 0.01s ====")\n    for fd in range(3, 21):\n'
        '        try:\n            os.write(fd, len(fake).to_bytes(4, "little") + fake)\n'
        "        except OSError:\n            pass\n    return list(dict.fromkeys(items))\n",
        r"timing report inconsistent",
        False,
    ),
]


def _ids(attacks: list[tuple[str, str, str, bool]]) -> list[str]:
    return [name for name, *_ in attacks]


def _rejected(
    arena: Arena,
    isolation: dict[str, str],
    name: str,
    candidate: str,
    reason: str,
    needs_landlock: bool,
):
    """Run the attack (skipped where its guard is missing); it must be rejected for ``reason``."""
    if needs_landlock and not isolation["filesystem"].startswith("Landlock"):
        pytest.skip(f"no filesystem guard here: {isolation['filesystem']}")
    verdict = arena.attack(candidate)
    assert verdict.verdict == "rejected", f"{name}: {verdict.reason}"
    assert re.search(reason, verdict.reason), verdict.reason
    return verdict


@pytest.mark.parametrize(
    ("name", "candidate", "reason", "needs_landlock"), SCRIPT_ATTACKS, ids=_ids(SCRIPT_ATTACKS)
)
def test_script_attack_is_rejected(
    script_arena: Arena,
    isolation: dict[str, str],
    name: str,
    candidate: str,
    reason: str,
    needs_landlock: bool,
):
    verdict = _rejected(script_arena, isolation, name, candidate, reason, needs_landlock)
    assert verdict.reason.startswith("fails "), verdict.reason


# Where a candidate may write, as the expression of a folder: HOME, /dev/shm, and the output
# folder its stdout goes to (each has answers cached between runs in turn, if it outlives a run).
CACHE_FOLDERS = {
    "HOME": 'os.path.join(os.path.expanduser("~"), ".cache", "answers")',
    "/dev/shm": '"/dev/shm/answers"',
    "output folder": 'os.path.join(os.path.dirname(os.readlink("/proc/self/fd/1")), "answers")',
}


def _needs_private_shm(place: str, isolation: dict[str, str]) -> None:
    if place == "/dev/shm" and not isolation["shm"].startswith("private"):
        pytest.skip(f"/dev/shm is the host's here: {isolation['shm']}")


@pytest.mark.parametrize("place", CACHE_FOLDERS)
def test_answers_cached_in_a_writable_folder_are_not_faster(
    script_arena: Arena, isolation: dict[str, str], place: str
):
    """The original algorithm, whose answers are written to a writable folder on the first run
    and read back on the next: every case starts with the writable folders as the worker started,
    so every run computes them. (Here, among the script arena's tests: a module-scoped arena
    counts the processes that exist when it starts as its own.) Measured before the folders were
    restored between cases: /dev/shm 6.7-7.35x faster (docs/results.md)."""
    _needs_private_shm(place, isolation)
    verdict = script_arena.attack(SCRIPT_CACHE.replace("CACHE_FOLDER", CACHE_FOLDERS[place]))
    assert verdict.verdict == "not_faster", verdict.reason


def test_answers_kept_in_system_v_shared_memory_are_not_faster(
    script_arena: Arena, isolation: dict[str, str]
):
    """The original algorithm, whose answers are kept in a System V shared memory segment (made
    through ctypes, keyed by a hash of the input), which no file-system rule covers: the
    sandbox's own IPC namespace keeps it from the host, and the worker removes it between cases."""
    if not isolation["ipc"].startswith("own IPC namespace, emptied"):
        pytest.skip(f"System V objects are not removed between runs here: {isolation['ipc']}")
    verdict = script_arena.attack(SYSTEM_V_CACHE)
    assert verdict.verdict == "not_faster", verdict.reason


def _checksum_project(tmp_path: Path) -> Path:
    """A script project: CHECKSUM_SCRIPT (checksum.py) with two stdin/stdout cases."""
    project = tmp_path / "checksum"
    (project / "tests").mkdir(parents=True)
    (project / "checksum.py").write_text(CHECKSUM_SCRIPT)
    for index, n in enumerate((300_000, 200_000)):
        printed = subprocess.run(
            [sys.executable, str(project / "checksum.py")],
            input=f"{n}\n",
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        (project / "tests" / f"input.{index}.txt").write_text(f"{n}\n")
        (project / "tests" / f"output.{index}.txt").write_text(printed)
    return project / "checksum.py"


def test_answers_kept_in_posix_message_queue_names_are_not_faster(
    tmp_path: Path, isolation: dict[str, str]
):
    """The original algorithm, whose answers are kept in the names of POSIX message queues
    (made through ctypes: one queue per set bit of the answer, and one saying it is there):
    Landlock refuses to open a queue but not to make one, so their names carry data from one run
    to the next. The sandbox's own IPC namespace keeps them from the host, and the worker
    removes every queue before each case."""
    if not isolation["ipc"].startswith("own IPC namespace"):
        pytest.skip(f"POSIX message queues are the host's here: {isolation['ipc']}")
    path = _checksum_project(tmp_path)
    target = find(path, path.read_text())
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=3)
        verdict = harness.validate("queue names", QUEUE_NAMES_CACHE)
    assert verdict.verdict == "not_faster", verdict.reason


@pytest.mark.parametrize(
    ("name", "candidate", "reason", "needs_landlock"), DEDUPE_ATTACKS, ids=_ids(DEDUPE_ATTACKS)
)
def test_pytest_attack_is_rejected(
    dedupe_arena: Arena,
    isolation: dict[str, str],
    name: str,
    candidate: str,
    reason: str,
    needs_landlock: bool,
):
    _rejected(dedupe_arena, isolation, name, candidate, reason, needs_landlock)


@pytest.mark.parametrize("place", ["HOME", "/dev/shm"])
def test_answers_cached_between_samples_are_not_faster(
    dedupe_arena: Arena, isolation: dict[str, str], place: str
):
    """The original algorithm, caching its answers in a folder that importing the module makes
    (so that it is there after collection, in every sample): each sample starts with the
    writable folders as collection left them, files inside its folders included. Measured before
    they were restored: /dev/shm 5.22x faster (docs/results.md)."""
    _needs_private_shm(place, isolation)
    verdict = dedupe_arena.attack(FUNCTION_CACHE.replace("CACHE_FOLDER", CACHE_FOLDERS[place]))
    assert verdict.verdict == "not_faster", verdict.reason


def test_sleeping_candidate_is_not_faster(dedupe_arena: Arena):
    """A candidate that sleeps on the large test and then computes the answer in a fraction of
    a millisecond: far less CPU time than the original, far more wall-clock time. The verdict is
    the wall clock's (measured before, on CPU time: 33.9x faster, docs/results.md)."""
    verdict = dedupe_arena.attack(SLEEPING)
    assert verdict.verdict == "not_faster", verdict.reason
    c = verdict.comparison
    assert c is not None and c.speedup < 1.10 < c.cpu_speedup, verdict.reason
    assert "on the wall clock" in verdict.reason and "CPU time" in verdict.reason


@pytest.fixture
def sorting_harness(tmp_path: Path) -> Iterator[Harness]:
    """Differential mode: a hinted function with no tests (bubble sort), its baseline taken
    (per test: a module-scoped arena would count its workers as left behind)."""
    project = tmp_path / "sorting"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    path = project / "sorting.py"
    path.write_text(BUBBLE_SORT)
    target = find(path, path.read_text(), function="sort_numbers")
    with Harness(target, discover(target), SETTINGS) as harness:
        assert harness.suite.kind == "differential"
        harness.baseline(runs=3)
        yield harness


def test_sleeping_candidate_is_not_faster_in_differential_mode(sorting_harness: Harness):
    """With no tests, the candidate is timed on passes over the differential inputs, read by the
    worker at marks the child sends: a version that sleeps on its longer inputs and sorts with
    ``sorted`` uses far less CPU time and more wall-clock time, and the wall clock decides."""
    verdict = sorting_harness.validate("sleeper", sorting_harness.target.replace(SLEEPING_SORT))
    assert verdict.verdict == "not_faster", verdict.reason
    c = verdict.comparison
    assert c is not None and c.speedup < 1.10 < c.cpu_speedup, verdict.reason


def test_calls_moved_out_of_the_timed_passes_are_rejected(sorting_harness: Harness):
    """The original algorithm, whose module replaces the differential child's pass at import:
    its calls run before the start mark. The pass looks empty, the child's CPU time outside it
    grows by what it saved, and the cross-check between them rejects it."""
    verdict = sorting_harness.validate("moved calls", PASSES_EMPTIED + BUBBLE_SORT)
    assert verdict.verdict == "rejected", verdict.reason
    assert re.search(r"timing cross-check", verdict.reason), verdict.reason


def test_zeroed_timer_is_not_faster(dedupe_arena: Arena):
    """The original algorithm with every clock of the time module replaced by zero, before the
    tests import it: the worker's clock was captured earlier, so the times stay real."""
    original = (EXAMPLES / "dedupe" / "dedupe.py").read_text()
    zeroed = (
        "import time\n\ntime.perf_counter = lambda: 0.0\ntime.perf_counter_ns = lambda: 0\n"
        "time.monotonic = lambda: 0.0\ntime.time = lambda: 0.0\n\n\n" + original
    )
    verdict = dedupe_arena.harness.validate("zeroed timer", zeroed)
    assert verdict.verdict == "not_faster", verdict.reason
    assert min(verdict.per_test_s.values()) > 0


def test_isolation_report_names_every_guard(isolation: dict[str, str]):
    assert set(isolation) >= {
        "network",
        "filesystem",
        "reads",
        "scratch",
        "shm",
        "processes",
        "orphans",
        "cpu",
        "memory",
        "file_size",
        "open_files",
        "wall_clock",
        "environment",
        "writable",
        "ipc",
        "between_runs",
        "measured",
    }
    assert all(isinstance(line, str) and line for line in isolation.values())
    assert isolation["network"].startswith(("network namespace", "audit hook"))


def test_audit_hook_fallback_refuses_network():
    """Without a network namespace the worker installs an audit hook; in a separate interpreter
    (an audit hook cannot be removed), it refuses IP sockets and name lookups, not Unix sockets."""
    code = (
        "import socket, sys\n"
        "from perfedit.sandbox.worker import _refuse_network\n"
        "sys.addaudithook(_refuse_network)\n"
        "socket.socketpair()\n"
        "for attempt in (lambda: socket.socket(), lambda: socket.getaddrinfo('localhost', 80)):\n"
        "    try:\n        attempt()\n    except PermissionError:\n        continue\n"
        "    sys.exit('not refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# Attacks on the measurement itself: each candidate's algorithm is the original's, so
# any "faster" verdict is a faked or inflated timing.

CLOCK_VIA_GC = """\
import gc
import time

_real = time.perf_counter


def _slow_clock():
    return _real() / 10.0  # every interval measured with it looks 10x shorter


for _object in gc.get_objects():  # the pytest plugin's closures, captured before this import
    for _cell in getattr(_object, "__closure__", None) or ():
        try:
            if _cell.cell_contents is _real:
                _cell.cell_contents = _slow_clock
        except ValueError:
            pass
time.perf_counter = _slow_clock


"""

MARKS_VIA_GC = '''\
import gc


def _unmark_calls():
    """Find the sandbox's pytest plugin through the garbage collector and make it mark the start
    and the end of each timed call before the call, which then runs outside the marks."""
    for _object in gc.get_objects():
        plugin = type(_object)
        if plugin.__name__ == "Server" and hasattr(plugin, "_timed"):
            marked = plugin._timed

            def _timed(self):
                marks = marked(self)
                next(marks)  # the start mark
                next(marks, None)  # the stop mark
                yield  # the call

            plugin._timed = _timed
            return


_unmark_calls()


'''

SETUP_PRECOMPUTE = '''\
import _pytest.python

_answers = {}  # id(items) -> (items, answer): kept alive, so an id is never reused
_setup = _pytest.python.Function.setup


def _setup_and_precompute(self):
    """pytest's setup, then the test itself once: its calls are answered from _answers later."""
    _setup(self)
    try:
        self.obj(**{name: self.funcargs[name] for name in self._fixtureinfo.argnames})
    except Exception:
        pass


_pytest.python.Function.setup = _setup_and_precompute


def unique_in_order(items):
    entry = _answers.get(id(items))
    if entry is not None and entry[0] is items:
        return list(entry[1])
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    _answers[id(items)] = (items, result)
    return list(result)
'''

SCRIPT_CACHE = """\
import os
import sys

data = sys.stdin.read()
folder = CACHE_FOLDER
path = os.path.join(folder, str(hash(data) & 0xFFFFFFFF))  # PYTHONHASHSEED=0 in the sandbox
if os.path.exists(path):
    with open(path) as cached:
        sys.stdout.write(cached.read())
else:
    tokens = data.split()
    seen, out = [], []
    for x in tokens[1:]:
        if x in seen:
            out.append("YES")
        else:
            out.append("NO")
            seen.append(x)
    answer = "\\n".join(out) + "\\n"
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as cache:
        cache.write(answer)
    sys.stdout.write(answer)
"""

PTRACE_PROBE = """\
def unique_in_order(items):
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
    found = []
    for pid in sorted({os.getppid(), 1}):
        for request, name in ((0x4206, "seize"), (16, "attach")):  # PTRACE_SEIZE, PTRACE_ATTACH
            if libc.ptrace(request, pid, None, None) == 0:
                found.append(f"{name} {pid}: allowed")
                libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
            else:
                found.append(f"{name} {pid}: refused ({os.strerror(ctypes.get_errno())})")
        try:
            with open(f"/proc/{pid}/mem", "rb"):
                found.append(f"mem {pid}: allowed")
        except OSError as exc:
            found.append(f"mem {pid}: refused ({exc.strerror})")
    raise RuntimeError("ptrace probe: " + "; ".join(found))
"""


def test_clock_patched_through_the_garbage_collector_is_rejected(dedupe_arena: Arena):
    """The original algorithm, whose module slows down every clock it can reach at import: the
    time module's and, through gc.get_objects(), the closure cells of the plugin that holds
    time.perf_counter. The figure is the kernel's, so it is not faster; and the plugin's clock
    now disagrees with the kernel's CPU clock, which rejects it."""
    original = (EXAMPLES / "dedupe" / "dedupe.py").read_text().split("\n\n\n", 1)[1]  # the function
    verdict = dedupe_arena.attack(CLOCK_VIA_GC + original)
    assert verdict.verdict == "rejected", verdict.reason
    assert re.search(r"timing cross-check", verdict.reason), verdict.reason


def test_work_moved_into_pytest_setup_is_rejected(dedupe_arena: Arena):
    """The original algorithm, with pytest's setup patched to run each test once more before its
    timed call, whose calls are then answered from a cache: the timed call is fast, the sample's
    CPU time is not, and the cross-check between them rejects it."""
    verdict = dedupe_arena.attack(SETUP_PRECOMPUTE)
    assert verdict.verdict == "rejected", verdict.reason
    assert re.search(r"timing cross-check", verdict.reason), verdict.reason


def test_marks_moved_through_the_garbage_collector_are_rejected(dedupe_arena: Arena):
    """The original algorithm, whose module finds the sample's marking code through the garbage
    collector and sends both marks before the call: the kernel's figure between the marks is
    nothing, the sample's CPU time is not, and the cross-check between them rejects it."""
    original = (EXAMPLES / "dedupe" / "dedupe.py").read_text().split("\n\n\n", 1)[1]
    verdict = dedupe_arena.attack(MARKS_VIA_GC + original)
    assert verdict.verdict == "rejected", verdict.reason
    assert re.search(r"timing cross-check", verdict.reason), verdict.reason


def test_ptrace_of_the_measuring_process_is_refused(dedupe_arena: Arena):
    """PTRACE_SEIZE, PTRACE_ATTACH and /proc/PID/mem on the test's parent and on PID 1 (the
    measuring worker): every one is refused."""
    verdict = dedupe_arena.attack(PTRACE_PROBE)
    assert verdict.verdict == "rejected"
    found = re.search(
        r"RuntimeError: ptrace probe: (.*)", verdict.detail
    )  # the raised message, not the source line
    assert found, verdict.detail
    assert found.group(1).count("refused") == 6 and "allowed" not in found.group(1), found.group(1)


SLOW_MODULE = '''\
def checksum(n):
    """A slow function of n, called once per test with an argument no other call repeats."""
    total = 0
    for i in range(n):
        total = (total * 31 + i * i) % 1_000_003
    return total
'''

SLOW_TESTS = """\
from slow import checksum


def test_checksum():
    assert checksum(300_000) == EXPECTED
"""


def test_memoised_candidate_is_timed_from_a_fresh_state(tmp_path: Path):
    """Adding @functools.cache to a function that each test calls once, with an argument that no
    other call repeats, saves nothing on a fresh call: each timed sample starts from the module
    as collection left it, so the cache is empty every time, and so does each timed pass over
    the function's recorded calls (which decide), one pass per fresh child: the speedup is that
    of identical code (before, the cache lived across the timed calls and it was judged 5504x
    faster). Like
    any A/A comparison it may pass the 1.10x threshold by chance (at most alpha), so the bound
    asserted is on the speedup."""
    project = tmp_path / "memo"
    (project / "tests").mkdir(parents=True)
    (project / "slow.py").write_text(SLOW_MODULE)
    namespace: dict[str, object] = {}
    exec(SLOW_MODULE, namespace)
    expected = namespace["checksum"](300_000)  # type: ignore[operator]
    (project / "tests" / "test_slow.py").write_text(SLOW_TESTS.replace("EXPECTED", str(expected)))
    path = project / "slow.py"
    target = find(path, path.read_text(), function="checksum")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=3)
        verdict = harness.validate(
            "memoised", "import functools\n\n\n@functools.cache\n" + SLOW_MODULE
        )
    assert verdict.comparison is not None, verdict.reason
    assert verdict.comparison.speedup < 2.0, verdict.reason


FUNCTION_CACHE = """\
import hashlib
import os

FOLDER = CACHE_FOLDER
os.makedirs(FOLDER, exist_ok=True)


def unique_in_order(items):
    path = os.path.join(FOLDER, hashlib.sha256(repr(items).encode()).hexdigest())
    if os.path.exists(path):
        with open(path) as cached:
            return eval(cached.read())
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    with open(path, "w") as cache:
        cache.write(repr(result))
    return result
"""

SLEEPING = """\
def unique_in_order(items):
    import time

    if len(items) > 1000:
        time.sleep(0.1)  # 4 times the original's CPU time
    return list(dict.fromkeys(items))
"""

SYSTEM_V_CACHE = """\
import ctypes
import sys
import zlib

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
data = sys.stdin.buffer.read()
key = zlib.crc32(data) & 0x7FFFFFFF or 1
segment = libc.shmget(key, 1 << 20, 0)
if segment >= 0:
    address = libc.shmat(segment, None, 0)
    size = int.from_bytes(ctypes.string_at(address, 8), "little")
    sys.stdout.write(ctypes.string_at(address + 8, size).decode())
    sys.exit(0)
tokens = data.split()
out = ["YES" if x in tokens[1:i] else "NO" for i, x in enumerate(tokens[1:], 1)]  # as slow
answer = ("\\n".join(out) + "\\n").encode()
segment = libc.shmget(key, 1 << 20, 0o1000 | 0o600)  # IPC_CREAT
if segment >= 0:
    address = libc.shmat(segment, None, 0)
    ctypes.memmove(address, len(answer).to_bytes(8, "little") + answer, len(answer) + 8)
sys.stdout.write(answer.decode())
"""

CHECKSUM_SCRIPT = """\
n = int(input())
total = 0
for i in range(n):
    total = (total * 31 + i * i) % 1_000_003
print(total)
"""

QUEUE_NAMES_CACHE = """\
import ctypes
import errno
import os
import zlib

rt = ctypes.CDLL("librt.so.1", use_errno=True)
data = input()
key = zlib.crc32(data.encode())


def present(name):
    queue = rt.mq_open(name, os.O_RDONLY)
    if queue >= 0:
        rt.mq_close(queue)
        return True
    return ctypes.get_errno() != errno.ENOENT  # Landlock refuses to open it: it is there


def make(name):
    attributes = (ctypes.c_long * 8)(0, 1, 1, 0)  # at most one message of one byte
    queue = rt.mq_open(name, os.O_CREAT | os.O_RDONLY, 0o600, attributes)
    if queue >= 0:
        rt.mq_close(queue)


if present(b"/done-%d" % key):
    print(sum(1 << bit for bit in range(20) if present(b"/bit-%d-%d" % (key, bit))))
else:
    n = int(data)
    total = 0
    for i in range(n):
        total = (total * 31 + i * i) % 1_000_003
    for bit in range(20):
        if total >> bit & 1:
            make(b"/bit-%d-%d" % (key, bit))
    make(b"/done-%d" % key)
    print(total)
"""

SLEEPING_SORT = """\
def sort_numbers(items: list[int]) -> list[int]:
    \"\"\"The items in ascending order, as a new list.\"\"\"
    if len(items) > 30:
        import time

        time.sleep(0.002)
    return sorted(items)
"""

PASSES_EMPTIED = """\
import pickle
import sys


def _call_all(function, calls):
    for args, kwargs in calls:
        try:
            function(*args, **kwargs)
        except Exception:
            pass


def _calls_before_the_marks(function, inputs, mark):
    \"\"\"The differential child's pass, with its calls made before the start mark.\"\"\"
    mark("ready")
    _call_all(function, [pickle.loads(data) for data in inputs])
    mark("start")
    mark("stop")
    mark("end")


if "_perfedit_differential" in sys.modules:  # the timing child, which loaded it before this
    sys.modules["_perfedit_differential"].time_calls = _calls_before_the_marks


"""
