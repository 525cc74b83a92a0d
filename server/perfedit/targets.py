"""Targets: the function or script to speed up, with its exact source span.

A target is either a function (found by qualified name or by a line inside it) or a whole
stdin/stdout script. Its span covers whole lines, decorators included, so a candidate
replaces exactly those lines and nothing else in the file. A :class:`Candidate` is one proposed
replacement for that span: the proposers (:mod:`perfedit.candidates`) make them and validation
(:mod:`perfedit.verify`) judges them, so it lives here, below both.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from perfedit.errors import InputError, SourceSyntaxError, TargetNotFound

if TYPE_CHECKING:
    import libcst as cst


@dataclass(frozen=True)
class Target:
    """A span of ``source`` to replace.

    ``start_line``/``end_line`` are 0-based, end exclusive; ``start``/``end`` are the matching
    character offsets into ``source`` (whole lines, trailing newline included).
    """

    path: Path
    source: str
    kind: Literal["function", "script"]
    name: str
    start_line: int
    end_line: int
    start: int
    end: int

    @property
    def code(self) -> str:
        """The target's own source text (the lines of its span)."""
        return self.source[self.start : self.end]

    def replace(self, new_code: str) -> str:
        """The whole file with the target's span replaced by ``new_code``."""
        if new_code and not new_code.endswith("\n") and self.end < len(self.source):
            new_code += "\n"
        return self.source[: self.start] + new_code + self.source[self.end :]

    def code_in(self, new_source: str) -> str:
        """The target's span as it reads in ``new_source``, a version of the file that differs
        from ``source`` only inside the span (as :meth:`replace` makes)."""
        grown = len(split_lines(new_source)) - len(split_lines(self.source))
        return "".join(split_lines(new_source)[self.start_line : self.end_line + grown])


def read_source(path: Path) -> str:
    """The text of ``path``; raises InputError if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read {path}: not UTF-8 text ({exc.reason})") from exc


def parse(source: str, path: Path) -> cst.Module:
    """Parse ``source`` with libcst; raises SourceSyntaxError naming the line and column.

    CPython's own parser runs first because its messages and positions are the ones users know.
    libcst is imported here, on first use (about a second), not with this module.
    """
    import libcst as cst

    try:
        ast.parse(source, filename=str(path))
        return cst.parse_module(source)
    except SyntaxError as exc:
        where, message = f"{exc.lineno}:{exc.offset}", exc.msg
    except cst.ParserSyntaxError as exc:
        where, message = f"{exc.raw_line}:{exc.raw_column + 1}", exc.message
    raise _syntax_error(path, where, message)


def _syntax_error(path: Path, where: str, message: str) -> SourceSyntaxError:
    return SourceSyntaxError(f"{path}:{where}: syntax error: {message}. Fix it, then ask again.")


class _FunctionSpans(ast.NodeVisitor):
    """Collects ``qualified name -> (first line, last line)`` (1-based, inclusive, decorators
    included) of every def; classes only qualify the names of their methods."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[int, int]] = {}
        self._scope: list[str] = []

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._scope.append(node.name)
        if not isinstance(node, ast.ClassDef):
            first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            self.spans.setdefault(".".join(self._scope), (first, node.end_lineno or node.lineno))
        self.generic_visit(node)
        self._scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _enter


@functools.lru_cache(maxsize=8)
def function_spans(source: str, path: Path) -> dict[str, tuple[int, int]]:
    """Every function's qualified name (``Class.method``, ``outer.inner``) and its 1-based line span.

    Parsed with CPython's ``ast`` (about 40x faster than libcst: a 20,000-line file in well under
    a second) and kept for the last few sources, so an editor asking about many lines of one
    version of a file parses it once. Do not mutate the result. Raises SourceSyntaxError.
    """
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise _syntax_error(path, f"{exc.lineno}:{exc.offset}", exc.msg) from exc
    visitor = _FunctionSpans()
    visitor.visit(tree)
    return visitor.spans


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` with their endings, split only at ``\n``, ``\r\n`` and ``\r`` as Python's
    tokenizer and LSP count them (``str.splitlines`` also splits at form feeds and U+2028)."""
    return _LINE.findall(text)


def _line_offsets(source: str) -> list[int]:
    offsets = [0]
    for line in split_lines(source):
        offsets.append(offsets[-1] + len(line))
    return offsets


def _make(
    path: Path, source: str, kind: Literal["function", "script"], name: str, first: int, last: int
) -> Target:
    offsets = _line_offsets(source)
    return Target(
        path,
        source,
        kind,
        name,
        first - 1,
        last,
        offsets[first - 1],
        offsets[min(last, len(offsets) - 1)],
    )


_DEF = re.compile(r"([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)")


def def_above(source: str, line: int) -> str | None:
    """The name of the function whose block the 0-based ``line`` appears to be in, judged by
    indentation alone, or None at module level. No parse, so it is instant on any file, but it is
    a guess (a line continuation or a multi-line string can mislead it): for answering an editor
    at once while :func:`find` is still parsing."""
    lines = split_lines(source)
    limit = None  # a def must be indented less than this to enclose the cursor
    for text in reversed(lines[: line + 1]):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        width = len(text) - len(text.lstrip())
        if limit is None:
            limit = width + 1  # the cursor's own line may be the def
        if width >= limit:
            continue
        if match := _DEF.match(text):
            return match[2]
        if width == 0:
            return None
        limit = width
    return None


def reads_stdin(source: str) -> bool:
    """True if the program reads standard input (``input()``, ``sys.stdin``, ``open(0)``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "input":
                return True
            if (
                node.func.id == "open"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == 0
            ):
                return True
        if isinstance(node, ast.Attribute) and node.attr == "stdin":
            return True
    return False


def find(
    path: Path, source: str, *, function: str | None = None, line: int | None = None
) -> Target:
    """The target in ``source``: the function named ``function``; else the innermost function
    around the 0-based ``line``; else (no ``line``, or ``line`` outside every function) the whole
    file as a script, if it reads stdin.

    Raises SourceSyntaxError if the file does not parse, TargetNotFound if there is no such
    function, or, for a script, if the file does not read stdin.
    """
    spans = function_spans(source, path)
    if function is not None:
        matches = [name for name in spans if name == function or name.endswith("." + function)]
        if not matches:
            known = ", ".join(sorted(spans)) or "none"
            raise TargetNotFound(
                f"{path}: no function named {function!r} (functions here: {known})."
            )
        return _make(path, source, "function", matches[0], *spans[matches[0]])
    around = [
        (last - first, name)
        for name, (first, last) in spans.items()
        if line is not None and first <= line + 1 <= last
    ]
    if around:
        name = min(around)[1]
        return _make(path, source, "function", name, *spans[name])
    if not reads_stdin(source):
        if line is not None:
            raise TargetNotFound(
                f"{path}:{line + 1}: the cursor is not inside a function, and the file is not a script (it does not read standard input)."
            )
        raise TargetNotFound(
            f"{path} does not read standard input, so it is not a script; name a function with --function."
        )
    return _make(path, source, "script", path.stem, 1, max(1, len(split_lines(source))))


#: The kinds of proposer a :class:`Candidate` may come from (its ``origin``).
RULE, MODEL, FIX, REFINED, REPAIR = "rule", "model", "fix", "refined", "repair"


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement ``code`` for the target's span; ``source`` is the whole new file.

    ``label`` names where it came from ("greedy", "sample 3", "stub 1"); ``tokens`` is how many
    tokens a model generated for it (0 without a model). A reply that held no usable code is
    still reported, with ``code`` and ``source`` empty (see :attr:`usable`), so that the user
    learns what became of every sample. ``origin`` says which kind of proposer made it, as data
    the job orders and follows candidates by: :data:`RULE`, :data:`MODEL` (the greedy reply
    and the samples), :data:`FIX` (a model's fix of a failed candidate), :data:`REFINED` (a
    refinement round's), :data:`REPAIR` (a deterministic repair of another candidate), or ""
    (anything else: a stub, training).
    """

    label: str
    code: str
    source: str
    tokens: int = 0
    origin: str = ""

    @property
    def usable(self) -> bool:
        """True if there is code to validate."""
        return bool(self.code)

    @classmethod
    def unusable(cls, label: str, tokens: int = 0, origin: str = "") -> Candidate:
        """The placeholder for a reply without usable code."""
        return cls(label, "", "", tokens, origin)
