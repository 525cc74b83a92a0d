"""One profiled run of the project's tests: which test reaches which function, and where the time goes.

:func:`profile_tests` runs the project's pytest tests (or those under ``tests``) once, in the
sandbox (:mod:`perfedit.sandbox`: a throw-away copy of the project, a confined worker process,
resource limits and a wall-clock limit), with :mod:`perfedit.sandbox.profile_runner` as the program.
That runner records, per test (pytest node id), every function of the project that ran (its
file, qualified name and first line) with its own and cumulative time, and then times the lines
of the few hottest functions. The result is a :class:`Profile`, cached in perfedit's user cache
(``$PERFEDIT_CACHE_DIR`` or the platform's, ``profiles/<key>.json``) under a key hashed from
the contents of the project's files, the tests selected, the runner and the Python version: a
changed file gives a new key, so a profile is never reused for code it did not see. Nothing is
written into the project.

Tools, and why: **cProfile** (the standard library's deterministic profiler, in C) enabled
around each test's whole protocol, so fixtures count and every function that ran is seen, not
only those a sampler happened to catch: test selection must not depend on luck. Its cost is a
fixed amount per Python call; ``bench/profile_overhead.py`` measures it against plain pytest in
the same sandbox (docs/results.md): the tests' own time grows 1.1-1.2x on examples/dedupe (one
function doing the work in a loop) and 3.1x on more-itertools' suite (765 tests of
generator-heavy code, a call per item), the most a project is likely to see. Line timing, the
expensive part, is a second pass with ``sys.settrace`` on the hottest functions' code objects
only, over the tests that reach them (a line_profiler-style measure with no compiled
dependency; ``sys.monitoring`` would be cheaper but needs Python 3.12).

Limits: a test's time includes its setup and teardown; processes a test starts are not
profiled (only the test process is); module-scoped fixtures count towards the first test that
uses them; a test that runs past ``test_timeout_s`` is interrupted and counted as failed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit.config import NOT_SOURCE_DIRS
from perfedit.errors import Cancelled, NoTestsFound, PerfeditError, ProfilingFailed
from perfedit.progress import CancelFn, never_cancelled

if TYPE_CHECKING:
    from perfedit.targets import Target

FORMAT = 1  # bump when the cached JSON changes shape
RUNNER = Path(__file__).parent.parent / "sandbox" / "profile_runner.py"
#: Where the runners' jobs (ProfileJob, WorkloadJob) are defined.
PROTOCOL = RUNNER.with_name("protocol.py")
RUNNER_PATH = (
    Path(".perfedit_profile") / "runner.py"
)  # inside the sandbox's copy; pytest skips dot folders
TEST_TIMEOUT_S = 60.0
TIMEOUT_S = 900.0
HOT_FUNCTIONS = 8
HOT_LINE_TESTS = 16  # two per hot function: those most focused on it
LINE_BUDGET_SHARE = 0.25  # the line pass's tests may take this share of the first pass's test time,
LINE_BUDGET_MIN_S = 2.0  # or at least this many seconds
HOT_LINES_KEPT = 5
_HASHED_MAX_BYTES = 1024**2  # larger files are keyed by size and mtime, not content


@dataclass(frozen=True)
class HotLine:
    """One line of a function and the seconds spent on it (including the calls it makes)."""

    line: int
    s: float


@dataclass(frozen=True)
class FunctionProfile:
    """One function of the project over the whole run.

    ``file`` is relative to the project root (POSIX), ``function`` its qualified name, ``line``
    its first line (1-based); ``own_s`` excludes and ``cumulative_s`` includes the functions it
    calls (seconds, summed over tests); ``tests`` are the node ids of the tests that ran it.
    """

    file: str
    function: str
    line: int
    own_s: float
    cumulative_s: float
    calls: int
    tests: tuple[str, ...]
    hot_lines: tuple[HotLine, ...] = ()


@dataclass(frozen=True)
class TestRun:
    """One test of the profiled run: ``outcome`` passed | failed | skipped; ``seconds`` profiled
    wall time of its setup, call and teardown; ``detail`` the failure text."""

    node_id: str
    outcome: str
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class Profile:
    """The profiled run of the tests of ``root`` (``tests``: the path given, relative to root, or
    None for pytest's own discovery). ``wall_s`` is the whole sandboxed run, both passes,
    start-up included; ``cached`` says whether it came from the cache."""

    root: Path
    tests: str | None
    runs: tuple[TestRun, ...]
    functions: tuple[FunctionProfile, ...]
    wall_s: float
    key: str
    collect_errors: str = ""  # test files pytest could not collect (the others ran)
    workload: str | None = None  # the workload command profiled instead of the tests
    cached: bool = field(default=False, compare=False)

    @property
    def total_s(self) -> float:
        """Seconds of all the tests together (profiled; the denominator of :meth:`share`)."""
        return sum(run.seconds for run in self.runs)

    def share(self, function: FunctionProfile, *, cumulative: bool = False) -> float:
        """``function``'s own (or cumulative) time as a fraction of :attr:`total_s`, 0-1."""
        seconds = function.cumulative_s if cumulative else function.own_s
        return min(1.0, seconds / self.total_s) if self.total_s > 0 else 0.0

    def ranked(self, top: int | None = None) -> list[FunctionProfile]:
        """The functions by own time, hottest first (``top`` of them, or all)."""
        ordered = sorted(self.functions, key=lambda f: (-f.own_s, -f.cumulative_s, f.file, f.line))
        return ordered if top is None else ordered[:top]

    def reaching(self, file: str, function: str, lines: range | None = None) -> tuple[str, ...]:
        """Node ids of the tests that executed ``function`` of ``file`` (relative to root, POSIX),
        skipped tests excluded, in run order. ``function`` is a qualified name; given ``lines``
        (1-based) it may also be the last part of one whose first line is in ``lines``."""
        skipped = {run.node_id for run in self.runs if run.outcome == "skipped"}
        order = {run.node_id: index for index, run in enumerate(self.runs)}
        found = {
            test
            for f in self.functions
            if f.file == file
            and (
                f.function == function
                or (
                    lines is not None
                    and f.line in lines
                    and f.function.rsplit(".", 1)[-1] == function.rsplit(".", 1)[-1]
                )
            )
            for test in f.tests
        }
        return tuple(sorted(found - skipped, key=lambda test: order.get(test, len(order))))

    def to_json(self) -> dict:
        """A JSON-ready dict (the cache format)."""
        data = asdict(self)
        data.update(root=str(self.root), format=FORMAT)
        data.pop("cached")
        return data

    @classmethod
    def from_json(cls, data: dict, *, cached: bool = False) -> Profile:
        """The inverse of :meth:`to_json`; raises KeyError/TypeError on another format."""
        if data.get("format") != FORMAT:
            raise KeyError("format")
        functions = tuple(
            FunctionProfile(
                **{
                    **f,
                    "tests": tuple(f["tests"]),
                    "hot_lines": tuple(HotLine(**h) for h in f["hot_lines"]),
                }
            )
            for f in data["functions"]
        )
        return cls(
            Path(data["root"]),
            data["tests"],
            tuple(TestRun(**r) for r in data["runs"]),
            functions,
            data["wall_s"],
            data["key"],
            data["collect_errors"],
            data.get("workload"),
            cached,
        )


def content_key(root: Path, tests: str | None, runner: Path = RUNNER) -> str:
    """A SHA-256 hex key of everything the profile depends on: the relative path and contents of
    every file under ``root`` (files over 1 MiB: size and mtime), ``tests`` (or what else the
    run was asked to run), the ``runner``'s source and the sandbox protocol's (where the
    runners' jobs are defined), the Python version and :data:`FORMAT`."""
    digest = hashlib.sha256(f"{FORMAT}\0{sys.version}\0{tests}\0".encode())
    digest.update(runner.read_bytes())
    digest.update(PROTOCOL.read_bytes())
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f not in NOT_SOURCE_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory, name)
            try:
                stat = path.stat()
                data = (
                    path.read_bytes()
                    if stat.st_size <= _HASHED_MAX_BYTES
                    else f"{stat.st_size}:{stat.st_mtime_ns}".encode()
                )
            except OSError:
                continue
            digest.update(
                path.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(data).digest()
            )
    return digest.hexdigest()


def cache_path(key: str) -> Path:
    """Where the profile with ``key`` is cached."""
    from perfedit.llm.modelstore import cache_root

    return cache_root() / "profiles" / f"{key}.json"


def cached_profile(root: Path, tests: Path | None = None) -> Profile | None:
    """The cached profile of the tests of ``root`` for its current contents, or None (never runs tests)."""
    root = root.resolve()
    relative = _relative_tests(root, tests)
    return _load(cache_path(content_key(root, relative)), root)


def _load(path: Path, root: Path) -> Profile | None:
    """The profile cached at ``path`` (made for a project with the same contents, maybe elsewhere:
    its root becomes ``root``), or None."""
    try:
        profile = Profile.from_json(json.loads(path.read_text(encoding="utf-8")), cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dataclasses.replace(profile, root=root)


def _relative_tests(root: Path, tests: Path | None) -> str | None:
    if tests is None:
        return None
    tests = tests.resolve()
    if not tests.is_relative_to(root):
        raise NoTestsFound(f"{tests} is not inside the project {root}; pass tests inside it.")
    return tests.relative_to(root).as_posix() or "."


def profile_tests(
    root: Path,
    tests: Path | None = None,
    *,
    test_timeout_s: float = TEST_TIMEOUT_S,
    timeout_s: float = TIMEOUT_S,
    use_cache: bool = True,
    cancel: CancelFn = never_cancelled,
) -> Profile:
    """The profile of one sandboxed run of the pytest tests of project ``root`` (those under
    ``tests`` if given, a file or folder inside ``root``), from the cache when the project's
    contents are unchanged.

    ``test_timeout_s`` limits each test (it is then interrupted and counted as failed);
    ``timeout_s`` the whole run, both passes (seconds). ``cancel`` is polled during the run (every
    :data:`~perfedit.sandbox.manager.STOP_POLL_S` seconds); once true, the run is killed and
    Cancelled raised (nothing is cached).
    Raises NoTestsFound if pytest collects no test; ProfilingFailed if the tests cannot be
    collected, the run passes ``timeout_s`` or dies; SandboxError if the sandbox cannot start.
    """
    root = root.resolve()
    relative = _relative_tests(root, tests)
    key = content_key(root, relative)
    path = cache_path(key)
    if use_cache and (profile := _load(path, root)) is not None:
        return profile
    raw, wall_s = run_sandboxed(
        root,
        relative,
        mode="profile",
        test_timeout_s=test_timeout_s,
        timeout_s=timeout_s,
        cancel=cancel,
    )
    profile = _profile_from_raw(root, relative, raw, wall_s, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(profile.to_json()), encoding="utf-8")
    temporary.replace(path)
    return profile


def run_sandboxed(
    root: Path,
    tests: str | None,
    *,
    mode: str,
    test_timeout_s: float = TEST_TIMEOUT_S,
    timeout_s: float = TIMEOUT_S,
    cancel: CancelFn = never_cancelled,
) -> tuple[dict, float]:
    """Run the runner (``mode`` "profile" or "plain") on a sandboxed copy of ``root``; its raw
    JSON (see :mod:`perfedit.sandbox.profile_runner`) and the run's wall time in seconds. Raises as
    :func:`profile_tests` does."""
    where = f"{root / tests}" if tests else str(root)
    from perfedit.sandbox import protocol

    job = protocol.ProfileJob(
        mode,
        [tests] if tests else [],
        test_timeout_s,
        HOT_FUNCTIONS,
        HOT_LINE_TESTS,
        LINE_BUDGET_SHARE,
        LINE_BUDGET_MIN_S,
    )
    raw, wall_s = run_checked(
        root,
        RUNNER,
        job.to_json(),
        RunnerMessages(
            ProfilingFailed,
            cancelled=f"profiling the tests in {where} was cancelled.",
            timed_out=f"profiling the tests in {where} took longer than",
            step=("; the test running then: ", ""),
            advice="make the tests quicker or select fewer with --tests.",
            failed=f"the profiled run of the tests in {where} failed",
        ),
        timeout_s=timeout_s,
        cancel=cancel,
    )
    if raw.get("collect_error") and not raw.get("tests"):
        raise ProfilingFailed(
            f"pytest could not collect the tests in {where}:\n{raw['collect_error'][-2000:]}"
        )
    if not raw.get("tests"):
        raise NoTestsFound(f"pytest found no tests in {where}; write tests, or pass --tests PATH.")
    return raw, wall_s


@dataclass(frozen=True)
class RunnerRun:
    """One sandboxed run of a runner program: its record's ``status`` and ``detail`` (stderr's
    tail), its JSON result (None when it wrote none), the step it was in when it ended
    (``current``: what it wrote to ``out.current``), its wall time in seconds, and whether
    ``cancel`` stopped it."""

    status: str
    detail: str
    raw: dict | None
    current: str
    wall_s: float
    cancelled: bool


def run_runner(
    root: Path, runner: Path, job: dict, *, timeout_s: float, cancel: CancelFn = never_cancelled
) -> RunnerRun:
    """Run the program ``runner`` (stdlib only; :mod:`perfedit.sandbox.profile_runner` or
    :mod:`perfedit.sandbox.workload_runner`) as a one-case sandbox run on a copy of ``root``,
    with ``job`` (a JSON-ready dict, completed with ``out`` and ``root``) on its stdin, within
    ``timeout_s`` seconds of wall clock. Raises SandboxError if the sandbox cannot start."""
    from perfedit.formats.suites import Case, TestSuite
    from perfedit.sandbox import Limits, WorkerHandle, Workspace

    workspace = Workspace(
        TestSuite("pytest", root), RUNNER_PATH, runner.read_text(encoding="utf-8")
    )
    try:
        out = workspace.exchange / "profile.json"  # on disk, so this process can read it
        job = {**job, "out": str(out), "root": str(workspace.root)}
        (workspace.root / ".perfedit-in.0").write_text(json.dumps(job), encoding="utf-8")
        suite = TestSuite("cases", workspace.root, cases=(Case("profiled run", "", ""),))
        limits = Limits(timeout_s=timeout_s, max_output_bytes=256 * 1024**2)
        started = time.perf_counter()
        with (
            WorkerHandle(workspace, suite, limits, exchange=True) as worker,
            worker.stopped_when(cancel) as cancelled,
        ):
            record = worker.run()[0]
        wall_s = time.perf_counter() - started
        try:
            raw = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
        return RunnerRun(
            record.status,
            record.detail,
            raw,
            _read(Path(f"{out}.current")),
            wall_s,
            cancelled.is_set(),
        )
    finally:
        workspace.close()


@dataclass(frozen=True)
class RunnerMessages:
    """How :func:`run_checked` reports a run that did not finish: ``error`` the exception raised
    for a run that passed its time limit or wrote no result, and the messages: ``cancelled``
    (whole, raised as Cancelled), ``timed_out`` (what ran too long, followed by "LIMIT s"),
    ``step`` (what goes before and after the name of the step the run was in, when it named
    one), ``advice`` (what to do about a run too long) and ``failed`` (what failed, followed by
    the run's status and the tail of its output)."""

    error: type[PerfeditError]
    cancelled: str
    timed_out: str
    step: tuple[str, str]
    advice: str
    failed: str


def run_checked(
    root: Path,
    runner: Path,
    job: dict,
    messages: RunnerMessages,
    *,
    timeout_s: float,
    cancel: CancelFn = never_cancelled,
) -> tuple[dict, float]:
    """:func:`run_runner`'s run, and its JSON result and wall time (seconds) when it wrote one.
    Raises Cancelled once ``cancel`` stopped it, ``messages.error`` when it passed ``timeout_s``
    or ended without a result (:class:`RunnerMessages` says with which words), SandboxError if
    the sandbox cannot start."""
    run = run_runner(root, runner, job, timeout_s=timeout_s, cancel=cancel)
    if run.cancelled:
        raise Cancelled(messages.cancelled)
    if run.status == "timeout":
        before, after = messages.step
        raise messages.error(
            f"{messages.timed_out} {timeout_s:g} s"
            + (f"{before}{run.current}{after}" if run.current else "")
            + f"; {messages.advice}"
        )
    if run.raw is None:
        raise messages.error(f"{messages.failed} ({run.status}):\n{run.detail[-2000:]}".rstrip())
    return run.raw, run.wall_s


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _profile_from_raw(root: Path, tests: str | None, raw: dict, wall_s: float, key: str) -> Profile:
    runs = tuple(
        TestRun(node_id, entry["outcome"], float(entry["seconds"]), entry.get("detail", ""))
        for node_id, entry in raw["tests"].items()
    )
    functions = []
    for f in raw["functions"]:
        lines = raw.get("lines", {}).get(f"{f['file']}:{f['line']}", {})
        hot = sorted(((int(line), s) for line, s in lines.items()), key=lambda item: -item[1])[
            :HOT_LINES_KEPT
        ]
        # cProfile counts a recursive (or re-entered generator) call's own time at every level but
        # its cumulative time at the outermost only, so cumulative can come out below own: not less.
        cumulative_s = max(float(f["cumulative_s"]), float(f["own_s"]))
        functions.append(
            FunctionProfile(
                f["file"],
                f["function"],
                int(f["line"]),
                float(f["own_s"]),
                cumulative_s,
                int(f["calls"]),
                tuple(f["tests"]),
                tuple(HotLine(line, round(s, 6)) for line, s in hot),
            )
        )
    return Profile(root, tests, runs, tuple(functions), wall_s, key, raw.get("collect_error", ""))


#: A function is "hot" (a code lens in the editor) when it is among the HOT_TOP hottest by own
#: time and takes at least HOT_MIN_SHARE of the tests' time.
HOT_TOP = 5
HOT_MIN_SHARE = 0.05


def target_name(qualname: str) -> str | None:
    """The name :func:`perfedit.targets.find` knows a profiled code object by (``outer.inner`` for
    ``outer.<locals>.inner``); code that is no function of its own (a comprehension, a generator
    expression, a lambda) goes by the function it is written in; None for module-level code."""
    parts = [part for part in qualname.split(".") if part != "<locals>"]
    named = next((index for index, part in enumerate(parts) if part.startswith("<")), len(parts))
    return ".".join(parts[:named]) or None


def by_target(profile: Profile) -> list[FunctionProfile]:
    """The profile's functions by :func:`target_name`, hottest first (by own time): the code
    written inside a function but not a function of its own is added to it (own seconds summed,
    its tests joined; cumulative seconds, calls, line and hot lines those of the function itself,
    else of its largest part). Module-level code is left out."""
    groups: dict[tuple[str, str], list[FunctionProfile]] = {}
    for f in profile.functions:
        if (name := target_name(f.function)) is not None:
            groups.setdefault((f.file, name), []).append(f)
    merged = []
    for (file, name), parts in groups.items():
        main = next(
            (
                f
                for f in parts
                if target_name(f.function) == name and "<" not in f.function.rsplit(".", 1)[-1]
            ),
            max(parts, key=lambda f: f.cumulative_s),
        )
        own_s = sum(f.own_s for f in parts)
        tests = tuple(dict.fromkeys(test for f in parts for test in f.tests))
        merged.append(
            FunctionProfile(
                file,
                name,
                main.line,
                own_s,
                max(main.cumulative_s, own_s),
                main.calls,
                tests,
                main.hot_lines,
            )
        )
    return sorted(merged, key=lambda f: (-f.own_s, -f.cumulative_s, f.file, f.line))


def hot_functions(
    profile: Profile,
    file: str | None = None,
    *,
    top: int = HOT_TOP,
    min_share: float = HOT_MIN_SHARE,
) -> list[FunctionProfile]:
    """The hot functions of the profile (:func:`by_target`; of ``file`` only, relative to its
    root, POSIX, if given): among the ``top`` hottest by own time, with at least ``min_share`` of
    the tests' time (0-1)."""
    hot = [f for f in by_target(profile)[:top] if profile.share(f) >= min_share]
    return [f for f in hot if file is None or f.file == file]


@dataclass(frozen=True)
class HotSpot:
    """A hot function found in a version of its file: ``name`` as :func:`perfedit.targets.find`
    knows it, its 0-based lines ``first`` (a decorator's if decorated) to ``last`` (inclusive)."""

    function: FunctionProfile
    name: str
    first: int
    last: int


def hot_spots(profile: Profile, path: Path, source: str) -> list[HotSpot]:
    """The hot functions (:func:`hot_functions`) of the file ``path`` (under ``profile.root``)
    where they are in ``source``, its current text (found by name, so edits above them do not
    misplace them; a function no longer there is left out). Empty if ``source`` does not parse."""
    from perfedit import targets
    from perfedit.errors import SourceSyntaxError

    try:
        file = path.resolve().relative_to(profile.root).as_posix()
        spans = targets.function_spans(source, path)
    except (ValueError, SourceSyntaxError):
        return []
    found = []
    for f in hot_functions(profile, file):
        if f.function in spans:
            first, last = spans[f.function]
            found.append(HotSpot(f, f.function, first - 1, last - 1))
    return found


def target_hot_lines(profile: Profile, target: Target) -> list[tuple[int, float]]:
    """The hot lines of ``target`` (a function) in ``profile``, as ``(line in target.code,
    1-based; seconds)``, hottest first; empty when the function did not run in it or is not
    under the profile's root. Test discovery keeps them with the tests it chose
    (``TestSuite.hot_lines``) for the prompt and the explanation (SOAP / PerfCodeGen-style
    execution feedback)."""
    file = target.path.resolve()
    if target.kind != "function" or not file.is_relative_to(profile.root):
        return []
    relative = file.relative_to(profile.root).as_posix()
    first, last = target.start_line + 1, target.end_line
    lines = [
        (hot.line - target.start_line, hot.s)
        for function in profile.functions
        if function.file == relative and first <= function.line <= last
        for hot in function.hot_lines
        if first <= hot.line <= last
    ]
    return sorted(lines, key=lambda item: -item[1])
