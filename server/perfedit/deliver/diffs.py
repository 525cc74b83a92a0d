"""Diffs: unified diff text and minimal line-level edits between the original and a candidate.

Edits come from :class:`difflib.SequenceMatcher` opcodes over lines, so unchanged lines are
never touched. Positions are (line, column) with columns in Unicode code points; the language
server converts them to the client's units (UTF-16 by default) with pygls' PositionCodec.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import unidiff

from perfedit.targets import split_lines


@dataclass(frozen=True)
class Edit:
    """Replace the text between ``start`` and ``end`` (0-based (line, code-point column)) by ``new_text``."""

    start: tuple[int, int]
    end: tuple[int, int]
    new_text: str


def unified_diff(old: str, new: str, path: str) -> str:
    """Unified diff text from ``a/path`` to ``b/path`` (3 lines of context); empty if equal."""
    lines = difflib.unified_diff(split_lines(old), split_lines(new), f"a/{path}", f"b/{path}")
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def changed_lines(diff_text: str) -> int:
    """Lines added plus lines removed in a unified diff (parsed with unidiff)."""
    patch = unidiff.PatchSet(diff_text)
    return sum(file.added + file.removed for file in patch)


def _end_of(lines: list[str], index: int) -> tuple[int, int]:
    """Position just past line ``index - 1``: (index, 0), or the end of the last line if it has
    no newline (there is no line ``index`` to point at)."""
    if index == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
        return index - 1, len(lines[-1])
    return index, 0


def line_edits(old: str, new: str) -> list[Edit]:
    """Minimal whole-line edits turning ``old`` into ``new``, in document order and
    non-overlapping (applying them all to ``old`` gives exactly ``new``)."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    edits = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(
            Edit(_end_of(old_lines, i1), _end_of(old_lines, i2), "".join(new_lines[j1:j2]))
        )
    return edits
