"""Differential testing: when a function's tests are thin, compare candidates with the original
on the same inputs (issue 4, "When the user's tests are thin").

It applies to module-level functions with fewer than ``differential_min_tests`` pytest or
doctest items, and to hinted functions with no tests at all (``TestSuite.kind ==
"differential"``, :func:`perfedit.testsource.discover`). Scripts are out of scope: their
stdin/stdout cases already compare outputs.

1. **Recording** (:func:`record_calls`): the existing tests run once on the original with the
   function wrapped so that each outermost call's ``(args, kwargs)`` is pickled before the call.
2. **Generating**: in the sandbox, hypothesis draws more calls from the type hints, else from
   the recorded values' types (:mod:`perfedit.sandbox.differential_child`).
3. **Reference**: the original is called on every input twice, each time in a fresh child;
   inputs on which it times out (generated ones get ``GENERATED_INPUT_LIMIT_S``), crashes or
   behaves differently between the two runs are dropped.
4. **Comparing** (:meth:`Differential.compare`): the candidate is called on the kept inputs;
   return values, exception types and the arguments after the call must match the original's
   (floats within ``FLOAT_TOLERANCE``), else the candidate is rejected with the input named.

The inputs are pickles made in the sandbox and only ever loaded there: nothing the program or a
candidate produces is unpickled in this process. Outcomes come back as JSON text.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfedit.config import Settings
from perfedit.errors import NoTestsFound
from perfedit.modelstore import cache_root
from perfedit.sandbox import DIFFERENTIAL_BUDGET, Calls, Limits, WorkerHandle, Workspace, protocol
from perfedit.targets import Target
from perfedit.testsource import TestSuite, differential_blocker

MAX_RECORDED_CALLS = 100
MAX_RECORDED_BYTES = 8 * 1024**2  # all recorded calls together; below RLIMIT_FSIZE of a test
MAX_INPUT_BYTES = 64 * 1024  # one generated call, pickled
GENERATED_INPUT_LIMIT_S = 0.5
FLOAT_TOLERANCE = 1e-6  # relative, and absolute near zero
_RECORDING = "recorded-calls"
_WARM_HYPOTHESIS = (  # draws one text: hypothesis builds and stores its Unicode tables
    "from hypothesis import given, settings, strategies as st\n"
    "settings(max_examples=1, database=None)(given(st.text())(lambda text: None))()"
)
_WARM_TIMEOUT_S = 120.0
_RECORDER = '''

def _perfedit_recorded(function, path, max_calls, max_bytes):
    import functools
    import pickle

    seen, state = set(), {{"depth": 0, "bytes": 0}}

    @functools.wraps(function)
    def recorded(*args, **kwargs):
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
        state["depth"] += 1
        try:
            return function(*args, **kwargs)
        finally:
            state["depth"] -= 1

    return recorded


{name} = _perfedit_recorded({name}, {path!r}, {max_calls}, {max_bytes})
del _perfedit_recorded
'''


@dataclass(frozen=True)
class DifferentialCheck:
    """How many inputs a candidate was checked on: ``recorded`` from the tests, ``generated``
    by hypothesis."""

    recorded: int
    generated: int

    @property
    def inputs(self) -> int:
        return self.recorded + self.generated


@dataclass(frozen=True)
class Mismatch:
    """Why a candidate failed differential testing: ``reason`` (one line), ``call`` (the input,
    as a call), ``detail`` (the original's and the candidate's outcomes)."""

    reason: str
    call: str
    detail: str


def applies(target: Target, suite: TestSuite, settings: Settings) -> bool:
    """True if ``target`` is checked by differential testing with ``suite``: no tests at all
    (kind "differential"), or fewer than ``settings.differential_min_tests`` pytest or doctest
    items for a function differential testing can call."""
    if suite.kind == "differential":
        return True
    return (
        suite.kind in ("pytest", "doctest") and suite.size < settings.differential_min_tests
        and differential_blocker(target) is None
    )


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
            [sys.executable, "-I", "-c", _WARM_HYPOTHESIS], env={**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(folder)},
            stdin=subprocess.DEVNULL, capture_output=True, timeout=_WARM_TIMEOUT_S, check=False,
        )  # if it fails, the sandbox builds the tables each time: slower, still correct
    return folder


def record_calls(suite: TestSuite, relative_path: Path, target: Target, limits: Limits) -> list[bytes]:
    """The distinct calls of ``target`` (pickled ``(args, kwargs)``, outermost calls only, at
    most MAX_RECORDED_CALLS and MAX_RECORDED_BYTES) made by one run of ``suite`` on the
    original. The bytes are split here but never unpickled in this process."""
    workspace = Workspace(suite, relative_path, "")
    try:
        recorder = _RECORDER.format(
            name=target.name, path=str(workspace.exchange / _RECORDING),
            max_calls=MAX_RECORDED_CALLS, max_bytes=MAX_RECORDED_BYTES,
        )
        workspace.program.write_text(target.source.rstrip("\n") + "\n" + recorder, encoding="utf-8")
        with WorkerHandle(workspace, suite, limits, exchange=True) as worker:
            worker.run()
        try:
            data = (workspace.exchange / _RECORDING).read_bytes()
        except FileNotFoundError:
            return []
    finally:
        workspace.close()
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

    def __init__(self, target: Target, suite: TestSuite, settings: Settings, limits: Limits, relative_path: Path) -> None:
        self.target = target
        self.suite = suite
        self.settings = settings
        self.limits = limits
        self.relative_path = relative_path
        self.calls = calls_for(suite.root, relative_path, target.name)
        self.check: DifferentialCheck | None = None
        self._inputs: list[bytes] = []
        self._reference: list[tuple[dict[str, Any], dict[str, Any]]] = []  # the original's entries and parsed outcomes

    def open_worker(self, workspace: Workspace) -> WorkerHandle:
        """A differential-mode worker on ``workspace``, holding the inputs found by :meth:`prepare`."""
        worker = WorkerHandle(workspace, self.suite, self.limits, self.calls, readable=(hypothesis_storage(),))
        if self._inputs:
            worker.request(protocol.inputs_request(self._inputs))
        return worker

    def prepare(self, worker: WorkerHandle) -> None:
        """Record, generate, and run the original on every input (``worker``: a differential-mode
        worker on the original); loads the kept inputs into ``worker``.

        Raises NoTestsFound if the target has no tests and no input could be made for it.
        """
        recorded = record_calls(self.suite, self.relative_path, self.target, self.limits) if self.suite.size else []
        answer = worker.request(protocol.generate_request(
            recorded, self.settings.differential_examples, MAX_INPUT_BYTES, str(hypothesis_storage()),
        ))
        known = set(recorded)
        generated = [data for data in answer.get(protocol.GENERATED, []) if data not in known]
        inputs = recorded + generated
        generated_limit_s = min(self.limits.timeout_s, GENERATED_INPUT_LIMIT_S)
        limits_s = [self.limits.timeout_s] * len(recorded) + [generated_limit_s] * len(generated)
        worker.request(protocol.inputs_request(inputs))
        first, second = (_described(self._outcomes(worker, limits_s, keep_going=True)) for _ in range(2))
        kept = [  # (a run that failed as a whole described nothing: zip stops there)
            index for index, (a, b) in enumerate(zip(first, second, strict=False))
            if a is not None and b is not None and same(a[1], b[1])
        ]
        if not kept and self.suite.kind == "differential":
            problem = str(answer.get(protocol.PROBLEM, "")).strip() or "the original timed out, crashed or varied on every input"
            raise NoTestsFound(
                f"{self.target.name} has no tests, and differential testing found no input to call it on "
                f"({problem.splitlines()[-1]}); write a test that calls it, or pass --tests PATH."
            )
        self._inputs = [inputs[index] for index in kept]
        self._reference = [described for index in kept if (described := first[index]) is not None]
        worker.request(protocol.inputs_request(self._inputs))
        if kept:
            from_tests = sum(1 for index in kept if index < len(recorded))
            self.check = DifferentialCheck(from_tests, len(kept) - from_tests)

    def _outcomes(self, worker: WorkerHandle, limits_s: list[float], *, keep_going: bool) -> list[Any] | str:
        """The worker's entries for its inputs (see :mod:`perfedit.sandbox.worker`), or its
        ``problem`` (a string: the module did not load)."""
        answer = worker.request(protocol.outcomes_request(limits_s, keep_going))
        entries = answer.get(protocol.OUTCOMES)
        return entries if isinstance(entries, list) else str(answer.get(protocol.PROBLEM, "")).strip() or "no answer"

    def mismatch(self, worker: WorkerHandle) -> Mismatch | None:
        """The first input on which the candidate served by ``worker`` (a worker from
        :meth:`open_worker` on the candidate's workspace) does not behave as the original, or
        None if it matches on every input."""
        if not self._inputs:
            return None
        entries = self._outcomes(worker, [self.limits.timeout_s] * len(self._inputs), keep_going=False)
        if isinstance(entries, str):
            return Mismatch(f"differential testing: {self.target.name} cannot be called: {entries.splitlines()[-1]}", "", entries)
        if len(entries) != len(self._reference):
            return Mismatch(f"differential testing: the sandbox answered for {len(entries)} of {len(self._reference)} inputs", "", "")
        for (original, want), entry in zip(self._reference, entries, strict=True):
            how = self._difference(original, want, entry)
            if how is not None:
                call = original["call"]
                got = entry.get("result", how) if isinstance(entry, dict) else how
                return Mismatch(
                    f"differential testing: {how} for {call}", call,
                    f"input: {call}\noriginal: {original['result']}\ncandidate: {got}",
                )
        return None

    def _difference(self, original: dict[str, Any], want: dict[str, Any], entry: dict[str, Any] | None) -> str | None:
        """How the candidate's ``entry`` differs from the original's (``want``: its parsed
        outcome), or None if it does not."""
        if entry is None:
            return f"did not finish within the {self.limits.timeout_s * DIFFERENTIAL_BUDGET:g} s budget of differential testing"
        if protocol.STOPPED in entry:
            stopped = str(entry[protocol.STOPPED])
            return f"timed out after {self.limits.timeout_s:g} s" if stopped == protocol.TIMEOUT else f"crashed ({stopped[:300]})"
        got = _parse(entry["outcome"])
        if not isinstance(got, dict) or "result" not in got:
            return "could not be described" if not isinstance(got, dict) or "unusable" not in got else "could not load its input"
        if not same(want["result"], got["result"]):
            return _instead(entry["result"], original["result"], got["result"], want["result"])
        for index, (before, after) in enumerate(zip(want["args"], got.get("args", []), strict=False)):
            if not same(before, after):
                return (f"leaves argument {index + 1} as {_text(entry['args'], index)} where the original "
                        f"leaves {_text(original['args'], index)}")
        if not same(want["kwargs"], got.get("kwargs")) or not same(len(want["args"]), len(got.get("args", []))):
            return "leaves its keyword arguments other than the original does"
        return None


def _described(entries: list[Any] | str) -> list[tuple[dict[str, Any], dict[str, Any]] | None]:
    """Each of the original's entries with its parsed outcome, or None where the original did
    not describe a call (stopped, input not loaded, not reached, the module did not load)."""
    if isinstance(entries, str):
        return []
    described = []
    for entry in entries:
        parsed = _parse(entry["outcome"]) if isinstance(entry, dict) and "outcome" in entry else None
        described.append((entry, parsed) if isinstance(parsed, dict) and "result" in parsed else None)
    return described


def _text(texts: list[str], index: int) -> str:
    return texts[index] if index < len(texts) else "?"


def _instead(got: str, want: str, got_form: Any, want_form: Any) -> str:
    """"returns [1, 2] instead of [2, 1]", "raises KeyError instead of returning 3", ...
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
