"""Differential testing: compare candidates with the original on the same inputs, beyond what
the tests assert: when the user's tests are thin, and for behaviour beyond the tests.

It applies to every module-level function with pytest or doctest items (tests rarely pin down
every input a function accepts), and to hinted functions with no tests at all
(``TestSuite.kind == "differential"``, :func:`perfedit.testsource.discovery.discover`), unless
``differential_min_tests`` is 0 (off); with fewer than ``differential_min_tests`` tests the
check is the main evidence and the explanation says so (lower confidence). Scripts are
compared with the original on variations of their case inputs instead (:class:`ScriptVariations`;
a difference is named, not rejected), and :func:`unchecked_note` says what was not checked.

1. **Recording** (:func:`record_calls`): the existing tests run once on the original with the
   function wrapped so that each outermost call's ``(args, kwargs)`` is pickled before the call;
   each recorded call is also timed and its arguments measured, for the original's measured
   scaling (:mod:`perfedit.verify.scaling`).
2. **Generating**: in the sandbox, hypothesis draws more calls from the type hints, else from
   the recorded values' types (:mod:`perfedit.sandbox.differential_child`); then *widened*
   calls for the unhinted parameters: None, empty containers, unhashable and duplicated items
   (a type hint is the function's contract, so hinted parameters are not widened).
3. **Reference**: the original is called on every input twice, each time in a fresh child;
   inputs on which it times out (generated ones get ``GENERATED_INPUT_LIMIT_S``), crashes or
   behaves differently between the two runs are dropped, and after ``REFERENCE_STOPS`` such
   stops the inputs after the next one are dropped unrun, and so are widened inputs on which it
   raises: only what the original accepted counts beyond the tests' types.
4. **Comparing** (:meth:`Differential.mismatch`): the candidate is called on the kept inputs;
   return values, exception types and the arguments after the call must match the original's
   (floats within ``FLOAT_TOLERANCE``), else the candidate is rejected with the input named;
   a difference only on widened inputs is a ``narrowing``, named in the verdict but not
   rejected (the candidate accepts less than the original, beyond what the tests ask), and so
   is one on a generated input where an operation of the original failed (``n % 0``, overflow,
   recursion too deep: ``fault`` in the outcome), not a ``raise`` statement: that input is
   outside what the original computes, so a candidate that answers there is not wrong.

The inputs are pickles made in the sandbox and only ever loaded there: nothing the program or a
candidate produces is unpickled in this process. Outcomes come back as JSON text.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfedit.config import Settings
from perfedit.errors import NoTestsFound, WorkloadFailed
from perfedit.formats.suites import Case, TestSuite
from perfedit.llm.modelstore import cache_root
from perfedit.sandbox import DIFFERENTIAL_BUDGET, Calls, Limits, WorkerHandle, Workspace, protocol
from perfedit.targets import Target
from perfedit.testsource.discovery import differential_blocker
from perfedit.verify.scaling import SIZE_OF, Scaling, from_points

MAX_RECORDED_CALLS = 100
MAX_RECORDED_BYTES = 8 * 1024**2  # all recorded calls together; below RLIMIT_FSIZE of a test
MAX_INPUT_BYTES = 64 * 1024  # one generated call, pickled
GENERATED_INPUT_LIMIT_S = 0.5
#: The original's reference run goes past this many inputs on which it times out or crashes,
#: and drops the inputs after the next one: each costs up to ``GENERATED_INPUT_LIMIT_S`` and a
#: fresh child, and a function that the generated inputs drive past its limit (ENAMEL's
#: ``prime_fib``: hypothesis's n = 40 never returns) spent the job's budget on them.
REFERENCE_STOPS = 3
WIDENED_SHARE = 4  # widened inputs generated: differential_examples // WIDENED_SHARE
FLOAT_TOLERANCE = 1e-6  # relative, and absolute near zero
_RECORDING = "recorded-calls"
_WARM_HYPOTHESIS = (  # draws one text: hypothesis builds and stores its Unicode tables
    "from hypothesis import given, settings, strategies as st\n"
    "settings(max_examples=1, database=None)(given(st.text())(lambda text: None))()"
)
_WARM_TIMEOUT_S = 120.0
_TIMING = "recorded-times"  # per recorded call that returned: (size, seconds) as two doubles
_RECORDER = """

def _perfedit_recorded(function, path, times_path, max_calls, max_bytes):
    import functools
    import pickle
    import struct
    import time

    seen, state = set(), {{"depth": 0, "bytes": 0, "timed": 0}}

    @functools.wraps(function)
    def recorded(*args, **kwargs):
        size = None
        if state["depth"] == 0 and len(seen) < max_calls:
            try:
                data = pickle.dumps((args, kwargs))
            except Exception:
                data = None
            if data is not None and data not in seen and state["bytes"] + len(data) + 4 <= max_bytes:
                seen.add(data)
                state["bytes"] += len(data) + 4
                with open(path, "ab") as handle:
                    handle.write(len(data).to_bytes(4, "little") + data)
        if state["depth"] == 0 and state["timed"] < max_calls:
            state["timed"] += 1
            try:
                size = _perfedit_size(args, kwargs)
            except Exception:
                size = None
        state["depth"] += 1
        try:
            started = time.perf_counter()
            result = function(*args, **kwargs)
            seconds = time.perf_counter() - started
        finally:
            state["depth"] -= 1
        if size is not None:
            with open(times_path, "ab") as handle:
                handle.write(struct.pack("<dd", size, seconds))
        return result

    return recorded


{size_of}
{name} = _perfedit_recorded({name}, {path!r}, {times_path!r}, {max_calls}, {max_bytes})
del _perfedit_recorded
"""


@dataclass(frozen=True)
class DifferentialCheck:
    """How many inputs a candidate was checked on: ``recorded`` from the tests, ``workload``
    recorded from the workload run (:mod:`perfedit.testsource.workload`; ``shared`` of them the tests made
    too: they are checked once, and timed with the workload's), ``generated`` by hypothesis, ``widened`` of them beyond the recorded types (None, empty, unhashable items);
    ``thin``: the tests are fewer than ``differential_min_tests``, so this check is the main
    evidence."""

    recorded: int
    generated: int
    widened: int = 0
    thin: bool = True
    workload: int = 0  # calls recorded from the workload (the ``workload`` setting), kept
    shared: int = 0  # of those, calls the tests also made

    @property
    def inputs(self) -> int:
        return self.recorded + self.workload - self.shared + self.generated


@dataclass(frozen=True)
class Mismatch:
    """Why a candidate failed differential testing: ``reason`` (one line), ``call`` (the input,
    as a call), ``detail`` (the original's and the candidate's outcomes). ``narrowing``: "" when
    it rejects the candidate, else the input is of a kind the tests do not use (widened) and the
    candidate answers it otherwise than the original: it is shown, not rejected ("differs from
    the original on f([[], []]), …: raises TypeError: unhashable type: 'list' instead of …").
    ``argument``: when the candidate returned what the original returned but left a positional
    argument changed where the original left it otherwise, that argument's index (0-based, in
    the call's positional arguments), else None; as data, so that a repair need not read it back
    from ``reason``."""

    reason: str
    call: str
    detail: str
    narrowing: str = ""
    argument: int | None = None


def applies(target: Target, suite: TestSuite, settings: Settings) -> bool:
    """True if ``target`` is checked by differential testing with ``suite``: no tests at all
    (kind "differential"), or pytest or doctest items for a function differential testing can
    call, unless ``settings.differential_min_tests`` is 0 (off)."""
    if suite.kind == "differential":
        return True
    return (
        suite.kind in ("pytest", "doctest")
        and settings.differential_min_tests > 0
        and differential_blocker(target) is None
    )


def unchecked_note(
    target: Target,
    suite: TestSuite,
    settings: Settings,
    check: DifferentialCheck | None,
    varied: int = 0,
) -> str | None:
    """The verdict's note when differential testing did not check ``target`` (off, not
    possible, or no input found): only the tests (and for a script, ``varied`` variations of
    its case inputs) judged its behaviour. None if differential testing checked it."""
    if check is not None:
        return None
    if suite.kind == "cases":
        also = (
            f" and {varied} variations of their inputs (tokens reversed, repeated, one more)"
            if varied
            else ""
        )
        why = f"a script is judged by its stdin/stdout cases{also} only; other inputs are not tried"
    elif (blocker := differential_blocker(target)) is not None:
        why = f"not checked by differential testing ({blocker})"
    elif settings.differential_min_tests == 0:
        why = "differential testing is off (differential_min_tests = 0)"
    else:
        why = "differential testing found no input the original accepts"
    return f"note: {why}; behaviour the tests do not assert may differ from the original's."


def calls_for(root: Path, relative_path: Path, function: str) -> Calls:
    """How the sandbox imports ``function`` of the file ``relative_path`` in the project
    ``root``: like pytest's default import mode, the module name runs up through the folders
    that hold an ``__init__.py``, and the first folder without one goes on ``sys.path``."""
    parts = list(relative_path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    package_depth = 0
    folder = (root / relative_path).parent
    while package_depth < len(relative_path.parts) - 1 and (folder / "__init__.py").is_file():
        package_depth += 1
        folder = folder.parent
    base = len(relative_path.parts) - 1 - package_depth
    return Calls(".".join(parts[base:]), function, Path(*relative_path.parts[:base]))


def hypothesis_storage() -> Path:
    """hypothesis' storage folder for the sandbox, ``<perfedit cache>/hypothesis``. Its Unicode
    tables take seconds to build; they are built here once, by a trusted process outside the
    sandbox, so that generation in the sandbox (which may not write there) only reads them."""
    folder = cache_root() / "hypothesis"
    if not (folder / "unicode_data").is_dir():
        subprocess.run(
            [sys.executable, "-I", "-c", _WARM_HYPOTHESIS],
            env={**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(folder)},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_WARM_TIMEOUT_S,
            check=False,
        )  # if it fails, the sandbox builds the tables each time: slower, still correct
    return folder


@dataclass(frozen=True)
class Recording:
    """What :func:`record_calls` saw: the distinct ``calls`` (pickled ``(args, kwargs)``) and,
    for the first MAX_RECORDED_CALLS outermost calls that returned (recorded or not: too large
    or not picklable), ``timed`` ``(size, seconds)``: the size of the call's arguments
    (:data:`perfedit.verify.scaling.SIZE_OF`) and the seconds the call took, measured in the sandbox."""

    calls: list[bytes]
    timed: list[tuple[float, float]]


def record_calls(
    suite: TestSuite, relative_path: Path, target: Target, limits: Limits
) -> Recording:
    """The distinct calls of ``target`` (pickled ``(args, kwargs)``, outermost calls only, at
    most MAX_RECORDED_CALLS and MAX_RECORDED_BYTES) made by one run of ``suite`` on the
    original, and the sizes and times of its outermost calls (:class:`Recording`). The bytes
    are split here but never unpickled in this process; the timings are read as plain doubles."""
    workspace = Workspace(suite, relative_path, "")
    try:
        recorder = _RECORDER.format(
            name=target.name,
            path=str(workspace.exchange / _RECORDING),
            times_path=str(workspace.exchange / _TIMING),
            max_calls=MAX_RECORDED_CALLS,
            max_bytes=MAX_RECORDED_BYTES,
            size_of=SIZE_OF.strip(),
        )
        workspace.program.write_text(target.source.rstrip("\n") + "\n" + recorder, encoding="utf-8")
        with WorkerHandle(workspace, suite, limits, exchange=True) as worker:
            worker.run()
        try:
            data = (workspace.exchange / _RECORDING).read_bytes()
        except FileNotFoundError:
            return Recording([], [])
        try:
            times = (workspace.exchange / _TIMING).read_bytes()
        except FileNotFoundError:
            times = b""
    finally:
        workspace.close()
    timed = [
        (size, seconds)
        for size, seconds in struct.iter_unpack("<dd", times[: len(times) - len(times) % 16])
    ][:MAX_RECORDED_CALLS]
    return Recording(_split(data), timed)


def _split(data: bytes) -> list[bytes]:
    """The length-prefixed records of ``data`` (a cut last one dropped)."""
    calls, offset = [], 0
    while offset + 4 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "little")
        if offset + 4 + size > len(data):
            break
        calls.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return calls


def same(a: Any, b: Any) -> bool:
    """Whether two parsed canonical forms match: exactly, but floats within FLOAT_TOLERANCE
    (relative, and absolute near zero). Forms nested too deeply to compare do not match."""
    try:
        return _same(a, b)
    except RecursionError:
        return False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def _parse(outcome: str) -> Any:
    """A JSON outcome from the sandbox, or None if it is not valid JSON."""
    try:
        return json.loads(outcome)
    except (ValueError, RecursionError):
        return None


class Differential:
    """Differential testing of candidates for ``target`` (see the module docstring).

    :meth:`prepare` (once, on the original) finds the inputs and the original's outcomes;
    :meth:`open_worker` starts a differential-mode worker holding the inputs, and
    :meth:`compare` checks the candidate served by one. ``check`` is None until inputs exist.
    """

    def __init__(
        self,
        target: Target,
        suite: TestSuite,
        settings: Settings,
        limits: Limits,
        relative_path: Path,
    ) -> None:
        self.target = target
        self.suite = suite
        self.settings = settings
        self.limits = limits
        self.relative_path = relative_path
        self.calls = calls_for(suite.root, relative_path, target.name)
        self.check: DifferentialCheck | None = None
        self.scaling: Scaling | None = None  # of the original's calls in the tests, once prepared
        self._inputs: list[bytes] = []
        self._reference: list[
            tuple[dict[str, Any], dict[str, Any]]
        ] = []  # the original's entries and parsed outcomes
        self._widened: list[bool] = []  # per kept input: beyond the recorded types
        self._generated: list[bool] = []  # per kept input: generated, not recorded
        self._widened_from = 0  # the index of the first widened input before the reference run
        self.workload_inputs: list[bytes] = []  # kept calls recorded from the workload
        self.test_inputs: list[bytes] = []  # kept calls recorded from the tests
        self.workload_note = ""  # why the workload gave no calls, when it was asked for

    def open_worker(self, workspace: Workspace) -> WorkerHandle:
        """A differential-mode worker on ``workspace``, holding the inputs found by :meth:`prepare`."""
        worker = WorkerHandle(
            workspace, self.suite, self.limits, self.calls, readable=(hypothesis_storage(),)
        )
        if self._inputs:
            worker.request(protocol.inputs_request(self._inputs))
        return worker

    def prepare(self, worker: WorkerHandle) -> None:
        """Record, generate, and run the original on every input (``worker``: a differential-mode
        worker on the original); loads the kept inputs into ``worker``.

        Raises NoTestsFound if the target has no tests and no input could be made for it.
        """
        recording = (
            record_calls(self.suite, self.relative_path, self.target, self.limits)
            if self.suite.size
            else Recording([], [])
        )
        from_tests = recording.calls
        self.scaling = from_points(recording.timed, "elements")
        seen = set(from_tests)
        workload_calls = self._workload_calls()
        from_workload = [data for data in workload_calls if data not in seen]
        recorded = from_tests + from_workload
        answer = worker.request(
            protocol.generate_request(
                recorded,
                self.settings.differential_examples,
                MAX_INPUT_BYTES,
                str(hypothesis_storage()),
            )
        )
        known = set(recorded)
        generated = [data for data in answer.get(protocol.GENERATED, []) if data not in known]
        known.update(generated)
        widened = (
            []
            if self.suite.kind == "differential"
            else [
                data
                for data in worker.request(
                    protocol.generate_request(
                        recorded,
                        self.settings.differential_examples // WIDENED_SHARE,
                        MAX_INPUT_BYTES,
                        str(hypothesis_storage()),
                        widen=True,
                    )
                ).get(protocol.GENERATED, [])
                if data not in known
            ]
        )
        generated += sorted(
            widened, key=len
        )  # the smallest first: a mismatch names the simplest input
        self._widened_from = len(recorded) + len(generated) - len(widened)
        inputs = recorded + generated
        generated_limit_s = min(self.limits.timeout_s, GENERATED_INPUT_LIMIT_S)
        limits_s = [self.limits.timeout_s] * len(recorded) + [generated_limit_s] * len(generated)
        worker.request(protocol.inputs_request(inputs))
        first, second = (
            _described(self._outcomes(worker, limits_s, go_past=REFERENCE_STOPS)) for _ in range(2)
        )
        kept = [  # (a run that failed as a whole described nothing: zip stops there)
            index
            for index, (a, b) in enumerate(zip(first, second, strict=False))
            if a is not None
            and b is not None
            and same(a[1], b[1])
            and (
                index < self._widened_from or a[1]["result"][0] == "returns"
            )  # widened: only what the original accepts
        ]
        if not kept and self.suite.kind == "differential":
            problem = (
                str(answer.get(protocol.PROBLEM, "")).strip()
                or "the original timed out, crashed or varied on every input"
            )
            raise NoTestsFound(
                f"{self.target.name} has no tests, and differential testing found no input to call it on "
                f"({problem.splitlines()[-1]}); write a test that calls it, or pass --tests PATH."
            )
        self._inputs = [inputs[index] for index in kept]
        self._reference = [described for index in kept if (described := first[index]) is not None]
        self._widened = [index >= self._widened_from for index in kept]
        self._generated = [index >= len(recorded) for index in kept]
        worker.request(protocol.inputs_request(self._inputs))
        kept_inputs = {inputs[index] for index in kept}
        self.test_inputs = [inputs[index] for index in kept if index < len(from_tests)]
        self.workload_inputs = [data for data in workload_calls if data in kept_inputs]
        if workload_calls and not self.workload_inputs:
            self.workload_note = (
                f"note: the original behaved differently on each of the {len(workload_calls)} "
                f"calls of {self.target.name} recorded from the workload when they were made "
                "again; the tests alone timed it."
            )
        if kept:
            tests_kept = sum(1 for index in kept if index < len(from_tests))
            workload_kept = sum(1 for index in kept if len(from_tests) <= index < len(recorded))
            self.check = DifferentialCheck(
                tests_kept,
                len(kept) - tests_kept - workload_kept,
                sum(self._widened),
                self.suite.size < self.settings.differential_min_tests,
                len(self.workload_inputs),
                len(self.workload_inputs) - workload_kept,
            )

    def _workload_calls(self) -> list[bytes]:
        """The target's calls recorded from the ``workload`` setting's run (:func:`perfedit.testsource.workload.target_calls`,
        cached while the project is unchanged); none, with :attr:`workload_note` saying why,
        when the workload cannot run, never calls the target, or none of its calls could be
        replayed."""
        from perfedit.testsource import workload

        command = self.settings.workload
        if not command:
            return []
        name = self.target.name
        try:
            found = workload.target_calls(self.target, command)
        except WorkloadFailed as exc:
            self.workload_note = (
                f"note: the workload could not be used ({str(exc).splitlines()[0]}); "
                "the tests alone checked and timed it."
            )
            return []
        if not found.ran:
            why = f"the workload `{command}` never called {name}"
        elif not found.calls:
            reasons = ", ".join(f"{count} {reason}" for reason, count in found.skipped.items())
            why = f"none of the calls of {name} recorded from the workload could be replayed ({reasons or 'none recorded'})"
        else:
            return list(found.calls)
        self.workload_note = f"note: {why}; the tests alone checked and timed it."
        return []

    def _outcomes(
        self, worker: WorkerHandle, limits_s: list[float], *, go_past: int
    ) -> list[Any] | str:
        """The worker's entries for its inputs (see :mod:`perfedit.sandbox.worker`), or its
        ``problem`` (a string: the module did not load)."""
        answer = worker.request(protocol.outcomes_request(limits_s, go_past))
        entries = answer.get(protocol.OUTCOMES)
        return (
            entries
            if isinstance(entries, list)
            else str(answer.get(protocol.PROBLEM, "")).strip() or "no answer"
        )

    def mismatch(self, worker: WorkerHandle) -> Mismatch | None:
        """The first input on which the candidate served by ``worker`` (a worker from
        :meth:`open_worker` on the candidate's workspace) does not behave as the original and
        which rejects it; else the first widened input on which it answers otherwise (a
        ``narrowing``, shown but not rejected), or the first generated input on which the
        original's operation failed (a fault) and the candidate answers; else None."""
        if not self._inputs:
            return None
        entries = self._outcomes(worker, [self.limits.timeout_s] * len(self._inputs), go_past=0)
        if isinstance(entries, str):
            return Mismatch(
                f"differential testing: {self.target.name} cannot be called: {entries.splitlines()[-1]}",
                "",
                entries,
            )
        if len(entries) != len(self._reference):
            return Mismatch(
                f"differential testing: the sandbox answered for {len(entries)} of {len(self._reference)} inputs",
                "",
                "",
            )
        narrowed = None
        for (original, want), entry, beyond, generated in zip(
            self._reference, entries, self._widened, self._generated, strict=True
        ):
            found = self._difference(original, want, entry)
            if found is None:
                continue
            how, argument = found
            call = original["call"]
            got = entry.get("result", how) if isinstance(entry, dict) else how
            detail = f"input: {call}\noriginal: {original['result']}\ncandidate: {got}"
            answered = (
                isinstance(entry, dict)
                and protocol.STOPPED not in entry
                and "result" in (_parse(entry["outcome"]) or {})
            )
            failed = generated and want["result"][0] == "raises" and want.get("fault") is True
            if not ((beyond or failed) and answered):  # timeouts and crashes reject on any input
                return Mismatch(
                    f"differential testing: {how} for {call}", call, detail, argument=argument
                )
            if narrowed is None:
                kind = (
                    f"a generated input on which the original fails with {want['result'][1]}"
                    if failed
                    else "an input of a kind the tests do not use, which the original accepts"
                )
                narrowed = Mismatch(
                    f"differential testing: {how} for {call} ({kind})",
                    call,
                    detail,
                    f"differs from the original on {call} ({kind}): {how}",
                )
        return narrowed

    def _difference(
        self, original: dict[str, Any], want: dict[str, Any], entry: dict[str, Any] | None
    ) -> tuple[str, int | None] | None:
        """How the candidate's ``entry`` differs from the original's (``want``: its parsed
        outcome) and, when only a positional argument is left otherwise, its index (see
        :attr:`Mismatch.argument`); None if it does not differ."""
        if entry is None:
            return (
                f"did not finish within the {self.limits.timeout_s * DIFFERENTIAL_BUDGET:g} s budget of differential testing",
                None,
            )
        if protocol.STOPPED in entry:
            stopped = str(entry[protocol.STOPPED])
            return (
                f"timed out after {self.limits.timeout_s:g} s"
                if stopped == protocol.TIMEOUT
                else f"crashed ({stopped[:300]})"
            ), None
        got = _parse(entry["outcome"])
        if not isinstance(got, dict) or "result" not in got:
            return (
                "could not be described"
                if not isinstance(got, dict) or "unusable" not in got
                else "could not load its input"
            ), None
        if not same(want["result"], got["result"]):
            message = (
                got.get("message") if want["result"][0] == "returns" else None
            )  # narrowed: say why it raised
            text = (
                f"{entry['result']}: {message}"
                if got["result"][0] == "raises" and isinstance(message, str) and message
                else entry["result"]
            )
            return _instead(text, original["result"], got["result"], want["result"]), None
        for index, (before, after) in enumerate(
            zip(want["args"], got.get("args", []), strict=False)
        ):
            if not same(before, after):
                return (
                    f"leaves argument {index + 1} as {_text(entry['args'], index)} where the original "
                    f"leaves {_text(original['args'], index)}"
                ), index
        if not same(want["kwargs"], got.get("kwargs")) or not same(
            len(want["args"]), len(got.get("args", []))
        ):
            return "leaves its keyword arguments other than the original does", None
        return None


def _described(entries: list[Any] | str) -> list[tuple[dict[str, Any], dict[str, Any]] | None]:
    """Each of the original's entries with its parsed outcome, or None where the original did
    not describe a call (stopped, input not loaded, not reached, the module did not load)."""
    if isinstance(entries, str):
        return []
    described = []
    for entry in entries:
        parsed = (
            _parse(entry["outcome"]) if isinstance(entry, dict) and "outcome" in entry else None
        )
        described.append(
            (entry, parsed) if isinstance(parsed, dict) and "result" in parsed else None
        )
    return described


def _text(texts: list[str], index: int) -> str:
    return texts[index] if index < len(texts) else "?"


def _instead(got: str, want: str, got_form: Any, want_form: Any) -> str:
    """ "returns [1, 2] instead of [2, 1]", "raises KeyError instead of returning 3", ...
    from the short texts ``got`` and ``want`` ("returns …" / "raises …"); the types are named
    when the texts alone look the same."""
    want_verb, _, want_rest = want.partition(" ")
    if got == want:
        got, want_rest = f"{got} (a {_type_of(got_form)})", f"{want_rest} (a {_type_of(want_form)})"
    if got.partition(" ")[0] == want_verb:
        return f"{got} instead of {want_rest}"
    return f"{got} instead of {'returning' if want_verb == 'returns' else 'raising'} {want_rest}"


def _type_of(form: Any) -> str:
    """The type name in a parsed ``["returns", [type, ...]]`` form."""
    try:
        return str(form[1][0])
    except (IndexError, KeyError, TypeError):
        return "value"


# --- scripts: variations of the case inputs ------------------------------------------------------

MAX_VARIED_CASES = 4  # cases whose inputs are varied, the first ones small enough
MAX_VARIED_INPUT_CHARS = 4096


def variations(suite: TestSuite) -> tuple[Case, ...]:
    """Variations of the small case inputs of ``suite`` (expected outputs empty: the original's
    outputs are the reference), on the last line that has tokens: within the format, its tokens
    reversed and all of them replaced by its first (duplicates); beyond it, its last token
    repeated (one token more than the count a program may have read). Named
    ``"<case> with <how>"``."""
    made: dict[str, Case] = {}
    small = [case for case in suite.cases if len(case.stdin) <= MAX_VARIED_INPUT_CHARS][
        :MAX_VARIED_CASES
    ]
    for case in small:
        lines = case.stdin.rstrip("\n").split("\n")
        last = max((i for i, line in enumerate(lines) if line.split()), default=None)
        if last is None:
            continue
        tokens = lines[last].split()
        changed = {
            f"line {last + 1}'s tokens reversed": " ".join(reversed(tokens)),
            f"line {last + 1}'s tokens all {tokens[0][:20]}": " ".join([tokens[0]] * len(tokens)),
            f"line {last + 1}'s last token repeated": f"{lines[last]} {tokens[-1]}",
        }
        for how, line in changed.items():
            stdin = "\n".join([*lines[:last], line, *lines[last + 1 :]]) + "\n"
            if stdin != case.stdin and stdin not in {
                made_case.stdin for made_case in made.values()
            }:
                name = f"{case.name} with {how}"
                made[name] = Case(name, stdin, "")
    return tuple(made.values())


class ScriptVariations:
    """A script's candidates compared with the original on :func:`variations` of its case
    inputs. Inputs beyond the cases are beyond what the tests ask, so a difference is named in
    the verdict (:meth:`mismatch`, a ``narrowing``), not rejected. :meth:`prepare` runs the original twice and
    keeps the variations on which it ran cleanly and printed the same both times."""

    def __init__(self, suite: TestSuite, relative_path: Path, limits: Limits) -> None:
        self.relative_path = relative_path
        self.limits = limits
        self.suite = TestSuite("cases", suite.root, cases=variations(suite))
        self.expected: dict[str, str] = {}  # variation name -> the original's output

    def _outputs(self, source: str, runs: int) -> list[dict[str, str | None]]:
        """Per run, each variation's output (None where the program did not run cleanly)."""
        workspace = Workspace(self.suite, self.relative_path, source)
        try:
            with WorkerHandle(workspace, self.suite, self.limits) as worker:
                return [
                    {r.name: r.stdout if r.ran_cleanly else None for r in worker.run()}
                    for _ in range(runs)
                ]
        finally:
            workspace.close()

    def prepare(self, original: str) -> None:
        """The original's outputs on the variations (see the class docstring)."""
        if not self.suite.cases:
            return
        first, second = self._outputs(original, 2)
        self.expected = {
            name: text
            for name, text in first.items()
            if text is not None and second.get(name) == text
        }

    def mismatch(self, source: str, matches: Callable[[str, str], bool]) -> Mismatch | None:
        """How the candidate ``source`` differs from the original on the first variation where
        it does (``matches(actual, expected)``: the cases' output check): a narrowing; or None."""
        if not self.expected:
            return None
        outputs = self._outputs(source, 1)[0]
        stdin = {case.name: case.stdin for case in self.suite.cases}
        for name, want in self.expected.items():
            got = outputs.get(name)
            if got is None or not matches(got, want):
                said = (
                    "fails"
                    if got is None
                    else f"prints {_short_text(got)} instead of {_short_text(want)}"
                )
                kind = "an input the cases do not contain"
                detail = f"input:\n{stdin[name].rstrip()[:600]}\n--- original\n{want.strip()[:600]}\n--- candidate\n{(got or '').strip()[:600]}"
                return Mismatch(
                    f"{said} on {name} ({kind})",
                    name,
                    detail,
                    f"differs from the original on {name} ({kind}): {said}",
                )
        return None


def _short_text(text: str) -> str:
    shown = repr(text.strip())
    return shown if len(shown) <= 60 else shown[:59] + "…"
