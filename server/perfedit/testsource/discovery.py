"""Tests that exercise a target: pytest tests, doctests, or stdin/stdout case folders.

Discovery order for a function: the pytest tests in the project that executed its code in one
profiled run of the tests (:mod:`perfedit.testsource.profiling`, cached by content; so tests that reach it
through helpers, the public API, fixtures or parametrised function objects count), then the
doctests in its docstring, then, for a module-level function whose parameters all
have type hints (or defaults), none: it is checked by differential testing on generated inputs
(:mod:`perfedit.verify.differential`). For a script: a folder of ``input.N.txt``/``output.N.txt``
cases (the PIE layout) next to it. ``--tests`` (or ``tests`` in ``[tool.perfedit]``) names a
pytest file, a folder of pytest files, or a case folder, recognised by its contents.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from perfedit.config import NOT_SOURCE_DIRS, find_project_root
from perfedit.errors import NoTestsFound
from perfedit.formats.suites import TestSuite, is_case_folder, is_test_file, load_cases
from perfedit.targets import Target
from perfedit.testsource import profiling


def _project_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if not NOT_SOURCE_DIRS.intersection(path.relative_to(root).parts):
            found.append(path)
    return found


def _tests_referencing(path: Path, name: str) -> list[str]:
    """``test_x`` / ``TestC::test_x`` names in ``path`` whose body mentions ``name``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []

    def mentions(node: ast.AST) -> bool:
        return any(
            (isinstance(n, ast.Name) and n.id == name)
            or (isinstance(n, ast.Attribute) and n.attr == name)
            for n in ast.walk(node)
        )

    found = []
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            and mentions(node)
        ):
            found.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            found += [
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and item.name.startswith("test")
                and mentions(item)
            ]
    return found


def _executed_suite(
    target: Target, root: Path, tests: Path | None, run_tests: bool
) -> tuple[TestSuite | None, str]:
    """The pytest tests under ``tests`` (all of ``root``'s if None) that executed ``target`` in
    the profiled run (``run_tests``: run it if it is not cached; else only a cached one is used),
    and how many tests ran, for messages ("" if no profile was used). Raises ProfilingFailed
    if the run fails; returns (None, "") if pytest finds no tests."""
    file = target.path.resolve()
    if not file.is_relative_to(root):
        return None, ""
    try:
        profile = (
            profiling.profile_tests(root, tests)
            if run_tests
            else profiling.cached_profile(root, tests)
        )
    except NoTestsFound:
        return None, ""
    if profile is None:
        return None, ""
    lines = range(target.start_line + 1, target.end_line + 1)
    node_ids = profile.reaching(file.relative_to(root).as_posix(), target.name, lines)
    hot_lines = tuple(profiling.target_hot_lines(profile, target))
    suite = TestSuite("pytest", root, node_ids, hot_lines=hot_lines) if node_ids else None
    return suite, f"ran {len(profile.runs)} test(s)"


def _pytest_suite(root: Path, files: list[Path], name: str) -> TestSuite | None:
    node_ids = [
        f"{file.relative_to(root).as_posix()}::{test}"
        for file in files
        for test in _tests_referencing(file, name)
    ]
    return TestSuite("pytest", root, tuple(node_ids)) if node_ids else None


def _doctest_suite(target: Target, root: Path) -> TestSuite | None:
    definition = _definition(target)
    docstring = ast.get_docstring(definition) if definition else None
    if not docstring or ">>>" not in docstring:
        return None
    module = target.path.resolve().relative_to(root).as_posix()
    return TestSuite("doctest", root, (f"{module}::{target.path.stem}.{target.name}",))


def _definition(target: Target) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    tree = ast.parse(textwrap.dedent(target.code))
    return next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )


def differential_blocker(target: Target) -> str | None:
    """Why differential testing cannot call ``target``, or None: it calls plain module-level
    functions only (not scripts, methods, nested or async functions)."""
    if target.kind != "function":
        return "it is a script (its stdin/stdout cases compare outputs already)"
    if "." in target.name:
        return "it is a method or a nested function"
    if not isinstance(_definition(target), ast.FunctionDef):
        return "it is an async function"
    return None


def unhinted_parameters(target: Target) -> list[str]:
    """The parameters of the function ``target`` with neither a type hint nor a default (``*args``
    and ``**kwargs`` excepted): generated inputs need one or the other."""
    definition = _definition(target)
    if definition is None:
        return []
    arguments = definition.args
    positional = [*arguments.posonlyargs, *arguments.args]
    required = positional[: len(positional) - len(arguments.defaults)]
    required += [
        arg
        for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        if default is None
    ]
    return [arg.arg for arg in required if arg.annotation is None]


def discover(
    target: Target, tests: Path | None = None, *, differential: bool = True, run_tests: bool = True
) -> TestSuite:
    """The tests for ``target``: from ``tests`` if given (pytest file, pytest folder or case
    folder), else discovered in the target's project; else, if ``differential`` and its
    parameters are hinted, a suite of kind "differential" (no tests).

    pytest tests are those that executed the target in the profiled run of the tests
    (:func:`perfedit.testsource.profiling.profile_tests`, which runs them in the sandbox unless the project
    is unchanged since the last run). With ``run_tests`` False nothing is run (for quick
    answers): a cached profile is used if there is one, else the tests whose text names the
    target, a first guess.

    Raises NoTestsFound, saying where it looked and how to point at tests (or add type hints);
    ProfilingFailed if the profiled run cannot finish.
    """
    root = find_project_root(target.path.resolve())
    short_name = target.name.rsplit(".", 1)[-1]
    if tests is not None:
        tests = tests.resolve()
        if is_case_folder(tests):
            return TestSuite("cases", tests, cases=load_cases(tests))
        if tests.is_file() or tests.is_dir():
            files = (
                [tests]
                if tests.is_file()
                else [p for p in _project_files(tests) if is_test_file(p)]
            )
            suite_root = (
                root if tests.is_relative_to(root) else tests if tests.is_dir() else tests.parent
            )
            suite, ran = _executed_suite(target, suite_root, tests, run_tests)
            suite = suite if ran else _pytest_suite(suite_root, files, short_name)
            if suite:
                return suite
            if ran:
                raise NoTestsFound(
                    f"{ran} in {tests}; none of them executed {short_name}(); pass tests that call it."
                )
            raise NoTestsFound(
                f"no test in {tests} references {short_name!r}; name tests that call it."
            )
        raise NoTestsFound(f"{tests} does not exist.")
    if target.kind == "script":
        here = target.path.resolve().parent
        for folder in (
            here / f"{target.path.stem}_tests",
            here / "tests" / target.path.stem,
            here / "tests",
            here,
        ):
            if is_case_folder(folder):
                return TestSuite("cases", folder, cases=load_cases(folder))
        raise NoTestsFound(
            f"no input.N.txt/output.N.txt cases found for {target.path.name} (looked in "
            f"{target.path.stem}_tests/, tests/{target.path.stem}/, tests/ and beside it); "
            "pass --tests FOLDER."
        )
    suite, ran = _executed_suite(target, root, None, run_tests)
    if not ran:
        suite = _pytest_suite(
            root, [p for p in _project_files(root) if is_test_file(p)], short_name
        )
    suite = suite or _doctest_suite(target, root)
    if suite:
        return suite
    if ran:
        missing = f"no pytest test under {root} executed {short_name}() ({ran}) and its docstring has no doctest"
    else:
        missing = f"no pytest test under {root} references {short_name!r} and its docstring has no doctest"
    if not differential or differential_blocker(target) is not None:
        raise NoTestsFound(f"{missing}; write a test that calls it, or pass --tests PATH.")
    unhinted = unhinted_parameters(target)
    if unhinted:
        raise NoTestsFound(
            f"{missing}; write a test that calls it, pass --tests PATH, or add type hints to its parameters "
            f"({', '.join(unhinted)}) so that candidates can be checked by differential testing on generated inputs."
        )
    return TestSuite("differential", root)


def feedback_text(suite: TestSuite, name: str, limit_chars: int = 1200) -> str:
    """What a model needs to see of test ``name`` (a case name or pytest node id): a case's stdin
    and expected stdout, a pytest test function's source, else the node id; truncated to
    ``limit_chars``."""
    text = name
    if suite.kind == "cases":
        case = next(c for c in suite.cases if c.name == name)
        text = f"stdin:\n{case.stdin}\nexpected stdout:\n{case.expected}"
    elif suite.kind == "pytest" and "::" in name:  # not a differential testing input
        path, *names = name.split("[", 1)[0].split("::")
        try:
            source = (suite.root / path).read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError):
            tree = None
        functions = [
            node
            for node in (ast.walk(tree) if tree else ())
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == names[-1]
        ]
        if functions:
            text = ast.get_source_segment(source, functions[0]) or name
    return text if len(text) <= limit_chars else text[:limit_chars] + "\n… (truncated)"
