"""The stub proposer: candidates read from a file instead of a model.

Named as a stub on purpose: it exists so that tests can drive the selection, delivery and
editor paths deterministically, and so that a user can time a version they wrote by hand
through the same validation. The file holds the replacement for the target (a function
definition, or a whole script); several versions are separated by lines ``# --- candidate ---``.
"""

from __future__ import annotations

from pathlib import Path

from perfedit.candidates import Feedback, Proposer
from perfedit.candidates.model import fit_to_target
from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import Candidate, Target

SEPARATOR = "# --- candidate ---"


def stub_proposer(path: Path) -> Proposer:
    """The :data:`~perfedit.candidates.Proposer` of the versions written in ``path`` (see the
    module docstring): one candidate per version, labelled ``stub N``
    (:meth:`Candidate.unusable` if it does not fit the target); ``feedback`` unused."""

    def propose(
        target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> list[Candidate]:
        candidates = []
        for index, chunk in enumerate(path.read_text(encoding="utf-8").split(SEPARATOR), start=1):
            code = fit_to_target(chunk, target)
            label = f"stub {index}"
            candidates.append(
                Candidate(label, code, target.replace(code)) if code else Candidate.unusable(label)
            )
        return candidates

    return propose
