"""The order in which a job validates the candidates its proposers stream.

The rule proposer gives its candidates (up to four) at once, before the model has written its
greedy reply; the budget reserve (:meth:`perfedit.job.pipeline.Job.reserve_s`) keeps time for
:data:`~perfedit.job.pipeline.RESERVED_VALIDATIONS` = 2 validations, a rule's and the greedy
candidate's. So that the two agree (with ``interleave_rules``, the default):

* only the first rule candidate is validated before the greedy one: the rule proposer's first,
  which has the best expected gain by the catalogue's own order (the combination of every
  rule that applies when there is one, else the most valuable single rule;
  :data:`~perfedit.candidates.rules.CATALOGUE` is ordered most valuable first);
* then the job waits for the model's first candidate (the greedy reply) and validates it;
* the other rule candidates follow, one between each two of the model's later candidates, and
  one whenever no model candidate is waiting (the validating side never waits for the model
  while a rule candidate is held).

So the greedy candidate is always validated within the budget when the original's runs leave
the reserve. Without ``interleave_rules`` the candidates are validated in the order they come
(every rule candidate first). Candidates that are not a rule's keep their order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Protocol

from perfedit.targets import RULE, Candidate


class Source(Protocol):
    """Candidates as they are made (:class:`perfedit.job.pipeline.Background`)."""

    def take(self, wait: bool) -> Candidate | None:
        """The next candidate; None once there are no more, or, with ``wait`` False, while none
        is ready."""
        ...


def validation_order(source: Source, interleave: bool = True) -> Iterator[Candidate]:
    """Every candidate of ``source``, in the order they are to be validated (see the module
    docstring; ``interleave``: the setting ``interleave_rules``). Waits on ``source`` only when
    no candidate may go next."""
    ready: deque[Candidate] = deque()  # in the order they came
    held: deque[Candidate] = deque()  # rule candidates after the first
    rules_seen = 0
    greedy_done = not interleave
    rule_next = True  # after the greedy: a held rule candidate, then a model's, in turn

    def admit(candidate: Candidate) -> None:
        nonlocal rules_seen
        if candidate.origin == RULE and interleave:
            rules_seen += 1
            if rules_seen > 1:
                held.append(candidate)
                return
        ready.append(candidate)

    while True:
        while (candidate := source.take(wait=False)) is not None:
            admit(candidate)
        if not greedy_done:
            if ready:
                candidate = ready.popleft()
                greedy_done = candidate.origin != RULE
                yield candidate
            elif (candidate := source.take(wait=True)) is not None:
                admit(candidate)
            else:
                greedy_done = True  # the stream ended without a model candidate
            continue
        if held and (rule_next or not ready):
            rule_next = False
            yield held.popleft()
        elif ready:
            rule_next = True
            yield ready.popleft()
        elif (candidate := source.take(wait=True)) is not None:
            admit(candidate)
        else:
            return
