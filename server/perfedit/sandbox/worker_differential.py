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
    PASSED,
    TIMEOUT,
    BadReport,
    BrokenChannel,
    _child,
    _children_cpu_s,
    _clear_host_shm,
    _cpu_s,
    _kill_child,
    _living_below,
    _load_beside,
    _outcome,
    _output,
    _queued_s,
    _redirect,
    _refresh,
    _snapshot,
    _sweep,
    _unknown,
    _unloaded_clock,
    _unloaded_s,
    cap_text,
    receive_frame,
    send_frame,
)


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
            return self._outcomes(command["limits_s"], command["go_past"])
        return _unknown(command)

    def _start(self, task, acks=None):
        """Fork a child serving ``task`` (the writable folders as they were when the worker
        started); returns its pid and the read end of its frames. ``acks``: a pipe (read, write)
        on which this worker acknowledges the child's marks (``task["acks"]`` is its read end)."""
        _refresh(self.kept, self.spec)
        frames, child_frames = os.pipe()
        spec = self.spec
        pid = os.fork()
        if pid == 0:
            _child(
                spec,
                (*self.closed_fds, frames, *(acks[1:] if acks else ())),
                spec["cpu_s"],
                lambda: _serve_calls(spec, task, self.inputs, child_frames),
            )
        os.close(child_frames)
        if acks:
            os.close(acks[0])
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

    def _outcomes(self, limits_s, go_past):
        """One entry per input: a dict of OUTCOME_FIELDS, ``{STOPPED: TIMEOUT | reason}``, or
        None where none was reached within ``run_timeout_s`` or after the ``go_past`` + 1-th
        stopped call; or ``{PROBLEM: ...}`` if the module does not import."""
        deadline = time.perf_counter() + self.spec["run_timeout_s"]
        entries = [None] * len(self.inputs)
        start, stops = 0, 0
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
            stops += 1
            if stops > go_past:
                break
            start = index + 1
        return {protocol.OUTCOMES: entries}

    def run(self, calibrate, only=None):
        """Time one pass over every input, in a fresh child, like one test run (one record,
        DIFFERENTIAL_RUN; ``only`` does not apply: the inputs are one test; nor does
        ``calibrate``: a second pass in the same child would find what the first left behind,
        a cache of the answers), measured here, outside the child (:meth:`_timed_pass`): the
        record's ``seconds`` (wall clock less run-queue time) and ``cpu_seconds`` (the kernel's
        CPU time of the child); ``sample_cpu_seconds`` adds the CPU time the child and its
        processes used outside the pass (loading the inputs)."""
        started = time.perf_counter()
        acks_read, acks = os.pipe()
        pid, frames = self._start({"op": protocol.TIME, "acks": acks_read}, (acks_read, acks))
        failure, figures = "", None
        try:
            figures = self._timed_pass(pid, frames, acks)
        except BadReport as exc:
            failure = f"timing report inconsistent: {exc}"
        finally:
            os.close(acks)
        wall_s = time.perf_counter() - started
        left_cpu_s = _sweep(spare=pid)[1]
        reason, peak_rss_bytes = self._end(pid, frames, figures is None, kill=bool(failure))
        if figures is None and not failure:
            status = TIMEOUT if reason == TIMEOUT else CRASHED
            return [
                protocol.record(
                    protocol.DIFFERENTIAL_RUN, status, wall_s, wall_s, peak_rss_bytes, reason
                )
            ]
        if failure or isinstance(figures, str):
            detail = failure or figures
            return [
                protocol.record(
                    protocol.DIFFERENTIAL_RUN, ERROR, wall_s, wall_s, peak_rss_bytes, detail
                )
            ]
        seconds, cpu_s, outside_cpu_s = figures
        return [
            protocol.record(
                protocol.DIFFERENTIAL_RUN,
                PASSED,
                seconds,
                cpu_s,
                peak_rss_bytes,
                "",
                sample_cpu_seconds=cpu_s + outside_cpu_s + left_cpu_s,
            )
        ]

    def _timed_pass(self, pid, frames, acks):
        """Measure the one pass of the TIME child ``pid`` from its marks on ``frames``, each read
        here and acknowledged on ``acks`` while the child waits: "ready" once the module is
        imported, "start" and "stop" around the pass, "end". At the start mark no other process
        may run below this worker. Returns (wall seconds, CPU seconds, CPU seconds outside the
        pass), the child's problem (a str) if its module did not import, or None if it ended or
        stopped sending within ``run_timeout_s``; raises BadReport for a mark out of place."""
        deadline = time.perf_counter() + self.spec["run_timeout_s"]
        for expected in ("ready", "start", "stop", "end"):
            waiting_since = _queued_s("self")
            frame = self._receive(frames, deadline - time.perf_counter())
            woken_s = _queued_s("self") - waiting_since  # this worker's wait for a CPU on waking
            if frame is None:
                return None
            if expected == "ready" and isinstance(frame.get(protocol.PROBLEM), str):
                return cap_text(frame[protocol.PROBLEM])
            mark = frame.get("mark")
            if mark != expected:
                raise BadReport(f"a mark {mark!r} where {expected!r} was due")
            if mark == "ready":
                outside_cpu_s = -(_cpu_s(pid) + _children_cpu_s(pid))
            elif mark == "start":
                if _living_below(os.getpid()) - {pid}:
                    raise BadReport("a process beside the timed one ran at the start of a pass")
                start = _unloaded_clock(pid, True), _cpu_s(pid)
            elif mark == "stop":
                stop = _unloaded_clock(pid, False), _cpu_s(pid)
                wall_s, cpu_s = _unloaded_s(start[0], stop[0], woken_s), stop[1] - start[1]
            else:
                outside_cpu_s += _cpu_s(pid) + _children_cpu_s(pid) - cpu_s
            try:
                os.write(acks, b"\x01")
            except BrokenPipeError:
                return None  # the child is gone (and nothing else holds the other end)
        return wall_s, cpu_s, outside_cpu_s

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
    _redirect(os.devnull, _output(spec, "differential.out"), _output(spec, "differential.err"))
    helper = _load_beside("differential_child.py", "_perfedit_differential")

    def mark(name):
        """Send the mark ``name`` and wait for the worker's acknowledgement (see
        :meth:`_Calls._timed_pass`)."""
        send_frame(frames, {"mark": name})
        os.read(task["acks"], 1)

    helper.serve(spec, task, inputs, lambda message: send_frame(frames, message), mark)
    return 0
