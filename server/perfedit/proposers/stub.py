"""The stub proposer: candidates read from a file instead of a model.

Named as a stub on purpose: it exists so that tests can drive the selection, delivery and
editor paths deterministically, and so that a user can time a version they wrote by hand
through the same validation. The file holds the replacement for the target (a function
definition, or a whole script); several versions are separated by lines ``# --- candidate ---``.
"""

from __future__ import annotations

from pathlib import Path

from perfedit.progress import CancelFn, ProgressFn
from perfedit.proposers import Candidate
from perfedit.proposers.model import fit_to_target
from perfedit.targets import Target

SEPARATOR = "# --- candidate ---"


class StubProposer:
    """Proposes the versions written in ``path`` (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def propose(self, target: Target, progress: ProgressFn, cancel: CancelFn) -> list[Candidate]:
        """One candidate per version in the file (:meth:`Candidate.unusable` if it does not fit the target)."""
        candidates = []
        for index, chunk in enumerate(self.path.read_text(encoding="utf-8").split(SEPARATOR), start=1):
            code = fit_to_target(chunk, target)
            label = f"stub {index}"
            candidates.append(Candidate(label, code, target.replace(code)) if code else Candidate.unusable(label))
        return candidates
