"""Proposers: sources of candidate versions of a target.

A proposer is a plain callable of type :data:`Proposer` (TRL's ``reward_funcs`` habit): the
pipeline takes a list of them (:func:`perfedit.job.pipeline.suggest`). Each candidate replaces only
the target's span and is untrusted until the sandbox has validated and timed it.

* :func:`perfedit.candidates.rules.propose_rules`: deterministic rewrites, no model;
* :func:`perfedit.candidates.model.model_proposer`: best-of-k sampling from a code model (PIE);
* :func:`perfedit.candidates.stub.stub_proposer`: versions read from a file;
* :func:`perfedit.candidates.refine.refiner`: PerfCodeGen refinement, fed with the verdicts of earlier
  candidates through :class:`Feedback`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import Candidate, Target

if TYPE_CHECKING:
    from perfedit.candidates.fixes import FixRequests
    from perfedit.formats.suites import TestSuite
    from perfedit.verify.scaling import Scaling
    from perfedit.verify.validate import Verdict


@dataclass(frozen=True)
class Feedback:
    """What validation said so far: the earlier ``candidates`` by label, the ``verdicts`` of the
    latest round and the ``suite`` they ran. Empty before anything was validated (the first
    round), when only a refining proposer has nothing to say. ``hot_lines`` maps a candidate's
    label to the hot lines of its slowest test, ``(line number in its dedented code, seconds)``,
    hottest first, for the candidates the optimisation round refines (profiled by
    :meth:`perfedit.job.pipeline.Job.refine`; empty when the setting ``profile_feedback`` is off).

    ``target_hot_lines``: inside a job (:class:`perfedit.job.pipeline.Job`), the target's hot lines,
    ``(line in its code, seconds)``, hottest first, as the job learns them: a function's at once
    from the profiled test run, a script's once its baseline has run and the original was
    profiled on its slowest case (a proposer uses them once known, never waiting:
    :func:`perfedit.candidates.model.prompt_hot_lines`); None outside a job.
    ``target_scaling``: likewise, the original's measured scaling (:mod:`perfedit.verify.scaling`),
    known once the baseline has run (None inside the future: not measured, or the setting
    ``scaling_feedback`` is off). ``fixes``: inside a job's stream, the failed candidates the
    validating side asks the model proposer to fix between its replies
    (:mod:`perfedit.candidates.fixes`); None elsewhere."""

    suite: TestSuite | None = None
    candidates: Mapping[str, Candidate] = field(default_factory=dict)
    verdicts: Sequence[Verdict] = ()
    hot_lines: Mapping[str, Sequence[tuple[int, float]]] = field(default_factory=dict)
    target_hot_lines: Future[list[tuple[int, float]]] | None = None
    target_scaling: Future[Scaling | None] | None = None
    fixes: FixRequests | None = None


#: The feedback of the first round: nothing validated yet.
NO_FEEDBACK = Feedback()

#: ``propose(target, feedback, progress, cancel)``: candidates for ``target``, possibly none,
#: yielded as they are made (a model's one per complete reply). Raises Cancelled once
#: ``cancel()`` turns true; may raise ModelMissing or ModelError when it uses a model.
Proposer = Callable[[Target, Feedback, ProgressFn, CancelFn], Iterable[Candidate]]
