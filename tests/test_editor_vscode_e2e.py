"""VS Code end to end: real VS Code (code-server 4.100, from npm) on 127.0.0.1 with the perfedit
extension's ``.vsix`` installed, driven by playwright-core in Debian's Chromium
(``tests/editors/vscode/vscode_e2e.mjs``).

The workspace (``tests/editors/workspace`` and the dedupe example) holds a naively recursive
``fib`` and a quadratic ``unique_in_order``, with their pytest tests; each job loads SmolLM2-135M
for real (one sample, a short budget) beside the rule-based candidates. First ``unique_in_order``:
its set-based winner raises on unhashable items, which the original accepts, so the decision
notification is a warning without a plain Apply; "Show diff" opens the Refactor Preview, whose
changes carry a warning icon and the annotation (the headline and the unsafe mark) as their
tooltip, with the headline in a notification beside it while it waits; the driver discards it. Then ``fib``:
``functools.cache`` behaves as the original; "Details" opens the full report rendered, "Show diff"
the preview, where the driver applies it. It then saves, reads the code lens, hovers the function,
opens the hover's full report and "perfedit: Show Last Result"; this test checks what it saw, the
file on disk and that the file still passes its tests. Screenshots of every step go to
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

import editors
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


def line_of(path: Path, text: str) -> int:
    """The 1-based line of ``path`` that holds ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


@pytest.mark.model
def test_vscode_decides_with_the_facts_previews_and_hovers(tmp_path: Path):
    editors.require_test_model()
    if missing := missing_tools():
        pytest.skip("needs " + "; ".join(missing))
    workspace = editors.editor_workspace(tmp_path)
    field_names = {
        editor_key(f.name): f.name for f in dataclasses.fields(Settings)
    }  # the editor's keys -> [tool.perfedit]'s
    project_only = {
        field_names[k]: v
        for k, v in editors.SERVER_OPTIONS.items()
        if k not in EXTENSION_KEYS and k in field_names
    }
    with (workspace / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write(
            "\n[tool.perfedit]\n"
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in project_only.items())
        )
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    report_path = tmp_path / "report.json"
    config = {
        "workspace": str(workspace),
        "jobs": [
            {
                "file": "dedupe.py",
                "line": line_of(workspace / "dedupe.py", "result.append"),
                "name": "unique_in_order",
                "answers": ["Show diff"],
                "preview": "Discard",
            },
            {
                "file": "fib.py",
                "line": line_of(workspace / "fib.py", "return fib(n - 1)"),
                "name": "fib",
                "answers": ["Details", "Show diff"],
                "preview": "Apply",
            },
        ],
        "vsix": str(VSIX),
        "chromium": str(CHROMIUM),
        "settings": {
            "perfedit.python": sys.executable,
            **{f"perfedit.{k}": editors.SERVER_OPTIONS[k] for k in EXTENSION_KEYS},
        },
        "artifacts": str(ARTIFACTS),
        "report": str(report_path),
        "timeoutS": editors.JOB_TIMEOUT_S,
    }

    finished = subprocess.run(
        ["node", "vscode_e2e.mjs", json.dumps(config)],
        cwd=DRIVER_DIR,
        capture_output=True,
        text=True,
        timeout=2 * editors.JOB_TIMEOUT_S + 300,
    )

    report = json.loads(report_path.read_text(encoding="utf-8"))
    print(finished.stdout, json.dumps(report, indent=2))
    assert report["errors"] == [] and finished.returncode == 0, finished.stderr
    dedupe, fib = report["jobs"]
    assert dedupe["action"] == "Suggest faster version of `unique_in_order`"
    assert fib["action"] == "Suggest faster version of `fib`"
    # progress: a notification named after the function, going through the phases
    for job, name in ((dedupe, "unique_in_order"), (fib, "fib")):
        assert job["progress"] and all(
            f"perfedit: speeding up {name}" in p for p in job["progress"]
        )
    assert len(set(fib["progress"])) >= 2, fib["progress"]
    # the unsafe suggestion: a warning naming the difference, no plain Apply, marked in the preview
    (unsafe,) = dedupe["questions"]
    assert unsafe["actions"] == ["Show diff", "Details", "Discard"]
    assert "behaves differently" in unsafe["message"] and "unhashable" in unsafe["message"]
    # the change annotation (headline, then what to know) is each change's hover in the preview
    assert any(
        re.match(
            r"unique_in_order: [\d.]+× faster · 2 tests pass · behaves differently - Differs from the original on ",
            text,
        )
        and "unhashable" in text
        for text in dedupe["previewHover"]
    ), dedupe["previewHover"]

    # in the preview itself each change carries the unsafe mark; beside it, the headline
    assert dedupe["previewIcons"] and set(dedupe["previewIcons"]) == {"warning"}
    assert re.match(
        r"perfedit: unique_in_order: [\d.]+× faster · 2 tests pass · behaves differently — review it in the Refactor Preview",
        dedupe["previewNotice"],
    ), dedupe["previewNotice"]

    assert "discarded" in dedupe["outcome"] or "declined" in dedupe["outcome"]
    # the safe one: asked with Apply, Details shown rendered, the headline in the preview
    first, second = fib["questions"]
    assert first["actions"] == ["Apply", "Show diff", "Details", "Discard"] and first == second
    assert re.match(r"perfedit: fib [\d.]+× faster · 2 tests pass", first["message"])
    assert fib["details"] is True
    assert any(re.match(r"fib: [\d.]+× faster · 2 tests pass", t) for t in fib["previewHover"])
    assert fib["previewIcons"] and set(fib["previewIcons"]) == {"zap"}
    assert re.match(r"perfedit: fib: [\d.]+× faster · 2 tests pass — ", fib["previewNotice"])
    assert "applied" in fib["outcome"] and "faster" in fib["status"]
    on_disk = (workspace / "fib.py").read_text(encoding="utf-8")
    assert "@functools.cache" in on_disk and "import functools" in on_disk
    assert any(
        re.match(r"Faster version applied \([\d.]+×\) — Profile again", lens)
        for lens in report["codeLens"]
    )
    hover = [line for line in report["hover"].splitlines() if line.strip()]
    assert (
        hover[0].startswith("perfedit: faster fib applied: ") and len(hover) <= editors.HOVER_LINES
    )
    assert "Why:" in report["hover"] and "Full report" in report["hover"]
    assert report["reportOpened"] is True and report["lastResultRendered"] is True
    shots = [p.name for p in sorted(ARTIFACTS.glob("[0-9]*.png"))]
    for name in (
        "code-lens",
        "light-bulb",
        "code-action",
        "progress",
        "decision",
        "refactor-preview",
        "preview-notice",
        "details",
        "hover",
        "full-report",
        "last-result",
    ):
        assert any(name in shot for shot in shots), (name, shots)
    editors.assert_tests_pass(workspace)
