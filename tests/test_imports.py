"""Missing imports: what a candidate uses without importing, and where the import goes."""

from pathlib import Path

from helpers.programs import FAST_SCRIPT
from perfedit.candidates.imports import missing_imports, with_imports
from perfedit.candidates.model import to_candidate
from perfedit.config import Settings
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.validate import Harness

FORGOT_SYS = FAST_SCRIPT.replace("import sys\n", "")
MODULE = "import os\n\n\nclass C:\n    def slow(self, xs):\n        return sorted(xs)\n\n\ndef top(xs):\n    return sorted(xs)[0]\n"


def test_the_undefined_names_of_known_modules_and_members_are_imported():
    source = "x = Counter(sys.stdin.read().split())\nprint(np.sum(heappop(h)), mystery)\n"
    assert missing_imports(source) == [
        "from collections import Counter",
        "from heapq import heappop",
        "import numpy as np",
        "import sys",
    ]  # mystery: no known import binds it


def test_names_the_module_binds_are_not_missing():
    assert missing_imports("import sys as system\nsys = system\nprint(sys.argv)\n") == []
    assert missing_imports("def f(math):\n    return math.pi\n") == []
    assert missing_imports("from math import *\nprint(sqrt(2))\n") == []  # star: not ours
    assert missing_imports("def f(:\n") == []  # does not parse


def test_imports_go_after_the_docstring_and_future_imports():
    code = '"""Doc."""\nfrom __future__ import annotations\nprint(sys.argv)\n'
    assert with_imports(code, ["import sys"]) == (
        '"""Doc."""\nfrom __future__ import annotations\nimport sys\n\nprint(sys.argv)\n'
    )
    assert with_imports("print(sys.argv)\n", ["import sys"]) == "import sys\n\nprint(sys.argv)\n"
    assert with_imports(
        "import os\n\n@cache\ndef f():\n    pass\n", ["from functools import cache"]
    ) == ("from functools import cache\nimport os\n\n@cache\ndef f():\n    pass\n")
    assert with_imports("@cache\ndef f():\n    pass\n", ["from functools import cache"]) == (
        "from functools import cache\n\n\n@cache\ndef f():\n    pass\n"
    )


def test_a_candidate_that_forgot_an_import_gets_it_and_says_so():
    target = find(Path("m.py"), MODULE, function="top")
    candidate = to_candidate(
        "```python\ndef top(xs):\n    return nsmallest(1, xs)[0]\n```", target, "greedy"
    )
    assert candidate.label == "greedy (+ from heapq import nsmallest)"
    assert (
        candidate.code
        == "from heapq import nsmallest\n\n\ndef top(xs):\n    return nsmallest(1, xs)[0]\n"
    )
    assert not missing_imports(candidate.source)
    method = find(Path("m.py"), MODULE, function="slow")  # indented: nowhere to put an import
    kept = to_candidate(
        "```python\ndef slow(self, xs):\n    return nsmallest(9, xs)\n```", method, "greedy"
    )
    assert kept.label == "greedy" and "import" not in kept.code


def test_the_repaired_script_passes_its_tests_in_the_sandbox(script_project: Path):
    path = script_project / "seen_before.py"
    target = find(path, path.read_text())
    broken, repaired = (
        Harness(target, discover(target), Settings(runs=5, timeout_s=5)),
        to_candidate(f"```python\n{FORGOT_SYS}```", target, "sample 1"),
    )
    assert repaired.label == "sample 1 (+ import sys)"
    with broken as harness:
        harness.baseline()
        assert "NameError" in harness.validate("as written", FORGOT_SYS).reason
        verdict = harness.validate(repaired.label, repaired.source)
        assert verdict.tests_passed == verdict.tests_total == 4, verdict.reason
