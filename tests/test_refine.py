"""PerfCodeGen refinement: the prompts carry the failing / slowest test, and a real model's
replies come back as labelled candidates."""

from pathlib import Path

import pytest

from perfedit.candidates import Feedback
from perfedit.candidates.prompts import (
    fenced,
    fix_messages,
    optimize_with_test_messages,
    retry_messages,
)
from perfedit.candidates.refine import refiner
from perfedit.config import Settings
from perfedit.job.pipeline import Job
from perfedit.llm import ChatModel, Reply
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import Candidate, find
from perfedit.testsource.discovery import discover, feedback_text
from perfedit.verify.validate import Harness

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


class RepeatingModel(ChatModel):
    """A test double for the retry rule (not for the model): its first reply repeats ``GOOD``, and
    once the prompt says so it replies ``FASTER``, or ``GOOD`` again when ``stubborn``."""

    name, backend, load_seconds = "repeating", "test", 0.0

    def __init__(self, stubborn: bool = False) -> None:
        self.stubborn = stubborn
        self.prompts: list[str] = []

    def replies(self, messages, *, num_samples=8, **options):
        self.prompts.append(messages[-1]["content"])
        told = "same code as an earlier candidate (good)" in messages[-1]["content"]
        yield Reply(fenced(FASTER if told and not self.stubborn else GOOD), 7, 0.0)


FASTER = "import sys\nseen = set()\nout = []\nfor x in sys.stdin.read().split()[1:]:\n    out.append('YES' if x in seen else 'NO')\n    seen.add(x)\nprint('\\n'.join(out))\n"


def _good_feedback(script_project: Path):
    path = script_project / "seen_before.py"
    target = find(path, path.read_text())
    suite = discover(target)
    good = Candidate("good", GOOD, target.replace(GOOD))
    with Harness(target, suite, Settings(runs=5)) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate("good", good.source)
    assert verdict.verdict != "rejected" and verdict.per_test_s
    return target, Feedback(
        suite, {"good": good}, [verdict], hot_lines={"good": [(5, 0.002), (4, 0.001)]}
    )


def test_a_repeated_refinement_is_retried_once_told_so_else_skipped(script_project: Path):
    target, feedback = _good_feedback(script_project)
    model = RepeatingModel()
    refined = list(
        refiner(lambda: model, Settings(refine_candidates=1))(
            target, feedback, no_progress, never_cancelled
        )
    )
    assert [c.label for c in refined] == [
        "good → optimised (retried)"
    ] and "seen = set()" in refined[0].code
    assert refined[0].tokens == 14 and len(model.prompts) == 2
    assert (
        "line 5 (2.00 ms): print('YES' if x in seen else 'NO')" in model.prompts[0]
    )  # the hot lines, hottest first
    stubborn = RepeatingModel(stubborn=True)
    assert (
        list(refiner(lambda: stubborn, Settings())(target, feedback, no_progress, never_cancelled))
        == []
    )
    assert len(stubborn.prompts) == 2  # asked again once, then skipped
    no_retry = RepeatingModel()
    assert (
        list(
            refiner(lambda: no_retry, Settings(refine_retry=False))(
                target, feedback, no_progress, never_cancelled
            )
        )
        == []
    )
    assert len(no_retry.prompts) == 1


def test_retry_prompt_names_the_repeated_candidate():
    messages = retry_messages(
        fix_messages("x = 1", "script", "t", "e"), "```python\nx = 1\n```", "sample 2"
    )
    assert [m["role"] for m in messages][-3:] == ["user", "assistant", "user"]
    assert "same code as an earlier candidate (sample 2)" in messages[-1]["content"]
    plain = optimize_with_test_messages("a\nb\n", "script", "t", 0.001)[-1]["content"]
    assert "Where the time goes" not in plain


class RecordingModel(ChatModel):
    """A test double recording the prompts it gets; it replies without code, so no refined
    candidate needs validating."""

    name, backend, load_seconds = "recording", "test", 0.0

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def replies(self, messages, *, num_samples=8, **options):
        self.prompts.append(messages[-1]["content"])
        yield Reply("No code today.", 4, 0.0)


#: Correct, with its time on line 4 (``x in seen`` over a list that keeps every number).
SLOW_GOOD = "input()\nseen = []\nfor x in input().split():\n    print('YES' if x in seen else 'NO')\n    seen.append(x)\n"
#: Correct and fast, but it exits with an error when a tracer watches it.
TRACE_SHY = "import sys\nif sys.gettrace():\n    raise SystemExit(3)\n" + GOOD


@pytest.mark.parametrize("profile_feedback", [True, False])
def test_the_optimise_round_shows_each_candidate_s_profiled_hot_lines(
    script_project: Path, profile_feedback: bool
):
    """Through the job's refinement: each correct candidate to optimise is profiled on its
    slowest case and its prompt shows its hot lines; a candidate whose profiled run fails has
    none and is refined all the same; with ``profile_feedback`` off no prompt shows any."""
    path = script_project / "seen_before.py"
    target = find(path, path.read_text())
    settings = Settings(
        runs=5, refine_rounds=1, refine_candidates=2, profile_feedback=profile_feedback
    )
    model = RecordingModel()
    with Harness(target, discover(target), settings) as harness:
        job = Job(settings, harness)
        job.baseline()
        candidates = [
            Candidate(label, code, code)
            for label, code in [("slow", SLOW_GOOD), ("shy", TRACE_SHY)]
        ]
        verdicts = job.validate(candidates)
        assert [v.verdict != "rejected" for v in verdicts] == [True, True]
        refined, _ = job.refine([refiner(lambda: model, settings)], candidates, verdicts)
    assert sorted(c.label for c in refined) == ["shy → optimised", "slow → optimised"]
    slow, shy = sorted(model.prompts, key=lambda prompt: "gettrace" in prompt)
    assert "gettrace" in shy and "Where the time goes" not in shy
    if profile_feedback:
        assert "Where the time goes on that test" in slow
        hottest = slow.split("(line of the code above, time spent):\n")[1].splitlines()[0]
        assert hottest.startswith("line 4 (") and hottest.endswith(
            "print('YES' if x in seen else 'NO')"
        )
    else:
        assert "Where the time goes" not in slow
