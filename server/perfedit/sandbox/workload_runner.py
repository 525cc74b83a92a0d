"""The profiled workload run, inside the sandbox: stdlib only (never imports perfedit).

Started by :mod:`perfedit.testsource.workload` as the program of a one-case sandbox run (as
:mod:`perfedit.sandbox.profile_runner` is for the tests) inside the throw-away copy of the project. It
reads its job, a :class:`perfedit.sandbox.protocol.WorkloadJob` as JSON, on stdin (the protocol
module is loaded already in the worker, as ``_perfedit_sandbox_protocol``), runs the workload like
``python SCRIPT ARGS`` (``kind`` SCRIPT, ``target`` relative to ``root``) or ``python -m MODULE
ARGS`` (``kind`` MODULE) with the project copy as its working folder, and writes one JSON object
to ``out``::

    {"outcome": "passed" | "failed", "detail": str, "seconds": float, "stdin": bool,
     "processes": [str, ...], "functions": [{"file", "function", "line", "calls", "own_s",
     "cumulative_s"}], "lines": {"file:line": {str(line): seconds}},
     "calls": {"file:line": {"file", "function", "line", "kept": [base64, ...],
                             "skipped": {reason: count}}},
     "passes_s": {pass: seconds}}

Files are relative to ``root`` (POSIX); times are seconds. Each pass is a forked child, so each
starts from the same clean state (nothing of the workload imported):

1. **cProfile** around the whole workload (``seconds``: its wall time under the profiler).
   Only functions defined in the project's files count: not test files, ``conftest.py``, the
   workload's own script or this runner.
2. **Lines and calls** of the ``hot_functions`` hottest (own time): ``sys.settrace`` on those
   code objects only. Their lines are timed (a line's time runs to the next event of the same
   frame, calls included, as line_profiler reports) until each function has had its share of
   a budget of ``line_budget_share`` of the first pass's time (at least ``line_budget_min_s``;
   from then on its frames report no line events); their calls are recorded until the
   workload ends or the pass has run ``record_share`` times the first pass's time. A call is
   recorded as ``pickle.dumps((args, kwargs))`` at the moment of the call (a deep copy: what
   the function later does to its arguments does not show), with its result pickled when it
   returns; ``max_calls`` per function are kept by reservoir sampling over all its outermost
   calls (Vitter's algorithm R: a uniform sample, and a call not sampled costs no pickling).
   Calls of methods, nested functions and generator functions, calls that raise, that do not
   pickle or whose pickle passes ``max_call_bytes`` are skipped and counted.
3. **Replay**: in a fresh child, each recorded call is made again on the unpickled arguments
   (within ``replay_limit_s``); a call whose result differs from the recorded one depends on
   state the workload set up (a global, a cache, a file) and is skipped and counted, as are
   calls that fail there. At most ``max_function_bytes`` of kept calls per function.

Mode PLAIN_PASS runs the workload once without any of it (the baseline of the overhead
figure, ``bench/workload_overhead.py``). The workload's stdin is empty and reading it is an
error (``stdin``: true); a process it starts (fork, subprocess, exec) is reported
(``processes``) and a forked copy never writes the result.
"""

import base64
import dis
import io
import json
import os
import pickle
import random
import runpy
import signal
import sys
import time
import traceback

import _perfedit_sandbox_protocol as protocol

TEST_FILE_PREFIXES = ("test_",)
TEST_FILE_SUFFIXES = ("_test.py",)
OPTIMIZED = 0x01  # a function's code (not a module's or a class body's)
GENERATOR_FLAGS = (
    0x20 | 0x80 | 0x100 | 0x200
)  # generator, coroutine, iterable coroutine, async generator
VARARGS, VARKEYWORDS = 0x04, 0x08
RETURNS = {dis.opmap[name] for name in ("RETURN_VALUE", "RETURN_CONST") if name in dis.opmap}
PROCESS_EVENTS = (
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "subprocess.Popen",
)


class NoInput(io.TextIOBase):
    """The workload's ``sys.stdin``: reading it raises OSError and is remembered."""

    read_tried = False

    def readable(self):
        return True

    def _refuse(self, *args):
        NoInput.read_tried = True
        raise OSError("perfedit runs a workload with no input on stdin")

    read = readline = readlines = _refuse

    def __iter__(self):
        self._refuse()


class BudgetSpent(BaseException):
    """Ends the recording pass once its budget is spent (a BaseException, so that the
    workload's own ``except Exception`` does not swallow it)."""


def _relative(filename, job):
    """``filename`` relative to ``root`` (POSIX), or None if outside it, a test or conftest
    file, the workload's script or this runner."""
    root = job.root
    path = os.path.realpath(os.path.join(root, filename))
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
        or (job.kind == protocol.SCRIPT and relative == job.target)
    ):
        return None
    return relative


def _run_workload(job):
    """Run the workload in this process; ("passed" | "failed", detail)."""
    root = job.root
    if job.kind == protocol.SCRIPT:
        script = os.path.join(root, job.target)
        sys.argv = [script, *job.argv]
        sys.path.insert(0, os.path.dirname(script))
    else:
        sys.argv = [job.target, *job.argv]
        sys.path.insert(0, root)
    try:
        if job.kind == protocol.SCRIPT:
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module(job.target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            return "failed", f"it exited with status {exc.code}"
    except BudgetSpent:
        raise
    except BaseException:
        return "failed", traceback.format_exc()[-3000:]
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return "passed", ""


def _watch_processes(found):
    def hook(event, args):
        if event.startswith(PROCESS_EVENTS) and len(found) < 10:
            found.append(f"{event}{_short(args)}")

    sys.addaudithook(hook)


def _short(args):
    text = repr(args)
    return text if len(text) <= 200 else text[:199] + "…"


def _collect(job, profiler):
    functions = {}
    for entry in profiler.getstats():
        code = entry.code
        if isinstance(code, str):
            continue
        file = _relative(code.co_filename, job)
        if file is None:
            continue
        key = (file, code.co_qualname, code.co_firstlineno)
        record = functions.setdefault(key, {"calls": 0, "own_s": 0.0, "cumulative_s": 0.0})
        record["calls"] += entry.callcount
        record["own_s"] += entry.inlinetime
        record["cumulative_s"] += entry.totaltime
    return [
        {"file": file, "function": function, "line": line, **record}
        for (file, function, line), record in functions.items()
    ]


class Recorder:
    """The tracer of the second pass: line times and sampled calls of the wanted functions."""

    def __init__(self, job):
        self.job = job
        self.wanted = {tuple(key) for key in job.wanted}
        self.keys = {}  # code object -> "file:line" or None
        self.lines = {}  # "file:line" -> {line: seconds}
        self.calls = {}  # "file:line" -> {"file", "function", "line", "kept", "skipped", "seen"}
        self.depth = {}  # "file:line" -> calls in progress (only outermost calls are recorded)
        self.random = random.Random(0)
        self.starts = {}  # generator code object -> the instruction its frames start at
        self.line_s = {}  # "file:line" -> seconds of its lines timed so far

    def _key(self, code):
        if code not in self.keys:
            file = _relative(code.co_filename, self.job)
            key = (file, code.co_qualname, code.co_firstlineno)
            wanted = key in self.wanted and code.co_flags & OPTIMIZED
            self.keys[code] = f"{file}:{code.co_firstlineno}" if wanted else None
            if self.keys[code] is not None:
                self.calls[self.keys[code]] = {
                    "file": file,
                    "function": code.co_qualname,
                    "line": code.co_firstlineno,
                    "kept": [],
                    "skipped": {},
                    "seen": 0,
                }
        return self.keys[code]

    def _skip(self, key, reason):
        skipped = self.calls[key]["skipped"]
        skipped[reason] = skipped.get(reason, 0) + 1

    def _sample(self, key, frame):
        """The slot of the sample this call takes ([args pickle, result pickle]), or None."""
        code = frame.f_code
        record = self.calls[key]
        record["seen"] += 1
        if "." in code.co_qualname:
            self._skip(key, "a method or nested function (cannot be called alone)")
            return None
        if code.co_flags & GENERATOR_FLAGS:
            # resuming one also is a call event: only a start (its first instruction) counts
            if self.starts.setdefault(code, frame.f_lasti) == frame.f_lasti:
                self._skip(key, "a generator or coroutine (consumed by the workload)")
            return None
        limit = self.job.max_calls
        index = (
            len(record["kept"])
            if record["seen"] <= limit
            else self.random.randrange(record["seen"])
        )
        if index >= limit:
            return None
        try:
            data = pickle.dumps(_arguments(frame))
        except Exception:
            self._skip(key, "arguments that do not pickle")
            return None
        if len(data) > self.job.max_call_bytes:
            self._skip(key, "arguments larger than the limit")
            return None
        slot = [data, None]
        if index >= len(record["kept"]):
            record["kept"].append(slot)
        else:
            record["kept"][index] = slot
        return slot

    def tracer(self):
        """The ``sys.settrace`` function: call and return events of the wanted functions (for
        the calls), and their line events until each has had its share of the line budget."""
        clock = time.perf_counter
        share_s = self.job.budget_s / max(1, len(self.wanted))

        def call(frame, event, arg):
            key = self._key(frame.f_code)
            if key is None:
                return None
            table = self.lines.setdefault(key, {})
            depth = self.depth.get(key, 0)
            self.depth[key] = depth + 1
            slot = self._sample(key, frame) if depth == 0 else None
            frame.f_trace_lines = self.line_s.get(key, 0.0) < share_s
            state = [None, clock()]  # the line running, since when

            def local(frame, event, arg):
                now = clock()
                if state[0] is not None:
                    table[state[0]] = table.get(state[0], 0.0) + now - state[1]
                    self.line_s[key] = self.line_s.get(key, 0.0) + now - state[1]
                if frame.f_trace_lines and self.line_s.get(key, 0.0) >= share_s:
                    frame.f_trace_lines = False  # its share is spent: calls only from here on
                state[0] = frame.f_lineno if frame.f_trace_lines else None
                state[1] = now
                if event == "return":
                    self.depth[key] -= 1
                    if slot is not None:
                        # a frame left by an exception is not at a return instruction
                        raised = frame.f_code.co_code[frame.f_lasti] not in RETURNS
                        self._returned(key, slot, arg, raised=raised)
                return local

            return local

        return call

    def _returned(self, key, slot, result, raised):
        kept = self.calls[key]["kept"]
        if raised:
            self._skip(key, "calls that raised")
        else:
            try:
                slot[1] = pickle.dumps(result)
                return
            except Exception:
                self._skip(key, "results that do not pickle")
        if slot in kept:
            kept.remove(slot)


def _arguments(frame):
    """The call's ``(args, kwargs)`` from its frame at the call event (parameters only)."""
    code, values = frame.f_code, frame.f_locals
    names = code.co_varnames
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    args = [values[name] for name in names[:positional]]
    kwargs = {name: values[name] for name in names[positional : positional + keyword_only]}
    index = positional + keyword_only
    if code.co_flags & VARARGS:
        args += list(values[names[index]])
        index += 1
    if code.co_flags & VARKEYWORDS:
        kwargs.update(values[names[index]])
    return tuple(args), kwargs


def _pass(job, name, result_path):
    """In a forked child: one pass (``name``) of the workload; writes its findings, never returns."""
    status = 1
    try:
        owner = os.getpid()
        processes = []
        _watch_processes(processes)
        sys.stdin = NoInput()
        result = {"processes": processes}
        if name == protocol.REPLAY_PASS:
            result["calls"] = _replay(job)
        else:
            result.update(_workload_pass(job, name))
        if os.getpid() != owner:
            os._exit(0)
        result["stdin"] = NoInput.read_tried
        with open(result_path, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _workload_pass(job, name):
    started = time.perf_counter()
    if name == protocol.PLAIN_PASS:
        outcome, detail = _run_workload(job)
        return {"outcome": outcome, "detail": detail, "seconds": time.perf_counter() - started}
    if name == protocol.PROFILE_PASS:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            outcome, detail = _run_workload(job)
        finally:
            profiler.disable()
        seconds = time.perf_counter() - started
        return {
            "outcome": outcome,
            "detail": detail,
            "seconds": seconds,
            "functions": _collect(job, profiler),
        }
    recorder = Recorder(job)

    def spent(signum, frame):
        raise BudgetSpent()

    signal.signal(signal.SIGALRM, spent)
    signal.setitimer(signal.ITIMER_REAL, job.record_budget_s)
    sys.settrace(recorder.tracer())
    try:
        _run_workload(job)
    except BudgetSpent:
        pass
    finally:
        sys.settrace(None)
        signal.setitimer(signal.ITIMER_REAL, 0)
    calls = {}
    for key, record in recorder.calls.items():
        kept = [slot for slot in record["kept"] if slot[1] is not None]
        calls[key] = {
            **{field: record[field] for field in ("file", "function", "line", "skipped")},
            "kept": [[_text(args), _text(result)] for args, result in kept],
        }
    return {"lines": recorder.lines, "calls": calls}


def _text(data):
    return base64.b64encode(data).decode("ascii")


def _module_name(job, file):
    """How ``file`` (relative to root) is imported: its packages up to the first folder with no
    ``__init__.py``, which goes on ``sys.path`` (as pytest's default import mode does)."""
    parts = file[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    folder, depth = os.path.dirname(os.path.join(job.root, file)), 0
    while depth < file.count("/") and os.path.isfile(os.path.join(folder, "__init__.py")):
        depth += 1
        folder = os.path.dirname(folder)
    return ".".join(parts[file.count("/") - depth :]), folder


def _replay(job):
    """Each recorded call made again here (nothing of the workload ran in this process): the
    calls whose result is the recorded one, per function, and what was skipped."""
    import importlib

    def too_long(signum, frame):
        raise BudgetSpent()

    signal.signal(signal.SIGALRM, too_long)
    kept = {}
    for key, record in job.recorded.items():
        skipped = dict(record["skipped"])
        found = kept[key] = {**record, "kept": [], "skipped": skipped}

        def skip(reason, skipped=skipped):
            skipped[reason] = skipped.get(reason, 0) + 1

        module, folder = _module_name(job, record["file"])
        if folder not in sys.path:
            sys.path.insert(0, folder)
        try:
            function = getattr(importlib.import_module(module), record["function"])
        except BaseException:
            for _ in record["kept"]:
                skip("not importable without the workload")
            continue
        size, seen = 0, set()
        for args_text, result_text in record["kept"]:
            if args_text in seen:
                skip("the same arguments as another call")
                continue
            seen.add(args_text)
            data = base64.b64decode(args_text)
            try:
                args, kwargs = pickle.loads(data)
            except Exception:
                skip("arguments that load only inside the workload (its script's own objects)")
                continue
            signal.setitimer(signal.ITIMER_REAL, job.replay_limit_s)
            try:
                result = function(*args, **kwargs)
                same = pickle.dumps(result) == base64.b64decode(result_text) or _equal(
                    result, pickle.loads(base64.b64decode(result_text))
                )
            except BudgetSpent:
                skip("too slow to replay")
                continue
            except BaseException:
                skip("failed when replayed alone")
                continue
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if not same:
                skip("another result when replayed alone (depends on state)")
            elif size + len(data) > job.max_function_bytes:
                skip("over the size limit of a function's calls")
            else:
                size += len(data)
                found["kept"].append(args_text)
    return kept


def _equal(a, b):
    try:
        return bool(a == b)
    except Exception:
        return False


def _run_pass(job, name, result_path):
    """Fork a pass, wait for it; its result (a dict), or None if it wrote none."""
    with open(job.out + ".current", "w", encoding="utf-8") as handle:
        handle.write(name)  # names the pass if the whole run is killed
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _pass(job, name, result_path)
    os.waitpid(pid, 0)
    try:
        with open(result_path, encoding="utf-8") as handle:
            result = json.load(handle)
    except (OSError, ValueError):
        return None
    result["pass_s"] = time.perf_counter() - started
    return result


def main():
    job = protocol.WorkloadJob(**json.loads(sys.stdin.read()))
    job = job.replace(root=os.path.realpath(job.root))
    os.chdir(job.root)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = job.out
    first = _run_pass(job, job.mode, out + ".pass1")
    if first is None:
        raise SystemExit("the workload run ended without a result (see its output above)")
    first.update(lines={}, calls={}, passes_s={protocol.PROFILE_PASS: first.pop("pass_s")})
    hot = sorted(first.get("functions", []), key=lambda f: f["own_s"], reverse=True)
    wanted = [
        [f["file"], f["function"], f["line"]] for f in hot[: job.hot_functions] if f["own_s"] > 0
    ]
    if (
        job.mode == protocol.PROFILE_PASS
        and first["outcome"] == "passed"
        and wanted
        and not first["processes"]
        and not first["stdin"]
    ):
        budget_s = max(job.line_budget_min_s, job.line_budget_share * first["seconds"])
        record_budget_s = max(budget_s, job.record_share * first["seconds"])
        second = _run_pass(
            job.replace(wanted=wanted, budget_s=budget_s, record_budget_s=record_budget_s),
            protocol.RECORD_PASS,
            out + ".pass2",
        )
        if second is not None:
            first["lines"] = second["lines"]
            first["passes_s"][protocol.RECORD_PASS] = second["pass_s"]
            recorded = {key: c for key, c in second["calls"].items() if c["kept"] or c["skipped"]}
            third = _run_pass(job.replace(recorded=recorded), protocol.REPLAY_PASS, out + ".pass3")
            if third is not None:
                first["calls"] = third["calls"]
                first["passes_s"][protocol.REPLAY_PASS] = third["pass_s"]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(first, handle)


if __name__ == "__main__":
    main()
