"""Code extraction from model replies and fitting to the target's span; the stub proposer."""

from pathlib import Path

from helpers.models import Recording
from perfedit.candidates import Feedback
from perfedit.candidates.ask import extract_code
from perfedit.candidates.model import fit_to_target, model_proposer, prompt_input
from perfedit.candidates.stub import stub_proposer
from perfedit.config import Settings
from perfedit.formats import suites
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import find

MODULE = "import os\n\n\nclass C:\n    def slow(self, xs):\n        return [x for x in xs if x in list(xs)]\n\n\ndef top(xs):\n    return sorted(xs)[0]\n"


def test_extract_fenced_unterminated_and_bare():
    assert extract_code("Here:\n```python\nx = 1\n```\nand\n```\ny = 2\n```") == [
        "x = 1\n",
        "y = 2\n",
    ]
    assert extract_code("```py\ndef f():\n    return 1\n") == [
        "def f():\n    return 1\n"
    ]  # cut off mid-block
    assert extract_code("def f():\n    return 1") == ["def f():\n    return 1"]


def test_fit_function_keeps_imports_and_drops_other_code():
    target = find(Path("m.py"), MODULE, function="top")
    code = fit_to_target(
        "import heapq\n\ndef top(xs):\n    return min(xs)\n\nprint(top([3, 1]))\n", target
    )
    assert code == "import heapq\n\n\ndef top(xs):\n    return min(xs)\n"
    # an import the file already makes above the target is not made twice
    code = fit_to_target("import os\nimport heapq\n\ndef top(xs):\n    return min(xs)\n", target)
    assert code == "import heapq\n\n\ndef top(xs):\n    return min(xs)\n"
    code = fit_to_target("import os\n\ndef top(xs):\n    return min(xs)\n", target)
    assert code == "def top(xs):\n    return min(xs)\n"


def test_fit_method_is_reindented():
    target = find(Path("m.py"), MODULE, function="slow")
    code = fit_to_target(
        "def slow(self, xs):\n    s = set(xs)\n    return [x for x in xs if x in s]\n", target
    )
    assert code.startswith("    def slow(self, xs):\n        s = set(xs)")
    compile(target.replace(code), "m.py", "exec")


def test_fit_rejects_wrong_name_and_syntax_errors():
    target = find(Path("m.py"), MODULE, function="top")
    assert fit_to_target("def other(xs):\n    return 1\n", target) is None
    assert fit_to_target("def top(xs:\n", target) is None


def test_stub_proposer_reads_separated_versions(tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text(
        "def top(xs):\n    return min(xs)\n# --- candidate ---\nnot python(\n# --- candidate ---\ndef top(xs):\n    return xs[0]\n"
    )
    target = find(Path("m.py"), MODULE, function="top")
    candidates = stub_proposer(stub)(target, Feedback(), no_progress, never_cancelled)
    assert [(c.label, c.usable) for c in candidates] == [
        ("stub 1", True),
        ("stub 2", False),
        ("stub 3", True),
    ]
    assert candidates[0].source == MODULE.replace("sorted(xs)[0]", "min(xs)")


def _cases(*inputs: str) -> suites.TestSuite:
    cases = tuple(suites.Case(f"case {i}", text, "") for i, text in enumerate(inputs))
    return suites.TestSuite("cases", Path("."), cases=cases)


def test_the_prompt_shows_the_shortest_test_input_of_a_script():
    script = find(Path("prog.py"), "n = int(input())\nprint(sum(map(int, input().split())))\n")
    suite = _cases("5\n1 2 3 4 5\n", "2\n1 2\n", "3\n" + "9 " * 100 + "\n")
    model = Recording()
    settings = Settings(samples=1, strategies=False, rules=False, input_example=True)
    propose = model_proposer(lambda: model, settings)
    candidates = list(propose(script, Feedback(suite), no_progress, never_cancelled))
    assert len(candidates) == len(model.asked) == 2
    assert all("One of its test inputs:\n```\n2\n1 2\n```" in asked for asked in model.asked)
    assert prompt_input(script, Feedback(suite), Settings()) == ""  # off by default
    function = find(Path("m.py"), MODULE, function="top")
    assert prompt_input(function, Feedback(suite), settings) == ""


def test_a_long_test_input_is_cut_to_eight_lines_of_120_characters():
    script = find(Path("prog.py"), "print(input())\n")
    suite = _cases("x" * 200 + "\n" + "1\n" * 20)
    shown = prompt_input(script, Feedback(suite), Settings(input_example=True))
    assert shown.splitlines() == ["x" * 120 + "…", *["1"] * 7, "…"]
