"""Rules of the scripts family: whole programs that read stdin and print (PIE's competitive
programs): bulk and buffered input, one write for many lines, module code moved into a function
(local names), heavy or unused imports dropped."""

from __future__ import annotations

import re

import autoflake
import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import (
    RANGE_CLAUSE,
    Rewrite,
    Rewriter,
    add_imports,
    assigned_in,
    call,
    generator,
    names_in,
    nodes_of,
    only,
    parse,
    transform,
)

FAMILY = "scripts"


class EvalInput(Rewriter):
    """``eval(input())`` → ``int(input())``: no compile step (valid only for integer input)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if m.matches(
            updated,
            m.Call(func=m.Name("eval"), args=[m.Arg(m.Call(func=m.Name("input"), args=[]))]),
        ):
            return self._done(updated.with_changes(func=cst.Name("int")))
        return updated


def _stdin_readline(code: str, kind: str) -> str | None:
    """Scripts calling ``input()`` more than once → ``input`` bound to buffered ``sys.stdin.readline``."""
    if kind != "script" or len(re.findall(r"\binput\(\)", code)) < 2:
        return None
    return 'import sys\n\ninput = lambda: sys.stdin.readline().rstrip("\\r\\n")\n' + code


def _unused_imports(code: str, kind: str) -> str | None:
    """Unused imports removed (autoflake): each costs its module's import time on every run."""
    fixed = autoflake.fix_code(code, remove_all_unused_imports=True)
    return fixed if fixed != code else None


class PrintLoop(Rewriter):
    """``for x in xs: print(e)`` → ``sys.stdout.write("".join([f"{e}\\n" for x in xs]))``: one
    write instead of one ``print`` call (and its formatting machinery) per line."""

    imports = ("sys",)

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.BaseStatement:
        single = m.Expr(m.Call(func=m.Name("print"), args=[m.Arg(keyword=None, star="")]))
        statement = only(updated)
        if updated.orelse is not None or not m.matches(statement, single):  # type: ignore[arg-type]
            return updated
        value = statement.value.args[0].value  # type: ignore[union-attr]
        line = cst.FormattedString(
            parts=[
                cst.FormattedStringExpression(expression=value),
                cst.FormattedStringText("\\n"),
            ]
        )
        lines = cst.ListComp(elt=line, for_in=generator(line, updated).for_in)
        write = call("sys.stdout.write", call('"".join', lines))
        return self._done(
            cst.SimpleStatementLine(body=[cst.Expr(write)], leading_lines=updated.leading_lines)
        )


class LineReads(Rewriter):
    """``[int(input()) for _ in range(n)]`` → ``[int(line) for line in itertools.islice(sys.stdin, n)]``
    (``input().split()`` → ``line.split()``): the lines come from the buffered stream without
    an ``input`` call each."""

    imports = ("itertools", "sys")

    def leave_ListComp(self, original: cst.ListComp, updated: cst.ListComp) -> cst.BaseExpression:
        if not m.matches(updated.for_in, RANGE_CLAUSE) or "line" in names_in(updated):
            return updated
        if updated.for_in.target.value in names_in(updated.elt):  # type: ignore[attr-defined]
            return updated
        read = m.Call(func=m.Name("input"), args=[])
        uses = m.findall(updated.elt, read)
        tolerant = m.findall(
            updated.elt,
            m.Call(func=m.Name("int") | m.Name("float"), args=[m.Arg(read)])
            | m.Call(func=m.Attribute(value=read, attr=m.Name("split")), args=[]),
        )
        if len(uses) != 1 or len(tolerant) != 1:
            return updated
        element = m.replace(updated.elt, read, cst.Name("line"))
        count = updated.for_in.iter.args[0].value  # type: ignore[attr-defined]
        for_in = cst.CompFor(
            target=cst.Name("line"),
            iter=call("itertools.islice", cst.parse_expression("sys.stdin"), count),
        )
        return self._done(updated.with_changes(elt=element, for_in=for_in))


def _main_function(code: str, kind: str) -> str | None:
    """A script's module-level code (from its first statement that is not an import or a
    definition on) moved into ``def main():`` followed by ``main()``: its variables become
    local names, read by index instead of a dictionary lookup (Python docs, performance tips:
    local variables); functions defined among it become closures. Only when some of it loops,
    no function left outside reads a name it assigns, and nothing is declared ``global`` or
    tests ``__name__``."""
    if kind != "script" or re.search(r"\b(global|nonlocal|__name__)\b|import \*", code):
        return None
    module = parse(code)
    keep: list[cst.BaseStatement] = []
    moved: list[cst.BaseStatement] = []
    for statement in module.body:
        definition = isinstance(statement, cst.FunctionDef | cst.ClassDef) or m.matches(
            statement, m.SimpleStatementLine(body=[m.Import() | m.ImportFrom()])
        )
        (keep if definition and not moved else moved).append(statement)
    loops = (cst.For, cst.While, cst.ListComp, cst.GeneratorExp)
    if not moved or not any(nodes_of(statement, *loops) for statement in moved):
        return None
    simple = [s for s in moved if not isinstance(s, cst.FunctionDef | cst.ClassDef)]
    assigned = set().union(*(assigned_in(s) for s in simple))
    if any(assigned & names_in(d) for d in keep) or "main" in names_in(module):
        return None  # a function outside main() reads what main() now keeps local
    body = cst.IndentedBlock(body=moved)
    main = cst.FunctionDef(
        name=cst.Name("main"),
        params=cst.Parameters(),
        body=body,
        leading_lines=[cst.EmptyLine()] if keep else [],
    )
    return module.with_changes(body=[*keep, main, cst.parse_statement("main()")]).code


#: numpy functions with a standard-library or built-in twin for scalars (same values; the
#: results are Python numbers instead of numpy scalars).
_NUMPY_TWINS = {
    "sqrt": "math.sqrt",
    "floor": "math.floor",
    "ceil": "math.ceil",
    "log": "math.log",
    "log2": "math.log2",
    "log10": "math.log10",
    "exp": "math.exp",
    "sin": "math.sin",
    "cos": "math.cos",
    "tan": "math.tan",
    "gcd": "math.gcd",
    "lcm": "math.lcm",
    "pi": "math.pi",
    "e": "math.e",
    "inf": "math.inf",
    "abs": "abs",
    "absolute": "abs",
    "hypot": "math.hypot",
}


def _drop_numpy(code: str, kind: str) -> str | None:
    """``import numpy as np`` used only for scalar functions with a standard-library twin
    (``np.sqrt``, ``np.floor``, ``np.gcd``, ``np.pi``, …) → those twins and no numpy import:
    numpy's import alone costs about 0.1 s per run."""
    module = parse(code)
    imports = [
        s
        for s in module.body
        if m.matches(
            s, m.SimpleStatementLine(body=[m.Import(names=[m.ImportAlias(name=m.Name("numpy"))])])
        )
    ]
    if len(imports) != 1:
        return None
    alias = imports[0].body[0].names[0]  # type: ignore[index,union-attr]
    name = alias.asname.name.value if alias.asname else "numpy"
    uses = [n for n in m.findall(module, m.Name(name))]
    attributes = m.findall(module, m.Attribute(value=m.Name(name)))
    if len(uses) != len(attributes) + 1 or any(
        a.attr.value not in _NUMPY_TWINS  # type: ignore[attr-defined]
        for a in attributes
    ):
        return None
    rewritten = m.replace(
        module,
        m.Attribute(value=m.Name(name)),
        lambda node, _: cst.parse_expression(_NUMPY_TWINS[node.attr.value]),  # type: ignore[attr-defined]
    )
    body = [s for s in rewritten.body if not s.deep_equals(imports[0])]  # type: ignore[union-attr]
    return add_imports(rewritten.with_changes(body=body), ("math",)).code  # type: ignore[arg-type,union-attr]


REWRITES = [
    Rewrite(
        "buffered stdin",
        FAMILY,
        "PIE train: sys.stdin.readline",
        _stdin_readline,
        r.BUFFERED_INPUT,
        ("call:input",),
    ),
    Rewrite(
        "module code → main()",
        FAMILY,
        "Python docs: performance tips (local variables)",
        _main_function,
        r.LOCAL_NAMES,
        ("For|While|ListComp|GeneratorExp",),
    ),
    Rewrite(
        "print loop → one write",
        FAMILY,
        "PIE train: joined output",
        transform(PrintLoop),
        r.ONE_WRITE,
        ("For", "call:print"),
    ),
    Rewrite(
        "per-line reads → islice(sys.stdin)",
        FAMILY,
        "PIE train: bulk stdin reads",
        transform(LineReads, scripts_only=True),
        r.BUFFERED_INPUT,
        ("ListComp", "call:input"),
    ),
    Rewrite(
        "numpy for scalars → math",
        FAMILY,
        "PIE train: numpy imported for a few scalar calls",
        _drop_numpy,
        r.IMPORTS_DROPPED,
        ("import:numpy",),
    ),
    Rewrite(
        "eval(input()) → int",
        FAMILY,
        "PIE train",
        transform(EvalInput),
        r.NO_EVAL,
        ("call:eval", "call:input"),
    ),
    Rewrite(
        "unused imports",
        FAMILY,
        "ruff F401 (autoflake)",
        _unused_imports,
        r.IMPORTS_DROPPED,
        ("Import|ImportFrom",),
    ),
]
