"""The main job: target → tests → baseline → candidates (proposers) → validation →
refinement → selection → minimisation → diff → explanation.

Candidates come from a list of proposers (:data:`~perfedit.candidates.Proposer`: by default the
rules, then the model; a file of candidates instead when the caller says so) and refinement
from refining proposers fed with the verdicts (by default PerfCodeGen's, :mod:`perfedit.candidates.refine`).
The job streams: the proposers start in a background thread as soon as the job starts, while the
original runs; each candidate (each model reply as soon as it is complete) is validated while the
next is made, in :func:`~perfedit.job.order.validation_order` (one rule candidate before the
greedy one, the others between the samples). A rejected candidate may be followed at once by its
argument-copy repair (:mod:`perfedit.candidates.repair`), and a failed model candidate by its
fix, the model's next reply (:mod:`perfedit.candidates.fixes`).
Each validated faster candidate is reported at once (progress :attr:`~perfedit.progress.Phase.FOUND`).
The job stops generating early by a stated rule (:func:`stop_reason`): the time budget
(``budget_s``) is spent, or a candidate is already ``stop_at_speedup`` times faster at the low end
of its 95% CI. It then returns the best validated candidate so far, minimised if time allows.

:func:`suggest` runs it all; :class:`Job` holds its steps so that the ablation benchmark can run
them in other combinations. Knows nothing of the CLI or LSP: callers pass a
:data:`~perfedit.progress.ProgressFn`, a :data:`~perfedit.progress.CancelFn` and a way to get
the (cached, lazily loaded) model (:data:`~perfedit.candidates.ask.ModelProvider`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from perfedit import targets
from perfedit.candidates import Feedback, Proposer, ask
from perfedit.candidates.ask import ModelProvider
from perfedit.candidates.fixes import FixRequests, wants_fix
from perfedit.candidates.model import model_proposer
from perfedit.candidates.refine import refiner, slowest_test, to_optimise
from perfedit.candidates.repair import argument_repair
from perfedit.candidates.rules import propose_rules
from perfedit.config import Settings
from perfedit.deliver import explain
from perfedit.deliver.diffs import Edit, changed_lines, line_edits, unified_diff
from perfedit.deliver.minimise import Minimised, minimise
from perfedit.errors import Cancelled, NoCodeGenerated, NoFasterVersion
from perfedit.formats.suites import TestSuite
from perfedit.job.locate import Request, locate
from perfedit.job.order import Source, validation_order
from perfedit.progress import CancelFn, Phase, ProgressFn, never_cancelled, no_progress
from perfedit.targets import Candidate
from perfedit.verify.machine import Load, current_load, heaviest
from perfedit.verify.scaling import Scaling
from perfedit.verify.selection import choose
from perfedit.verify.validate import Baseline, Harness, Verdict, syntax_key, validate_candidates


@dataclass(frozen=True)
class Suggestion:
    """A validated faster version. ``edits``/``diff`` turn the original file into ``new_source``
    (minimised: ``changed_lines`` of the winner's ``changed_lines_before``); ``winner`` is the
    minimised version's verdict; ``verdicts`` holds every candidate's verdict; ``load`` the
    machine's heaviest load sampled while candidates were timed; times in seconds."""

    target: targets.Target
    suite: TestSuite
    baseline: Baseline
    winner: Verdict
    new_source: str
    diff: str
    edits: list[Edit]
    changed_lines: int
    changed_lines_before: int
    facts: list[str]
    reason: str
    verdicts: list[Verdict]
    timings_s: dict[str, float] = field(default_factory=dict)
    generated_tokens: int = 0  # over every candidate's reply
    stopped_early: str = ""  # why generation stopped before every candidate was made, or ""
    load: Load | None = None

    @property
    def unsafe(self) -> bool:
        """True when the winner behaves otherwise than the original on some input the checks
        saw (:attr:`~perfedit.verify.validate.Verdict.differences`): never applied unreviewed."""
        return bool(self.winner.differences)

    @property
    def headline(self) -> str:
        """The decision's facts in a few words (:func:`perfedit.deliver.explain.headline`)."""
        return explain.headline(self.winner, self.suite)

    @property
    def cautions(self) -> list[str]:
        """What to know before applying it (:func:`perfedit.deliver.explain.cautions`)."""
        return explain.cautions(self.winner, self.load)

    @classmethod
    def of_winner(
        cls,
        target: targets.Target,
        suite: TestSuite,
        baseline: Baseline,
        minimised: Minimised,
        load: Load | None,
        **rest: Any,
    ) -> Suggestion:
        """The suggestion of the ``minimised`` winner: its diff and edits of ``target``'s file and
        its measured facts (``load``: the machine's heaviest load while it was timed);
        ``rest``: the other fields (``reason``, ``verdicts``...)."""
        return cls(
            target=target,
            suite=suite,
            baseline=baseline,
            winner=minimised.verdict,
            new_source=minimised.source,
            diff=unified_diff(target.source, minimised.source, target.path.name),
            edits=line_edits(target.source, minimised.source),
            changed_lines=minimised.changed_lines_after,
            changed_lines_before=minimised.changed_lines_before,
            facts=explain.facts(
                minimised.verdict,
                baseline,
                suite,
                minimised.changed_lines_after,
                minimised.changed_lines_before,
                load,
            ),
            load=load,
            **rest,
        )

    @property
    def distinct_correct(self) -> int:
        """Candidates that passed the tests, duplicates by syntax tree counted once (they are
        rejected unrun as duplicates)."""
        return sum(v.verdict != "rejected" for v in self.verdicts)

    @property
    def explanation(self) -> str:
        """Measured facts, then the model's reason, as plain text."""
        return "\n".join(self.facts + ([f"Why: {self.reason}"] if self.reason else []))


#: The seconds at the end of a job's budget held back for closing it (stopping the sandbox's
#: workers and the model, writing the result), so that the whole job, seen by its user, ends
#: within the budget; at most :data:`CLOSING_SHARE` of a short budget.
CLOSING_S = 1.0
CLOSING_SHARE = 0.05


class Deadline:
    """The end of a time budget: ``seconds`` of wall time from ``started`` (a
    :func:`time.monotonic` reading, e.g. when the user's command started; None: now), less the
    closing margin (:data:`CLOSING_S`, at most :data:`CLOSING_SHARE` of ``seconds``)."""

    def __init__(self, seconds: float, started: float | None = None) -> None:
        self.seconds = seconds
        begin = time.monotonic() if started is None else started
        self._end = begin + seconds - min(CLOSING_S, CLOSING_SHARE * seconds)

    def left(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self._end - time.monotonic())

    @property
    def spent(self) -> bool:
        """True once the budget is used up."""
        return self.left() == 0.0


#: The candidates whose validation the budget reserve keeps time for: a rule's and the greedy
#: one, the two that :func:`~perfedit.job.order.validation_order` puts first (with the setting
#: ``interleave_rules``; without it, every rule candidate comes before the greedy one).
RESERVED_VALIDATIONS = 2
#: How many times longer than a plain run a run under the line profiler may take (for skipping
#: the original's profile when the budget left cannot hold it).
PROFILE_SLOWDOWN = 3.0


def validation_estimate_s(run_s: float, settings: Settings) -> float:
    """Seconds one candidate's validation takes when one run of the tests takes ``run_s``
    seconds: its correctness run, one warm-up run per side and the interleaved timed pairs up to
    the first look (``min_runs`` with ``adaptive``, else ``runs``): a clearly decided candidate."""
    pairs = min(settings.min_runs, settings.runs) if settings.adaptive else settings.runs
    return run_s * (1 + 2 + 2 * pairs)


class Job:
    """The steps of one suggestion job, inside an open :class:`Harness` (its baseline, run by
    :meth:`baseline`, must have run before anything is validated; proposing may start earlier).

    Validated candidates are remembered by syntax tree: a candidate met again (in another
    combination of steps) gets the earlier verdict under its own label without running again.

    ``target_hot_lines`` holds the target's hot lines, ``(line in its code, seconds)``, hottest
    first, computed once per job and handed to the proposers (through :class:`Feedback`; the
    prompt shows them unless the setting ``profile_feedback`` is off) and to the explanation: a
    function's from the profiled test run that chose its tests (``TestSuite.hot_lines``), known
    at once; a script's from one profiled run of the original on its slowest case
    (:meth:`Harness.hot_lines`), known once :meth:`baseline` has run, and none (nothing
    profiled) with ``profile_feedback`` off (SOAP, Huang et al. 2024, "EffiLearner";
    PerfCodeGen, Peng et al. 2024, section 2).

    ``fixes`` carries the stream's requests for fixes of failed model candidates from the
    validating side (:meth:`follow_up`) to the model proposer (:mod:`perfedit.candidates.fixes`).
    """

    def __init__(
        self,
        settings: Settings,
        harness: Harness,
        progress: ProgressFn = no_progress,
        cancel: CancelFn = never_cancelled,
        deadline: Deadline | None = None,
    ) -> None:
        self.settings, self.harness = settings, harness
        self.target, self.progress, self.cancel = harness.target, progress, cancel
        self.deadline = deadline  # None: no time budget
        self._known: dict[str, Verdict] = {}  # syntax tree -> verdict
        self.target_hot_lines: Future[list[tuple[int, float]]] = Future()
        if self.target.kind == "function" or not settings.profile_feedback:
            self.target_hot_lines.set_result(list(harness.suite.hot_lines))
        self.target_scaling: Future[Scaling | None] = Future()
        if not settings.scaling_feedback:
            self.target_scaling.set_result(None)
        self.fixes = FixRequests(settings.stream_fixes)

    def baseline(self) -> Baseline:
        """The original's baseline (:meth:`Harness.baseline`) and its measured scaling
        (:attr:`target_scaling`, with ``scaling_feedback``); then, for a script, its hot lines
        (:attr:`target_hot_lines`): the original profiled once on its slowest case.

        With ``settings.budget_reserve`` and a deadline, both leave the reserve
        (:meth:`reserve_s`) of the budget for validating the first candidates: the original's
        timed runs stop early (at least one) and its profile is skipped, or cut short, when the
        budget left would not hold them besides the reserve (no job ends with nothing
        validated because the original was slow)."""
        baseline = self.harness.baseline(another_run=self.another_baseline_run)
        if not self.target_scaling.done():
            self.target_scaling.set_result(baseline.scaling)
        if not self.target_hot_lines.done():
            slowest_s = baseline.per_test_s[baseline.slowest_test]
            reserve_s = self.reserve_s(sum(baseline.per_test_s.values()))
            self.target_hot_lines.set_result(
                self.profiled(self.target.source, baseline.slowest_test, reserve_s)
                if self.fits(PROFILE_SLOWDOWN * slowest_s, reserve_s)
                else []
            )
        return baseline

    def reserve_s(self, run_s: float) -> float:
        """The seconds of the budget kept for validating :data:`RESERVED_VALIDATIONS`
        candidates when one run of the tests takes ``run_s`` seconds
        (:func:`validation_estimate_s`); 0 without a deadline or with ``budget_reserve`` off."""
        if self.deadline is None or not self.settings.budget_reserve:
            return 0.0
        return RESERVED_VALIDATIONS * validation_estimate_s(run_s, self.settings)

    def fits(self, seconds: float, reserve_s: float) -> bool:
        """True if ``seconds`` more work leaves ``reserve_s`` of the budget (always without a
        deadline or a reserve)."""
        return (
            self.deadline is None or reserve_s == 0 or self.deadline.left() - seconds >= reserve_s
        )

    def another_baseline_run(self, run_s: float) -> bool:
        """Whether the original is timed once more, its last run of the tests having taken
        ``run_s`` seconds: while that leaves the reserve (:meth:`reserve_s`)."""
        return self.fits(run_s, self.reserve_s(run_s))

    def profiled(self, source: str, test: str, reserve_s: float = 0.0) -> list[tuple[int, float]]:
        """The hot lines of the target's span in ``source`` on ``test`` (:meth:`Harness.hot_lines`),
        from a run of at most ``settings.timeout_s`` seconds and the budget left, less
        ``reserve_s``; none once that is spent."""
        limit_s = self.settings.timeout_s
        if self.deadline is not None:
            limit_s = min(limit_s, self.deadline.left() - reserve_s)
        return self.harness.hot_lines(source, test, limit_s) if limit_s > 0 else []

    def candidate_hot_lines(
        self, candidates: Mapping[str, Candidate], verdicts: Sequence[Verdict]
    ) -> dict[str, list[tuple[int, float]]]:
        """Label → hot lines on its slowest test, ``(line in its code, seconds)``, of the correct
        candidates that PerfCodeGen's performance round refines next
        (:func:`perfedit.candidates.refine.to_optimise`), each profiled once (:meth:`profiled`); a
        candidate whose profiled run failed or ran out of time has none. Empty when the setting
        ``profile_feedback`` is off."""
        if not self.settings.profile_feedback:
            return {}
        chosen = to_optimise(verdicts, candidates, self.settings.refine_candidates)
        found = {
            v.label: self.profiled(candidates[v.label].source, slowest_test(v)) for v in chosen
        }
        return {label: lines for label, lines in found.items() if lines}

    def propose(
        self,
        proposers: Sequence[Proposer],
        feedback: Feedback | None = None,
        stop: Callable[[], bool] = lambda: False,
        fixes: FixRequests | None = None,
    ) -> Iterator[Candidate]:
        """Every proposer's candidates in turn, each as soon as it is made (a model is loaded on
        the first ``next()`` that needs it); ``feedback`` defaults to the first round's (the
        suite, nothing validated yet) and reaches them with the job's :attr:`target_hot_lines`
        and ``fixes`` (the stream's :attr:`fixes`, which the model proposer serves between its
        replies). Proposing stops (raising Cancelled) once ``cancel()`` or ``stop()`` is true.
        Raises ModelMissing, ModelError, Cancelled."""
        feedback = dataclasses.replace(
            feedback or Feedback(self.harness.suite),
            target_hot_lines=self.target_hot_lines,
            target_scaling=self.target_scaling,
            fixes=fixes,
        )
        for proposer in proposers:
            yield from proposer(
                self.target, feedback, self.progress, lambda: self.cancel() or stop()
            )

    def seen(self, earlier: Sequence[Candidate] = ()) -> dict[str, str]:
        """Syntax tree → label of the candidates a new one must not copy: the original and
        ``earlier`` (see :func:`~perfedit.verify.validate.validate_candidates`)."""
        return {
            syntax_key(self.target.code): "the original",
            **{syntax_key(c.code): c.label for c in earlier},
        }

    def validate(
        self, candidates: Sequence[Candidate], earlier: Sequence[Candidate] = ()
    ) -> list[Verdict]:
        """One verdict per candidate, in order: replies without usable code, copies of the original
        and duplicates (same syntax tree, also of ``earlier`` candidates) are rejected unrun; the
        others are validated and timed (:meth:`Harness.validate`). Raises Cancelled."""
        seen = self.seen(earlier)
        return [
            self.validate_one(c, seen, index, len(candidates)) for index, c in enumerate(candidates)
        ]

    def validate_one(
        self, candidate: Candidate, seen: dict[str, str], index: int = 0, total: int | None = None
    ) -> Verdict:
        """The verdict of one candidate (see :meth:`validate`); ``seen`` (from :meth:`seen`) maps
        the syntax trees of earlier candidates to their labels and is updated. A faster verdict
        is announced through progress (:attr:`Phase.FOUND`). Raises Cancelled."""

        def run(candidate: Candidate) -> Verdict:
            self.progress(Phase.VALIDATING, index, total, candidate.label)
            verdict = self.timed_validation(candidate.label, candidate.source)
            if verdict.verdict == "faster" and verdict.comparison is not None:
                self.progress(
                    Phase.FOUND, detail=f"{verdict.comparison.speedup:.1f}× faster (validated)"
                )
            return verdict

        (verdict,) = validate_candidates([candidate], run, self._known, seen=seen)
        return verdict

    def over_budget(self) -> bool:
        """True once the job's time budget is spent (never without a deadline)."""
        return self.deadline is not None and self.deadline.spent

    def timed_validation(self, label: str, source: str) -> Verdict:
        """:meth:`Harness.validate`, within the budget: once it is spent (before or during the
        validation; the harness polls between runs and kills a candidate's run in progress) the
        verdict is "not validated". Raises Cancelled when the user cancels."""
        budget_spent = Verdict(label, "rejected", "not validated: the time budget was spent", 0, 0)
        if self.over_budget():
            return budget_spent
        try:
            return self.harness.validate(label, source)
        except Cancelled:
            if self.cancel() or not self.over_budget():
                raise
            return budget_spent

    def refine(
        self, refiners: Sequence[Proposer], candidates: list[Candidate], verdicts: list[Verdict]
    ) -> tuple[list[Candidate], list[Verdict]]:
        """``settings.refine_rounds`` rounds of ``refiners`` (PerfCodeGen refinement,
        :mod:`perfedit.candidates.refine`), each fed with the previous round's verdicts and the hot lines of
        the candidates it optimises (:meth:`candidate_hot_lines`): the new candidates and their
        verdicts. Stops early once the budget is spent."""
        found: list[Candidate] = []
        found_verdicts: list[Verdict] = []
        latest = verdicts
        for round_ in range(self.settings.refine_rounds if refiners else 0):
            if self.over_budget():
                break
            self.progress(Phase.REFINING, round_, self.settings.refine_rounds)
            known = candidates + found
            by_label = {c.label: c for c in known}
            feedback = Feedback(
                self.harness.suite, by_label, latest, self.candidate_hot_lines(by_label, latest)
            )
            try:
                refined = list(self.propose(refiners, feedback, stop=self.over_budget))
            except Cancelled:
                if self.cancel():
                    raise
                break  # the budget ran out while the model was writing

            latest = self.validate(refined, known)
            found += refined
            found_verdicts += latest
        return found, found_verdicts

    def validate_stream(
        self, stream: Source, halt: threading.Event, deadline: Deadline
    ) -> tuple[list[Candidate], list[Verdict], str]:
        """Validate each candidate of ``stream`` as it comes (while the next is made), in
        :func:`~perfedit.job.order.validation_order` (the first rule candidate, the greedy one,
        then the other rule candidates between the samples), until a :func:`stop_reason` holds
        (``deadline``: the job's), then ``halt`` the proposers; candidates made after that are
        rejected unvalidated. After each rejection, :meth:`follow_up`: a repaired candidate is
        validated right after its parent; a fix is asked of the model. Every candidate, its
        verdict (in the same order) and why generation stopped early ("" if it did not)."""
        seen = self.seen()
        candidates: list[Candidate] = []
        verdicts: list[Verdict] = []
        stopped = ""
        for made in validation_order(stream, self.settings.interleave_rules):
            next_one: Candidate | None = made
            while next_one is not None:
                candidate, next_one = next_one, None
                candidates.append(candidate)
                if stopped:
                    verdicts.append(
                        Verdict(candidate.label, "rejected", f"not validated: {stopped}", 0, 0)
                    )
                    continue
                verdicts.append(self.validate_one(candidate, seen))
                stopped = stop_reason(verdicts, self.settings, deadline)
                if stopped:
                    halt.set()
                else:
                    next_one = self.follow_up(candidate, verdicts[-1])
        # the budget may have been spent while a reply was written
        return candidates, verdicts, stopped or stop_reason(verdicts, self.settings, deadline)

    def follow_up(self, candidate: Candidate, verdict: Verdict) -> Candidate | None:
        """What a rejection leads to: with ``argument_repair``, the repaired candidate of one
        that changed an argument the original leaves alone
        (:func:`~perfedit.candidates.repair.argument_repair`), to validate next; else, for a
        model candidate that failed a test, a fix asked of the model (:attr:`fixes`, at most
        ``stream_fixes`` per job; :mod:`perfedit.candidates.fixes`). None when nothing is to
        be validated next."""
        repair = (
            argument_repair(self.target, candidate, verdict)
            if self.settings.argument_repair
            else None
        )
        if repair is None and wants_fix(candidate, verdict):
            self.fixes.ask(candidate, verdict)
        return repair

    def winner(
        self, candidates: list[Candidate], verdicts: list[Verdict], stopped: str
    ) -> tuple[Candidate, Verdict]:
        """The winner among ``candidates`` (:func:`choose_winner`). Raises NoFasterVersion, with
        every candidate's reason and verdict, when there is none (``stopped``: why generation
        stopped early, or "")."""
        chosen = choose_winner(candidates, verdicts, self.target)
        if chosen is None:
            raise NoFasterVersion(
                f"no faster version of {self.target.name} found among {len(candidates)} candidates"
                + (f" ({stopped}; raise --budget to try more)." if stopped else "."),
                {v.label: v.reason for v in verdicts},
                {v.label: v.verdict for v in verdicts},
            )
        return chosen

    def reason(self, new_code: str, model: ModelProvider) -> str:
        """Why ``new_code`` (the winner's code of the target, minimised) is faster: grounded in
        the diff (and in the target's hottest line, when the change rewrote it); the model's
        sentence (``explain``, while time is left) stays only if it agrees with the diff."""
        code = self.target.code
        model_reason = ""
        if self.settings.explain and not self.over_budget():
            self.progress(Phase.EXPLAINING)
            model_reason = ask.why_faster(
                model(),
                code,
                new_code,
                on_step=lambda tokens, most: self.progress(Phase.EXPLAINING, tokens, most),
                should_stop=self.cancel,
            )
        hot = explain.hot_line_sentence(
            code, new_code, self.target_hot_lines.result(), self.target.start_line + 1
        )
        grounded = explain.grounded_reason(code, new_code, model_reason)
        return " ".join(part for part in (grounded, hot) if part)

    def minimise(self, candidate: Candidate, verdict: Verdict) -> Minimised:
        """The winner with the hunks its speedup does not need reverted (:mod:`perfedit.deliver.minimise`),
        or as it is when ``settings.minimise`` is off; once the deadline is spent, no smaller
        subset is tried (ddmin keeps what it has)."""
        if not self.settings.minimise:
            return Minimised.as_is(self.target.source, candidate.source, verdict)
        self.progress(Phase.MINIMISING)
        label = f"{candidate.label} (minimised)"
        return minimise(
            self.target.source,
            candidate.source,
            verdict,
            lambda source: self.timed_validation(label, source),
            max_validations=self.settings.minimise_validations,
        )


def choose_winner(
    candidates: Sequence[Candidate], verdicts: Sequence[Verdict], target: targets.Target
) -> tuple[Candidate, Verdict] | None:
    """The selected candidate (:func:`perfedit.verify.selection.choose`: fastest, near-ties to the smaller
    diff) and its verdict, or None if no candidate is significantly faster."""
    by_label = {c.label: c for c in candidates}
    sizes = {
        v.label: changed_lines(
            unified_diff(target.source, by_label[v.label].source, target.path.name)
        )
        for v in verdicts
        if v.verdict == "faster"
    }
    winner = choose([v for v in verdicts if v.label in sizes], sizes)
    return (by_label[winner.label], winner) if winner else None


def stop_reason(verdicts: Sequence[Verdict], settings: Settings, deadline: Deadline) -> str:
    """Why no further candidate should be generated, or "" to go on.

    The rule: stop when the budget is spent, or when a validated candidate is at least
    ``settings.stop_at_speedup`` times faster at the low end of its 95% CI — a small model's
    later samples rarely beat an order-of-magnitude win, and the user gets it at once.
    """
    if deadline.spent:
        return f"the time budget of {deadline.seconds:g} s was spent"
    lows = [v.comparison.ci95[0] for v in verdicts if v.verdict == "faster" and v.comparison]
    if settings.stop_at_speedup and lows and max(lows) >= settings.stop_at_speedup:
        return f"a candidate was already at least {settings.stop_at_speedup:g}x faster"
    return ""


_DONE = object()


class Background:
    """The items of ``items``, produced in a thread from construction on while the caller does
    other work and then consumes them (generation runs while candidates are validated).
    :meth:`close` sets ``stop`` and waits for the thread, which ``items`` must honour by ending
    soon (raising Cancelled is fine). Errors of the thread are raised by the iteration."""

    def __init__(self, items: Iterator[Candidate], stop: threading.Event) -> None:
        self._stop = stop
        self._ended = False
        self._channel: queue.Queue = queue.Queue()
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="perfedit-generation", daemon=True
        )
        self._thread.start()

    def _produce(self, items: Iterator[Candidate]) -> None:
        try:
            for item in items:
                self._channel.put(item)
                if self._stop.is_set():
                    break
        except BaseException as error:  # handed to the consumer, which raises it
            self._channel.put(error)
        finally:
            self._channel.put(_DONE)

    def take(self, wait: bool = True) -> Candidate | None:
        """The next item; None once there are no more (the producer ended, or was stopped on
        purpose), or, with ``wait`` False, while none is ready. Raises the producer's error."""
        if self._ended:
            return None
        try:
            item = self._channel.get(block=wait)
        except queue.Empty:
            return None
        if item is _DONE:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            if isinstance(item, Cancelled) and self._stop.is_set():
                return None  # stopped on purpose, not by the user
            raise item
        return item

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self.take, None)

    def close(self) -> None:
        """Stop the producer and wait until it has ended."""
        self._stop.set()
        self._thread.join()


def default_proposers(settings: Settings, model: ModelProvider) -> list[Proposer]:
    """The rules (when ``settings.rules``), then the model (greedy plus ``settings.samples``)."""
    return [*([propose_rules] if settings.rules else []), model_proposer(model, settings)]


def default_refiners(settings: Settings, model: ModelProvider) -> list[Proposer]:
    """PerfCodeGen refinement with the model (:func:`perfedit.candidates.refine.refiner`)."""
    return [refiner(model, settings)]


def suggest(
    request: Request,
    settings: Settings,
    model: ModelProvider,
    progress: ProgressFn = no_progress,
    cancel: CancelFn = never_cancelled,
    *,
    proposers: Sequence[Proposer] | None = None,
    refiners: Sequence[Proposer] | None = None,
    started: float | None = None,
) -> Suggestion:
    """Run the main job and return the winning suggestion, within ``settings.budget_s`` seconds
    from ``started`` (a :func:`time.monotonic` reading: when the user's command started, so
    that its start-up counts; None: now) (the validation in progress when the budget ends is
    stopped; minimisation and the explanation run only while time is left).

    Candidates come from ``proposers`` in turn (None: :func:`default_proposers`), then from
    ``settings.refine_rounds`` rounds of ``refiners`` (None: :func:`default_refiners`; empty: no
    refinement). ``model()`` is called only when a model is needed (generation, refinement,
    explanation); it may load lazily and raise ModelMissing. ``timings_s`` of the result holds ``first_faster_s``,
    the seconds from the start to the first validated faster candidate. Raises
    SourceSyntaxError, TargetNotFound, NoTestsFound, OriginalFailsTests, NoCodeGenerated,
    NoFasterVersion (with per-candidate reasons), Cancelled, ModelMissing, ModelError.
    """
    proposers = default_proposers(settings, model) if proposers is None else proposers
    refiners = default_refiners(settings, model) if refiners is None else refiners
    clock = time.perf_counter()
    deadline = Deadline(settings.budget_s, started)
    timings: dict[str, float] = {}

    def noting_first_faster(
        phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None:
        if phase is Phase.FOUND and "first_faster_s" not in timings:
            timings["first_faster_s"] = time.perf_counter() - clock
        progress(phase, completed, total, detail)

    target, suite = locate(request, settings)
    timing_candidates = threading.Event()  # set after the baseline: only candidates are cut short
    harness_stop = lambda: cancel() or (timing_candidates.is_set() and deadline.spent)  # noqa: E731
    with Harness(target, suite, settings, harness_stop) as harness:
        job = Job(settings, harness, noting_first_faster, cancel, deadline)
        halt = threading.Event()

        def stop_generating() -> bool:  # polled by the model after every token
            if deadline.spent:
                halt.set()
            return halt.is_set()

        # The proposers start at once (the model generating), while the original runs.
        with contextlib.closing(
            Background(job.propose(proposers, stop=stop_generating, fixes=job.fixes), halt)
        ) as stream:
            progress(Phase.BASELINE)
            baseline = job.baseline()
            timings["baseline_s"] = time.perf_counter() - clock
            timing_candidates.set()

            started = time.perf_counter()
            candidates, verdicts, stopped = job.validate_stream(stream, halt, deadline)
            generation_done = not stopped  # every candidate was made
        timed_load = current_load()
        timings["validation_s"] = time.perf_counter() - started
        if generation_done and not any(c.usable for c in candidates):
            raise NoCodeGenerated(
                f"no candidate contained usable code for {target.name} (a definition of it, or a "
                "whole program for a script); try again with more --samples or another model (--model)."
            )
        if not stopped:
            refined, refined_verdicts = job.refine(refiners, candidates, verdicts)
            candidates, verdicts = candidates + refined, verdicts + refined_verdicts
        stopped = stopped or stop_reason([], settings, deadline)
        timings["validation_s"] = time.perf_counter() - started
        chosen = job.winner(candidates, verdicts, stopped)
        started = time.perf_counter()
        minimised = job.minimise(*chosen)
        timings["minimisation_s"] = time.perf_counter() - started
        timed_load = heaviest(timed_load, current_load())

    reason = job.reason(target.code_in(minimised.source), model)
    timings["total_s"] = time.perf_counter() - clock
    return Suggestion.of_winner(
        target,
        suite,
        baseline,
        minimised,
        timed_load,
        reason=reason,
        verdicts=verdicts,
        timings_s=timings,
        generated_tokens=sum(c.tokens for c in candidates),
        stopped_early=stopped,
    )
