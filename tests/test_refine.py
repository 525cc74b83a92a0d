"""PerfCodeGen refinement: the prompts carry the failing / slowest test, and a real model's
replies come back as labelled candidates."""

from pathlib import Path

import pytest

from perfedit.config import Settings
from perfedit.progress import never_cancelled, no_progress
from perfedit.prompts import fix_messages, optimize_with_test_messages
from perfedit.proposers import Candidate, Feedback
from perfedit.refine import refiner
from perfedit.targets import find
from perfedit.testsource import discover, feedback_text
from perfedit.validate import Harness

GOOD = "import sys\ndata = sys.stdin.read().split()\nseen = set()\nfor x in data[1:]:\n    print('YES' if x in seen else 'NO')\n    seen.add(x)\n"
BAD = "input()\nprint('NO')\n"


def test_test_text_shows_case_input_and_pytest_source(script_project: Path, dedupe_project: Path):
    script = find(
        script_project / "seen_before.py", (script_project / "seen_before.py").read_text()
    )
    assert (
        feedback_text(discover(script), "case 0")
        == "stdin:\n5\n1 2 1 3 2\n\nexpected stdout:\nNO\nNO\nYES\nNO\nYES\n"
    )
    module = dedupe_project / "dedupe.py"
    suite = discover(find(module, module.read_text(), function="unique_in_order"))
    assert feedback_text(suite, "tests/test_dedupe.py::test_small").startswith(
        "def test_small():\n    assert unique_in_order("
    )


def test_prompts_carry_the_feedback():
    fix = fix_messages("def f(): pass", "function", "assert f() == 1", "AssertionError: None != 1")[
        -1
    ]["content"]
    assert "assert f() == 1" in fix and "AssertionError" in fix and "reflect" in fix
    faster = optimize_with_test_messages("def f(): pass", "function", "stdin:\n9\n", 0.0123)[-1][
        "content"
    ]
    assert "12.30 ms" in faster and "stdin:\n9" in faster


@pytest.mark.model
def test_real_model_refines_failed_and_correct_candidates(script_project: Path):
    from perfedit.llm import load

    path = script_project / "seen_before.py"
    target = find(path, path.read_text())
    suite = discover(target)
    candidates = {"bad": Candidate("bad", BAD, BAD), "good": Candidate("good", GOOD, GOOD)}
    with Harness(target, suite, Settings(runs=5)) as harness:
        harness.baseline(runs=1)
        verdicts = [harness.validate(label, c.source) for label, c in candidates.items()]
    assert verdicts[0].failed_test == "case 0" and verdicts[1].verdict != "rejected"
    refine = refiner(lambda: load("smollm2-135m"), Settings(refine_candidates=1, max_new_tokens=48))
    refined = list(
        refine(target, Feedback(suite, candidates, verdicts), no_progress, never_cancelled)
    )
    assert [c.label for c in refined] == ["bad → fixed", "good → optimised"]
