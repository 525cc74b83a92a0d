"""Proposers: sources of candidate versions of a target.

A proposer returns :class:`Candidate` objects; each replaces only the target's span and is
untrusted until the sandbox has validated and timed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from perfedit.progress import CancelFn, ProgressFn
from perfedit.targets import Target


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement ``code`` for the target's span; ``source`` is the whole new file.

    ``label`` names where it came from ("greedy", "sample 3", "stub 1"). A reply that held no
    usable code is still reported, with ``code`` and ``source`` empty (see :attr:`usable`), so
    that the user learns what became of every sample.
    """

    label: str
    code: str
    source: str

    @property
    def usable(self) -> bool:
        """True if there is code to validate."""
        return bool(self.code)

    @classmethod
    def unusable(cls, label: str) -> Candidate:
        """The placeholder for a reply without usable code."""
        return cls(label, "", "")


class Proposer(Protocol):
    """Anything that proposes candidates for a target."""

    def propose(self, target: Target, progress: ProgressFn, cancel: CancelFn) -> list[Candidate]:
        """Candidates for ``target``, possibly none; raises Cancelled when ``cancel()`` turns true."""
        ...
