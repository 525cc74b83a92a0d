"""Validation: is a candidate correct, and is it significantly faster than the original?

The :class:`Harness` keeps a warm worker for the original (the baseline) for the whole job.
Each candidate gets its own workspace and worker: one correctness run, one warm-up run per side
(discarded), then timed runs interleaved with baseline runs (A B A B ...) until
:class:`perfedit.verify.timing.SequentialRule` decides (after at most E = ``settings.runs`` pairs).
Every candidate run is checked for correctness again, timed or not.

A function's candidate is timed on its own calls: each timed run has two *timing sets*, the
tests and one pass over the function's calls recorded from them (:data:`CALLS`; with calls
recorded from a workload, :mod:`perfedit.testsource.workload`, those instead). The tests still
decide correctness first; the calls decide the speed (the time of the function itself, which the
tests' own work, their set-up, argument copies and checks, would otherwise swamp, as pyperf and
ENAMEL time the function's calls, not its test harness), and the tests' set is a guard: a
candidate significantly slower on it (the one-sided Yuen's test the other way round, at the same
alpha) is not faster. Both speedups are reported, each with its set. Calls recorded from the
tests decide only where the tests' own work swamps them (they take less than
:data:`CALLS_DECIDE_BELOW` of the tests' time in the original's first timed run); elsewhere, without recorded calls
(a script, differential testing off, no call replayed the same twice), or with ``time_calls``
off and no workload, the tests alone decide.

A function's candidate that passes its tests must also match the original by differential
testing (:mod:`perfedit.verify.differential`) before it is timed; a difference only on widened inputs
(kinds the tests do not use), or on a script's varied case inputs, is named in the verdict's
reason and notes instead of rejecting it. With no tests, the timed run is one pass of calls
over the differential inputs. A verdict's ``notes`` also name what the tests cannot tell:
expected outputs written into the candidate (:mod:`perfedit.verify.literals`), differential testing
off or not possible.

:func:`validate_candidates` is the one way candidates are validated (the pipeline, evaluation
and rewards use it): duplicates by syntax tree are settled unrun, the rest go to the harness.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import re
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from perfedit.config import Settings
from perfedit.errors import Cancelled, OriginalFailsTests, SandboxError, SourceSyntaxError
from perfedit.formats.suites import TestSuite
from perfedit.progress import CancelFn, never_cancelled
from perfedit.sandbox import Limits, TestRecord, WorkerHandle, Workspace, protocol
from perfedit.sandbox.protocol import MAX_DETAIL_BYTES, cap_text
from perfedit.targets import Candidate, Target, parse, split_lines
from perfedit.testsource.profiling import HOT_LINES_KEPT
from perfedit.verify import differential, literals, scaling
from perfedit.verify.differential import Differential, DifferentialCheck, Mismatch
from perfedit.verify.scaling import Scaling
from perfedit.verify.timing import (
    Comparison,
    CrossCheck,
    SequentialRule,
    compare,
    cross_check,
    trimmed_mean,
)

_FLOAT_TOLERANCE = 1e-3
_OUTPUT_EXCERPT_BYTES = 1024  # of a case's expected and actual output in a failure's detail
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
#: What a harness step says when its ``cancel`` callback stopped it: the user cancelled the job, or
#: the job's time budget was spent (the job tells the two apart for the user).
STOPPED = "stopped: the job was cancelled or its time budget was spent"
#: The name of the timed run over the function's recorded calls (from the workload when there is
#: one, else from the tests), beside the tests' records, and of the timing set it makes.
CALLS = "recorded calls"
#: The calls recorded from the tests decide only while they take less than this share of the
#: tests' time in the baseline (:func:`_swamped`).
CALLS_DECIDE_BELOW = 0.5
#: The timing set of the tests (or, with no tests, of the differential inputs).
TESTS = "tests"
#: The timing set: the slowest tests that together take this share of the original's time
#: (:func:`timing_set`); the rest are run for correctness but not timed.
TIMED_SHARE = 0.95


def outputs_match(actual: str, expected: str) -> bool:
    """PIE's output check: equal after stripping trailing whitespace on each line and trailing
    blank lines; numeric tokens may differ by at most 1e-3."""

    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.rstrip().splitlines()]

    got, want = lines(actual), lines(expected)
    if got == want:
        return True
    if len(got) != len(want):
        return False
    for got_line, want_line in zip(got, want, strict=True):
        got_tokens, want_tokens = got_line.split(), want_line.split()
        if len(got_tokens) != len(want_tokens):
            return False
        for a, b in zip(got_tokens, want_tokens, strict=True):
            if a == b:
                continue
            if (
                not (_NUMBER.fullmatch(a) and _NUMBER.fullmatch(b))
                or abs(float(a) - float(b)) > _FLOAT_TOLERANCE
            ):
                return False
    return True


class Failure(NamedTuple):
    """A failed test ``test``: ``headline`` ("case 2: wrong output", "test_x: failed: TypeError:
    ...") and ``detail``, the test's full output (traceback, expected and actual output)."""

    test: str
    headline: str
    detail: str


def _telling_line(detail: str) -> str:
    """pytest's first ``E`` line, else the last line of a traceback."""
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[0] if errors else lines[-1] if lines else "")[:200]


def _failure(record: TestRecord, suite: TestSuite) -> Failure | None:
    """Why ``record`` counts as a failed test, or None if it passed."""
    if not record.ran_cleanly:
        detail = cap_text(record.detail.strip())
        return Failure(
            record.name, f"{record.name}: {record.status}: {_telling_line(detail)}", detail
        )
    if suite.kind == "cases":
        case = next(c for c in suite.cases if c.name == record.name)
        if not outputs_match(record.stdout, case.expected):
            expected, got = (
                cap_text(text.strip(), _OUTPUT_EXCERPT_BYTES)
                for text in (case.expected, record.stdout)
            )
            detail = f"--- expected\n{expected}\n--- got\n{got}"
            return Failure(record.name, f"{record.name}: wrong output", detail)
    return None


@dataclass(frozen=True)
class Baseline:
    """The original program: per-test trimmed-mean times (seconds), its slowest test (the
    PerfCodeGen feedback test), peak resident memory (bytes), the number of tests (0 when it
    has none and is checked by differential testing only) and its measured ``scaling`` with
    the input size (:mod:`perfedit.verify.scaling`; None when its tests offer too few sizes)."""

    per_test_s: dict[str, float]
    slowest_test: str
    peak_rss_bytes: int
    tests_total: int
    scaling: Scaling | None = None


@dataclass(frozen=True)
class Verdict:
    """The verdict on one candidate.

    ``verdict``: "rejected" (does not parse, fails a test, crashes, times out), "not_faster"
    (correct but not significantly >= min_speedup faster) or "faster"; ``reason`` says why in
    one line, ``detail`` holds the first failing test's (``failed_test``) full output. ``comparison`` is None for
    rejected candidates. ``differential`` says on how many inputs the candidate was checked by
    differential testing (None: it was not). ``validation_s`` is the wall time its validation
    took (0 when it was settled unrun). ``notes``: what the tests could not tell for a candidate
    that was not rejected (one "note: …" sentence each). ``differences``: how the candidate
    behaved otherwise than the original where the checks saw it without rejecting it (a
    narrowing found by differential testing or a script's varied inputs, one sentence each, also
    among the notes): a candidate with any is unsafe to apply unreviewed. ``mutated_argument``:
    for a candidate rejected by differential testing only because it left a positional argument
    changed where the original did not (:attr:`~perfedit.verify.differential.Mismatch.argument`),
    that argument's index (0-based), else None. ``comparison`` is the
    deciding timing set's (:attr:`timing_set`): the function's recorded calls when they were
    timed (``calls_from`` says where they were recorded: "workload" or "test";
    ``tests_comparison`` is then the tests' set beside it, which must not be significantly
    slower), else the tests'. Memory in bytes, times in seconds.
    ``reason`` and ``detail`` may quote the candidate's output: each is capped at
    MAX_DETAIL_BYTES (4 KiB, UTF-8), the cut marked "… (N bytes cut) …", before it reaches the
    JSON, the editor's log or a refinement prompt.
    """

    label: str
    verdict: Literal["rejected", "not_faster", "faster"]
    reason: str
    tests_passed: int
    tests_total: int
    comparison: Comparison | None = None
    peak_rss_bytes: int = 0
    per_test_s: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    failed_test: str = ""
    differential: DifferentialCheck | None = None
    validation_s: float = 0.0
    notes: tuple[str, ...] = ()
    differences: tuple[str, ...] = ()
    mutated_argument: int | None = None
    tests_comparison: Comparison | None = None
    calls_from: str = ""

    @property
    def timing_set(self) -> str:
        """The timing set that decided: :data:`CALLS` or :data:`TESTS`."""
        return CALLS if self.tests_comparison is not None else TESTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", cap_text(self.reason, MAX_DETAIL_BYTES))
        object.__setattr__(self, "detail", cap_text(self.detail, MAX_DETAIL_BYTES))


class Harness:
    """Validates candidates for ``target`` against ``suite`` (see module docstring).

    Use as a context manager; :meth:`baseline` must be called first and raises
    OriginalFailsTests if the original does not pass. ``cancel`` is asked between runs, and
    during each run of a candidate's workers (every ``STOP_POLL_S`` seconds): once it answers
    True, that run is killed and :meth:`validate` raises Cancelled.
    """

    def __init__(
        self,
        target: Target,
        suite: TestSuite,
        settings: Settings,
        cancel: CancelFn = never_cancelled,
    ) -> None:
        self.target = target
        self.suite = suite
        self.settings = settings
        self.cancel = cancel
        self.limits = Limits(
            timeout_s=settings.timeout_s, memory_limit_bytes=settings.memory_limit_bytes
        )
        self.rule = SequentialRule(
            max_runs=settings.runs,
            min_runs=settings.min_runs,
            alpha=settings.alpha,
            min_speedup=settings.min_speedup,
            adaptive=settings.adaptive,
        )
        self.relative_path = (
            Path(target.path.name)
            if suite.kind == "cases"
            else target.path.resolve().relative_to(suite.root)
        )
        self.differential = (
            Differential(target, suite, settings, self.limits, self.relative_path)
            if differential.applies(target, suite, settings)
            else None
        )
        self._expected = literals.expected_outputs(suite, target)
        self.variations = (  # a script's case inputs varied: differences are noted, not rejected
            differential.ScriptVariations(suite, self.relative_path, self.limits)
            if suite.kind == "cases" and settings.differential_min_tests > 0
            else None
        )
        self._workspace = Workspace(suite, self.relative_path, target.source)
        self._worker = self._open_worker(self._workspace)
        self._calls_worker: WorkerHandle | None = None  # opened by baseline() if there are calls
        #: where the timed calls were recorded: "workload", "test" (the tests), or "" (the tests decide)
        self.calls_from = ""
        self._timed_tests: tuple[str, ...] | None = None  # set by baseline(): None times every test
        self._baseline_tests_s: dict[str, float] = {}

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the baseline's workers and delete its workspace."""
        self._worker.close()
        self._close_calls_worker()
        self._workspace.close()

    def _close_calls_worker(self) -> None:
        """Stop timing the recorded calls: the tests decide alone from now on."""
        if self._calls_worker is not None:
            self._calls_worker.close()
        self._calls_worker, self.calls_from = None, ""

    def _check_cancel(self) -> None:
        if self.cancel():
            raise Cancelled(STOPPED)

    def _open_worker(self, workspace: Workspace) -> WorkerHandle:
        """The worker that runs (and times) the tests in ``workspace``: with no tests, a
        differential-mode worker calling the function on the differential inputs."""
        if self.differential is not None and self.suite.kind == "differential":
            return self.differential.open_worker(workspace)
        return WorkerHandle(workspace, self.suite, self.limits)

    def _open_calls_worker(self, workspace: Workspace) -> WorkerHandle | None:
        """A differential-mode worker on ``workspace`` holding the function's kept recorded
        calls (the workload's, else the tests' with ``time_calls``; see the module docstring),
        whose timed passes join the tests' in every timed run; None without such calls (or with
        no tests, where the timed run already covers every differential input). Sets
        :attr:`calls_from` on the first call."""
        checker = self.differential
        if checker is None or self.suite.kind == "differential":
            return None
        if checker.workload_inputs:
            inputs, self.calls_from = checker.workload_inputs, "workload"
        elif checker.test_inputs and self.settings.time_calls:
            inputs, self.calls_from = checker.test_inputs, "test"
        else:
            return None
        worker = WorkerHandle(workspace, self.suite, self.limits, checker.calls)
        worker.request(protocol.inputs_request(inputs))
        return worker

    def _timed_run(
        self,
        worker: WorkerHandle,
        calls_worker: WorkerHandle | None,
        only: Sequence[str] | None = None,
    ) -> list[TestRecord]:
        """One timed run: every test of ``only`` (None: all; ``worker``), then one timed pass
        over the function's recorded calls (``calls_worker``, a record named
        :data:`CALLS`), if any."""
        records = worker.run(calibrate=True, only=only)
        if calls_worker is not None:
            records += [
                dataclasses.replace(record, name=CALLS)
                for record in calls_worker.run(calibrate=True)
            ]
        return records

    def _prepare_differential(self, checker: Differential) -> None:
        """Find the differential inputs and the original's outcomes (raises NoTestsFound if the
        target has no tests and no input could be made)."""
        if self.suite.kind == "differential":
            checker.prepare(self._worker)
            return
        with checker.open_worker(self._workspace) as worker:
            checker.prepare(worker)

    def _differential_mismatch(self, worker: WorkerHandle, workspace: Workspace) -> Mismatch | None:
        """How the candidate in ``workspace`` (served by ``worker``) fails differential testing
        (a script: differs on its varied case inputs), or None if it passes or is not checked that way."""
        if self.variations is not None:
            return self.variations.mismatch(
                workspace.program.read_text(encoding="utf-8"), outputs_match
            )
        if self.differential is None or self.differential.check is None:
            return None
        if self.suite.kind == "differential":
            return self.differential.mismatch(worker)
        with (
            self.differential.open_worker(workspace) as calls,
            calls.stopped_when(self.cancel) as stopped,
        ):
            mismatch = self.differential.mismatch(calls)
        self._raise_if(stopped)
        return mismatch

    def baseline(
        self, runs: int = 3, another_run: Callable[[float], bool] = lambda run_s: True
    ) -> Baseline:
        """Run the original: differential testing's inputs and outcomes where it applies,
        correctness once, then ``runs`` timed runs for per-test times (fewer once
        ``another_run(run_s)``, asked before each after the first with the seconds the last run
        of the tests took, says False; at least one); its scaling from the recorded calls (a
        function) or the per-case times (a script)."""
        if self.differential is not None:
            self._check_cancel()
            self._prepare_differential(self.differential)
        started = time.perf_counter()
        records = self._worker.run()
        run_s = time.perf_counter() - started
        failures = self._failures(records)
        if failures:
            raise OriginalFailsTests(
                f"the tests fail on the original {self.target.name} ({len(failures)} of {len(records)}), "
                f"so they cannot judge a faster version. Fix the code or the tests first.\n"
                f"{failures[0].headline}\n{failures[0].detail}"
            )
        if self.variations is not None:
            self.variations.prepare(self.target.source)
        self._calls_worker = self._open_calls_worker(self._workspace)
        timed: list[list[TestRecord]] = []
        for _ in range(runs):
            if timed and not another_run(run_s):
                break
            self._check_cancel()
            started = time.perf_counter()
            timed.append(self._timed_run(self._worker, self._calls_worker))
            run_s = time.perf_counter() - started
            if len(timed) == 1 and self.calls_from == "test" and not _swamped(timed[0]):
                self._close_calls_worker()  # the tests measure the function well: they decide alone
                timed[0] = [record for record in timed[0] if record.name != CALLS]
        per_test = _per_test(timed)
        tests_s = {name: s for name, s in per_test.items() if name != CALLS}
        self._timed_tests = timing_set(tests_s, self.settings.timed_share)
        self._baseline_tests_s = tests_s
        return Baseline(
            per_test_s=per_test,
            slowest_test=max(tests_s or per_test, key=(tests_s or per_test).__getitem__),
            peak_rss_bytes=max(r.peak_rss_bytes for r in records),
            tests_total=len(records) if self.suite.size else 0,
            scaling=(
                self.differential.scaling
                if self.differential is not None
                else scaling.of_cases(self.suite, per_test)
            ),
        )

    def validate(self, label: str, source: str) -> Verdict:
        """Validate and time the whole new file ``source`` (label names the candidate)."""
        started = time.perf_counter()
        verdict = self._validate(label, source)
        return dataclasses.replace(
            verdict,
            validation_s=time.perf_counter() - started,
            notes=() if verdict.verdict == "rejected" else (*verdict.notes, *self._notes(source)),
        )

    def hot_lines(self, source: str, test: str, timeout_s: float) -> list[tuple[int, float]]:
        """The hot lines of the target's span in ``source`` (the original file, or a candidate's
        whole new file) on ``test`` (a case's name or a pytest node id; the callers pass the
        slowest), from one sandboxed run under a line tracer (:func:`protocol.profile_request
        <perfedit.sandbox.protocol.profile_request>`) of at most ``timeout_s`` seconds:
        ``(line in the span, 1-based; seconds)``, the :data:`~perfedit.testsource.profiling.HOT_LINES_KEPT`
        hottest first. The original runs in the baseline's warm worker, a candidate in a worker
        of its own.

        Empty when the test did not pass in time (a hang, a crash), when the target has no
        tests (differential testing only) or when the sandbox could not start: the profile only
        feeds the prompt (SOAP, Huang et al. 2024, "EffiLearner"; PerfCodeGen, Peng et al.
        2024, section 2), so it never fails the job."""
        if self.suite.kind == "differential":
            return []
        start = self.target.start_line
        first, last = start + 1, start + len(split_lines(self.target.code_in(source)))
        request = protocol.profile_request(test, first, last, timeout_s)
        if source == self.target.source:
            answer = self._worker.request(request)
        else:
            workspace = Workspace(self.suite, self.relative_path, source)
            try:
                with WorkerHandle(workspace, self.suite, self.limits) as worker:
                    answer = worker.request(request)
            except SandboxError:
                answer = {}
            finally:
                workspace.close()
        lines = [
            (line - start, seconds)
            for line, seconds in answer.get(protocol.LINES, {}).items()
            if first <= line <= last
        ]
        return sorted(lines, key=lambda item: (-item[1], item[0]))[:HOT_LINES_KEPT]

    def _notes(self, source: str) -> tuple[str, ...]:
        """What the tests cannot tell about the candidate ``source`` (see :class:`Verdict`)."""
        check = self.differential.check if self.differential is not None else None
        varied = len(self.variations.expected) if self.variations is not None else 0
        unchecked = differential.unchecked_note(
            self.target, self.suite, self.settings, check, varied
        )
        hardcoded = literals.hardcoded_notes(source, self.target.source, self._expected)
        workload = self.differential.workload_note if self.differential is not None else ""
        return (*hardcoded, *([unchecked] if unchecked else []), *([workload] if workload else []))

    def _validate(self, label: str, source: str) -> Verdict:
        try:
            parse(source, self.target.path)
        except SourceSyntaxError as exc:
            return Verdict(label, "rejected", f"does not parse: {exc}", 0, self.suite.size)
        workspace = Workspace(self.suite, self.relative_path, source)
        try:
            with contextlib.ExitStack() as stack:
                worker = stack.enter_context(self._open_worker(workspace))
                stopped = stack.enter_context(worker.stopped_when(self.cancel))
                calls_worker = self._open_calls_worker(workspace) if self._calls_worker else None
                if calls_worker is not None:
                    stack.enter_context(calls_worker)
                    stack.enter_context(calls_worker.stopped_when(self.cancel))
                verdict = self._validate_in(label, worker, workspace, calls_worker)
            self._raise_if(stopped)
            return verdict
        finally:
            workspace.close()

    def _raise_if(self, stopped: threading.Event) -> None:
        """Cancelled if a candidate's worker was stopped (``cancel`` turned True during one of
        its runs, which then ended with "crashed" records: not the candidate's verdict)."""
        if stopped.is_set():
            raise Cancelled(STOPPED)

    def _failures(self, records: list[TestRecord]) -> list[Failure]:
        return [reason for r in records if (reason := _failure(r, self.suite))]

    def _warm_up(
        self,
        worker: WorkerHandle,
        calls_worker: WorkerHandle | None,
        only: Sequence[str] | None,
    ) -> None:
        """One run per side, discarded: caches and CPU frequency settle before timing."""
        self._timed_run(self._worker, self._calls_worker, only)
        self._timed_run(worker, calls_worker, only)

    def _timed_text(self, only: Sequence[str] | None, tests: int) -> str:
        """What a verdict's evidence says of the timing set ``only`` among ``tests`` tests
        ("" when every test was timed)."""
        if only is None:
            return ""
        share = self.settings.timed_share
        return f", timed on the {len(only)} of {tests} tests that take {share:.0%} of the time"

    def _timed_for(self, records: list[TestRecord]) -> tuple[str, ...] | None:
        """The tests a candidate is timed on: the timing set (:func:`timing_set`), or every
        test (None) when, in its correctness run (``records``), the tests left out of the set
        took longer than the original's by more than the share of time they were left out for
        (the set would hide that slowdown)."""
        timed = self._timed_tests
        if timed is None:
            return None
        left_out = [r for r in records if r.name not in timed]
        original_s = sum(self._baseline_tests_s.get(r.name, 0.0) for r in left_out)
        candidate_s = sum(r.seconds for r in left_out)
        allowance_s = (1 - self.settings.timed_share) * sum(self._baseline_tests_s.values())
        return None if candidate_s - original_s > allowance_s else timed

    def _validate_in(
        self,
        label: str,
        worker: WorkerHandle,
        workspace: Workspace,
        calls_worker: WorkerHandle | None = None,
    ) -> Verdict:
        self._check_cancel()
        records = worker.run() if self.suite.size else []
        failures = self._failures(records)
        passed = len(records) - len(failures)
        if failures:
            reason = f"fails {len(failures)} of {len(records)} tests: {failures[0].headline}"
            return _rejected(label, reason, passed, len(records), failures[0])
        checked = self.differential.check if self.differential is not None else None
        if (mismatch := self._differential_mismatch(worker, workspace)) and not mismatch.narrowing:
            return Verdict(
                label,
                "rejected",
                mismatch.reason,
                passed,
                len(records),
                detail=mismatch.detail,
                failed_test=mismatch.call,
                differential=checked,
                mutated_argument=mismatch.argument,
            )
        narrowing = (
            mismatch.narrowing if mismatch else ""
        )  # shown in the reason and the notes, not rejected
        only = self._timed_for(records)
        self._warm_up(worker, calls_worker, only)
        # the timing set that decides: the function's recorded calls when they are timed, else the tests
        pairs = TimedPairs(CALLS if calls_worker is not None else TESTS)

        def another_pair() -> Verdict | None:
            """Time the original and the candidate once more; the rejection if the candidate
            failed a test this time."""
            self._check_cancel()
            pairs.baseline.append(self._timed_run(self._worker, self._calls_worker, only))
            pairs.candidate.append(self._timed_run(worker, calls_worker, only))
            if broken := self._failures(pairs.candidate[-1]):
                reason = f"failed during a timing run: {broken[0].headline}"
                return _rejected(label, reason, passed, len(records), broken[0])
            return None

        while (comparison := self.rule.decide(*pairs.totals(pairs.decides))) is None:
            if rejected := another_pair():
                return rejected
        check = pairs.cross_check()
        # a cross-check within its noise takes more pairs (up to max_runs more), for it only
        while (
            comparison.faster and not check.settled and len(pairs.baseline) < 2 * self.rule.max_runs
        ):
            if rejected := another_pair():
                return rejected
            check = pairs.cross_check()
        tests_comparison = pairs.guard(comparison, self.rule.min_speedup)
        candidate_runs = pairs.candidate
        if comparison.faster and not check.consistent:
            return Verdict(
                label,
                "rejected",
                _cross_check_failed(check),
                passed,
                len(records),
                comparison,
                per_test_s=_per_test(candidate_runs),
                differential=checked,
                tests_comparison=tests_comparison,
            )
        verdict, reason = judge(
            self.rule,
            comparison,
            tests_comparison,
            self._timed_text(only, len(records)),
            self.calls_from,
        )
        return Verdict(
            label,
            verdict,
            f"{reason}; {narrowing}" if narrowing else reason,
            passed,
            len(records),
            comparison,
            peak_rss_bytes=max(r.peak_rss_bytes for r in records or candidate_runs[0]),
            per_test_s=_per_test(candidate_runs),
            differential=checked,
            notes=(f"note: {narrowing}.",) if narrowing else (),
            differences=(narrowing,) if narrowing else (),
            detail=mismatch.detail if mismatch else "",
            tests_comparison=tests_comparison,
            calls_from=self.calls_from if tests_comparison is not None else "",
        )


def judge(
    rule: SequentialRule,
    c: Comparison,
    tests: Comparison | None = None,
    timed: str = "",
    calls_from: str = "workload",
) -> tuple[Literal["not_faster", "faster"], str]:
    """The verdict and its one-line reason for a correct candidate whose timing ``rule`` decided
    ``c``: the wall-clock speedup and its evidence (``timed``: which tests were timed, when the
    timing set left some out, e.g. ", timed on the 4 of 13 tests that take 95% of the time"),
    the CPU-time ratio beside it. With the function's recorded calls deciding (``c`` is theirs,
    recorded from ``calls_from``: "workload" or "test"), ``tests`` is the tests' timing set,
    compared at the same alpha: a candidate significantly slower on it (``tests.slower``,
    Yuen's test the other way round) is not faster, and its speedup there is named in the reason."""
    evidence = f"p={c.p_value:.3g} vs {c.alpha:.3g} after {c.runs} of {rule.max_runs} runs{timed}"
    cpu = f"CPU time {c.cpu_speedup:.2f}x"
    on = calls_phrase(calls_from) if tests is not None else ""
    on_tests = (
        ""
        if tests is None
        else f"; on the tests {tests.speedup:.2f}x (p={tests.p_slower:.3g} that it is slower)"
    )
    if c.wall_faster and tests is not None and tests.slower:
        return (
            "not_faster",
            f"{c.speedup:.2f}x faster on the wall clock{on} ({evidence}) but significantly "
            f"slower on the tests ({tests.speedup:.2f}x, p={tests.p_slower:.3g} that it is "
            f"slower, against {tests.alpha:.3g})",
        )
    if c.faster:
        return (
            "faster",
            f"{c.speedup:.2f}x faster on the wall clock{on} ({evidence}, {cpu}){on_tests}",
        )
    if c.wall_faster:
        return (
            "not_faster",
            f"{c.speedup:.2f}x faster on the wall clock{on} but slower in CPU time ({cpu}, "
            f"p={c.cpu_p_slower:.3g} that it uses more, {evidence}){on_tests}",
        )
    return (
        "not_faster",
        f"correct but not significantly >= {rule.min_speedup:.2f}x faster on the wall clock{on} "
        f"({c.speedup:.2f}x, {evidence}, {cpu}){on_tests}",
    )


def calls_phrase(calls_from: str) -> str:
    """How a reason names the recorded calls that decided (``calls_from``: "workload" or
    "test"), e.g. " on the workload's calls"."""
    return " on the workload's calls" if calls_from == "workload" else " on its calls in the tests"


@dataclass
class TimedPairs:
    """The interleaved timed runs of the original (``baseline``) and a candidate, one list of
    records per run, and the timing set that ``decides`` (:data:`CALLS` or
    :data:`TESTS`)."""

    decides: str
    baseline: list[list[TestRecord]] = field(default_factory=list)
    candidate: list[list[TestRecord]] = field(default_factory=list)

    def totals(self, timing_set: str) -> tuple[list[float], list[float], list[float], list[float]]:
        """``timing_set``'s per-run wall-clock seconds on each side, then its CPU seconds: the
        arguments of :func:`~perfedit.verify.timing.compare` and ``SequentialRule.decide``."""
        wall_b, wall_c, cpu_b, cpu_c = (
            [_total_s(run, name, timing_set) for run in side]
            for name in ("seconds", "cpu_seconds")
            for side in (self.baseline, self.candidate)
        )
        return wall_b, wall_c, cpu_b, cpu_c

    def guard(self, decided: Comparison, min_speedup: float) -> Comparison | None:
        """The tests' set compared beside the calls' ``decided`` comparison, at its alpha (the
        guard: the candidate must not be significantly slower there); None when the tests
        decided themselves."""
        if self.decides != CALLS:
            return None
        wall_b, wall_c, cpu_b, cpu_c = self.totals(TESTS)
        return compare(
            wall_b,
            wall_c,
            alpha=decided.alpha,
            min_speedup=min_speedup,
            baseline_cpu=cpu_b,
            candidate_cpu=cpu_c,
        )

    def cross_check(self) -> CrossCheck:
        """:func:`~perfedit.verify.timing.cross_check` of every record of the runs, both sets."""
        cpu, sample_cpu = (
            [[_total_s(run, name) for run in side] for side in (self.baseline, self.candidate)]
            for name in ("cpu_seconds", "sample_cpu_seconds")
        )
        return cross_check(*cpu, *sample_cpu)


def _cross_check_failed(check: CrossCheck) -> str:
    """The reason a candidate whose saving the CPU time outside its timed calls contradicts is rejected."""
    return (
        f"timing cross-check failed: its timed calls used {check.claimed_s * 1e3:.3f} ms less CPU time per run than the "
        f"original's, but its test processes used {check.moved_s * 1e3:.3f} ms more CPU time outside them "
        f"(± {check.noise_s * 1e3:.3f} ms): was work moved out of the timed calls?"
    )


def _swamped(run: list[TestRecord]) -> bool:
    """True when, in the original's first timed ``run``, the tests' own work swamps the
    function's: the pass over its recorded calls took less than :data:`CALLS_DECIDE_BELOW` of
    the tests' time. Only then do the calls decide for calls recorded from the tests: otherwise
    the tests already time mostly the function, and a pass over its calls would double the cost
    of every timed run for nothing."""
    return _total_s(run, timing_set=CALLS) < CALLS_DECIDE_BELOW * _total_s(run, timing_set=TESTS)


def timing_set(per_test_s: dict[str, float], share: float) -> tuple[str, ...] | None:
    """The names of the slowest tests of ``per_test_s`` (name → the original's seconds) that
    together take at least ``share`` (0–1] of their total time, slowest first; None when that
    is every test (or there are none). Timing only them spends a candidate's timed runs where
    the time goes: pyperf and PIE time the heavy inputs, not every small check, and each timed
    test costs a fresh sample process per run whatever its own time."""
    ranked = sorted(per_test_s, key=lambda name: -per_test_s[name])
    total_s, running_s = sum(per_test_s.values()), 0.0
    if total_s <= 0:
        return None
    for count, name in enumerate(ranked, start=1):
        running_s += per_test_s[name]
        if running_s >= share * total_s:
            return tuple(ranked[:count]) if count < len(ranked) else None
    return None


def _rejected(label: str, reason: str, passed: int, total: int, failure: Failure) -> Verdict:
    """The verdict of a candidate rejected by a failing test (``failure``)."""
    return Verdict(
        label, "rejected", reason, passed, total, detail=failure.detail, failed_test=failure.test
    )


def _total_s(run: list[TestRecord], field: str = "seconds", timing_set: str | None = None) -> float:
    """One run's time, the sum over its records of ``field`` (a :class:`TestRecord` time: its
    wall-clock ``seconds``, ``cpu_seconds`` or ``sample_cpu_seconds``), seconds: over those of
    ``timing_set`` only if given (:data:`CALLS`: the pass over the function's recorded calls;
    :data:`TESTS`: the rest)."""
    return sum(
        getattr(record, field)
        for record in run
        if timing_set is None or (record.name == CALLS) == (timing_set == CALLS)
    )


def _per_test(runs: list[list[TestRecord]]) -> dict[str, float]:
    """Per-test trimmed mean over runs, seconds."""
    names = [record.name for record in runs[0]]
    return {name: trimmed_mean([run[i].seconds for run in runs]) for i, name in enumerate(names)}


def syntax_key(code: str) -> str:
    """What makes two candidates the same candidate: the dump of ``code``'s syntax tree (after
    dedenting), or ``code`` itself when it does not parse."""
    try:
        return ast.dump(ast.parse(textwrap.dedent(code)))
    except SyntaxError:
        return code


def validate_candidates(
    candidates: Iterable[Candidate],
    validate: Callable[[Candidate], Verdict],
    known: dict[str, Verdict],
    *,
    seen: dict[str, str] | None = None,
) -> Iterator[Verdict]:
    """One verdict per candidate, in order, each yielded as soon as it is made: candidates are
    deduplicated by syntax tree (:func:`syntax_key`), then validated.

    * a candidate without usable code is rejected unrun;
    * with ``seen`` (syntax tree → label of the first candidate with it; updated), one whose tree
      is there under another label is rejected unrun as "same as <label>" (the caller puts the
      original there to reject copies of it);
    * one whose tree has a verdict in ``known`` (syntax tree → verdict; updated) gets that
      verdict under its own label, unrun;
    * the others get ``validate(candidate)`` (typically :meth:`Harness.validate` on its source).
    """
    for candidate in candidates:
        key = syntax_key(candidate.code)
        earlier = None if seen is None else seen.setdefault(key, candidate.label)
        if not candidate.usable:
            yield Verdict(candidate.label, "rejected", "no usable code in the reply", 0, 0)
        elif earlier is not None and earlier != candidate.label:
            yield Verdict(candidate.label, "rejected", f"same as {earlier}", 0, 0)
        else:
            if key not in known:
                known[key] = validate(candidate)
            yield dataclasses.replace(known[key], label=candidate.label)
