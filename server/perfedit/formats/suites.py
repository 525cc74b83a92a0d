"""The tests of one target as data: a :class:`TestSuite` of pytest node ids, doctests or
stdin/stdout :class:`Case` s, and the PIE case-folder layout (``input.N.txt``/``output.N.txt``).

The sandbox runs suites, test discovery (:mod:`perfedit.testsource`) builds them and the pair
file names case folders (:mod:`perfedit.formats.pairs`), so they live below all three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perfedit.errors import NoTestsFound
from perfedit.targets import read_source

_CASE_INPUT = re.compile(r"input\.(\d+)\.txt")


@dataclass(frozen=True)
class Case:
    """One stdin/stdout case: the program reads ``stdin`` and must print ``expected``."""

    name: str
    stdin: str
    expected: str


@dataclass(frozen=True)
class TestSuite:
    """The tests for one target.

    ``root`` is the folder copied into the sandbox (the project root for pytest/doctest, and for
    "differential": no tests, only differential testing); ``node_ids`` are pytest node ids
    relative to ``root``; ``cases`` holds stdin/stdout cases. ``hot_lines`` are the target's
    hot lines in the profiled run that chose the tests, ``(line in target.code, 1-based;
    seconds)`` hottest first (empty without a profile).
    """

    kind: Literal["pytest", "doctest", "cases", "differential"]
    root: Path
    node_ids: tuple[str, ...] = ()
    cases: tuple[Case, ...] = ()
    hot_lines: tuple[tuple[int, float], ...] = ()

    @property
    def size(self) -> int:
        """Number of test items as selected (a parametrised test counts once)."""
        return len(self.cases) if self.kind == "cases" else len(self.node_ids)

    def describe(self) -> str:
        """One line for reports, e.g. ``3 pytest tests in tests/test_slow.py``."""
        if self.kind == "cases":
            return f"{len(self.cases)} stdin/stdout cases"
        if self.kind == "differential":
            return "no tests: differential testing only"
        files = sorted({node.split("::")[0] for node in self.node_ids})
        tests = "test" if len(self.node_ids) == 1 else "tests"
        return f"{len(self.node_ids)} {self.kind} {tests} in {', '.join(files)}"


def is_case_folder(folder: Path) -> bool:
    """True if ``folder`` holds ``input.N.txt`` files (the PIE layout)."""
    return folder.is_dir() and any(_CASE_INPUT.fullmatch(p.name) for p in folder.iterdir())


def load_cases(folder: Path) -> tuple[Case, ...]:
    """The ``input.N.txt``/``output.N.txt`` pairs of ``folder`` in numeric order.

    Raises NoTestsFound if an input has no matching output, InputError if a file cannot be read
    or is not UTF-8 text.
    """
    cases = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        match = _CASE_INPUT.fullmatch(path.name)
        if not match:
            continue
        output = folder / f"output.{match[1]}.txt"
        if not output.is_file():
            raise NoTestsFound(f"{path} has no matching {output.name}; add it or remove the input.")
        cases.append(
            (int(match[1]), Case(f"case {match[1]}", read_source(path), read_source(output)))
        )
    return tuple(case for _, case in sorted(cases, key=lambda item: item[0]))


def is_test_file(path: Path) -> bool:
    """True for pytest's default test file names, ``test_*.py`` and ``*_test.py``."""
    return path.suffix == ".py" and (path.name.startswith("test_") or path.stem.endswith("_test"))
