"""Shared by the editor end-to-end tests (``tests/test_editor_*.py``): the workspace they open and
the settings they give the server. The drivers beside this file run inside the real editors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from perfedit.errors import ModelMissing
from perfedit.llm import modelstore

HERE = Path(__file__).resolve().parent

#: The small test model for real, one sample with a short budget, no refinement round: the
#: rule-based ``functools.cache`` candidate is the expected winner, the model writes the reason.
SERVER_OPTIONS: dict[str, Any] = {
    "model": "smollm2-135m",
    "samples": 1,
    "maxNewTokens": 48,
    "runs": 5,
    "refineRounds": 0,
    "explain": True,
    "needsConfirmation": False,
}

#: The most a whole job may take on a loaded two-core machine, seconds.
JOB_TIMEOUT_S = 600


#: The hover on a function with a result is at most this many lines (the full report is a link).
HOVER_LINES = 12


def editor_workspace(tmp_path: Path) -> Path:
    """A copy of ``tests/editors/workspace`` (``fib.py``, naive recursion, and
    ``tests/test_fib.py``) with the dedupe example beside it (``dedupe.py``,
    ``tests/test_dedupe.py``), whose rule-based winner raises on unhashable items, which the
    original accepts: an unsafe suggestion."""
    workspace = Path(shutil.copytree(HERE / "workspace", tmp_path / "workspace"))
    example = HERE.parent.parent / "examples" / "dedupe"
    shutil.copy(example / "dedupe.py", workspace / "dedupe.py")
    shutil.copy(example / "tests" / "test_dedupe.py", workspace / "tests" / "test_dedupe.py")
    return workspace


def require_test_model() -> None:
    """Skip unless SmolLM2-135M is in the model cache (``perfedit model pull smollm2-135m``)."""
    try:
        modelstore.resolve("smollm2-135m")
    except ModelMissing as exc:
        pytest.skip(str(exc))


def assert_tests_pass(workspace: Path) -> None:
    """The workspace's own tests still pass (after the editor applied and saved an edit)."""
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
