"""Shared by the editor end-to-end tests (``tests/test_editor_*.py``): the workspace they open and
the settings they give the server. The drivers beside this file run inside the real editors."""

from __future__ import annotations

import shutil
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


def editor_workspace(tmp_path: Path) -> Path:
    """A copy of ``tests/editors/workspace``: ``fib.py`` (naive recursion) and ``tests/test_fib.py``."""
    return Path(shutil.copytree(HERE / "workspace", tmp_path / "workspace"))


def require_test_model() -> None:
    """Skip unless SmolLM2-135M is in the model cache (``perfedit model pull smollm2-135m``)."""
    try:
        modelstore.resolve("smollm2-135m")
    except ModelMissing as exc:
        pytest.skip(str(exc))
