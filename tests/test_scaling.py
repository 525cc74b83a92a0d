"""Measured scaling: the empirical exponent from two input sizes of the original's own runs (a
function's recorded calls in the sandbox, a script's cases), shown in the prompt; when it is worse
than linear the algorithm strategy goes first; ``scaling_feedback`` turns it off."""

import math
from concurrent.futures import Future
from pathlib import Path

import pytest

from helpers.models import Recording
from perfedit.candidates import Feedback
from perfedit.candidates.ask import faster_versions, sample_plan
from perfedit.candidates.model import model_proposer, prompt_scaling
from perfedit.candidates.prompts import STRATEGIES, optimize_messages
from perfedit.config import Settings
from perfedit.formats import suites
from perfedit.progress import never_cancelled, no_progress
from perfedit.sandbox import Limits
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify import differential
from perfedit.verify.scaling import SIZE_OF, Scaling, case_size, from_points, of_cases
from perfedit.verify.validate import Harness

QUADRATIC = Scaling(10, 1e-5, 1000, 0.1, "elements")  # 10⁴ times the time at 100 times the size
LINEAR = Scaling(10, 1e-5, 1000, 1e-3, "elements")


def size_of(*args: object, **kwargs: object) -> float:
    namespace: dict[str, object] = {}
    exec(SIZE_OF, namespace)
    return namespace["_perfedit_size"](args, kwargs)  # type: ignore[operator]


def test_the_exponent_is_the_slope_between_the_two_points():
    assert QUADRATIC.exponent == pytest.approx(2.0)
    assert LINEAR.exponent == pytest.approx(1.0)
    assert QUADRATIC.superlinear and not LINEAR.superlinear
    assert "time grows like size^2.00" in QUADRATIC.describe()


def test_points_give_the_largest_size_and_the_largest_at_most_half_of_it():
    points = [(5, 1e-6), (400, 3e-3), (400, 5e-3), (400, 4e-3), (900, 1e-2), (1000, 2e-2)]
    scaling = from_points(points, "elements")
    assert scaling == Scaling(400, 4e-3, 1000, 2e-2, "elements")  # the median time at 400
    assert from_points([(1000, 1.0), (600, 0.5)], "elements") is None  # sizes too close
    assert from_points([(0, 1.0), (100, 0.5)], "elements") is None  # size 0 does not count
    assert from_points([(10, 0.0), (100, 0.5)], "elements") is None  # nor a zero time
    assert from_points([], "elements") is None


def test_the_sandboxs_size_measure_counts_elements_else_magnitudes():
    assert size_of(list(range(100))) == 100
    assert size_of([[1, 2], [3, 4, 5]]) == 5  # two rows of 2.5 elements on average
    assert size_of("abc", [1, 2]) == 5  # sized arguments add up; numbers beside them do not
    assert size_of([1, 2, 3], 10**6) == 3
    assert size_of(30) == 30 and size_of(-7, 2) == 7  # fib(n): the magnitude
    assert size_of(True) == 0 and size_of(None) == 0 and size_of({}) == 0
    assert size_of(10**400) == 1e300 and size_of(float("nan")) == 0
    assert size_of(list(range(10**6))) == 10**6  # estimated from the first items: no full scan
    assert size_of(items={"a": "xy", "b": "z"}) == 3


def test_a_scripts_scaling_comes_from_its_cases_tokens_and_times():
    cases = tuple(
        suites.Case(f"case {i}", text, "")
        for i, text in enumerate(["3\n1 2 3\n", "9\n" + "5 " * 9 + "\n", "1\n7\n"])
    )
    suite = suites.TestSuite("cases", Path("."), cases=cases)
    assert [case_size(c.stdin) for c in cases] == [4, 10, 2]
    scaling = of_cases(suite, {"case 0": 2e-3, "case 1": 8e-3, "case 2": 1e-3})
    assert scaling == Scaling(4, 2e-3, 10, 8e-3, "input tokens")
    assert of_cases(suites.TestSuite("pytest", Path(".")), {}) is None


def test_a_functions_scaling_comes_from_its_calls_in_the_tests(dedupe_project: Path):
    """examples/dedupe's tests call it on 5 and 11 items and on a list of 4000."""
    target = find(
        dedupe_project / "dedupe.py",
        (dedupe_project / "dedupe.py").read_text(),
        function="unique_in_order",
    )
    with Harness(target, discover(target), Settings(runs=5, explain=False)) as harness:
        scaling = harness.baseline(runs=1).scaling
    assert scaling is not None
    assert (scaling.small_size, scaling.large_size, scaling.unit) == (11, 4000, "elements")
    assert math.isfinite(scaling.exponent) and scaling.small_s > 0 and scaling.large_s > 0


def test_calls_too_large_to_record_are_still_timed(
    dedupe_project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(differential, "MAX_RECORDED_BYTES", 200)  # the 4000 items do not fit
    path = dedupe_project / "dedupe.py"
    target = find(path, path.read_text(), function="unique_in_order")
    suite = discover(target)
    recording = differential.record_calls(
        suite, path.resolve().relative_to(suite.root), target, Limits(timeout_s=60.0)
    )
    assert len(recording.calls) == 3  # [3, 1, 3, 2, 1], [] and "abracadabra"
    assert sorted(size for size, _ in recording.timed) == [0, 5, 11, 4000]


def test_the_prompt_shows_the_scaling_and_asks_for_an_algorithm_when_superlinear():
    ask = optimize_messages("def f(xs):\n    pass\n", "function", scaling=QUADRATIC)[-1]["content"]
    assert "Measured scaling: On its tests it took 0.01 ms at input size 10" in ask
    assert "lower complexity" in ask
    linear = optimize_messages("def f(xs):\n    pass\n", "function", scaling=LINEAR)[-1]["content"]
    assert "Measured scaling" in linear and "lower complexity" not in linear
    assert "Measured scaling" not in optimize_messages("x = 1\n", "script")[-1]["content"]


def test_sample_plan_can_put_a_strategy_first():
    names = [g.strategy for g in sample_plan(8, 0.7, 0, kind="function", first="algorithm")]
    assert names == [None, "algorithm", "built-ins", "repeated work"]
    assert [g.strategy for g in sample_plan(8, 0.7, 0)] == [None, *STRATEGIES]


def _strategies_asked(asked: list[str]) -> list[str | None]:
    return [
        next((name for name, text in STRATEGIES.items() if text in message), None)
        for message in asked
    ]


def test_once_the_scaling_is_known_superlinear_the_algorithm_strategy_goes_first(
    tmp_path: Path,
):
    path = tmp_path / "m.py"
    path.write_text("def f(xs):\n    return [x for x in xs if x in xs]\n")
    target = find(path, path.read_text(), function="f")
    settings = Settings(samples=3, cookbook=False)
    known: Future[Scaling | None] = Future()
    model = Recording()
    replies = faster_versions(
        model,
        target,
        settings,
        never_cancelled,
        scaling=prompt_scaling(Feedback(target_scaling=known), settings),
    )
    next(replies)  # the greedy reply, before the baseline: no scaling yet
    known.set_result(QUADRATIC)
    list(replies)
    assert _strategies_asked(model.asked) == [None, "algorithm", "built-ins", "repeated work"]
    assert "Measured scaling" not in model.asked[0] and "Measured scaling" in model.asked[1]

    model = Recording()
    off = Settings(samples=3, cookbook=False, scaling_feedback=False)
    propose = model_proposer(lambda: model, off)
    list(propose(target, Feedback(target_scaling=known), no_progress, never_cancelled))
    assert _strategies_asked(model.asked) == [None, "built-ins", "repeated work", "algorithm"]
    assert not any("Measured scaling" in message for message in model.asked)
