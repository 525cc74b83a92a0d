"""The order in which a job validates streamed candidates: one rule candidate before the greedy
one (the budget reserve holds two validations), the other rule candidates after it, between the
samples, and whenever no sample is waiting; without ``interleave_rules``, the order they came."""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path

import pytest

from perfedit.config import Settings
from perfedit.job.order import validation_order
from perfedit.job.pipeline import Deadline, Job, Request, locate
from perfedit.targets import MODEL, RULE, Candidate
from perfedit.verify.validate import Harness


def rule(name: str) -> Candidate:
    return Candidate(name, f"# {name}", f"# {name}", origin=RULE)


def model(name: str) -> Candidate:
    return Candidate(name, f"# {name}", f"# {name}", origin=MODEL)


class Scripted:
    """A stream whose candidates become ready in steps: ``steps[i]`` are made once the consumer
    has validated ``i`` candidates (:func:`labels` counts them in ``validated``), or as soon as
    it waits for one. ``waited`` records how many were validated at each wait that made one."""

    def __init__(self, steps: list[list[Candidate]]) -> None:
        self.steps = steps
        self.ready: deque[Candidate] = deque()
        self.validated = 0
        self.made = 0
        self.waited: list[int] = []

    def _make_upto(self, step: int) -> None:
        while self.made <= min(step, len(self.steps) - 1):
            self.ready.extend(self.steps[self.made])
            self.made += 1

    def take(self, wait: bool) -> Candidate | None:
        self._make_upto(self.validated)
        if not self.ready and wait and self.made < len(self.steps):
            self.waited.append(self.validated)
            while not self.ready and self.made < len(self.steps):  # the model writes the next
                self._make_upto(self.made)
        return self.ready.popleft() if self.ready else None


def labels(stream: Scripted, interleave: bool = True) -> list[str]:
    validated = []
    for candidate in validation_order(stream, interleave):
        validated.append(candidate.label)
        stream.validated += 1
    return validated


def test_one_rule_then_the_greedy_then_rules_between_the_samples():
    rules = [rule("rules combined"), rule("rule: a"), rule("rule: b"), rule("rule: c")]
    stream = Scripted([rules, *[[]] * 8, [model("greedy"), model("s1"), model("s2")]])
    assert labels(stream) == [
        "rules combined",
        "greedy",
        "rule: a",
        "s1",
        "rule: b",
        "s2",
        "rule: c",
    ]
    # it waited for the greedy candidate after one rule candidate, three others in hand
    assert stream.waited == [1]


def test_held_rules_fill_the_time_no_sample_is_waiting():
    rules = [rule("r0"), rule("r1"), rule("r2"), rule("r3")]
    # the greedy is made while r0 is validated, s1 once four candidates were validated
    stream = Scripted([rules, [model("greedy")], [], [], [model("s1")], [], [], [model("s2")]])
    assert labels(stream) == ["r0", "greedy", "r1", "r2", "s1", "r3", "s2"]
    assert stream.waited == [6]  # only once no rule candidate was left


def test_without_interleaving_the_order_is_the_stream_s():
    rules = [rule("r0"), rule("r1"), rule("r2")]
    stream = Scripted([rules, [model("greedy"), model("s1")]])
    assert labels(stream, interleave=False) == ["r0", "r1", "r2", "greedy", "s1"]


def test_without_a_model_the_rule_candidates_all_come():
    stream = Scripted([[rule("r0"), rule("r1"), rule("r2")]])
    assert labels(stream) == ["r0", "r1", "r2"]


def test_other_proposers_keep_their_order():
    stubs = [Candidate(f"stub {i}", "#", "#") for i in range(1, 4)]
    fix = Candidate("s1 → fixed", "#", "#", origin="fix")
    stream = Scripted([stubs, [model("s1")], [fix]])
    assert labels(stream) == ["stub 1", "stub 2", "stub 3", "s1", "s1 → fixed"]


class AllReady:
    """A stream whose candidates are all made already."""

    def __init__(self, candidates: list[Candidate]) -> None:
        self.ready = deque(candidates)

    def take(self, wait: bool) -> Candidate | None:
        return self.ready.popleft() if self.ready else None


@pytest.mark.parametrize("interleave", [True, False])
def test_a_job_validates_its_stream_in_this_order(dedupe_project: Path, interleave: bool):
    """The job's stream follows the setting (candidates without code are settled unrun, so
    nothing runs but the order)."""
    made = [
        Candidate.unusable("rules combined", origin=RULE),
        Candidate.unusable("rule: a", origin=RULE),
        Candidate.unusable("greedy", origin=MODEL),
        Candidate.unusable("sample 1", origin=MODEL),
    ]
    conf = Settings(interleave_rules=interleave, budget_s=600)
    path = dedupe_project / "dedupe.py"
    target, suite = locate(Request(path, path.read_text(), function="unique_in_order"), conf)
    with Harness(target, suite, conf) as harness:
        job = Job(conf, harness, deadline=Deadline(600))
        candidates, verdicts, stopped = job.validate_stream(
            AllReady(made), threading.Event(), Deadline(600)
        )
    expected = (
        ["rules combined", "greedy", "rule: a", "sample 1"]
        if interleave
        else ["rules combined", "rule: a", "greedy", "sample 1"]
    )
    assert [c.label for c in candidates] == [v.label for v in verdicts] == expected
    assert not stopped
