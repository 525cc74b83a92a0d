"""The main job: target → tests → baseline → candidates (rules, model) → validation →
refinement → selection → minimisation → diff → explanation (DESIGN.md, "The main job, as data
flows").

:func:`suggest` runs it all; :class:`Job` holds its steps so that the ablation benchmark can run
them in other combinations. Knows nothing of the CLI or LSP: callers pass a
:data:`~perfedit.progress.ProgressFn`, a :data:`~perfedit.progress.CancelFn` and a way to get
the (cached, lazily loaded) model.
"""

from __future__ import annotations

import ast
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit import explain, targets, testsource
from perfedit.config import Settings
from perfedit.diffs import Edit, changed_lines, line_edits, unified_diff
from perfedit.errors import NoCodeGenerated, NoFasterVersion
from perfedit.minimise import Minimised, minimise
from perfedit.progress import CancelFn, ProgressFn, never_cancelled, no_progress
from perfedit.proposers import Candidate
from perfedit.proposers.model import ModelProposer
from perfedit.proposers.rules import RuleProposer
from perfedit.proposers.stub import StubProposer
from perfedit.refine import refinements
from perfedit.select import choose
from perfedit.validate import Baseline, Harness, Verdict

if TYPE_CHECKING:
    from perfedit.llm import LocalModel

ModelProvider = Callable[[], "LocalModel"]


@dataclass(frozen=True)
class Request:
    """What to speed up: ``source`` is the file's current text (an editor buffer may be
    unsaved); the target is ``function``, else the function around 0-based ``line``, else the
    whole file as a script. ``tests`` overrides test discovery; ``candidates_file`` replaces the
    model by the stub proposer (:mod:`perfedit.proposers.stub`)."""

    path: Path
    source: str
    function: str | None = None
    line: int | None = None
    tests: Path | None = None
    candidates_file: Path | None = None


@dataclass(frozen=True)
class Suggestion:
    """A validated faster version. ``edits``/``diff`` turn the original file into ``new_source``
    (minimised: ``changed_lines`` of the winner's ``changed_lines_before``); ``winner`` is the
    minimised version's verdict; ``verdicts`` holds every candidate's outcome; times in seconds."""

    target: targets.Target
    suite: testsource.TestSuite
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
    generated_tokens: int = 0

    @property
    def explanation(self) -> str:
        """Measured facts, then the model's reason, as plain text."""
        return "\n".join(self.facts + ([f"Why: {self.reason}"] if self.reason else []))


def locate(request: Request, settings: Settings) -> tuple[targets.Target, testsource.TestSuite]:
    """The target and its tests (cheap: no process is started).

    Raises SourceSyntaxError, TargetNotFound or NoTestsFound.
    """
    target = targets.find(request.path, request.source, function=request.function, line=request.line)
    tests = request.tests
    if tests is None and settings.tests:  # from [tool.perfedit]: relative to the file's folder
        tests = request.path.resolve().parent / settings.tests
    return target, testsource.discover(target, tests, differential=settings.differential_min_tests > 0)


def _key(code: str) -> str:
    """Candidates with the same syntax tree are the same candidate."""
    try:
        return ast.dump(ast.parse(code.strip()))
    except SyntaxError:
        return code


class Job:
    """The steps of one suggestion job, inside an open :class:`Harness` whose baseline has run.

    Validated candidates are remembered by syntax tree: a candidate met again (in another
    combination of steps) gets the earlier verdict under its own label without running again.
    ``validation_s`` gives each label's validation time (the first run's, for such repeats).
    """

    def __init__(
        self, request: Request, settings: Settings, model: ModelProvider, harness: Harness,
        progress: ProgressFn = no_progress, cancel: CancelFn = never_cancelled,
    ) -> None:
        self.request, self.settings, self.model, self.harness = request, settings, model, harness
        self.target, self.progress, self.cancel = harness.target, progress, cancel
        self.generated_tokens = 0
        self.validation_s: dict[str, float] = {}  # per candidate label: seconds its validation took
        self._validated: dict[str, tuple[Verdict, float]] = {}

    def rule_candidates(self) -> list[Candidate]:
        """The rule-based candidates (instant, no model)."""
        return RuleProposer().propose(self.target, self.progress, self.cancel)

    def model_candidates(self) -> list[Candidate]:
        """Greedy plus ``settings.samples`` sampled candidates (PIE Best@k), or the stub proposer's
        candidates when the request names a candidates file. Raises ModelMissing, Cancelled."""
        if self.request.candidates_file is not None:
            return StubProposer(self.request.candidates_file).propose(self.target, self.progress, self.cancel)
        self.progress("loading the model", 0, None)
        proposer = ModelProposer(self.model(), self.settings)
        candidates = proposer.propose(self.target, self.progress, self.cancel)
        self.generated_tokens += proposer.last_generation.new_tokens if proposer.last_generation else 0
        return candidates

    def validate(self, candidates: Sequence[Candidate], earlier: Sequence[Candidate] = ()) -> list[Verdict]:
        """One verdict per candidate, in order: replies without usable code, copies of the original
        and duplicates (same syntax tree, also of ``earlier`` candidates) are rejected unrun; the
        others are validated and timed (:meth:`Harness.validate`). Raises Cancelled."""
        seen = {_key(self.target.code): "the original", **{_key(c.code): c.label for c in earlier}}
        verdicts = []
        for index, candidate in enumerate(candidates):
            key = _key(candidate.code)
            if not candidate.usable:
                verdicts.append(Verdict(candidate.label, "rejected", "no usable code in the reply", 0, 0))
            elif key in seen:
                verdicts.append(Verdict(candidate.label, "rejected", f"same as {seen[key]}", 0, 0))
            else:
                if key not in self._validated:
                    self.progress(f"validating {candidate.label}", index, len(candidates))
                    started = time.perf_counter()
                    verdict = self.harness.validate(candidate.label, candidate.source)
                    self._validated[key] = verdict, time.perf_counter() - started
                verdict, self.validation_s[candidate.label] = self._validated[key]
                verdicts.append(dataclasses.replace(verdict, label=candidate.label))
            seen.setdefault(key, candidate.label)
        return verdicts

    def refine(self, candidates: list[Candidate], verdicts: list[Verdict]) -> tuple[list[Candidate], list[Verdict]]:
        """``settings.refine_rounds`` rounds of PerfCodeGen refinement (:mod:`perfedit.refine`),
        each on the previous round's results: the new candidates and their verdicts."""
        found: list[Candidate] = []
        found_verdicts: list[Verdict] = []
        latest = verdicts
        for round_ in range(self.settings.refine_rounds if self.request.candidates_file is None else 0):
            self.progress("refining", round_, self.settings.refine_rounds)
            known = candidates + found
            refined = refinements(
                self.model(), self.target, self.harness.suite, {c.label: c for c in known}, latest,
                per_phase=self.settings.refine_candidates, max_new_tokens=self.settings.max_new_tokens,
            )
            latest = self.validate(refined, known)
            found += refined
            found_verdicts += latest
        return found, found_verdicts

    def minimise(self, candidate: Candidate, verdict: Verdict) -> Minimised:
        """The winner with the hunks its speedup does not need reverted (:mod:`perfedit.minimise`),
        or as it is when ``settings.minimise`` is off."""
        if not self.settings.minimise:
            return Minimised.as_is(self.target.source, candidate.source, verdict)
        self.progress("minimising the diff", 0, None)
        return minimise(
            self.target.source, candidate.source, verdict,
            lambda source: self.harness.validate(f"{candidate.label} (minimised)", source),
            max_validations=self.settings.minimise_validations,
        )


def choose_winner(candidates: Sequence[Candidate], verdicts: Sequence[Verdict], target: targets.Target) -> tuple[Candidate, Verdict] | None:
    """The selected candidate (:func:`perfedit.select.choose`: fastest, near-ties to the smaller
    diff) and its verdict, or None if no candidate is significantly faster."""
    by_label = {c.label: c for c in candidates}
    sizes = {
        v.label: changed_lines(unified_diff(target.source, by_label[v.label].source, target.path.name))
        for v in verdicts if v.verdict == "faster"
    }
    winner = choose([v for v in verdicts if v.label in sizes], sizes)
    return (by_label[winner.label], winner) if winner else None


def suggest(
    request: Request,
    settings: Settings,
    model: ModelProvider,
    progress: ProgressFn = no_progress,
    cancel: CancelFn = never_cancelled,
) -> Suggestion:
    """Run the main job and return the winning suggestion.

    ``model()`` is called only when a model is needed (generation, refinement, explanation); it
    may load lazily and raise ModelMissing. Raises SourceSyntaxError, TargetNotFound,
    NoTestsFound, OriginalFailsTests, NoCodeGenerated, NoFasterVersion (with per-candidate
    reasons), Cancelled, ModelMissing.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    target, suite = locate(request, settings)
    with Harness(target, suite, settings, cancel) as harness:
        progress("running the original", 0, None)
        baseline = harness.baseline()
        timings["baseline_s"] = time.perf_counter() - clock
        job = Job(request, settings, model, harness, progress, cancel)

        # Rule candidates need no model: they are validated first, so the editor shows them first.
        started = time.perf_counter()
        rules = job.rule_candidates() if settings.rules and request.candidates_file is None else []
        verdicts = job.validate(rules)
        timings["validation_s"] = time.perf_counter() - started
        started = time.perf_counter()
        generated = job.model_candidates()
        timings["generation_s"] = time.perf_counter() - started
        candidates = rules + generated
        if not any(c.usable for c in candidates):
            raise NoCodeGenerated(
                f"no candidate contained usable code for {target.name} (a definition of it, "
                "or a whole program for a script); try again with more --samples or a larger model (--model qwen2.5-coder-1.5b)."
            )
        started = time.perf_counter()
        verdicts += job.validate(generated, rules)
        refined, refined_verdicts = job.refine(candidates, verdicts)
        candidates, verdicts = candidates + refined, verdicts + refined_verdicts
        timings["validation_s"] += time.perf_counter() - started
        chosen = choose_winner(candidates, verdicts, target)
        if chosen is None:
            raise NoFasterVersion(
                f"no faster version of {target.name} found among {len(candidates)} candidates.",
                {v.label: v.reason for v in verdicts},
                {v.label: v.verdict for v in verdicts},
            )
        started = time.perf_counter()
        minimised = job.minimise(*chosen)
        timings["minimisation_s"] = time.perf_counter() - started

    reason = ""
    if settings.explain:
        progress("explaining", 0, None)
        reason = explain.reason(model(), target.code, target.code_in(minimised.source))
    timings["total_s"] = time.perf_counter() - clock
    return Suggestion(
        target=target,
        suite=suite,
        baseline=baseline,
        winner=minimised.verdict,
        new_source=minimised.source,
        diff=unified_diff(target.source, minimised.source, target.path.name),
        edits=line_edits(target.source, minimised.source),
        changed_lines=minimised.changed_lines_after,
        changed_lines_before=minimised.changed_lines_before,
        facts=explain.facts(minimised.verdict, baseline, suite, minimised.changed_lines_after, minimised.changed_lines_before),
        reason=reason,
        verdicts=verdicts,
        timings_s=timings,
        generated_tokens=job.generated_tokens,
    )
