"""PerfCodeGen execution-feedback refinement (Peng et al. 2024, section 2).

After the first round of validation:

* correctness phase: a candidate that failed a test is shown to the model with that test and
  its error; the model reflects, plans and writes a corrected version;
* performance phase: a correct candidate is shown with its most expensive test (the largest
  per-test trimmed mean over the E timed runs, the paper's equation 1) and the model is asked
  for a version faster on inputs like it (greedy decoding).

Refined candidates are validated like any other. Selection then takes the fastest significantly
faster candidate of all rounds, so if every refinement breaks correctness the result falls back
to the fastest correct candidate (the paper's fallback).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING

from perfedit.prompts import fix_messages, optimize_with_test_messages
from perfedit.proposers import Candidate
from perfedit.proposers.model import CLOSING_FENCE, to_candidate
from perfedit.targets import Target
from perfedit.testsource import TestSuite, feedback_text
from perfedit.validate import Verdict

if TYPE_CHECKING:
    from perfedit.llm import ChatModel


def _ask(model: ChatModel, messages: list[dict[str, str]], target: Target, label: str, max_new_tokens: int,
         should_stop: Callable[[], bool] | None) -> Candidate:
    """One greedy reply turned into a candidate (:meth:`Candidate.unusable` if it has no fitting code)."""
    reply = model.complete(messages, max_new_tokens=max_new_tokens, stop_strings=[CLOSING_FENCE], should_stop=should_stop)
    return to_candidate(reply, target, label)


def refinements(
    model: ChatModel,
    target: Target,
    suite: TestSuite,
    candidates: dict[str, Candidate],
    verdicts: list[Verdict],
    *,
    per_phase: int,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> list[Candidate]:
    """Up to ``per_phase`` fixes of failed candidates and ``per_phase`` optimisations of correct
    ones (the fastest first), labelled ``"<label> → fixed"`` / ``"<label> → optimised"``.

    ``candidates`` maps labels to the candidates behind ``verdicts``; only candidates that ran
    and failed a test are fixed (not those that did not parse or were duplicates). Raises
    Cancelled once ``should_stop()`` is true while the model writes.
    """
    failed = [v for v in verdicts if v.verdict == "rejected" and v.failed_test and v.label in candidates]
    correct = sorted(
        (v for v in verdicts if v.verdict != "rejected" and v.comparison and v.per_test_s and v.label in candidates),
        key=lambda v: -v.comparison.speedup if v.comparison else 0.0,
    )
    refined = []
    for verdict in failed[:per_phase]:
        code = textwrap.dedent(candidates[verdict.label].code)
        messages = fix_messages(code, target.kind, feedback_text(suite, verdict.failed_test), verdict.detail)
        refined.append(_ask(model, messages, target, f"{verdict.label} → fixed", max_new_tokens, should_stop))
    for verdict in correct[:per_phase]:
        slowest = max(verdict.per_test_s, key=verdict.per_test_s.__getitem__)
        code = textwrap.dedent(candidates[verdict.label].code)
        messages = optimize_with_test_messages(code, target.kind, feedback_text(suite, slowest), verdict.per_test_s[slowest])
        refined.append(_ask(model, messages, target, f"{verdict.label} → optimised", max_new_tokens, should_stop))
    return refined
