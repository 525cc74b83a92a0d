"""Small pytest projects for the profiling, ``perfedit profile`` and ``perfedit scan`` tests:
slow functions (``solution.py``) and tests that reach them, written into a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

NORMALISE = """\
def _normalise(word):
    out = ""
    for ch in word:
        out += ch.lower()
    return out
"""

COUNT_WORDS = """\
def count_words(text):
    counts = {}
    for word in text.split():
        key = _normalise(word)
        counts[key] = counts.get(key, 0) + 1
    return counts
"""

SLOW_SUM = """\
def slow_sum(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""

DEDUPE = """\
def dedupe(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
"""


def module(*functions: str) -> str:
    """The functions' code as one module, two blank lines between them."""
    return "\n\n".join(functions)


def write_project(folder: Path, solution: str, tests: str, **extra: str) -> Path:
    """``folder`` (made) with ``solution.py``, ``tests/test_solution.py`` (dedented), a
    pyproject.toml putting the folder on pytest's path, and ``extra`` files (name → text)."""
    (folder / "tests").mkdir(parents=True)
    (folder / "solution.py").write_text(solution)
    (folder / "tests" / "test_solution.py").write_text(textwrap.dedent(tests))
    (folder / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    for name, text in extra.items():
        (folder / name).write_text(text)
    return folder
