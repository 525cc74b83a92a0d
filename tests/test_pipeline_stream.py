"""The streaming job: a model candidate is validated while the next one is generated, a faster
candidate is announced at once, and the job stops early by its stated rule (a candidate already
``stop_at_speedup`` times faster, or the time budget spent) with the best candidate so far."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.programs import FAST_SCRIPT
from perfedit.config import Settings
from perfedit.errors import Cancelled, NoFasterVersion
from perfedit.job.pipeline import Deadline, Job, Request, locate, suggest
from perfedit.llm import ChatModel, Reply
from perfedit.progress import Phase
from perfedit.verify.validate import Harness

FAST = "```python\ndef unique_in_order(items):\n    return list(dict.fromkeys(items))\n```\n"
ALSO_FAST = "```python\ndef unique_in_order(items):\n    seen = set()\n    return [x for x in items if not (x in seen or seen.add(x))]\n```\n"
SLOW_COPY = "```python\ndef unique_in_order(items):\n    out = []\n    for x in items:\n        if x not in out:\n            out.append(x)\n    return out\n```\n"


class PacedModel(ChatModel):
    """A test double for the language model: it replies with ``texts`` in turn, and before each
    reply after the first it waits (up to 120 s, generous for a loaded 2-core machine) until the
    pipeline has started validating the previous one, recording whether that happened. Like the
    real backends, it raises Cancelled once ``should_stop()`` is true."""

    backend, load_seconds = "test", 0.0

    def __init__(self, texts: list[str], validating: threading.Event) -> None:
        self.name = "paced"
        self.texts, self.validating = texts, validating
        self.overlapped: list[bool] = []
        self.stopped = False

    def replies(self, messages, *, num_samples=8, should_stop=None, **options) -> Iterator[Reply]:
        for index, text in enumerate(self.texts[: 1 + num_samples]):
            if index:
                deadline = time.monotonic() + 120
                while not self.validating.wait(timeout=0.05) and time.monotonic() < deadline:
                    if should_stop():
                        self.stopped = True
                        raise Cancelled("stopped")
                self.overlapped.append(self.validating.is_set())
                self.validating.clear()
            yield Reply(text, 10, 0.01)


def settings(**changes) -> Settings:
    return Settings(
        **{
            "runs": 5,
            "rules": False,
            "refine_rounds": 0,
            "minimise": False,
            "explain": False,
            "samples": 2,
            "strategies": False,
            **changes,
        }
    )


def request(project: Path) -> Request:
    path = project / "dedupe.py"
    return Request(path, path.read_text(), function="unique_in_order")


def test_each_reply_is_validated_while_the_next_is_generated(dedupe_project: Path):
    validating = threading.Event()
    model = PacedModel([SLOW_COPY, FAST, ALSO_FAST], validating)
    reports: list[tuple[Phase, float, float | None, str]] = []

    def progress(
        phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None:
        reports.append((phase, completed, total, detail))
        if phase is Phase.VALIDATING:
            validating.set()

    result = suggest(request(dedupe_project), settings(stop_at_speedup=0), lambda: model, progress)
    assert model.overlapped == [True, True]  # replies 2 and 3 came after validation had begun
    assert result.winner.verdict == "faster" and result.winner.label in ("sample 1", "sample 2")
    phases = [phase for phase, *_ in reports]
    found = [detail for phase, *_, detail in reports if phase is Phase.FOUND]
    assert found and found[0].endswith("× faster (validated)")
    assert phases.index(Phase.FOUND) < max(i for i, p in enumerate(phases) if p is Phase.VALIDATING)
    assert result.timings_s["first_faster_s"] < result.timings_s["total_s"]
    assert not result.stopped_early


def test_the_lsp_progress_of_a_real_job_only_moves_forward_through_every_phase(
    dedupe_project: Path,
):
    """The engine's reports of a whole job (every step on: rules, generation, refinement,
    minimisation, explanation) become work-done percentages that never go back, and every
    phase reported shows in the bar's message."""
    from perfedit.lsp.convert import ProgressBar

    reports: list[tuple[Phase, float, float | None, str]] = []
    model = PacedModel(
        [SLOW_COPY, FAST, ALSO_FAST, "The dict keeps the first of each item.", FAST, FAST],
        threading.Event(),
    )
    model.validating.set()  # no pacing: the replies come at once
    everything = Settings(
        runs=5,
        samples=2,
        stop_at_speedup=0,
        refine_rounds=1,
        explain=True,
        budget_s=600,
        strategies=False,  # the scripted replies in order: greedy, then the samples
    )

    def record(
        phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None:
        reports.append((phase, completed, total, detail))

    suggest(request(dedupe_project), everything, lambda: model, record)

    bar = ProgressBar(budget_s=60.0, now_s=0.0)
    values = [bar.report(*report, now_s=float(second)) for second, report in enumerate(reports)]
    percentages = [value.percentage for value in values]
    assert percentages == sorted(percentages) and 0 < percentages[-1] <= 99
    for (phase, *_), value in zip(reports, values, strict=True):
        assert value.message.startswith(phase.label)
    assert {phase for phase, *_ in reports} == set(Phase)


def test_a_large_enough_speedup_stops_generation(dedupe_project: Path):
    validating = threading.Event()
    model = PacedModel([FAST, ALSO_FAST, SLOW_COPY], validating)
    progress = lambda phase, *_: validating.set() if phase is Phase.VALIDATING else None  # noqa: E731
    result = suggest(
        request(dedupe_project), settings(stop_at_speedup=1.5), lambda: model, progress
    )
    assert (
        result.winner.label == "greedy" and "already at least 1.5x faster" in result.stopped_early
    )
    later = [v for v in result.verdicts if v.label != "greedy"]
    assert all(v.verdict == "rejected" and v.reason.startswith("not validated") for v in later)
    assert model.stopped  # the model was asked to stop, not run to the end


def test_a_spent_budget_ends_the_job_with_a_clear_message(dedupe_project: Path):
    model = PacedModel([FAST], threading.Event())
    with pytest.raises(NoFasterVersion, match="time budget of 0.001 s was spent; raise --budget"):
        suggest(request(dedupe_project), settings(budget_s=0.001), lambda: model)


def test_a_validation_the_budget_overtakes_is_cut_short(dedupe_project: Path):
    """The harness polls the budget between runs: a candidate whose validation outlives the
    budget is "not validated", and the job's harness stays usable for the next one."""
    req, conf = request(dedupe_project), settings()
    target, suite = locate(req, conf)
    with Harness(target, suite, conf, lambda: job.over_budget()) as harness:
        job = Job(conf, harness, deadline=Deadline(3600))
        harness.baseline()
        slow_copy = target.replace(SLOW_COPY.split("\n", 1)[1].rsplit("```", 1)[0])
        job.deadline = Deadline(0.3)  # spent once the candidate's worker has started
        verdict = job.timed_validation("slow copy", slow_copy)
        assert (
            verdict.verdict == "rejected"
            and verdict.reason == "not validated: the time budget was spent"
        )
        job.deadline = Deadline(3600)
        again = job.timed_validation("slow copy", slow_copy)
        # validated in full this time: all tests passed and timed pairs were compared (the copy's
        # verdict itself is left to the statistics, whose false-positive rate is alpha)
        assert again.verdict in ("not_faster", "faster"), again.reason
        assert again.tests_passed == again.tests_total == suite.size > 0
        assert again.comparison is not None and again.comparison.runs >= 2


def test_the_budget_kills_a_candidate_s_test_run_in_progress(dedupe_project: Path):
    """A candidate that never returns is not waited for until its tests' wall-clock limit
    (here 60 s per test): its run is killed once the budget is spent, and the job's harness
    stays usable. The 30 s bound is generous (the poll is every 0.1 s; a worker starts in under
    a second on a quiet machine) and far below the limit it replaces."""
    req, conf = request(dedupe_project), settings(timeout_s=60.0)
    target, suite = locate(req, conf)
    with Harness(target, suite, conf, lambda: job.over_budget()) as harness:
        job = Job(conf, harness, deadline=Deadline(3600))
        harness.baseline()
        hangs = target.replace("def unique_in_order(items):\n    while True:\n        pass\n")
        job.deadline = Deadline(1.0)
        started = time.monotonic()
        verdict = job.timed_validation("hangs", hangs)
        assert time.monotonic() - started < 30
        assert verdict.reason == "not validated: the time budget was spent"
        job.deadline = Deadline(3600)
        slow_copy = target.replace(SLOW_COPY.split("\n", 1)[1].rsplit("```", 1)[0])
        again = job.timed_validation("slow copy", slow_copy)
        assert again.verdict == "not_faster", again.reason


class EndlessModel(ChatModel):
    """A test double for a model writing a very long second reply: it ends only when asked to
    stop (polled like a real backend, after every "token"), or after 300 s."""

    backend, load_seconds, name = "test", 0.0, "endless"

    def __init__(self) -> None:
        self.stopped = False

    def replies(self, messages, *, num_samples=8, should_stop=None, **options) -> Iterator[Reply]:
        yield Reply(SLOW_COPY, 10, 0.01)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if should_stop():
                self.stopped = True
                raise Cancelled("stopped")
            time.sleep(0.05)
        yield Reply(FAST, 10, 300)


def test_the_budget_stops_a_reply_being_written(dedupe_project: Path):
    model = EndlessModel()
    with pytest.raises(NoFasterVersion, match="time budget of 20 s was spent"):
        suggest(request(dedupe_project), settings(budget_s=20, stop_at_speedup=0), lambda: model)
    assert model.stopped


class ScriptedModel(ChatModel):
    """A test double replying ``text`` to every prompt and recording the prompts it gets."""

    backend, load_seconds, name = "test", 0.0, "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.prompts: list[str] = []

    def replies(self, messages, *, num_samples=8, **options) -> Iterator[Reply]:
        self.prompts.append(messages[-1]["content"])
        yield Reply(self.text, 10, 0.01)


class GatedModel(ScriptedModel):
    """A :class:`ScriptedModel` whose first reply waits (up to 60 s) until ``gate`` is set."""

    def __init__(self, text: str, gate: threading.Event) -> None:
        super().__init__(text)
        self.gate = gate

    def replies(self, messages, *, num_samples=8, **options) -> Iterator[Reply]:
        first = not self.prompts
        for reply in super().replies(messages, num_samples=num_samples, **options):
            if first:
                self.gate.wait(60)
            yield reply


@pytest.mark.parametrize("profile_feedback", [True, False])
def test_a_script_s_prompt_and_reason_show_its_profiled_hot_line(
    script_project: Path, profile_feedback: bool
):
    """A script's hot lines come from the original profiled once on its slowest case, after
    the baseline; the model, started at once, does not wait for them: the prompts written once
    they are known list them (here the second: the first reply is held until the rule
    candidates are being validated), and the reason names the hottest line the winner rewrote;
    with ``profile_feedback`` off, neither."""
    path = script_project / "seen_before.py"
    validating = threading.Event()
    model = GatedModel(f"```python\n{FAST_SCRIPT}```\n", validating)

    def progress(phase: Phase, *_: object) -> None:
        if phase is Phase.VALIDATING:
            validating.set()

    result = suggest(
        Request(path, path.read_text()),
        settings(profile_feedback=profile_feedback, stop_at_speedup=0, strategies=True, rules=True),
        lambda: model,
        progress,
    )
    named = "hottest line in the profiled tests, line 6 (`if x in seen:`"
    if profile_feedback:
        prompt = model.prompts[1]  # the first sample's, written once validation had begun
        hottest = prompt.split("(line of the code above, time spent):\n")[1].splitlines()[0]
        assert hottest.startswith("line 6 (") and hottest.endswith("if x in seen:")
        assert named in result.reason
    else:
        assert not any("Where the time goes" in p for p in model.prompts)
        assert named not in result.reason
