"""The sandbox worker's differential mode (see :mod:`perfedit.sandbox.worker` and
:mod:`perfedit.verify.differential`): pickled calls of the target, served by forked children that
load :mod:`perfedit.sandbox.differential_child`.

Loaded by path as ``_perfedit_sandbox_worker_differential`` by the worker's ``main``.
"""

import os
import time

import _perfedit_sandbox_protocol as protocol
from _perfedit_sandbox_worker_common import (
    CRASHED,
    DETAIL_BYTES,
    ERROR,
    MIN_SAMPLE_S,
    PASSED,
    TIMEOUT,
    BrokenChannel,
    _child,
    _clear_host_shm,
    _kill_child,
    _load_beside,
    _outcome,
    _output,
    _redirect,
    _refresh,
    _snapshot,
    _sweep,
    _unknown,
    cap_text,
    receive_frame,
    send_frame,
)

MAX_LOOPS = 10_000  # differential mode's calibration loops
CLOCK_SLACK_S = 0.002  # between the run child's clock and the worker's


def _read_tail(path, limit=DETAIL_BYTES):
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - limit))
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


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
        _clear_host_shm(self.spec)
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
        _clear_host_shm(self.spec)


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
