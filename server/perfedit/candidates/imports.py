"""Missing imports: the standard import for each name a candidate uses but never binds.

A small model often writes ``sys.stdin.buffer.read()`` or ``Counter(items)`` and forgets the
import line, and the whole candidate then fails on a NameError. :func:`missing_imports` finds
the undefined names with pyflakes (the names it reports as ``UndefinedName`` for the whole new
file, so a name the rest of the module binds is not missing) and maps those of
:data:`KNOWN` to their import; :func:`with_imports` puts the import lines into a candidate's
code. The repaired candidate is validated like any other: the import only decides whether it
runs, never its verdict.
"""

from __future__ import annotations

import ast

from pyflakes import checker, messages

#: name → the import statement that binds it: standard-library modules, the members of them
#: that programs most often import by name, and numpy's conventional alias.
KNOWN: dict[str, str] = {
    **{
        module: f"import {module}"
        for module in [
            "array",
            "bisect",
            "collections",
            "copy",
            "decimal",
            "fractions",
            "functools",
            "heapq",
            "io",
            "itertools",
            "math",
            "operator",
            "os",
            "random",
            "re",
            "statistics",
            "string",
            "sys",
            "time",
        ]
    },
    **{
        name: f"from {module} import {name}"
        for module, names in {
            "bisect": "bisect_left bisect_right insort",
            "collections": "Counter OrderedDict defaultdict deque namedtuple",
            "functools": "cache cmp_to_key lru_cache partial reduce",
            "heapq": "heapify heappop heappush heapreplace nlargest nsmallest",
            "itertools": "accumulate chain combinations groupby islice permutations product",
            "math": "ceil comb factorial floor gcd isqrt lcm sqrt",
            "operator": "itemgetter attrgetter",
        }.items()
        for name in names.split()
    },
    "np": "import numpy as np",
}


def missing_imports(source: str) -> list[str]:
    """The import statements (one per line, in :data:`KNOWN`'s form, sorted) that bind the
    names ``source`` (a whole module's text) uses without binding them; names not in
    :data:`KNOWN` are left alone. Empty when ``source`` does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    report = checker.Checker(tree)
    undefined = {
        m.message_args[0] for m in report.messages if isinstance(m, messages.UndefinedName)
    }
    return sorted({KNOWN[name] for name in undefined if name in KNOWN})


def with_imports(code: str, imports: list[str]) -> str:
    """``code`` (a module's text that parses) with ``imports`` (statement lines) inserted after
    its docstring and ``from __future__`` imports, which must stay first, and set off from a
    statement that follows at once as PEP 8 asks (two blank lines before a def or class, one
    before other code, none before another import)."""
    body = ast.parse(code).body
    after, following = 0, None
    for index, node in enumerate(body):
        docstring = (
            index == 0
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        )
        future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (docstring or future):
            following = node
            break
        after = node.end_lineno or after
    lines = code.splitlines(keepends=True)
    gap = ""
    if following is not None:
        decorators = getattr(following, "decorator_list", [])
        if min([following.lineno] + [d.lineno for d in decorators]) == after + 1:
            definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
            gap = (
                ""
                if isinstance(following, ast.Import | ast.ImportFrom)
                else "\n\n"
                if isinstance(following, definition)
                else "\n"
            )
    return "".join([*lines[:after], *(f"{line}\n" for line in imports), gap, *lines[after:]])
