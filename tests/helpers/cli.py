"""``perfedit`` as a process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_perfedit(
    *args: str,
    cwd: Path | None = None,
    cache: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``perfedit ARGS`` (``python -m perfedit``) in ``cwd``, 200 columns wide, its output
    captured as text; ``cache`` is its cache folder (``PERFEDIT_CACHE_DIR``; default: the user
    cache), ``env`` extra environment variables. ``timeout_s`` defaults to 900 s: a profiled
    test run and a job on a loaded two-core machine."""
    extra = {"PERFEDIT_CACHE_DIR": str(cache)} if cache is not None else {}
    return subprocess.run(
        [sys.executable, "-m", "perfedit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "COLUMNS": "200", **extra, **(env or {})},
    )
