"""locate.locate: the target and its tests, with paths resolved the way users expect."""

import os
from pathlib import Path

from perfedit.config import Settings
from perfedit.job.pipeline import Request, locate


def test_cli_tests_path_is_relative_to_working_directory(script_project: Path, monkeypatch):
    monkeypatch.chdir(script_project.parent)
    path = script_project / "seen_before.py"
    _, suite = locate(Request(path, path.read_text(), tests=Path("script/tests")), Settings())
    assert suite.kind == "cases" and len(suite.cases) == 4


def test_settings_tests_path_is_relative_to_the_file(script_project: Path, tmp_path: Path):
    os.rename(script_project / "tests", script_project / "cases")
    path = script_project / "seen_before.py"
    _, suite = locate(Request(path, path.read_text()), Settings(tests="cases"))
    assert suite.kind == "cases" and suite.root == script_project / "cases"


def test_function_target_at_cursor_line(dedupe_project: Path):
    path = dedupe_project / "dedupe.py"
    target, suite = locate(Request(path, path.read_text(), line=6), Settings())
    assert target.name == "unique_in_order" and suite.kind == "pytest"
