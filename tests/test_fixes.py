"""Fixes as candidates stream (PerfCodeGen's correctness round, interleaved): a model candidate
that fails a test is handed to the model proposer, whose next reply is its fix (the failing test
and its error in the prompt), before the remaining samples; at most ``stream_fixes`` per job."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfedit.candidates import Feedback
from perfedit.candidates.fixes import FixRequests, wants_fix
from perfedit.candidates.model import model_proposer
from perfedit.config import Settings
from perfedit.errors import Cancelled
from perfedit.job.pipeline import Request, suggest
from perfedit.llm import ChatModel, Reply
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import FIX, MODEL, REPAIR, RULE, Candidate, find
from perfedit.testsource.discovery import discover
from perfedit.verify.validate import Verdict

WRONG = "def unique_in_order(items):\n    return sorted(set(items))\n"
FAST = "def unique_in_order(items):\n    return list(dict.fromkeys(items))\n"
SLOW_COPY = (
    "def unique_in_order(items):\n    out = []\n    for x in items:\n"
    "        if x not in out:\n            out.append(x)\n    return out\n"
)


def fenced(code: str) -> str:
    return f"```python\n{code}```\n"


def is_fix_prompt(messages) -> bool:
    return "fails a test" in messages[-1]["content"]


class FixingModel(ChatModel):
    """A test double for the model: to the prompt for faster versions it replies ``texts`` in
    turn, to a fix prompt ``FAST``; it records each prompt's kind ("faster" or "fix"). Before
    its second reply to the prompt for faster versions it waits (up to 120 s, generous for a
    loaded 2-core machine) for ``before_second``, and like the real backends it raises
    Cancelled once ``should_stop()`` is true."""

    name, backend, load_seconds = "fixing", "test", 0.0

    def __init__(self, texts: list[str], before_second: threading.Event | None = None) -> None:
        self.texts, self.before_second = texts, before_second
        self.asked: list[str] = []
        self.fix_prompts: list[str] = []

    def replies(self, messages, *, num_samples=8, should_stop=None, **options) -> Iterator[Reply]:
        if is_fix_prompt(messages):
            self.asked.append("fix")
            self.fix_prompts.append(messages[-1]["content"])
            yield Reply(fenced(FAST), 10, 0.01)
            return
        for index, text in enumerate(self.texts[: 1 + num_samples]):
            if index == 1 and self.before_second is not None:
                deadline = time.monotonic() + 120
                while not self.before_second.wait(0.05) and time.monotonic() < deadline:
                    if should_stop is not None and should_stop():
                        raise Cancelled("stopped")
            self.asked.append("faster")
            yield Reply(fenced(text), 10, 0.01)


@pytest.fixture
def dedupe_target(dedupe_project: Path):
    path = dedupe_project / "dedupe.py"
    target = find(path, path.read_text(), function="unique_in_order")
    return target, discover(target)


def failed(label: str) -> Verdict:
    return Verdict(
        label,
        "rejected",
        "fails 1 of 2 tests: tests/test_dedupe.py::test_small: failed: AssertionError",
        1,
        2,
        detail="E       AssertionError: assert [1, 2, 3] == [3, 1, 2]",
        failed_test="tests/test_dedupe.py::test_small",
    )


def test_the_reply_after_a_fix_request_is_the_fix_with_the_failing_test(dedupe_target):
    target, suite = dedupe_target
    fixes = FixRequests(2)
    chat = FixingModel([WRONG, SLOW_COPY, FAST])
    propose = model_proposer(
        lambda: chat, Settings(samples=2, strategies=False, cookbook=False, explain=False)
    )
    made = []
    for candidate in propose(target, Feedback(suite, fixes=fixes), no_progress, never_cancelled):
        made.append(candidate)
        if candidate.label == "greedy":  # the validating side rejects it
            fixes.ask(candidate, failed("greedy"))
    assert [c.label for c in made] == ["greedy", "greedy → fixed", "sample 1", "sample 2"]
    assert [c.origin for c in made] == [MODEL, FIX, MODEL, MODEL]
    fixed = [line for line in made[1].code.splitlines() if '"""' not in line]
    assert fixed == FAST.splitlines()  # the fix, with the target's docstring back
    assert chat.asked == ["faster", "fix", "faster", "faster"]
    (prompt,) = chat.fix_prompts
    assert "sorted(set(items))" in prompt  # the failed candidate
    assert "def test_small():" in prompt and "AssertionError: assert [1, 2, 3]" in prompt


def test_no_fix_is_written_outside_a_job_s_stream(dedupe_target):
    target, suite = dedupe_target
    chat = FixingModel([WRONG, SLOW_COPY])
    propose = model_proposer(lambda: chat, Settings(samples=1, strategies=False, cookbook=False))
    labels = [c.label for c in propose(target, Feedback(suite), no_progress, never_cancelled)]
    assert labels == ["greedy", "sample 1"] and "fix" not in chat.asked


def test_at_most_stream_fixes_are_asked_and_each_is_taken_once():
    fixes = FixRequests(2)
    candidates = [Candidate(f"sample {i}", "x = 1", "x = 1", origin=MODEL) for i in range(3)]
    asked = [fixes.ask(c, failed(c.label)) for c in candidates]
    assert asked == [True, True, False]
    assert [c.label for c, _ in fixes.take()] == ["sample 0", "sample 1"] and fixes.take() == []
    assert not FixRequests(0).ask(candidates[0], failed("sample 0"))


@pytest.mark.parametrize(
    ("origin", "verdict", "wanted"),
    [
        (MODEL, failed("c"), True),
        (RULE, failed("c"), False),  # a rule's rewrite is not the model's to fix
        (REPAIR, failed("c"), False),
        (FIX, failed("c"), False),  # a fix is not fixed again as candidates stream
        (MODEL, Verdict("c", "rejected", "same as greedy", 0, 0), False),
        (MODEL, Verdict("c", "rejected", "does not parse: …", 0, 2), False),
        (MODEL, Verdict("c", "rejected", "not validated: the time budget was spent", 0, 0), False),
        (MODEL, Verdict("c", "not_faster", "correct but …", 2, 2), False),
    ],
)
def test_only_a_model_candidate_that_failed_a_test_wants_a_fix(origin, verdict, wanted):
    assert wants_fix(Candidate("c", "x = 1", "x = 1", origin=origin), verdict) is wanted


def test_a_job_fixes_a_failed_greedy_candidate_before_its_last_sample(
    dedupe_project: Path, monkeypatch: pytest.MonkeyPatch
):
    """The whole path: the validating thread rejects the greedy candidate and asks for its fix
    (the model double writes its first sample meanwhile), the model proposer writes the fix
    before the last sample, and the fix is validated and wins."""
    asked = threading.Event()
    ask = FixRequests.ask

    def asking(self, candidate, verdict):
        result = ask(self, candidate, verdict)
        asked.set()
        return result

    monkeypatch.setattr(FixRequests, "ask", asking)
    chat = FixingModel([WRONG, SLOW_COPY, SLOW_COPY + "\n# again\n"], before_second=asked)
    path = dedupe_project / "dedupe.py"
    result = suggest(
        Request(path, path.read_text(), function="unique_in_order"),
        Settings(
            runs=5,
            rules=False,
            refine_rounds=0,
            minimise=False,
            explain=False,
            samples=2,
            strategies=False,
            cookbook=False,
            stop_at_speedup=0,
            budget_s=600,
        ),
        lambda: chat,
    )
    assert chat.asked == ["faster", "faster", "fix", "faster"]
    labels = [v.label for v in result.verdicts]
    assert labels == ["greedy", "sample 1", "greedy → fixed", "sample 2"]
    assert result.verdicts[0].failed_test and result.winner.label == "greedy → fixed"
