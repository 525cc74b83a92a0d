"""PerfCodeGen execution-feedback refinement (Peng et al. 2024, section 2).

After the first round of validation:

* correctness phase: a candidate that failed a test is shown to the model with that test and
  its error; the model reflects, plans and writes a corrected version;
* performance phase: a correct candidate is shown with its most expensive test (the largest
  per-test trimmed mean over the E timed runs, the paper's equation 1) and the model is asked
  for a version faster on inputs like it (greedy decoding).

The refining proposer (:func:`refiner`) is fed the verdicts of the previous round through
:class:`~perfedit.candidates.Feedback`; it proposes nothing before anything was validated.
A reply that repeats an earlier candidate (same syntax tree as one of ``feedback.candidates`` or
the original; the issue measured that most did) is retried once with that fact in the prompt
(``settings.refine_retry``), and skipped if it repeats again or retrying is off: a repeat only
costs a validation slot. The performance round shows the candidate's hot lines on its slowest test
when the feedback carries them (``Feedback.hot_lines``: :meth:`perfedit.job.pipeline.Job.refine`
profiles the candidates of :func:`to_optimise` once each, unless the setting
``profile_feedback`` is off; SOAP-style execution-profile feedback, Huang et al. 2024,
"EffiLearner").
Refined candidates are validated like any other. Selection then takes the fastest significantly
faster candidate of all rounds, so if every refinement breaks correctness the result falls back
to the fastest correct candidate (the paper's fallback).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping, Sequence

from perfedit.candidates import Feedback, Proposer, ask
from perfedit.candidates.ask import ModelProvider
from perfedit.candidates.fixes import FIXED, fix_prompt
from perfedit.candidates.model import to_candidate
from perfedit.candidates.prompts import optimize_with_test_messages
from perfedit.config import Settings
from perfedit.llm import Messages
from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import REFINED, Candidate, Target
from perfedit.testsource.discovery import feedback_text
from perfedit.verify.validate import CALLS, Verdict, syntax_key


def repeated_label(candidate: Candidate, earlier: dict[str, str]) -> str | None:
    """The label of the earlier candidate that ``candidate`` repeats (``earlier``: syntax tree →
    label, see :func:`earlier_trees`), or None when it is new or holds no usable code."""
    return earlier.get(syntax_key(candidate.code)) if candidate.usable else None


def earlier_trees(target: Target, feedback: Feedback) -> dict[str, str]:
    """Syntax tree → label of what a refinement must not repeat: the original and every earlier
    candidate."""
    return {
        syntax_key(target.code): "the original",
        **{syntax_key(c.code): label for label, c in feedback.candidates.items() if c.usable},
    }


def to_optimise(
    verdicts: Sequence[Verdict], candidates: Mapping[str, Candidate], count: int
) -> list[Verdict]:
    """The verdicts of the correct candidates that the performance round optimises: of those in
    ``candidates`` (by label) that were timed against the original, the ``count`` fastest
    (largest speedup first)."""
    correct = sorted(
        (
            v
            for v in verdicts
            if v.verdict != "rejected" and v.comparison and v.per_test_s and v.label in candidates
        ),
        key=lambda v: -v.comparison.speedup if v.comparison else 0.0,
    )
    return correct[:count]


def slowest_test(verdict: Verdict) -> str:
    """The test of ``verdict`` with the largest per-test trimmed mean over the timed runs (the
    PerfCodeGen feedback test, Peng et al. 2024, equation 1); the timed pass over the workload's
    calls is no test, and is named only when there is nothing else."""
    tests = {name: s for name, s in verdict.per_test_s.items() if name != CALLS}
    return max(tests or verdict.per_test_s, key=(tests or verdict.per_test_s).__getitem__)


def refiner(model: ModelProvider, settings: Settings) -> Proposer:
    """The refining :data:`~perfedit.candidates.Proposer`: up to ``settings.refine_candidates``
    fixes of failed candidates and as many optimisations of correct ones (the fastest first),
    labelled ``"<label> → fixed"`` / ``"<label> → optimised"``, each ``model()``'s greedy reply
    of at most ``settings.max_new_tokens`` tokens (PerfCodeGen, section 2).

    Only candidates of ``feedback.candidates`` that ran and failed a test are fixed (not those
    that did not parse or were duplicates), and not one fixed already as candidates streamed
    (:mod:`perfedit.candidates.fixes`). A reply repeating an earlier candidate is asked again
    once, told so (``settings.refine_retry``; label suffix " (retried)"), else dropped. Raises
    Cancelled once ``cancel()`` is true while the model writes, ModelMissing, ModelError.
    """
    per_phase, max_new_tokens = settings.refine_candidates, settings.max_new_tokens

    def propose(
        target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> Iterator[Candidate]:
        known, suite = feedback.candidates, feedback.suite
        fixed = {label.split(FIXED, 1)[0] for label in known if FIXED in label}
        failed = [
            v
            for v in feedback.verdicts
            if v.verdict == "rejected"
            and v.failed_test
            and v.label in known
            and v.label not in fixed  # fixed already, as candidates streamed
        ]
        correct = to_optimise(feedback.verdicts, known, per_phase)
        if suite is None or not (failed or correct):
            return
        earlier = earlier_trees(target, feedback)

        def changed(label: str, messages: Messages) -> Iterator[Candidate]:
            reply = ask.refinement_reply(
                model(), messages, max_new_tokens=max_new_tokens, should_stop=cancel
            )
            candidate = to_candidate(reply.text, target, label, reply.tokens, REFINED)
            repeated = repeated_label(candidate, earlier)
            if repeated is not None and settings.refine_retry:
                again = ask.refinement_retry(
                    model(),
                    messages,
                    reply.text,
                    repeated,
                    max_new_tokens=max_new_tokens,
                    should_stop=cancel,
                )
                candidate = to_candidate(
                    again.text, target, f"{label} (retried)", reply.tokens + again.tokens, REFINED
                )
                repeated = repeated_label(candidate, earlier)
            if repeated is None:
                if candidate.usable:
                    earlier[syntax_key(candidate.code)] = candidate.label
                yield candidate

        for verdict in failed[:per_phase]:
            yield from changed(
                f"{verdict.label}{FIXED}", fix_prompt(target, suite, known[verdict.label], verdict)
            )
        for verdict in correct:
            slowest = slowest_test(verdict)
            code = textwrap.dedent(known[verdict.label].code)
            hot = feedback.hot_lines.get(verdict.label, ()) if settings.profile_feedback else ()
            messages = optimize_with_test_messages(
                code, target.kind, feedback_text(suite, slowest), verdict.per_test_s[slowest], hot
            )
            yield from changed(f"{verdict.label} → optimised", messages)

    return propose
