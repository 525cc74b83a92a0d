"""The profiled test run, inside the sandbox: stdlib and pytest only (never imports perfedit).

Started by :mod:`perfedit.testsource.profiling` as the program of a one-case sandbox run
(:class:`perfedit.sandbox.Worker`, cases mode) inside the throw-away copy of the project. It
reads its job, a :class:`perfedit.sandbox.protocol.ProfileJob` as JSON, on stdin (the protocol
module is loaded already in the worker, as ``_perfedit_sandbox_protocol``) and writes one JSON
object to ``out`` (a file in the sandbox's output folder)::

    {"tests": {node_id: {"outcome": str, "seconds": float, "detail": str}},
     "functions": [{"file": str, "function": str, "line": int, "calls": int,
                    "own_s": float, "cumulative_s": float, "tests": {node_id: [own_s, cum_s]}}],
     "lines": {"file:line": {str(line): seconds}}, "collect_error": str, "wall_s": float}

Files are relative to ``root`` (POSIX); times are seconds.

Two passes, each in a forked child so that both start from the same clean state:

1. **cProfile** (deterministic, C): one :class:`cProfile.Profile` per test, enabled around the
   whole test protocol (setup, call, teardown: fixtures count), so the functions a test reached
   through helpers, ``getattr``, the public API or parametrised function objects are all seen.
   Only functions defined in the project's files (not its tests) are kept.
2. **Line timing** of the ``hot_functions`` hottest functions (own time): ``sys.settrace``
   with a local tracer on those code objects only, over the two tests per function that spend
   the largest fraction of their time in it (``hot_line_tests`` in all), chosen and run within
   a budget: ``line_budget_share`` of the first pass's test time, at least
   ``line_budget_min_s`` seconds (a test is interrupted at the budget, the pass stops after it). A line's time runs from its line event to the next event of the same frame,
   so it includes the calls it makes (as line_profiler does).

Mode ``PLAIN_PASS`` runs the tests once without any profiler (the baseline of the overhead
figure, ``bench/profile_overhead.py``). A test that runs longer than ``test_timeout_s`` is
interrupted (SIGALRM) and reported as failed; a test that changes directory is put back;
a forked copy of the run (a test that forks and returns) never writes the result.
"""

import json
import os
import signal
import sys
import time

import _perfedit_sandbox_protocol as protocol

TEST_FILE_PREFIXES = ("test_",)
TEST_FILE_SUFFIXES = ("_test.py",)


class TestTimeout(Exception):
    """Raised inside a test that ran past its wall-clock limit."""


def _relative(filename, root, cwd):
    """``filename`` relative to ``root`` (POSIX), or None if outside it or a test/conftest file."""
    path = os.path.realpath(os.path.join(cwd, filename))  # root is a realpath too
    if not path.startswith(root + os.sep):
        return None
    relative = os.path.relpath(path, root).replace(os.sep, "/")
    name = relative.rsplit("/", 1)[-1]
    if (
        not name.endswith(".py")
        or name == "conftest.py"
        or name.startswith(TEST_FILE_PREFIXES)
        or name.endswith(TEST_FILE_SUFFIXES)
        or relative.startswith(".perfedit_profile/")
    ):
        return None
    return relative


class Plugin:
    """A pytest plugin: times each test and, in ``profile`` mode, profiles it with cProfile."""

    def __init__(self, pytest, job, owner):
        self.job, self.owner = job, owner
        self.root, self.cwd = job.root, os.getcwd()
        self.tests, self.functions, self.collect_errors = {}, {}, []
        self.code_keys = {}  # code object -> (file, qualname, line) or None
        self.tracer = None  # set by the line pass
        self.traced_s = 0.0  # seconds of tests run under the tracer
        import cProfile

        self.cProfile = cProfile

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(item, nextitem):
            profiler = self.cProfile.Profile() if job.mode == protocol.PROFILE_PASS else None
            with open(job.out + ".current", "w", encoding="utf-8") as handle:
                handle.write(item.nodeid)  # names the test if the whole run is killed
            previous = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, job.test_timeout_s)
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            if self.tracer is not None:
                sys.settrace(self.tracer)
            try:
                yield
            finally:
                if self.tracer is not None:
                    sys.settrace(None)
                    self.traced_s += time.perf_counter() - started
                    if self.traced_s > job.budget_s:
                        item.session.shouldstop = "the line-timing budget is spent"
                if profiler is not None:
                    profiler.disable()
                seconds = time.perf_counter() - started
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                if os.getcwd() != self.cwd:
                    os.chdir(self.cwd)  # a test that changed directory must not move the others
                entry = self.tests.setdefault(
                    item.nodeid, {"outcome": "passed", "seconds": 0.0, "detail": ""}
                )
                entry["seconds"] = seconds
                if profiler is not None:
                    self._collect(item.nodeid, profiler)

        def pytest_runtest_logreport(report):
            entry = self.tests.setdefault(
                report.nodeid, {"outcome": "passed", "seconds": 0.0, "detail": ""}
            )
            if report.outcome != "passed" and entry["outcome"] == "passed":
                entry["outcome"] = report.outcome
                entry["detail"] = report.longreprtext[-2000:]

        def pytest_collectreport(report):
            if report.failed:
                self.collect_errors.append(report.longreprtext[-2000:])

        self.pytest_runtest_protocol = pytest_runtest_protocol
        self.pytest_runtest_logreport = pytest_runtest_logreport
        self.pytest_collectreport = pytest_collectreport

    def _on_alarm(self, signum, frame):
        raise TestTimeout(
            f"the test ran longer than {self.job.test_timeout_s:g} s while being profiled"
        )

    def _key(self, code):
        if code not in self.code_keys:
            file = _relative(code.co_filename, self.root, self.cwd)
            self.code_keys[code] = (
                None if file is None else (file, code.co_qualname, code.co_firstlineno)
            )
        return self.code_keys[code]

    def _collect(self, node_id, profiler):
        for entry in profiler.getstats():
            code = entry.code
            if isinstance(code, str):
                continue  # a built-in function
            key = self._key(code)
            if key is None:
                continue
            record = self.functions.setdefault(
                key, {"calls": 0, "own_s": 0.0, "cumulative_s": 0.0, "tests": {}}
            )
            record["calls"] += entry.callcount
            record["own_s"] += entry.inlinetime
            record["cumulative_s"] += entry.totaltime
            own, cumulative = record["tests"].get(node_id, (0.0, 0.0))
            record["tests"][node_id] = (own + entry.inlinetime, cumulative + entry.totaltime)


def _line_tracer(targets, lines):
    """A ``sys.settrace`` function timing each line of the code objects in ``targets``;
    ``lines`` maps "file:line" -> {line: seconds} and is filled in place."""
    clock = time.perf_counter

    def call(frame, event, arg):
        key = targets.get(frame.f_code)
        if key is None:
            return None
        table = lines.setdefault(key, {})
        state = [None, clock()]  # the line running and when it started; None: the call itself

        def local(frame, event, arg):
            now = clock()
            if state[0] is not None:
                table[state[0]] = table.get(state[0], 0.0) + now - state[1]
            state[0], state[1] = frame.f_lineno, now
            return local

        return local

    return call


def _pytest_args(job, selection):
    return [
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "no:xdist",
        "-p",
        "no:cov",
        "--continue-on-collection-errors",
        "--rootdir",
        job.root,
        *selection,
    ]


def _pass(job, result_path, node_ids=None, targets=None):
    """In a forked child: run pytest with the plugin, write the plugin's findings; never returns."""
    status = 1
    try:
        import pytest

        owner = os.getpid()
        plugin = Plugin(pytest, job, owner)
        lines = {}
        if targets is not None:
            plugin.tracer = _line_tracer(targets, lines)
        started = time.perf_counter()
        code = pytest.main(
            _pytest_args(job, job.paths if node_ids is None else node_ids), plugins=[plugin]
        )
        wall_s = time.perf_counter() - started
        if os.getpid() != owner:
            os._exit(0)
        functions = [
            {"file": file, "function": function, "line": line, **record}
            for (file, function, line), record in plugin.functions.items()
        ]
        result = {
            "tests": plugin.tests,
            "functions": functions,
            "lines": lines,
            "wall_s": wall_s,
            "collect_error": "\n".join(plugin.collect_errors),
            "exit_code": int(code),
        }
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        status = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _run_pass(job, result_path, node_ids=None, targets=None):
    """Fork a pass, wait for it; its result (a dict), or None if it wrote none."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _pass(job, result_path, node_ids, targets)
    os.waitpid(pid, 0)
    try:
        with open(result_path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _hot_targets(job, first):
    """The ``hot_functions`` hottest functions of the first pass (by own time): key -> entry."""
    hottest = sorted(first["functions"], key=lambda f: f["own_s"], reverse=True)[
        : job.hot_functions
    ]
    return {(f["file"], f["function"], f["line"]): f for f in hottest if f["own_s"] > 0}


def _line_tests(functions, tests, limit, budget_s):
    """The tests of the line pass: for each function, the two tests that spend the largest
    fraction of their time in it (representative and cheap) among those that fit what is left
    of ``budget_s`` (their first-pass seconds), at most ``limit`` in all."""
    chosen, spent_s = [], 0.0
    for function in functions:

        def seconds(node_id):
            return tests.get(node_id, {}).get("seconds", 0.0)

        def focus(node_id, function=function):
            return function["tests"][node_id][1] / max(seconds(node_id), 1e-9)

        picked = 0
        for node_id in sorted(function["tests"], key=focus, reverse=True):
            if picked == 2 or len(chosen) == limit:
                break
            if node_id in chosen:
                picked += 1
            elif spent_s + seconds(node_id) <= budget_s:
                chosen.append(node_id)
                spent_s += seconds(node_id)
                picked += 1
    return chosen


def main():
    job = protocol.ProfileJob(**json.loads(sys.stdin.read()))
    job = job.replace(root=os.path.realpath(job.root))
    out = job.out
    first = _run_pass(job, out + ".pass1")
    if first is None:
        raise SystemExit("the profiled pytest run ended without a result (see its output above)")
    first["lines"] = {}
    if job.mode == protocol.PROFILE_PASS and job.hot_functions > 0:
        wanted = _hot_targets(job, first)
        tests_s = sum(entry["seconds"] for entry in first["tests"].values())
        budget_s = max(job.line_budget_min_s, job.line_budget_share * tests_s)
        chosen = _line_tests(wanted.values(), first["tests"], job.hot_line_tests, budget_s)
        if chosen:
            # the tracer slows the hot lines down many times over: each test and the pass are bounded
            lines_job = job.replace(
                mode=protocol.LINES_PASS,
                test_timeout_s=min(job.test_timeout_s, budget_s),
                budget_s=budget_s,
                wanted=list(wanted),
            )
            second = _run_pass(lines_job, out + ".pass2", chosen, _TargetsByCode(lines_job))
            if second is not None:
                first["lines"] = second["lines"]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(first, handle)


class _TargetsByCode(dict):
    """code object -> "file:line" for the wanted functions, filled lazily as code is first seen
    (the project's modules are imported only during collection, in the pass itself)."""

    def __init__(self, job):
        super().__init__()
        self.root, self.cwd = job.root, os.getcwd()
        self.wanted = {tuple(key) for key in job.wanted}
        self.seen = set()

    def get(self, code, default=None):
        if code in self.seen:
            return super().get(code, default)
        self.seen.add(code)
        file = _relative(code.co_filename, self.root, self.cwd)
        if file is not None and (file, code.co_qualname, code.co_firstlineno) in self.wanted:
            self[code] = f"{file}:{code.co_firstlineno}"
            return self[code]
        return default


if __name__ == "__main__":
    main()
