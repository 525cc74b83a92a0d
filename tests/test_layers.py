"""The package is layered: import-linter's contracts in pyproject.toml (a layers contract naming
every folder of ``server/perfedit``, and no import cycle among the modules of a folder) hold,
counting imports inside functions and under TYPE_CHECKING too. ``make lint`` runs the same check.
The tests are layered too: what they share is in the packages ``tests/helpers`` and
``tests/editors``, and no module of ``tests/`` imports another. And no function of the package is
over :data:`MAX_FUNCTION_LINES` lines long.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
PACKAGE = ROOT / "server" / "perfedit"

#: The longest a function may be, in lines (its decorators aside, its docstring included).
MAX_FUNCTION_LINES = 100


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout, run.stdout


def imported_modules(path: Path) -> set[str]:
    """The top-level names of the modules that the Python file ``path`` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_no_test_module_imports_another() -> None:
    """Test modules (and conftest.py) are on pytest's path as top-level modules; importing one
    from another would run its tests' set-up twice and tie the two together. Shared code goes
    into ``tests/helpers``."""
    modules = {path.stem for path in TESTS.glob("*.py")}
    imports = {
        str(path.relative_to(TESTS)): sorted(imported_modules(path) & modules)
        for path in TESTS.rglob("*.py")
        if "node_modules" not in path.parts
    }
    assert {name: found for name, found in imports.items() if found} == {}


def test_no_function_is_over_a_hundred_lines() -> None:
    """A long function is split where a step of it has a name."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_no_import_cycle_anywhere() -> None:
    """No module of the package reaches itself through its imports (every import counted, those
    in functions and under TYPE_CHECKING too; a package and its modules included), by Tarjan's
    strongly connected components over grimp's graph (import-linter's own)."""
    import grimp

    graph = grimp.build_graph("perfedit", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in imports[module]:
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(imports)))
    for module in sorted(imports):
        if module not in order:
            visit(module)
    assert cycles == []
