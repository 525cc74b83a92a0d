"""The sandbox worker's cases mode (see :mod:`perfedit.sandbox.worker`): one forked child per
case of a stdin/stdout program, timed from fork to exit; a line profile of one case on request.

Loaded by path as ``_perfedit_sandbox_worker_cases`` by the worker's ``main``.
"""

import os
import sys
import time

import _perfedit_sandbox_protocol as protocol
from _perfedit_sandbox_worker_common import (
    ERROR,
    PASSED,
    BrokenChannel,
    _child,
    _clear_host_shm,
    _kill_child,
    _left_running,
    _line_tracer,
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
    receive_frame,
    send_frame,
)


def _read(path, limit):
    """The first ``limit`` bytes of the file at ``path``, as text ("" if it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


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

    def run(self, calibrate, only=None):
        names = self.spec["names"]
        return [
            self._case(index)
            for index in range(len(self.spec["inputs"]))
            if only is None or names[index] in only
        ]

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
        _clear_host_shm(spec)
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
        _clear_host_shm(spec)
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
        _clear_host_shm(self.spec)
