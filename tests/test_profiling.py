"""The profiled test run, for real, in the sandbox: which test reaches which function (through
helpers, the public API, parametrised function objects), own/cumulative times and hot lines;
the cache follows the project's contents; bad tests give clear messages; the project is never
written to."""

from pathlib import Path

import pytest

from helpers.projects import COUNT_WORDS, NORMALISE, SLOW_SUM, module, write_project
from perfedit.candidates.prompts import optimize_messages
from perfedit.errors import NoTestsFound, ProfilingFailed
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.testsource.profiling import Profile, cached_profile, profile_tests, target_hot_lines

SOLUTION = module(
    NORMALISE,
    COUNT_WORDS,
    SLOW_SUM,
    "def fast_sum(n):\n    return n * (n - 1) // 2\n",
    "def never_called():\n    return 1\n",
)

TESTS = """\
import pytest

import solution


def _f():
    return getattr(solution, "slow" + "_sum")


def test_helper_getattr():
    assert _f()(1000) == 499500


def test_public_api():
    assert solution.count_words("A a B") == {"a": 2, "b": 1}


@pytest.mark.parametrize("fn", [solution.slow_sum, solution.fast_sum])
def test_parametrised(fn):
    assert fn(10) == 45
"""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def make_project(folder: Path, tests: str = TESTS, solution: str = SOLUTION) -> Path:
    return write_project(folder, solution, tests)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(tmp_path / "cache"))


def test_tests_reaching_each_function_by_execution(tmp_path: Path):
    """Every indirect route is seen; times and hot lines are recorded; nothing is written into
    the project; the second call comes from the cache, a changed file is profiled again."""
    project = make_project(tmp_path / "p")
    before = _snapshot(project)
    profile = profile_tests(project)
    assert _snapshot(project) == before, (
        "profiling must not write into the project (no .pyc either)"
    )
    assert not profile.cached and len(profile.runs) == 4
    assert profile.reaching("solution.py", "slow_sum") == (
        "tests/test_solution.py::test_helper_getattr",
        "tests/test_solution.py::test_parametrised[slow_sum]",
    )
    assert profile.reaching("solution.py", "_normalise") == (
        "tests/test_solution.py::test_public_api",
    )
    assert profile.reaching("solution.py", "fast_sum") == (
        "tests/test_solution.py::test_parametrised[fast_sum]",
    )
    assert profile.reaching("solution.py", "never_called") == ()
    assert not any(f.file.startswith("tests/") for f in profile.functions), (
        "test code is not ranked"
    )
    hottest = profile.ranked(1)[0]
    assert hottest.function == "slow_sum" and hottest.line == 16
    assert 0 < hottest.own_s <= hottest.cumulative_s and 0 < profile.share(hottest) <= 1
    assert hottest.hot_lines and {h.line for h in hottest.hot_lines} <= {17, 18, 19, 20}
    count_words = next(f for f in profile.functions if f.function == "count_words")
    assert count_words.cumulative_s >= count_words.own_s

    again = profile_tests(project)
    assert again.cached and again.functions == profile.functions
    assert cached_profile(project) == again
    assert Profile.from_json(again.to_json()) == again

    (project / "solution.py").write_text(SOLUTION.replace("return 1", "return 2"))
    assert cached_profile(project) is None, "a profile of an older version of a file is not reused"
    assert not profile_tests(project).cached


def test_the_prompt_shows_the_targets_hot_lines(tmp_path: Path):
    """The tests chosen by the profiled run carry the target's hot lines (in the code's own
    numbering, hottest first), with the tests found on their own or named by ``--tests``; the
    model's request names them with their time. A suite guessed from the tests' text, with no
    profile of the current sources, carries none."""
    project = make_project(tmp_path / "p")
    path = project / "solution.py"
    target = find(path, SOLUTION, function="slow_sum")
    guessed = discover(target, None, run_tests=False)
    assert guessed.node_ids and guessed.hot_lines == ()  # nothing profiled yet
    named = discover(target, project / "tests")
    found = discover(target, None)
    assert named.hot_lines and found.hot_lines
    hot = list(named.hot_lines)
    assert hot == target_hot_lines(profile_tests(project, project / "tests"), target)
    code_lines = target.code.splitlines()
    assert all(1 < line <= len(code_lines) for line, _ in hot)
    assert [seconds for _, seconds in hot] == sorted((seconds for _, seconds in hot), reverse=True)
    (request,) = [
        m["content"]
        for m in optimize_messages(target.code, "function", hot_lines=hot)
        if m["role"] == "user"
    ][-1:]
    hottest_line, _ = hot[0]
    assert "Where the time goes on the tests" in request
    assert f"line {hottest_line} (" in request and code_lines[hottest_line - 1].strip() in request


def test_failing_hanging_forking_and_chdir_tests(tmp_path: Path):
    """A failing test, one that hangs past its limit, one that forks and one that changes
    directory: the run goes on, each is recorded, the others still reach their functions."""
    project = make_project(
        tmp_path / "p",
        tests="""\
        import os
        import time

        import solution


        def test_fails():
            solution.fast_sum(3)
            assert False, "broken on purpose"


        def test_hangs():
            solution.never_called()
            time.sleep(60)


        def test_forks():
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            assert solution.slow_sum(5) == 10


        def test_chdir():
            os.chdir("/")


        def test_after_chdir():
            assert open("solution.py").read()
            assert solution.count_words("x") == {"x": 1}
        """,
    )
    before = _snapshot(project)
    profile = profile_tests(project, test_timeout_s=2)
    assert _snapshot(project) == before
    outcomes = {run.node_id.split("::")[1]: run.outcome for run in profile.runs}
    assert outcomes == {
        "test_fails": "failed",
        "test_hangs": "failed",
        "test_forks": "passed",
        "test_chdir": "passed",
        "test_after_chdir": "passed",
    }
    hang = next(run for run in profile.runs if run.node_id.endswith("test_hangs"))
    assert "longer than 2 s" in hang.detail
    assert profile.reaching("solution.py", "never_called") == (
        "tests/test_solution.py::test_hangs",
    )
    assert profile.reaching("solution.py", "count_words") == (
        "tests/test_solution.py::test_after_chdir",
    )


def test_whole_run_timeout_names_the_test(tmp_path: Path):
    project = make_project(
        tmp_path / "p", tests="import time\n\ndef test_hangs():\n    time.sleep(60)\n"
    )
    with pytest.raises(
        ProfilingFailed,
        match=r"took longer than 3 s; the test running then: tests/test_solution.py::test_hangs",
    ):
        profile_tests(project, timeout_s=3)


def test_no_tests_and_collection_error(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "solution.py").write_text(SOLUTION)
    with pytest.raises(NoTestsFound, match="pytest found no tests"):
        profile_tests(empty)
    broken = make_project(
        tmp_path / "broken", tests="import no_such_module\n\ndef test_x():\n    pass\n"
    )
    with pytest.raises(ProfilingFailed, match="(?s)could not collect.*no_such_module"):
        profile_tests(broken)
