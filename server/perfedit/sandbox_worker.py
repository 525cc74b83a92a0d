"""The warm worker: runs tests of one program in forked, resource-limited children.

Started by :mod:`perfedit.sandbox` as ``python -I sandbox_worker.py CMD_FD RESULT_FD`` inside a
throw-away copy of the project. It imports only built-in modules (the program's own imports are
part of its cost, so none may be pre-loaded for it), except pytest in pytest mode. Protocol,
with :mod:`marshal` on both pipes:

* the manager sends the job spec, then one ``{"op": "run", "calibrate": bool}`` per run;
* for each run the worker forks one child per test (cases mode) or one pytest child (pytest
  mode), times it, and answers ``{"tests": [record, ...]}`` on RESULT_FD, which the children
  never hold open.

Timing excludes interpreter start-up: the interpreter is already running when a child is forked.
For a case the time is the child's own CPU time (user + system, from ``wait4``'s rusage, which
the program cannot forge); its wall time from fork to reap is reported beside it. For a pytest
test it is the mean wall time of one call of the test function, calibrated pyperf-style (loops
until a sample lasts ``MIN_SAMPLE_S``) after one warm-up call.
"""

import contextlib
import marshal
import os
import resource
import signal
import sys
import time

MIN_SAMPLE_S = 0.005
MAX_LOOPS = 10_000
DETAIL_BYTES = 4000


def _limit(spec):
    """Apply the spec's resource limits to the current (child) process."""
    memory = spec["memory_limit_bytes"]
    for kind, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_CPU, int(spec["timeout_s"]) + 1),
        (resource.RLIMIT_FSIZE, spec["max_output_bytes"]),
        (resource.RLIMIT_NOFILE, 256),
    ):
        resource.setrlimit(kind, (value, value))


def _redirect(stdin_path, out_path, err_path):
    for fd, path, flags in (
        (0, stdin_path, os.O_RDONLY),
        (1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        opened = os.open(path, flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)


def _read(path, limit=DETAIL_BYTES):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


class _Alarm:
    """Kills the child's process group when the wall-clock limit passes."""

    def __init__(self):
        self.pid = None
        self.fired = False
        signal.signal(signal.SIGALRM, self._fire)

    def _fire(self, signum, frame):
        self.fired = True
        if self.pid:
            _kill_group(self.pid)

    def arm(self, pid, seconds):
        self.pid, self.fired = pid, False
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def disarm(self):
        signal.setitimer(signal.ITIMER_REAL, 0)
        self.pid = None


def _kill_group(pid):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _fork_and_time(spec, alarm, child_body, closed_fds):
    """Fork, run ``child_body()`` in the child, reap it; returns (status, wall_s, rusage)."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            os.setpgid(0, 0)
            for fd in closed_fds:
                os.close(fd)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            _limit(spec)
            status = child_body()
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                print(exc.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    status = status or 1
            os._exit(status & 0xFF if isinstance(status, int) else 1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.setpgid(pid, pid)
    alarm.arm(pid, spec["timeout_s"])
    _, wait_status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    alarm.disarm()
    _kill_group(pid)  # anything the program left running
    return wait_status, elapsed, usage


def _outcome(wait_status, alarm, usage, spec):
    if alarm.fired:
        return "timeout", f"killed after the {spec['timeout_s']:g} s wall-clock limit"
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        if signum == signal.SIGXCPU:
            return "timeout", "killed after exceeding its CPU-time limit"
        if signum == signal.SIGXFSZ:
            return "error", f"wrote more than {spec['max_output_bytes']} bytes of output"
        return "crashed", f"killed by signal {signal.Signals(signum).name}"
    return ("passed" if os.WEXITSTATUS(wait_status) == 0 else "error"), ""


def _run_cases(spec, alarm, closed_fds):
    program = spec["program"]
    with open(program, encoding="utf-8") as handle:
        code = compile(handle.read(), program, "exec")
    records = []
    for index, stdin_path in enumerate(spec["inputs"]):
        out_path, err_path = f".perfedit-out.{index}", f".perfedit-err.{index}"

        def body(stdin_path=stdin_path, out_path=out_path, err_path=err_path):
            _redirect(stdin_path, out_path, err_path)
            sys.argv = [program]
            exec(code, {"__name__": "__main__", "__file__": program, "__builtins__": __builtins__})
            return 0

        wait_status, elapsed, usage = _fork_and_time(spec, alarm, body, closed_fds)
        status, detail = _outcome(wait_status, alarm, usage, spec)
        if status == "error" and not detail:
            detail = _read(err_path) or f"exit status {os.WEXITSTATUS(wait_status)}"
        records.append({
            "name": spec["names"][index],
            "status": status,
            "seconds": usage.ru_utime + usage.ru_stime,
            "wall_seconds": elapsed,
            "peak_rss_bytes": usage.ru_maxrss * 1024,
            "stdout": _read(out_path, spec["max_output_bytes"]),
            "detail": detail,
        })
    return records


def _pytest_plugin(calibrate, seconds, reports):
    import pytest

    class Timer:
        @pytest.hookimpl(tryfirst=True)
        def pytest_pyfunc_call(self, pyfuncitem):
            function = pyfuncitem.obj
            if getattr(function, "__code__", None) and function.__code__.co_flags & 0x180:
                return None  # coroutine / async generator: leave it to its plugin
            kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
            started = time.perf_counter()
            function(**kwargs)
            elapsed = time.perf_counter() - started
            if calibrate:
                loops = max(1, min(MAX_LOOPS, int(MIN_SAMPLE_S / max(elapsed, 1e-9)) + 1))
                started = time.perf_counter()
                for _ in range(loops):
                    function(**kwargs)
                elapsed = (time.perf_counter() - started) / loops
            seconds[pyfuncitem.nodeid] = elapsed
            return True

        def pytest_runtest_logreport(self, report):
            if report.when == "call" or report.outcome != "passed":
                previous = reports.get(report.nodeid)
                if previous is None or previous[0] == "passed":
                    reports[report.nodeid] = (report.outcome, report.longreprtext[:DETAIL_BYTES], report.duration)

    return Timer()


def _run_pytest(spec, alarm, calibrate, closed_fds):
    report_path = ".perfedit-pytest-report"

    def body():
        import pytest

        _redirect(os.devnull, ".perfedit-out", ".perfedit-err")
        seconds, reports = {}, {}
        args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", ".", *spec["node_ids"]]
        if spec["doctest"]:
            args.insert(0, "--doctest-modules")
        exit_code = pytest.main(args, plugins=[_pytest_plugin(calibrate, seconds, reports)])
        with open(report_path, "wb") as handle:
            marshal.dump({"seconds": seconds, "reports": reports, "exit_code": int(exit_code)}, handle)
        return 0

    wait_status, elapsed, usage = _fork_and_time(spec, alarm, body, closed_fds)
    status, detail = _outcome(wait_status, alarm, usage, spec)
    try:
        with open(report_path, "rb") as handle:
            report = marshal.load(handle)
        os.unlink(report_path)
    except (OSError, EOFError, ValueError, TypeError):
        report = None
    if status != "passed" or report is None:
        detail = detail or _read(".perfedit-err") or _read(".perfedit-out") or "pytest did not report"
        return [{"name": "pytest", "status": status if status != "passed" else "error", "seconds": elapsed,
                 "wall_seconds": elapsed, "peak_rss_bytes": usage.ru_maxrss * 1024, "stdout": "", "detail": detail}]
    if not report["reports"]:
        output = _read(".perfedit-out")
        return [{"name": "pytest", "status": "error", "seconds": elapsed, "wall_seconds": elapsed,
                 "peak_rss_bytes": usage.ru_maxrss * 1024, "stdout": "",
                 "detail": f"pytest collected no tests (exit code {report['exit_code']}): {output}"}]
    records = []
    for node_id, (outcome, longrepr, duration) in report["reports"].items():
        records.append({
            "name": node_id,
            "status": "passed" if outcome == "passed" else "failed",
            "seconds": report["seconds"].get(node_id, duration),
            "wall_seconds": elapsed,
            "peak_rss_bytes": usage.ru_maxrss * 1024,
            "stdout": "",
            "detail": longrepr,
        })
    return records


def main():
    cmd_fd, result_fd = int(sys.argv[1]), int(sys.argv[2])
    commands = os.fdopen(cmd_fd, "rb")
    results = os.fdopen(result_fd, "wb")
    spec = marshal.load(commands)
    sys.path[:0] = spec["sys_path"]
    if spec["mode"] == "pytest":
        import pytest  # noqa: F401  (warm: forked children reuse it)
    alarm = _Alarm()
    closed_fds = (cmd_fd, result_fd)
    while True:
        try:
            command = marshal.load(commands)
        except EOFError:
            return
        if command["op"] == "exit":
            return
        if spec["mode"] == "cases":
            records = _run_cases(spec, alarm, closed_fds)
        else:
            records = _run_pytest(spec, alarm, command["calibrate"], closed_fds)
        marshal.dump({"tests": records}, results)
        results.flush()


if __name__ == "__main__":
    main()
