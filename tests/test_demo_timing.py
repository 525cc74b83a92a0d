"""bench/demo_timing.py splits ``make demo`` where the README's Makefile starts the model's pull
and the job: the markers it looks for are the Makefile's own recipe lines, and a run on a small
stand-in repository (a Makefile shaped like the real one, its commands quick) gives one row per
phase. The real run (minutes, downloads) is the lead's, on an idle machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "demo_timing.py"

#: A Makefile shaped like the real one's demo: set-up makes a virtual environment, then the
#: pull, then the job; ``broken`` fails in its job.
STAND_IN = """\
PYTHON ?= python3
BIN := .venv/bin
.venv/.installed:
\t$(PYTHON) -m venv --without-pip .venv
\tprintf '#!/bin/sh\\necho pulled\\n' > $(BIN)/perfedit && chmod +x $(BIN)/perfedit
\ttouch $@
demo: .venv/.installed
\t$(BIN)/perfedit model pull qwen2.5-coder-1.5b
\trm -rf .demo && mkdir .demo
\techo the job
broken: demo
\tfalse
"""


def phases() -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("demo_timing", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.PHASES)


def test_the_markers_are_the_makefiles_own_lines_in_order():
    plan = subprocess.run(
        ["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    positions = [
        next(i for i, line in enumerate(plan) if line.startswith(marker))
        for _, marker in phases()[1:]
    ]
    assert positions == sorted(positions), plan


def stand_in(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Makefile").write_text(STAND_IN)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    subprocess.run([*git, "add", "Makefile"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-m", "stand-in"], check=True)
    return repo


def time_demo(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script on ``repo``, its temporary folder beside it (a failed run keeps it)."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(repo.parent)},
        timeout=300,  # a virtual environment without pip, on a loaded two-core machine
    )


def test_a_run_gives_one_row_per_phase_and_the_load_average(tmp_path):
    done = time_demo(stand_in(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split(" | ")[0].strip("| ") for line in done.stdout.splitlines() if "|" in line]
    assert rows[2:] == ["set-up", "model download", "job", "total"], done.stdout
    assert "load average before:" in done.stdout and "load average after:" in done.stdout


def test_a_failed_run_says_where_and_keeps_its_log(tmp_path):
    done = time_demo(stand_in(tmp_path), "--target", "broken")
    assert done.returncode == 1
    assert "make broken failed (exit status 2)" in done.stdout
    kept = Path(done.stdout.split("make's output: ")[1].split(")")[0])
    assert kept.is_relative_to(tmp_path) and "the job" in kept.read_text()
