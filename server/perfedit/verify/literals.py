"""Expected outputs written into a candidate as literals: what test-based validation cannot tell
from a real solution.

The expected outputs are those the tests spell out: a case's ``output.N.txt``, the literal
right-hand side of ``assert f(...) == <literal>`` (either side) in the pytest tests that
exercise the target, and a doctest's expected output where it is a Python literal. A candidate
whose source holds one of them as a literal that the original's source does not hold gets a
note in its verdict (:func:`hardcoded_notes`); nothing is rejected for it.

Only the syntax trees are read (:mod:`ast`, :func:`ast.literal_eval`): nothing is run.
"""

from __future__ import annotations

import ast
import doctest
from typing import Any

from perfedit.formats.suites import TestSuite
from perfedit.targets import Target

MAX_SHOWN_CHARS = 60


def expected_outputs(suite: TestSuite, target: Target) -> list[tuple[str, Any]]:
    """``(test name, expected value)`` for each output the tests spell out as a literal (a
    case's expected stdout as a string, stripped); trivial values (None, booleans, empty
    values, one-character texts, numbers below 10) are left out: any program may hold them."""
    found: list[tuple[str, Any]] = []
    if suite.kind == "cases":
        found = [(case.name, case.expected.strip()) for case in suite.cases]
    elif suite.kind == "pytest":
        name = target.name.rsplit(".", 1)[-1]
        for file in sorted({node.split("::")[0] for node in suite.node_ids}):
            try:
                tree = ast.parse((suite.root / file).read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                continue
            found += _asserted(tree, name)
    elif suite.kind == "doctest":
        docstring = _docstring(target)
        for example in doctest.DocTestParser().get_examples(docstring or ""):
            value = _evaluated(example.want.strip())
            if value is not _NONE:
                found.append((f"the doctest of {target.name}", value))
    return [(test, value) for test, value in found if not _trivial(value)]


def hardcoded_notes(
    candidate_source: str, original_source: str, expected: list[tuple[str, Any]]
) -> list[str]:
    """One note per test whose expected output (``expected``, from :func:`expected_outputs`) is
    a literal in ``candidate_source`` but not in ``original_source``."""
    if not expected:
        return []
    added = [
        value
        for value in _literals(candidate_source)
        if not _holds(_literals(original_source), value)
    ]
    notes, named = [], set()
    for test, value in expected:
        if test not in named and _holds(added, value):
            named.add(test)
            shown = (
                repr(value)
                if len(repr(value)) <= MAX_SHOWN_CHARS
                else repr(value)[: MAX_SHOWN_CHARS - 1] + "…"
            )
            notes.append(
                f"note: the candidate contains the expected output of {test} ({shown}) as a literal; "
                "the tests cannot tell it from a real solution."
            )
    return notes


_NONE = object()


def _evaluated(node: ast.AST | str) -> Any:
    """The literal value of ``node`` (a syntax tree or Python text), or _NONE if it is not one."""
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NONE


def _asserted(tree: ast.AST, name: str) -> list[tuple[str, Any]]:
    """``(test name, value)`` for ``assert name(...) == <literal>`` in the test functions of ``tree``."""
    found = []
    for test in ast.walk(tree):
        if not (
            isinstance(test, ast.FunctionDef | ast.AsyncFunctionDef)
            and test.name.startswith("test")
        ):
            continue
        for node in ast.walk(test):
            if not (
                isinstance(node, ast.Assert)
                and isinstance(node.test, ast.Compare)
                and len(node.test.ops) == 1
                and isinstance(node.test.ops[0], ast.Eq)
            ):
                continue
            left, right = node.test.left, node.test.comparators[0]
            for call, other in ((left, right), (right, left)):
                if _calls(call, name) and (value := _evaluated(other)) is not _NONE:
                    found.append((test.name, value))
    return found


def _calls(node: ast.AST, name: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    return (isinstance(function, ast.Name) and function.id == name) or (
        isinstance(function, ast.Attribute) and function.attr == name
    )


def _docstring(target: Target) -> str | None:
    try:
        tree = ast.parse(target.source)
    except SyntaxError:
        return None
    short = target.name.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == short:
            return ast.get_docstring(node)
    return None


def _literals(source: str) -> list[Any]:
    """Every literal value in ``source``: constants, and containers of constants; a text also
    stripped (a script prints it with a newline)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    values: list[Any] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant | ast.List | ast.Tuple | ast.Set | ast.Dict):
            value = _evaluated(node)
            if value is _NONE:
                continue
            values.append(value)
            if isinstance(value, str):
                values.append(value.strip())
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values.append(str(value))  # a script's expected output is text
    return values


def _holds(values: list[Any], wanted: Any) -> bool:
    """Whether ``wanted`` is among ``values`` (equal and of the same type)."""
    return any(type(value) is type(wanted) and value == wanted for value in values)


def _trivial(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return abs(value) < 10
    if isinstance(value, str | bytes):
        return len(value) < 2
    try:
        return len(value) == 0
    except TypeError:
        return False
