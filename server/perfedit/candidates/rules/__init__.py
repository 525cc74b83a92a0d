"""The rule-based proposer: a catalogue of deterministic rewrites of common Python performance
anti-patterns (docs/rules.md lists them with their sources).

Each rule is one :class:`~perfedit.candidates.rules.base.Rewrite` entry of :data:`CATALOGUE`:
its name, family, source (ruff's PERF and refurb's FURB rules, flake8-comprehensions, the Python
docs' performance tips, PIE's frequent edits), the libcst transformation and the reason that
:mod:`perfedit.deliver.explain` gives for the change. The families are modules of this package:
:mod:`~.structures` (hashing, Counter, deque, heapq, bisect), :mod:`~.memo` (caches),
:mod:`~.scripts` (stdin, output, imports, module code), :mod:`~.builtins` (loops and expressions
replaced by built-ins), :mod:`~.strings` (``str.translate``, joined pieces) and :mod:`~.loops`
(comprehensions, hoisting, ``range``, itertools).

Rules need no model and take milliseconds, but they are only candidates: several are not
equivalent in every case (``input`` on ``sys.stdin.readline``, ``eval`` → ``int``,
``functools.cache``, ``set`` for ``list`` membership, ``bisect.insort`` on an unsorted list), so
every one goes through the same validation as a model's, and a rewrite that changes behaviour is
a rejected candidate.
"""

from __future__ import annotations

import textwrap

from perfedit.candidates import Feedback
from perfedit.candidates.model import fit_to_target
from perfedit.candidates.rules import builtins, loops, memo, scripts, strings, structures
from perfedit.candidates.rules.base import Rewrite
from perfedit.progress import CancelFn, Phase, ProgressFn
from perfedit.targets import RULE, Candidate, Target

#: Every rule, most valuable first (an asymptotic win before a constant factor); the combined
#: candidate applies them in this order, so a rule that needs the original shape of a loop comes
#: before one that would rewrite it (dedupe before the set twin, the set twin before hoisting
#: ``.append``, counting before summing).
CATALOGUE: tuple[Rewrite, ...] = (
    *structures.REWRITES,
    *memo.REWRITES,
    *scripts.REWRITES,
    *builtins.REWRITES,
    *strings.REWRITES,
    *loops.REWRITES,
)

#: The rules by name.
RULES: dict[str, Rewrite] = {rewrite.name: rewrite for rewrite in CATALOGUE}

#: At most this many single-rule candidates follow the combined one (the most valuable first):
#: each costs a validation within the job's budget. The job validates the first rule candidate
#: before the model's greedy one and the others after it, between the samples
#: (:mod:`perfedit.job.order`, setting ``interleave_rules``).
MAX_SINGLE_CANDIDATES = 3


def propose_rules(
    target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
) -> list[Candidate]:
    """The rule :data:`~perfedit.candidates.Proposer`: ``rules combined`` with every applicable
    rule first (when more than one applies and the result differs from each single one), then
    one candidate per rule that applies (labelled ``rule: NAME``), at most
    :data:`MAX_SINGLE_CANDIDATES`; deterministic, no model,
    ``feedback`` unused. A rule that does not apply, or whose result does not parse, gives no
    candidate."""
    original = textwrap.dedent(target.code)
    singles, combined = [], original
    for index, rewrite in enumerate(CATALOGUE):
        progress(Phase.RULES, index, len(CATALOGUE))
        rewritten = rewrite(original, target.kind)
        if rewritten is None:
            continue
        code = fit_to_target(rewritten, target)
        if code is not None:
            singles.append(
                Candidate(f"rule: {rewrite.name}", code, target.replace(code), origin=RULE)
            )
            combined = rewrite(combined, target.kind) or combined
    code = fit_to_target(combined, target) if len(singles) > 1 else None
    if code is None or any(single.code == code for single in singles):
        return singles[:MAX_SINGLE_CANDIDATES]
    return [Candidate("rules combined", code, target.replace(code), origin=RULE)] + singles[
        :MAX_SINGLE_CANDIDATES
    ]
