"""The sandbox worker's pytest mode (see :mod:`perfedit.sandbox.worker`): one server child that
collects once, and a fresh sample child forked from it per timed call, measured from outside
between the marks it sends; a line profile of one test on request.

Loaded by path as ``_perfedit_sandbox_worker_pytest`` by the worker's ``main``; pytest itself is
imported only in the server child.
"""

import _signal  # not ``signal``: that would pre-import enum, functools and collections
import os
import sys
import time

import _perfedit_sandbox_protocol as protocol
from _perfedit_sandbox_worker_common import (
    CRASHED,
    ERROR,
    FAILED,
    MIN_SAMPLE_S,
    PASSED,
    TIMEOUT,
    BadReport,
    BrokenChannel,
    ChannelClosed,
    _child,
    _children,
    _children_cpu_s,
    _clear_host_shm,
    _cpu_s,
    _dumpable_setter,
    _flush_stdio,
    _is_running,
    _kill_child,
    _left_running,
    _line_tracer,
    _living_below,
    _outcome,
    _output,
    _queued_s,
    _read_detail,
    _redirect,
    _refresh,
    _snapshot,
    _sweep,
    _unknown,
    _unloaded_clock,
    _unloaded_s,
    _wait_for_threads,
    cap_text,
    receive_frame,
    send_frame,
)

MAX_SAMPLES = 3  # fresh samples of a pytest test per calibrated run, until they last MIN_SAMPLE_S
CROSS_CHECK_RATIO = (
    2.0  # a call's kernel CPU time may exceed its in-process time by this factor ...
)
CROSS_CHECK_SLACK_S = 0.001  # ... plus this, before the run is rejected


class SharedChannel(Exception):
    """The collected pytest session holds something every sample would share."""


def _shared_channels(pid, own_fds):
    """What process ``pid`` (the pytest server, whose collected session every sample is forked
    from) holds that could carry data from one sample to the next, as text ("" if nothing):
    threads beside its main one, descriptors other than ``own_fds`` of pipes, sockets (abstract
    Unix ones included), anonymous inodes (eventfd, memfd, ...), deleted files or files no path
    leads to (a POSIX message queue), and writable shared memory. Read between samples, while
    the server waits for the next request."""
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
        elif not _path_leads_to(target, f"/proc/{pid}/fd/{fd}"):
            held.append(f"descriptor {fd} ({target}, a file no path leads to)")
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


def _path_leads_to(path, descriptor):
    """True if ``path`` names the file open at ``descriptor`` (a ``/proc/PID/fd/N`` link): not
    so for a POSIX message queue, whose path is in a file system mounted nowhere."""
    try:
        opened, named = os.stat(descriptor), os.stat(path)
    except (OSError, ValueError):
        return False
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


def _inspectable(pid):
    """True if this worker may read process ``pid``'s /proc files that ptrace rules guard (it is
    dumpable: no capability is left to read those of one that is not)."""
    try:
        os.close(os.open(f"/proc/{pid}/maps", os.O_RDONLY))
    except OSError:
        return False
    return True


def _last_words(spec, reason):
    """``reason`` after the tail of the pytest processes' stderr (the headline is the last line)."""
    return f"{_read_detail(_output(spec, 'err'))}\n{reason}".strip()


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

    def run(self, calibrate, only=None):
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
                if only is not None and node_id not in only:
                    continue
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
        self._check_session()
        server_cpu_s = _cpu_s(self.server)
        send_frame(
            self.commands, {"index": index, "nonce": nonce, "number": number, "trace": trace}
        )
        pid, marks, report, frame, total_s = self._read_marks(nonce, number)
        peak_rss_bytes = frame.get("peak_rss_bytes")
        peak_rss_bytes = peak_rss_bytes if isinstance(peak_rss_bytes, int) else 0
        left_running, left_cpu_s = _sweep(spare=self.server)
        _clear_host_shm(self.spec)
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
        call_s, call_cpu_s = _call_seconds(marks)
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

    def _check_session(self):
        """Before a sample: the collected session must let itself be inspected and hold no
        channel every sample would share (:func:`_shared_channels`); raises SharedChannel."""
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

    def _read_marks(self, nonce, number):
        """A sample's marks, each measured here and acknowledged, until the server's ``done``
        frame: (sample pid, {mark: (CPU seconds, frame, unloaded clock, seconds this worker
        waited on waking)}, the report frame or None, the done frame, the CPU seconds of the
        sample and its reaped children at its report). Raises BadReport for a frame out of
        place."""
        pid, marks, report, total_s = 0, {}, None, 0.0
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
        return pid, marks, report, frame, total_s

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
        _clear_host_shm(self.spec)
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
        _clear_host_shm(spec)  # what collection made there goes, as System V objects do
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
        _clear_host_shm(self.spec)


def _call_seconds(marks):
    """A sample's call (seconds, CPU seconds) from its marks (see :meth:`_Pytest._read_marks`):
    (0.0, 0.0) without a stop mark. Raises BadReport if the kernel's CPU time exceeds the
    sample's own clock more than CROSS_CHECK_RATIO times (plus CROSS_CHECK_SLACK_S)."""
    if "stop" not in marks:
        return 0.0, 0.0
    own_s = marks["stop"][1].get("seconds")
    if not isinstance(own_s, float) or own_s < 0.0:
        raise BadReport("impossible figures")
    kernel_s = marks["stop"][0] - marks["start"][0]
    if kernel_s > CROSS_CHECK_RATIO * own_s + CROSS_CHECK_SLACK_S:
        raise BadReport(
            f"timing cross-check failed: the test's clock measured {own_s * 1e3:.3f} ms for a call "
            f"that used {kernel_s * 1e3:.3f} ms of CPU time (was its clock replaced?)"
        )
    return _unloaded_s(marks["start"][2], marks["stop"][2], marks["stop"][3]), kernel_s


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
            return _serve_samples(self, session.items, commands, reports, set_dumpable)

        def _mark(self, message):
            """Send a mark to the worker and wait until it has measured this process."""
            command = self.command
            send_frame(reports, {**message, "nonce": command["nonce"], "number": command["number"]})
            expected = command["number"].to_bytes(4, "little")
            while os.read(acks, 4) != expected:
                continue  # an acknowledgement meant for an earlier sample that died first

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
            """Mark and time what a hook wrapper wraps (:func:`_timed_call`)."""
            yield from _timed_call(self, clock)

        def pytest_runtest_logreport(self, report):
            if (report.when == "call" or report.outcome != "passed") and (
                self.outcome is None or self.outcome[0] == "passed"
            ):
                self.outcome = (report.outcome, cap_text(report.longreprtext))

    return Server()


def _serve_samples(server, items, commands, reports, set_dumpable):
    """The collected session's loop (``server``: the plugin of :func:`_server_plugin`): answer
    the worker's requests until its pipe closes, forking one sample child of ``items`` per
    request and reporting how it ended; True (pytest's "the loop ran")."""
    while True:
        try:
            command = receive_frame(commands)
        except BrokenChannel:
            return True
        if "inspect" in command:  # no other process is in the sandbox now: let the worker look
            inspectable = set_dumpable is not None and set_dumpable(1)
            send_frame(reports, {"inspectable": inspectable})
            continue
        if set_dumpable is None or not set_dumpable(0):
            return True  # never fork a sample that could ptrace this process
        _flush_stdio()
        pid = os.fork()
        if pid == 0:
            _sample_child(server, items[command["index"]], command, commands)
        _, status, usage = os.wait4(pid, 0)
        send_frame(reports, {"done": status, "peak_rss_bytes": usage.ru_maxrss * 1024})


def _sample_child(server, item, command, commands):
    """In a sample child: run ``item`` once, report, exit; never returns."""
    status = 1
    try:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, server.signal_mask)
        os.close(commands)
        server.command = command
        item.ihook.pytest_runtest_protocol(item=item, nextitem=None)
        _wait_for_threads()
        outcome, detail = server.outcome or ("failed", "did not run")
        server._mark(
            {"mark": "report", "outcome": outcome, "detail": detail, "lines": server.lines}
        )
        status = 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        _flush_stdio()
        os._exit(status)


def _timed_call(server, clock):
    """The body of a hook wrapper of ``server`` (the plugin of :func:`_server_plugin`) that
    marks and times what it wraps by ``clock`` (under the line tracer when the worker asked for
    a profile)."""
    trace = server.command["trace"]
    server._mark({"mark": "start", "pid": os.getpid()})
    started = clock()
    if trace:
        server.lines = {}
        sys.settrace(_line_tracer(*trace, server.lines))
    try:
        yield
    finally:
        if trace:
            sys.settrace(None)
        elapsed = clock() - started
        server._mark({"mark": "stop", "seconds": elapsed})
