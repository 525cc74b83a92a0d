"""Shared fixtures: copies of the example projects (tests never touch the originals)."""

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def dedupe_project(tmp_path: Path) -> Path:
    """A copy of examples/dedupe: dedupe.py with pytest tests in tests/."""
    return Path(shutil.copytree(EXAMPLES / "dedupe", tmp_path / "dedupe"))


@pytest.fixture
def script_project(tmp_path: Path) -> Path:
    """A copy of examples/script: seen_before.py with input.N.txt/output.N.txt cases in tests/."""
    return Path(shutil.copytree(EXAMPLES / "script", tmp_path / "script"))
