"""The main job as one function: target → tests → baseline → candidates → validation →
selection → diff → explanation (DESIGN.md, "The main job, as data flows").

Knows nothing of the CLI or LSP: callers pass a :data:`~perfedit.progress.ProgressFn`, a
:data:`~perfedit.progress.CancelFn` and a way to get the (cached, lazily loaded) model.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit import explain, targets, testsource
from perfedit.config import Settings
from perfedit.diffs import Edit, changed_lines, line_edits, unified_diff
from perfedit.errors import NoCodeGenerated, NoFasterVersion
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
    """A validated faster version. ``edits``/``diff`` turn the original file into ``new_source``;
    ``verdicts`` holds every candidate's outcome; times in seconds."""

    target: targets.Target
    suite: testsource.TestSuite
    baseline: Baseline
    winner: Verdict
    new_source: str
    diff: str
    edits: list[Edit]
    changed_lines: int
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
    return target, testsource.discover(target, tests)


def _screen(
    candidates: list[Candidate], target: targets.Target, earlier: Sequence[Candidate] = ()
) -> tuple[list[Candidate], list[Verdict]]:
    """The candidates worth validating, and rejected verdicts for the others: replies without
    usable code, duplicates (same AST, also of ``earlier`` candidates) and copies of the original."""

    def key(code: str) -> str:
        try:
            return ast.dump(ast.parse(code.strip()))
        except SyntaxError:
            return code

    seen = {key(target.code.strip()): "the original", **{key(c.code): c.label for c in earlier}}
    kept, dropped = [], []
    for candidate in candidates:
        if not candidate.usable:
            dropped.append(Verdict(candidate.label, "rejected", "no usable code in the reply", 0, 0))
            continue
        k = key(candidate.code)
        if k in seen:
            dropped.append(Verdict(candidate.label, "rejected", f"same as {seen[k]}", 0, 0))
        else:
            seen[k] = candidate.label
            kept.append(candidate)
    return kept, dropped


def _validate_all(harness: Harness, candidates: list[Candidate], progress: ProgressFn) -> list[Verdict]:
    """Validate and time each candidate in turn (see :meth:`Harness.validate`)."""
    verdicts = []
    for index, candidate in enumerate(candidates):
        progress(f"validating {candidate.label}", index, len(candidates))
        verdicts.append(harness.validate(candidate.label, candidate.source))
    return verdicts


def suggest(
    request: Request,
    settings: Settings,
    model: ModelProvider,
    progress: ProgressFn = no_progress,
    cancel: CancelFn = never_cancelled,
) -> Suggestion:
    """Run the main job and return the winning suggestion.

    ``model()`` is called only when a model is needed (generation, explanation); it may load
    lazily and raise ModelMissing. Raises SourceSyntaxError, TargetNotFound, NoTestsFound,
    OriginalFailsTests, NoCodeGenerated, NoFasterVersion (with per-candidate reasons),
    Cancelled, ModelMissing.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}
    target, suite = locate(request, settings)
    with Harness(target, suite, settings, cancel) as harness:
        progress("running the original", 0, None)
        baseline = harness.baseline()
        timings["baseline_s"] = time.perf_counter() - clock

        started = time.perf_counter()
        candidates, generation = [], None
        if request.candidates_file is not None:
            candidates = StubProposer(request.candidates_file).propose(target, progress, cancel)
        else:
            if settings.rules:  # instant and model-free: first
                candidates = RuleProposer().propose(target, progress, cancel)
            progress("loading the model", 0, None)
            proposer = ModelProposer(model(), settings)
            candidates += proposer.propose(target, progress, cancel)
            generation = proposer.last_generation
        timings["generation_s"] = time.perf_counter() - started
        if not any(c.usable for c in candidates):
            raise NoCodeGenerated(
                f"no candidate contained usable code for {target.name} (a definition of it, "
                "or a whole program for a script); try again with more --samples or a larger model (--model qwen2.5-coder-1.5b)."
            )
        kept, verdicts = _screen(candidates, target)
        started = time.perf_counter()
        verdicts += _validate_all(harness, kept, progress)
        latest = list(verdicts)  # each refinement round works on the previous round's results
        for round_ in range(settings.refine_rounds if request.candidates_file is None else 0):
            progress("refining", round_, settings.refine_rounds)
            refined = refinements(
                model(), target, suite, {c.label: c for c in kept}, latest,
                per_phase=settings.refine_candidates, max_new_tokens=settings.max_new_tokens,
            )
            new, dropped = _screen(refined, target, kept)
            latest = _validate_all(harness, new, progress)
            verdicts += dropped + latest
            candidates, kept = candidates + refined, kept + new
        timings["validation_s"] = time.perf_counter() - started
        order = {c.label: index for index, c in enumerate(candidates)}
        verdicts.sort(key=lambda v: order[v.label])

    by_label = {c.label: c for c in kept}
    diffs = {label: unified_diff(target.source, c.source, target.path.name) for label, c in by_label.items()}
    sizes = {label: changed_lines(text) for label, text in diffs.items()}
    winner = choose(verdicts, sizes)
    if winner is None:
        raise NoFasterVersion(
            f"no faster version of {target.name} found among {len(candidates)} candidates.",
            {v.label: v.reason for v in verdicts},
            {v.label: v.verdict for v in verdicts},
        )
    best = by_label[winner.label]
    reason = ""
    if settings.explain:
        progress("explaining", 0, None)
        reason = explain.reason(model(), target.code, best.code)
    timings["total_s"] = time.perf_counter() - clock
    return Suggestion(
        target=target,
        suite=suite,
        baseline=baseline,
        winner=winner,
        new_source=best.source,
        diff=diffs[winner.label],
        edits=line_edits(target.source, best.source),
        changed_lines=sizes[winner.label],
        facts=explain.facts(winner, baseline, suite, sizes[winner.label]),
        reason=reason,
        verdicts=verdicts,
        timings_s=timings,
        generated_tokens=generation.new_tokens if generation else 0,
    )
