"""VS Code end to end: real VS Code (code-server 4.100, from npm) on 127.0.0.1 with the perfedit
extension's ``.vsix`` installed, driven by playwright-core in Debian's Chromium
(``tests/editors/vscode/vscode_e2e.mjs``).

The workspace (``tests/editors/workspace``) holds a naively recursive ``fib`` and its pytest tests;
the job loads SmolLM2-135M for real (one sample, a short budget) beside the rule-based candidates,
of which ``functools.cache`` makes ``fib`` much faster. The driver triggers the code action from
the light bulb, sees the progress in the status bar, accepts the edit in the Refactor Preview,
saves, hovers the function and opens "perfedit: Show Last Result"; this test checks what it saw,
the file on disk and that the file still passes its tests. Screenshots go to
``.artifacts/vscode-e2e/``.

Needs ``make vscode-e2e-deps`` (code-server, playwright-core, Chromium, ripgrep) and ``make vsix``;
``make test`` does both first.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from editors import JOB_TIMEOUT_S, SERVER_OPTIONS, editor_workspace, require_test_model
from perfedit.config import Settings, editor_key

ROOT = Path(__file__).resolve().parent.parent
DRIVER_DIR = ROOT / "tests" / "editors" / "vscode"
VSIX = ROOT / "client-vscode" / "perfedit.vsix"
ARTIFACTS = ROOT / ".artifacts" / "vscode-e2e"
CHROMIUM = Path("/usr/bin/chromium")

#: The extension's settings (it sends the server only these, the ones set); the rest of
#: SERVER_OPTIONS goes into the workspace's [tool.perfedit], which the server reads below them.
EXTENSION_KEYS = ("model", "samples", "runs", "explain")


def missing_tools() -> list[str]:
    """What the test needs and the machine lacks, as install hints."""
    needs = {
        "make vscode-e2e-deps (code-server, playwright-core)": (
            DRIVER_DIR / "node_modules" / ".bin" / "code-server"
        ).exists(),
        "make vsix (client-vscode/perfedit.vsix)": VSIX.exists(),
        "apt-get install chromium": CHROMIUM.exists(),
        "node (Node.js 20)": shutil.which("node") is not None,
    }
    return [hint for hint, present in needs.items() if not present]


@pytest.mark.model
def test_vscode_light_bulb_action_progress_preview_and_hover(tmp_path: Path):
    require_test_model()
    if missing := missing_tools():
        pytest.skip("needs " + "; ".join(missing))
    workspace = editor_workspace(tmp_path)
    field_names = {
        editor_key(f.name): f.name for f in dataclasses.fields(Settings)
    }  # the editor's keys -> [tool.perfedit]'s
    project_only = {
        field_names[k]: v
        for k, v in SERVER_OPTIONS.items()
        if k not in EXTENSION_KEYS and k in field_names
    }
    with (workspace / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write(
            "\n[tool.perfedit]\n"
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in project_only.items())
        )
    source = (workspace / "fib.py").read_text(encoding="utf-8")
    line = next(
        i for i, text in enumerate(source.splitlines(), start=1) if "return fib(n - 1)" in text
    )
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    report_path = tmp_path / "report.json"
    config = {
        "workspace": str(workspace),
        "file": "fib.py",
        "line": line,
        "vsix": str(VSIX),
        "chromium": str(CHROMIUM),
        "settings": {
            "perfedit.python": sys.executable,
            **{f"perfedit.{k}": SERVER_OPTIONS[k] for k in EXTENSION_KEYS},
        },
        "artifacts": str(ARTIFACTS),
        "report": str(report_path),
        "timeoutS": JOB_TIMEOUT_S,
    }

    finished = subprocess.run(
        ["node", "vscode_e2e.mjs", json.dumps(config)],
        cwd=DRIVER_DIR,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S + 300,
    )

    report = json.loads(report_path.read_text(encoding="utf-8"))
    print(finished.stdout, json.dumps(report, indent=2))
    assert report["errors"] == [] and finished.returncode == 0, finished.stderr
    assert report["action"] == "Suggest faster version of `fib`"
    assert any("%" in status for status in report["status"]), report["status"]  # progress shown
    # The status bar's percentage moves through the job and never goes back (sampled every 0.5 s).
    shown = [int(m[1]) for status in report["status"] if (m := re.search(r"(\d+)%", status))]
    assert shown == sorted(shown) and len(set(shown)) >= 2, report["status"]
    assert "faster" in report["status"][-1]  # then the outcome
    on_disk = (workspace / "fib.py").read_text(encoding="utf-8")
    assert "@functools.cache" in on_disk and "import functools" in on_disk
    assert "perfedit: a faster fib" in report["hover"] and "Why:" in report["hover"]
    assert "faster" in report["lastResult"] and "Applied." in report["lastResult"]
    assert sorted(p.name for p in ARTIFACTS.glob("*.png"))[:3] == [
        "1-light-bulb.png",
        "2-code-action.png",
        "3-progress.png",
    ]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    assert tests.returncode == 0, tests.stdout
