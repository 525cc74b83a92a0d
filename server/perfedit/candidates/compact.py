"""Compact prompts: the code a prompt shows without its docstrings, and the target's docstring
put back into a candidate that the model wrote without it.

On the CPU, every prompt token costs the model time before the first token of its reply (about
15 tokens/s of prompt on one thread here, docs/results.md "Compact prompts"), and a docstring
the prompt shows is one the reply copies, token by token. A docstring says what the function
does, not how fast: the prompt goes without it, and :func:`restore_docstring` puts the
original's back into each candidate, so the diff, the doctests and the user's documentation
are as they were.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class PromptCode:
    """Code as a prompt shows it: ``text`` without docstrings, and ``lines`` mapping a line of
    the code (1-based) to its line in ``text`` (the lines of removed docstrings have none)."""

    text: str
    lines: dict[int, int]

    def hot_lines(self, hot: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``hot`` ((line of the code, seconds)) as lines of :attr:`text`; a line that was
        removed is dropped."""
        return [(self.lines[line], seconds) for line, seconds in hot if line in self.lines]


def _docstring_lines(tree: ast.Module, lines: list[str]) -> set[int]:
    """The 1-based lines of every docstring in ``tree`` (the module's and each definition's)
    that stands on lines of its own and is not its body's only statement."""
    removed: set[int] = set()
    for node in [tree, *(n for n in ast.walk(tree) if isinstance(n, _DEFINITIONS))]:
        body = node.body
        first = body[0] if body else None
        if (
            len(body) < 2
            or not isinstance(first, ast.Expr)
            or not isinstance(first.value, ast.Constant)
            or not isinstance(first.value.value, str)
            or first.end_lineno is None
            or body[1].lineno <= first.end_lineno
            or lines[first.lineno - 1][: first.col_offset].strip()
        ):
            continue
        removed.update(range(first.lineno, first.end_lineno + 1))
    return removed


def for_prompt(code: str, compact: bool = True) -> PromptCode:
    """``code`` (a function's span or a whole script, dedented) as a prompt shows it: with
    ``compact``, without its docstrings (``code`` itself when it does not parse), with the
    line map for hot lines."""
    lines = code.splitlines(keepends=True)
    try:
        removed = _docstring_lines(ast.parse(code), lines) if compact else set()
    except SyntaxError:
        removed = set()
    kept = [n for n in range(1, len(lines) + 1) if n not in removed]
    text = "".join(lines[n - 1] for n in kept)
    return PromptCode(text, {old: new for new, old in enumerate(kept, start=1)})


def _docstring_source(code: str, name: str) -> str | None:
    """The source of the docstring literal of the top-level function ``name`` in ``code``, or
    None when it has none."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                return ast.get_source_segment(code, first.value)
    return None


class _AddDocstring(cst.CSTTransformer):
    """Give the top-level function ``name`` the docstring ``literal`` when it has none."""

    def __init__(self, name: str, literal: str) -> None:
        super().__init__()
        self.name, self.literal, self.depth = name, literal, 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.depth += 1
        return False  # nested definitions are left as they are

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False  # so are methods: the target is a top-level function of the reply

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        self.depth -= 1
        body = updated_node.body
        if (
            self.depth
            or updated_node.name.value != self.name
            or not isinstance(body, cst.IndentedBlock)
            or updated_node.get_docstring(clean=False) is not None
        ):
            return updated_node
        docstring = cst.SimpleStatementLine([cst.Expr(cst.SimpleString(self.literal))])
        return updated_node.with_changes(body=body.with_changes(body=[docstring, *body.body]))


def restore_docstring(candidate: str, original: str, name: str) -> str:
    """``candidate`` (a reply's code, dedented) with the docstring of the top-level function
    ``name`` of ``original`` (the target's code, dedented) put back when the candidate's
    function of that name has none; unchanged when the original has none or either does not
    parse."""
    literal = _docstring_source(original, name)
    if literal is None:
        return candidate
    try:
        module = cst.parse_module(candidate)
    except cst.ParserSyntaxError:
        return candidate
    return module.visit(_AddDocstring(name, literal)).code
