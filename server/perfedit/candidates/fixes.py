"""Fixes of failed candidates as candidates stream: PerfCodeGen's correctness round (Peng et al.
2024, section 2), interleaved with the samples instead of waiting for all of them.

The job validates each candidate while the model writes the next (:mod:`perfedit.job.pipeline`),
and a job's budget often ends before the refinement round that follows the samples, so a model
candidate that was almost right was never fixed. Here the validating side hands a model
candidate that failed a test to the generating side through :class:`FixRequests` (a
thread-safe queue); the model proposer (:func:`perfedit.candidates.model.model_proposer`) takes
the requests between two replies, and its next reply is the fix: the candidate, its failing
test and the error (:func:`fix_prompt`, the refinement round's prompt), greedy, labelled
``"<label> → fixed"``. At most ``settings.stream_fixes`` per job; a fix is generated within the
job's budget like any reply, and is validated like any candidate.
"""

from __future__ import annotations

import queue
import textwrap
import threading
from typing import TYPE_CHECKING

from perfedit.candidates.prompts import fix_messages
from perfedit.targets import MODEL, Candidate, Target
from perfedit.testsource.discovery import feedback_text

if TYPE_CHECKING:
    from perfedit.formats.suites import TestSuite
    from perfedit.llm import Messages
    from perfedit.verify.validate import Verdict

#: What a fix's label adds to its parent's (the refinement round's label too).
FIXED = " → fixed"


def fix_prompt(
    target: Target, suite: TestSuite, candidate: Candidate, verdict: Verdict
) -> Messages:
    """The correctness round's messages for ``candidate`` of ``target``, rejected by ``verdict``
    on its ``failed_test`` (a test of ``suite``, or a differential testing call): its code, the
    test as the model needs to see it (:func:`~perfedit.testsource.discovery.feedback_text`) and
    the failure's detail (:func:`~perfedit.candidates.prompts.fix_messages`)."""
    return fix_messages(
        textwrap.dedent(candidate.code),
        target.kind,
        feedback_text(suite, verdict.failed_test),
        verdict.detail,
    )


def wants_fix(candidate: Candidate, verdict: Verdict) -> bool:
    """True if ``candidate`` is one to fix as candidates stream: a model's greedy reply or
    sample (not a rule's, a repair's, a fix's or a refinement's) that ran and failed a test or a
    differential testing input; not one settled unrun (no usable code, a duplicate, the budget
    spent)."""
    return (
        candidate.origin == MODEL
        and candidate.usable
        and verdict.verdict == "rejected"
        and bool(verdict.failed_test)
    )


class FixRequests:
    """Failed candidates for the model proposer to fix, from the validating thread to the
    generating one: :meth:`ask` queues one (at most ``most`` per job), :meth:`take` returns
    those queued since, without waiting."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._asked = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Candidate, Verdict]] = queue.SimpleQueue()

    def ask(self, candidate: Candidate, verdict: Verdict) -> bool:
        """Queue a fix of ``candidate`` (rejected by ``verdict``); False, queuing nothing, once
        ``most`` were asked."""
        with self._lock:
            if self._asked >= self.most:
                return False
            self._asked += 1
        self._queue.put((candidate, verdict))
        return True

    def take(self) -> list[tuple[Candidate, Verdict]]:
        """Every request queued and not yet taken, oldest first; empty when there is none."""
        taken = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken
