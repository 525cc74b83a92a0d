"""The cookbook: perfedit's own slow→fast pairs of small functions and scripts, one per common
speed-up (built-ins, set and dict membership, ``collections``, ``heapq``, ``bisect``,
comprehensions, hoisting, early exit, ``itertools``, memoisation, bulk stdin, and algorithmic
upgrades: pair loops to hashing or counting, repeated search to an index, recursion to a loop or
a cache, sorting with two pointers, prefix sums, a sieve), kept as data in ``cookbook.toml``
beside this module.

PIE's pairs (Shypula et al. 2024) are whole competitive-programming scripts; a function target
is better shown functions. The model proposer retrieves the cookbook's entries of the target's
kind by BM25 over the shape of the code (:func:`perfedit.candidates.retrieval.shape_tokens`: the code's own
names generalised, neighbouring tokens paired), as PIE section 3.1
retrieves its training pairs, beside those of a pair file when one is given
(:func:`perfedit.candidates.model.exemplars_for`). Every entry carries example calls (a function)
or inputs (a script) on which its two versions agree; the tests run them.

A missing or corrupt cookbook is not an error for a job: the source is off, with one warning
(:func:`cookbook_index`).
"""

from __future__ import annotations

import functools
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from perfedit.candidates.retrieval import Exemplar, ExemplarIndex, shape_tokens
from perfedit.errors import InputError

log = logging.getLogger(__name__)

#: The cookbook shipped with perfedit.
COOKBOOK = Path(__file__).with_name("cookbook.toml")
KINDS = ("function", "script")


@dataclass(frozen=True)
class Entry:
    """One cookbook pair: ``slow`` and ``fast`` versions of a ``kind`` ("function" or "script")
    target named ``id``; ``examples`` are calls of the function (Python expressions) or stdin
    texts of the script, on which both versions give the same result."""

    id: str
    kind: str
    slow: str
    fast: str
    examples: tuple[str, ...]

    def exemplar(self) -> Exemplar:
        """The entry as a prompt demonstration (id ``cookbook:<id>``)."""
        return Exemplar(
            self.slow.strip("\n") + "\n",
            self.fast.strip("\n") + "\n",
            self.kind,
            "",
            f"cookbook:{self.id}",
        )


def load(path: Path = COOKBOOK) -> list[Entry]:
    """The entries of the cookbook file ``path`` (TOML: ``[[pair]]`` tables with ``id``, ``kind``,
    ``slow``, ``fast`` and ``calls`` for a function or ``stdin`` for a script).

    Raises:
        InputError: the file is missing, is not TOML, or an entry lacks a field or has a wrong one.
    """
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cookbook {path} cannot be read ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"cookbook {path} is not valid TOML ({exc})") from exc
    rows = table.get("pair")
    if not isinstance(rows, list) or not rows:
        raise InputError(f"cookbook {path} has no [[pair]] entries")
    return [_entry(row, f"{path.name}, pair {number}") for number, row in enumerate(rows, 1)]


def _entry(row: object, where: str) -> Entry:
    if not isinstance(row, dict):
        raise InputError(f"{where}: not a table")
    kind = row.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}")
    examples = row.get("calls" if kind == "function" else "stdin", [])
    fields = [row.get(name) for name in ("id", "slow", "fast")]
    if not all(isinstance(text, str) and text.strip() for text in fields) or not (
        isinstance(examples, list) and examples and all(isinstance(e, str) for e in examples)
    ):
        needs = "calls" if kind == "function" else "stdin"
        raise InputError(f"{where}: needs id, slow, fast and a non-empty list of {needs} (strings)")
    return Entry(row["id"], kind, row["slow"], row["fast"], tuple(examples))


@functools.cache
def cookbook_index(path: Path = COOKBOOK) -> ExemplarIndex | None:
    """The BM25 index over the entries of the cookbook ``path`` (built once per process; a few
    dozen short entries take milliseconds), or None, with one logged warning, when the file is
    missing or corrupt."""
    try:
        entries = load(path)
    except InputError as exc:
        log.warning("perfedit: %s; the cookbook's exemplars are off", exc)
        return None
    return ExemplarIndex.build([entry.exemplar() for entry in entries], shape_tokens)
