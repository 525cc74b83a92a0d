"""PerfCodeGen execution-feedback refinement (Peng et al. 2024, section 2).

After the first round of validation:

* correctness phase: a candidate that failed a test is shown to the model with that test and
  its error; the model reflects, plans and writes a corrected version;
* performance phase: a correct candidate is shown with its most expensive test (the largest
  per-test trimmed mean over the E timed runs, the paper's equation 1) and the model is asked
  for a version faster on inputs like it (greedy decoding).

The refining proposer (:func:`refiner`) is fed the verdicts of the previous round through
:class:`~perfedit.proposers.Feedback`; it proposes nothing before anything was validated.
Refined candidates are validated like any other. Selection then takes the fastest significantly
faster candidate of all rounds, so if every refinement breaks correctness the result falls back
to the fastest correct candidate (the paper's fallback).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

from perfedit import ask
from perfedit.ask import ModelProvider
from perfedit.config import Settings
from perfedit.progress import CancelFn, ProgressFn
from perfedit.proposers import Candidate, Feedback, Proposer
from perfedit.proposers.model import to_candidate
from perfedit.targets import Target
from perfedit.testsource import feedback_text


def refiner(model: ModelProvider, settings: Settings) -> Proposer:
    """The refining :data:`~perfedit.proposers.Proposer`: up to ``settings.refine_candidates``
    fixes of failed candidates and as many optimisations of correct ones (the fastest first),
    labelled ``"<label> → fixed"`` / ``"<label> → optimised"``, each ``model()``'s greedy reply
    of at most ``settings.max_new_tokens`` tokens.

    Only candidates of ``feedback.candidates`` that ran and failed a test are fixed (not those
    that did not parse or were duplicates). Raises Cancelled once ``cancel()`` is true while the
    model writes, ModelMissing, ModelError.
    """
    per_phase, max_new_tokens = settings.refine_candidates, settings.max_new_tokens

    def propose(
        target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> Iterator[Candidate]:
        known, suite = feedback.candidates, feedback.suite
        failed = [
            v
            for v in feedback.verdicts
            if v.verdict == "rejected" and v.failed_test and v.label in known
        ]
        correct = sorted(
            (
                v
                for v in feedback.verdicts
                if v.verdict != "rejected" and v.comparison and v.per_test_s and v.label in known
            ),
            key=lambda v: -v.comparison.speedup if v.comparison else 0.0,
        )
        if suite is None or not (failed or correct):
            return
        for verdict in failed[:per_phase]:
            code = textwrap.dedent(known[verdict.label].code)
            reply = ask.fixed_version(
                model(),
                code,
                target.kind,
                feedback_text(suite, verdict.failed_test),
                verdict.detail,
                max_new_tokens=max_new_tokens,
                should_stop=cancel,
            )
            yield to_candidate(reply.text, target, f"{verdict.label} → fixed", reply.tokens)
        for verdict in correct[:per_phase]:
            slowest = max(verdict.per_test_s, key=verdict.per_test_s.__getitem__)
            code = textwrap.dedent(known[verdict.label].code)
            reply = ask.faster_on_test(
                model(),
                code,
                target.kind,
                feedback_text(suite, slowest),
                verdict.per_test_s[slowest],
                max_new_tokens=max_new_tokens,
                should_stop=cancel,
            )
            yield to_candidate(reply.text, target, f"{verdict.label} → optimised", reply.tokens)

    return propose
