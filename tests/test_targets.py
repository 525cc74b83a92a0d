"""Target extraction: spans cover whole lines with decorators; replacement touches nothing else."""

from pathlib import Path

import pytest

from perfedit.errors import SourceSyntaxError, TargetNotFound
from perfedit.targets import find, reads_stdin

SOURCE = """\
import functools


@functools.cache
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Box:
    def total(self, xs):
        s = 0
        for x in xs:
            s += x
        return s
"""
PATH = Path("mod.py")


def test_function_by_name_includes_decorators():
    target = find(PATH, SOURCE, function="fib")
    assert target.kind == "function"
    assert target.code.startswith("@functools.cache\ndef fib(n):")
    assert target.code.endswith("fib(n - 2)\n")
    assert (target.start_line, target.end_line) == (3, 6)


def test_method_by_short_and_qualified_name():
    assert find(PATH, SOURCE, function="total").name == "Box.total"
    target = find(PATH, SOURCE, function="Box.total")
    assert target.code.startswith("    def total(self, xs):")


def test_function_at_cursor_is_innermost():
    target = find(PATH, SOURCE, line=12)  # inside the for loop of Box.total
    assert target.name == "Box.total"
    with pytest.raises(TargetNotFound, match="not inside a function"):
        find(PATH, SOURCE, line=0)


def test_replace_changes_only_the_span():
    target = find(PATH, SOURCE, function="Box.total")
    new = target.replace("    def total(self, xs):\n        return sum(xs)\n")
    assert new.startswith(SOURCE[: target.start])
    assert new.endswith("return sum(xs)\n")
    assert "s += x" not in new and "@functools.cache" in new


def test_unknown_function_lists_known_ones():
    with pytest.raises(TargetNotFound, match=r"no function named 'nope'.*Box\.total"):
        find(PATH, SOURCE, function="nope")


def test_syntax_error_names_line():
    with pytest.raises(SourceSyntaxError, match=r"mod\.py:2:"):
        find(PATH, "x = 1\ndef f(:\n    pass\n", function="f")


def test_script_needs_stdin():
    script = "n = int(input())\nprint(n * 2)\n"
    target = find(PATH, script)
    assert target.kind == "script" and target.code == script
    assert reads_stdin("import sys\ndata = sys.stdin.read()\n")
    assert reads_stdin("data = open(0).read()\n")
    with pytest.raises(TargetNotFound, match="not a script"):
        find(PATH, "print(1)\n")


def test_a_cursor_outside_every_function_of_a_script_targets_the_script():
    """The engine's one fallback: no function around the line, but the file reads stdin."""
    source = "import sys\n\ndef helper(x):\n    return x\n\nprint(sum(map(int, sys.stdin)))\n"
    assert find(PATH, source, line=5).kind == "script"
    assert find(PATH, source, line=3).name == "helper"
