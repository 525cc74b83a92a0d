"""Test discovery: pytest tests that executed the target (one profiled run, in the sandbox),
doctests, case folders."""

from pathlib import Path

import pytest

from perfedit.errors import NoTestsFound
from perfedit.formats.suites import is_case_folder, load_cases
from perfedit.targets import find
from perfedit.testsource.discovery import discover


def _target(path: Path, function: str | None = None):
    return find(path, path.read_text(), function=function)


def test_pytest_tests_referencing_function(dedupe_project: Path):
    suite = discover(_target(dedupe_project / "dedupe.py", "unique_in_order"))
    assert suite.kind == "pytest"
    assert suite.root == dedupe_project
    assert suite.node_ids == (
        "tests/test_dedupe.py::test_small",
        "tests/test_dedupe.py::test_large",
    )


def test_only_tests_that_execute_the_function(dedupe_project: Path):
    """By execution, not by text: a test that names the function without calling it is left out."""
    (dedupe_project / "tests" / "test_other.py").write_text(
        "from dedupe import unique_in_order\n\ndef test_unrelated():\n    assert 1 + 1 == 2\n\n"
        "def test_names_it_only():\n    assert callable(unique_in_order)\n\n"
        "class TestIt:\n    def test_method(self):\n        assert unique_in_order([1, 1]) == [1]\n"
    )
    suite = discover(_target(dedupe_project / "dedupe.py", "unique_in_order"))
    assert "tests/test_other.py::TestIt::test_method" in suite.node_ids
    assert not any(
        "test_unrelated" in node or "test_names_it_only" in node for node in suite.node_ids
    )


def test_without_running_tests_the_text_is_a_first_guess(
    dedupe_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``run_tests=False`` starts no process: with no cached profile, tests naming the target."""
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "empty-cache"))
    suite = discover(_target(dedupe_project / "dedupe.py", "unique_in_order"), run_tests=False)
    assert suite.node_ids == (
        "tests/test_dedupe.py::test_small",
        "tests/test_dedupe.py::test_large",
    )
    assert not (tmp_path / "empty-cache").exists()


def test_doctest_when_no_pytest(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    module = tmp_path / "m.py"
    module.write_text(
        'def double(x):\n    """\n    >>> double(2)\n    4\n    """\n    return x * 2\n'
    )
    suite = discover(_target(module, "double"))
    assert (suite.kind, suite.node_ids) == ("doctest", ("m.py::m.double",))


def test_no_tests_says_what_to_do(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    module = tmp_path / "m.py"
    module.write_text("def lonely(x):\n    return x\n")
    with pytest.raises(NoTestsFound, match="--tests"):
        discover(_target(module, "lonely"))


def test_case_folder_found_beside_script(script_project: Path):
    suite = discover(_target(script_project / "seen_before.py"))
    assert suite.kind == "cases"
    assert [c.name for c in suite.cases] == ["case 0", "case 1", "case 2", "case 3"]
    assert suite.cases[0].expected.split() == ["NO", "NO", "YES", "NO", "YES"]


def test_explicit_tests_recognised_by_contents(script_project: Path, dedupe_project: Path):
    cases = discover(_target(script_project / "seen_before.py"), script_project / "tests")
    assert cases.kind == "cases"
    pytest_file = discover(
        _target(dedupe_project / "dedupe.py", "unique_in_order"),
        dedupe_project / "tests" / "test_dedupe.py",
    )
    assert pytest_file.kind == "pytest" and len(pytest_file.node_ids) == 2


def test_cases_sorted_numerically_and_missing_output(tmp_path: Path):
    for i in (10, 2):
        (tmp_path / f"input.{i}.txt").write_text(f"{i}\n")
        (tmp_path / f"output.{i}.txt").write_text(f"{i}\n")
    assert is_case_folder(tmp_path)
    assert [c.name for c in load_cases(tmp_path)] == ["case 2", "case 10"]
    (tmp_path / "input.3.txt").write_text("3\n")
    with pytest.raises(NoTestsFound, match="output.3.txt"):
        load_cases(tmp_path)
