"""Differential testing of every function target: the original and each candidate are called on
the same recorded and generated inputs in the sandbox (widened beyond the tests' types where the
original accepts them); return values, exception types and argument mutation must match, and the
first mismatch names the input. A verdict's notes say what the tests cannot tell."""

import builtins
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.programs import BUBBLE_SORT, FAITHFUL
from helpers.settings import fast_settings
from perfedit.candidates.stub import stub_proposer
from perfedit.config import Settings
from perfedit.deliver.explain import cautions, facts, headline
from perfedit.errors import NoTestsFound
from perfedit.formats import suites
from perfedit.job.pipeline import Request, suggest
from perfedit.sandbox import Workspace, protocol
from perfedit.targets import Target, find
from perfedit.testsource.discovery import discover
from perfedit.verify.differential import applies, same, unchecked_note
from perfedit.verify.validate import Harness

MODULE = (
    '''\
def dedupe(items: list[int]) -> list[int]:
    """The distinct items in first-seen order."""
    result = []
    for item in items:
        if item not in result:
            result.append(item)
    return result


def ratio(values: list[int]) -> float:
    return values[0] / values[1]


'''
    + BUBBLE_SORT
    + """

def lonely(x, scale=2):
    return x * scale


class Box:
    def size(self, extra: int) -> int:
        return extra
"""
)
FAST_SORT = "def sort_numbers(items: list[int]) -> list[int]:\n    return sorted(items)\n"
SETTINGS = fast_settings(timeout_s=2.0, explain=False)


@pytest.fixture
def untested(tmp_path: Path) -> Path:
    """m.py in a project without a single test."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "m.py").write_text(MODULE)
    return project / "m.py"


def _target(path: Path, function: str) -> Target:
    return find(path, path.read_text(), function=function)


def _no_model():
    raise AssertionError("the stub proposer needs no model")


def test_every_function_is_checked_differentially_unless_off(untested: Path):
    function = _target(untested, "dedupe")
    two_tests = suites.TestSuite(
        "pytest", untested.parent, ("tests/test_m.py::test_a", "tests/test_m.py::test_b")
    )
    assert applies(function, two_tests, Settings())
    assert applies(
        function, two_tests, Settings(differential_min_tests=2)
    )  # not thin: checked all the same
    assert not applies(function, two_tests, Settings(differential_min_tests=0))  # off
    assert applies(function, discover(function), Settings())
    assert not applies(_target(untested, "Box.size"), two_tests, Settings())  # methods: tests only
    assert unchecked_note(_target(untested, "Box.size"), two_tests, Settings(), None) == (
        "note: not checked by differential testing (it is a method or a nested function); "
        "behaviour the tests do not assert may differ from the original's."
    )
    assert "differential testing is off" in unchecked_note(
        function, two_tests, Settings(differential_min_tests=0), None
    )


def test_floats_match_within_tolerance_types_exactly():
    assert same(["float", 0.1 + 0.2], ["float", 0.3])
    assert not same(["float", 0.31], ["float", 0.3])
    assert not same(["int", 3], ["float", 3.0])
    assert not same(["list", [["int", 1], ["int", 2]]], ["list", [["int", 2], ["int", 1]]])


def test_untested_function_without_hints_says_what_to_do(untested: Path):
    with pytest.raises(NoTestsFound, match=r"add type hints to its parameters \(x\)"):
        discover(_target(untested, "lonely"))
    with pytest.raises(NoTestsFound, match="--tests") as error:
        discover(_target(untested, "Box.size"))
    assert "type hints" not in str(error.value)
    with pytest.raises(NoTestsFound, match="--tests"):
        discover(_target(untested, "dedupe"), differential=False)


def test_untested_hinted_function_gets_a_suggestion_checked_by_differential_testing(
    untested: Path, tmp_path: Path
):
    stub = tmp_path / "stub.py"
    stub.write_text(FAST_SORT)
    request = Request(path=untested, source=untested.read_text(), function="sort_numbers")
    suggestion = suggest(request, SETTINGS, _no_model, proposers=[stub_proposer(stub)], refiners=[])
    assert suggestion.suite.kind == "differential" and suggestion.baseline.tests_total == 0
    check = suggestion.winner.differential
    assert check is not None and check.recorded == 0 and check.generated > 20
    assert (
        f"Checked by differential testing on {check.inputs} inputs (0 recorded from your tests, {check.generated} generated)"
        in suggestion.explanation
    )
    assert (
        "lower confidence" in suggestion.explanation and "Passes all" not in suggestion.explanation
    )


def test_different_values_and_mutation_are_rejected_with_the_input(untested: Path):
    target = _target(untested, "dedupe")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        check = harness.differential.check
        assert check is not None and check.generated > 20
        reordered = harness.validate(
            "sorted",
            target.replace(
                "def dedupe(items: list[int]) -> list[int]:\n    return sorted(set(items))\n"
            ),
        )
        assert reordered.verdict == "rejected"
        assert (
            reordered.reason.startswith("differential testing: returns [")
            and " instead of [" in reordered.reason
        )
        assert reordered.failed_test.startswith("dedupe([") and reordered.reason.endswith(
            f" for {reordered.failed_test}"
        )
        assert reordered.detail.startswith(f"input: {reordered.failed_test}\noriginal: returns [")

        mutating = harness.validate(
            "reverses",
            target.replace(
                "def dedupe(items: list[int]) -> list[int]:\n    result = list(dict.fromkeys(items))\n    items.reverse()\n    return result\n"
            ),
        )
        assert mutating.verdict == "rejected" and "leaves argument 1 as [" in mutating.reason, (
            mutating.reason
        )
        assert mutating.mutated_argument == 0  # the index as data, for the argument-copy repair
        assert reordered.mutated_argument is None  # a different return value is no mutation

        faithful = harness.validate(
            "dict",
            target.replace(
                "def dedupe(items: list[int]) -> list[int]:\n    return list(dict.fromkeys(items))\n"
            ),
        )
        assert faithful.verdict != "rejected", faithful.reason
        assert faithful.differential == check


def test_a_different_exception_type_is_rejected(untested: Path):
    target = _target(untested, "ratio")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate(
            "value error",
            target.replace(
                "def ratio(values: list[int]) -> float:\n    if len(values) < 2:\n        raise ValueError('two values needed')\n"
                "    return values[0] / values[1]\n"
            ),
        )
    assert verdict.verdict == "rejected"
    assert (
        verdict.reason
        == f"differential testing: raises ValueError instead of IndexError for {verdict.failed_test}"
    )


GUARDED = "def ratio(a: int, b: int) -> float:\n    return a / b if b else 0.0\n"


def _ratio(tmp_path: Path, body: str) -> Target:
    """``ratio(a, b)`` with ``body``, in a project without tests (hypothesis draws b = 0)."""
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "m.py"
    path.write_text(f"def ratio(a: int, b: int) -> float:\n{body}")
    return _target(path, "ratio")


def test_an_input_where_an_operation_of_the_original_fails_does_not_reject(tmp_path: Path):
    """``b == 0``: the original's division fails (ZeroDivisionError from ``/``), so a candidate
    that answers there is named, not rejected (a different exception still rejects: above)."""
    target = _ratio(tmp_path, "    return a / b\n")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate("guarded", target.replace(GUARDED))
    assert verdict.verdict != "rejected", verdict.reason
    assert any(
        "a generated input on which the original fails with ZeroDivisionError" in difference
        for difference in verdict.differences
    ), verdict.differences


def test_a_raise_statement_of_the_original_is_behaviour_to_keep(tmp_path: Path):
    """The same candidate where the original raises ZeroDivisionError itself: rejected."""
    target = _ratio(
        tmp_path, "    if b == 0:\n        raise ZeroDivisionError('b is 0')\n    return a / b\n"
    )
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate("guarded", target.replace(GUARDED))
    assert verdict.verdict == "rejected"
    assert "instead of raising ZeroDivisionError" in verdict.reason, verdict.reason


LARGE = (
    "def scaled(xs: list[float]) -> list[float]:\n    return [x / 3 for x in xs]\n",
    "def test_large():\n    assert len(scaled([float(i) for i in range(20_000)])) == 20_000\n",
)


@pytest.mark.parametrize(
    ("candidate", "rejected"),
    [
        ("    return [x * (1 / 3) for x in xs]\n", False),  # the same but for float rounding
        ("    out = [x / 3 for x in xs]\n    out[-1] += 1\n    return out\n", True),
    ],
)
def test_a_large_result_is_compared_by_its_digest_and_its_call_kept(
    tmp_path: Path, candidate: str, rejected: bool
):
    """A call whose description is too long to send whole (20,000 floats in, 20,000 out) is
    still compared, by the digest of each long part with floats rounded, and kept for timing:
    the large calls of a function's tests are the ones its timing needs most."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "m.py").write_text(LARGE[0])
    (tmp_path / "test_m.py").write_text("from m import scaled\n\n\n" + LARGE[1])
    target = _target(tmp_path / "m.py", "scaled")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        assert harness.differential is not None
        assert any(len(data) > 100_000 for data in harness.differential.test_inputs)
        verdict = harness.validate(
            "candidate",
            target.replace(f"def scaled(xs: list[float]) -> list[float]:\n{candidate}"),
        )
    assert (verdict.verdict == "rejected") is rejected, verdict.reason
    if rejected:
        assert verdict.reason.startswith("differential testing: returns ["), verdict.reason


def test_a_request_goes_past_only_so_many_stopped_calls(tmp_path: Path):
    """``spin`` never returns on an odd n: with ``go_past`` 1 the request goes on after the
    first call that times out and ends at the second, leaving the later inputs unrun (the
    reference run's REFERENCE_STOPS: a function that generated inputs drive past its limit does
    not spend the job's budget on them)."""
    target = _ratio(tmp_path, "    while b % 2:\n        pass\n    return a\n")
    suite = discover(target)
    calls = [pickle.dumps(((0, b), {})) for b in (2, 1, 4, 3, 6, 5)]
    with Harness(target, suite, SETTINGS) as harness:
        assert harness.differential is not None
        workspace = Workspace(suite, harness.relative_path, target.source)
        try:
            with harness.differential.open_worker(workspace) as worker:
                worker.request(protocol.inputs_request(calls))
                answer = worker.request(protocol.outcomes_request([0.3] * len(calls), 1))
        finally:
            workspace.close()
    kinds = [
        None if entry is None else "stopped" if protocol.STOPPED in entry else "described"
        for entry in answer[protocol.OUTCOMES]
    ]
    assert kinds == ["described", "stopped", "described", "stopped", None, None]


def test_inputs_recorded_from_thin_tests_catch_what_they_miss(dedupe_project: Path):
    """examples/dedupe has two tests; they do not notice that a candidate empties its argument."""
    target = _target(dedupe_project / "dedupe.py", "unique_in_order")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        check = harness.differential.check
        assert check is not None
        assert check.recorded == 4  # [3, 1, 3, 2, 1], [], "abracadabra" and test_large's list
        assert check.generated > 20  # lists of ints and strings, like the recorded values
        emptying = harness.validate(
            "clears",
            target.replace(
                "def unique_in_order(items):\n    result = list(dict.fromkeys(items))\n"
                "    if isinstance(items, list):\n        items.clear()\n    return result\n"
            ),
        )
    assert emptying.tests_passed == emptying.tests_total == 2
    assert emptying.reason == (
        "differential testing: leaves argument 1 as [] where the original leaves [3, 1, 3, 2, 1] "
        "for unique_in_order([3, 1, 3, 2, 1])"
    )
    assert emptying.mutated_argument == 0


EVIL = '''\
class Evil:
    """Runs code if this object is unpickled or shown (``repr``) in the process that sees it."""

    def __reduce__(self):
        return (exec, ("import builtins; builtins.PERFEDIT_PWNED = 'by unpickling'",))

    def __repr__(self):
        import builtins

        builtins.PERFEDIT_PWNED = "by repr"
        return "<evil>"


def dedupe(items: list[int]) -> list[int]:
    return Evil()
'''


def test_a_candidates_objects_never_run_code_in_this_process(untested: Path):
    """The return value is described (``repr`` included) in the sandbox; only text comes back."""
    target = _target(untested, "dedupe")
    with Harness(target, discover(target), SETTINGS) as harness:
        harness.baseline(runs=1)
        verdict = harness.validate("evil", target.replace(EVIL))
    assert verdict.verdict == "rejected" and verdict.reason.startswith(
        "differential testing: returns <evil> instead of ["
    )
    assert not hasattr(builtins, "PERFEDIT_PWNED")


def test_cli_reports_differential_testing(untested: Path, tmp_path: Path):
    stub = tmp_path / "stub.py"
    stub.write_text(FAST_SORT)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("perfedit")),
            "suggest",
            untested.name,
            "--function",
            "sort_numbers",
            "--candidates",
            str(stub),
            "--runs",
            "20",
            "--no-explain",
            "--json",
        ],  # 20: clear on a loaded machine
        cwd=untested.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tests"] == {
        "kind": "differential",
        "description": "no tests: differential testing only",
        "passed": 0,
        "total": 0,
    }
    checked = report["checked_by_differential_testing"]
    assert (
        checked["recorded"] == 0
        and checked["generated"] > 20
        and checked["inputs"] == checked["generated"]
    )
    assert any(
        fact.startswith(f"Checked by differential testing on {checked['inputs']} inputs")
        for fact in report["facts"]
    )
    assert "+    return sorted(items)" in report["diff"]


SET_BASED = "def unique_in_order(items):\n    seen = set()\n    return [x for x in items if not (x in seen or seen.add(x))]\n"


def test_narrowed_behaviour_is_named_even_when_the_tests_are_many(dedupe_project: Path):
    """With three tests (not thin), a set-based dedupe passed them all and was judged
    ~130x faster with nothing said, though it raises on unhashable items that the original
    accepts. Widened inputs catch it: the verdict's reason and notes name the input and the
    difference (kinds the tests do not use are shown, not rejected). A faster candidate that
    keeps the original's behaviour gets no such note."""
    with (dedupe_project / "tests" / "test_dedupe.py").open("a") as tests:
        tests.write(
            "\n\ndef test_strings():\n    assert unique_in_order(['b', 'a', 'b']) == ['b', 'a']\n"
        )
    target = _target(dedupe_project / "dedupe.py", "unique_in_order")
    suite = discover(target)
    assert suite.size == 3
    with Harness(target, suite, SETTINGS) as harness:
        baseline = harness.baseline(runs=1)
        narrowed = harness.validate("set", target.replace(SET_BASED))
        difference = "; differs from the original on unique_in_order(["
        assert difference in narrowed.reason, narrowed.reason
        check = harness.differential.check
        assert check is not None and check.widened > 0 and not check.thin
        narrowing = narrowed.reason.split("; ", 1)[1]
        # The widened input is a list of lists or of dicts, whichever hypothesis draws first.
        assert re.search(
            r"\(an input of a kind the tests do not use, which the original accepts\): raises TypeError: "
            r"unhashable type: '(list|dict)' instead of returning \[",
            narrowing,
        ), narrowing
        assert narrowed.notes[0] == f"note: {narrowing}."
        # unsafe: the headline says so, and the cautions lead with the difference
        assert narrowed.differences == (narrowing,)
        assert headline(narrowed, suite).endswith("× faster · 3 tests pass · behaves differently")
        assert cautions(narrowed)[0] == f"D{narrowing[1:]}."
        assert narrowed.detail.startswith("input: unique_in_order([")
        assert facts(narrowed, baseline, suite)[-1] == narrowed.notes[0]
        faithful = harness.validate("faithful", target.replace(FAITHFUL))
        assert faithful.verdict == "faster", faithful.reason
        assert faithful.notes == () and faithful.differences == ()
        assert headline(faithful, suite).endswith("× faster · 3 tests pass")
        assert cautions(faithful) == []
        fact = facts(faithful, baseline, suite)[3]  # after the wall-clock, CPU and tests facts
        assert (
            fact.startswith(f"Checked by differential testing on {check.inputs} inputs")
            and "lower confidence" not in fact
        )
        hardcoded = harness.validate(
            "hard-coded",
            target.replace(
                FAITHFUL.replace(
                    "    try:",
                    "    if items == [3, 1, 3, 2, 1]:\n        return [3, 1, 2]\n    try:",
                )
            ),
        )
    assert hardcoded.verdict != "rejected", hardcoded.reason
    note = (
        "note: the candidate contains the expected output of test_small ([3, 1, 2]) as a literal; "
        "the tests cannot tell it from a real solution."
    )
    assert hardcoded.notes == (note,)
    assert facts(hardcoded, baseline, suite)[-1] == note


def test_a_script_verdict_says_what_its_cases_cannot_tell(script_project: Path):
    """A script with one case's expected output written in: the cases pass, the verdict notes it,
    and that the script was checked on its cases and their variations only. A rewrite that reads
    only the first n numbers (the original reads the whole line) is named on the variation with
    one token more."""
    path = script_project / "seen_before.py"
    target = find(path, path.read_text())
    suite = discover(target)
    cheat = (
        "import sys\ndata = sys.stdin.read()\nif data.split() == ['5', '1', '2', '1', '3', '2']:\n"
        "    print('NO\\nNO\\nYES\\nNO\\nYES')\n    sys.exit()\n"
        "numbers = data.split()[1:]\nseen = set()\nfor x in numbers:\n"
        "    print('YES' if x in seen else 'NO')\n    seen.add(x)\n"
    )
    first_n = (
        "import sys\ndata = sys.stdin.read().split()\nseen, out = set(), []\n"
        "for x in data[1 : int(data[0]) + 1]:\n    out.append('YES' if x in seen else 'NO')\n    seen.add(x)\n"
        "print('\\n'.join(out))\n"
    )
    with Harness(target, suite, SETTINGS) as harness:
        baseline = harness.baseline(runs=1)
        verdict = harness.validate("cheat", cheat)
        narrowed = harness.validate("first n", first_n)
    assert verdict.verdict != "rejected", verdict.reason
    script_note = (
        "note: a script is judged by its stdin/stdout cases and 4 variations of their inputs (tokens reversed, "
        "repeated, one more) only; other inputs are not tried; behaviour the tests do not assert may differ from the original's."
    )
    assert verdict.notes == (
        "note: the candidate contains the expected output of case 0 ('NO\\nNO\\nYES\\nNO\\nYES') as a literal; "
        "the tests cannot tell it from a real solution.",
        script_note,
    )
    assert facts(verdict, baseline, suite)[-2:] == list(verdict.notes)
    assert narrowed.verdict != "rejected", narrowed.reason
    assert narrowed.notes == (
        "note: differs from the original on case 0 with line 2's last token repeated (an input the cases do not "
        "contain): prints 'NO\\nNO\\nYES\\nNO\\nYES' instead of 'NO\\nNO\\nYES\\nNO\\nYES\\nYES'.",
        script_note,
    )
    assert narrowed.reason.endswith(
        "; " + narrowed.notes[0].removeprefix("note: ").removesuffix(".")
    )
    assert narrowed.differences == (narrowed.notes[0].removeprefix("note: ").removesuffix("."),)
    assert verdict.differences == ()
    assert narrowed.detail.startswith(
        "input:\n5\n1 2 1 3 2 2\n--- original\nNO\nNO\nYES\nNO\nYES\nYES\n--- candidate\n"
    )
