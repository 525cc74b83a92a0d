"""Workloads: where the time goes when the program does its real work, and the calls it makes.

Unit tests call a function on small inputs and pytest's own overhead dominates their time, so a
ranking by test time often points at functions no user waits for. A *workload* is a Python
command that runs the program as it is really used (its benchmark, an example script, a typical
request): ``python bench.py ARGS`` or ``python -m module ARGS``, run from the project root
(:func:`parse_command`). :func:`profile_workload` runs it once in the sandbox (a throw-away,
read-only copy of the project, a confined worker, resource limits, a wall-clock limit), with
:mod:`perfedit.sandbox.workload_runner` as the program:

1. under **cProfile**, ranking the project's functions by their share of the workload's time
   (a :class:`~perfedit.testsource.profiling.Profile` whose one run is the workload, so the CLI's tables,
   JSON and the editor's code lenses show it as they show the tests' profile);
2. with the hottest functions' **lines timed** and their **calls recorded** (arguments pickled
   at call time, results when they return, a uniform sample of at most :data:`MAX_CALLS` per
   function, each at most :data:`MAX_CALL_BYTES`), within a budget;
3. each recorded call **replayed** alone in a fresh process: a call whose result differs there
   depends on state the workload set up and is dropped; so are calls that do not pickle,
   oversized ones, generators, methods and calls that raise. Every drop is counted by reason.

The profile is cached like the tests' (``profiles/<key>.json`` in perfedit's user cache, the key
hashed from the project's files, the command and the runner) and the kept calls beside it
(``profiles/<key>.calls.json``, pickles as base64), so a changed file invalidates both. The
pickles are made in the sandbox and only ever loaded there (differential testing, timing):
never in this process.

:func:`target_calls` gives a function's recorded calls to differential testing
(:mod:`perfedit.verify.differential`), which keeps those on which the original behaves the same twice,
and the validation harness times candidates on them beside the tests.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit.errors import WorkloadFailed
from perfedit.progress import CancelFn, never_cancelled
from perfedit.testsource.profiling import (
    HOT_FUNCTIONS,
    LINE_BUDGET_MIN_S,
    LINE_BUDGET_SHARE,
    TIMEOUT_S,
    Profile,
    RunnerMessages,
    _load,
    _profile_from_raw,
    cache_path,
    content_key,
    run_checked,
    target_name,
)

if TYPE_CHECKING:
    from perfedit.targets import Target

RUNNER = Path(__file__).parent.parent / "sandbox" / "workload_runner.py"
WORKLOAD_RUN = "workload"  # the name of the workload's one run in its Profile
MAX_CALLS = 20  # recorded calls kept per function
MAX_CALL_BYTES = 1024**2  # one call's arguments, pickled
MAX_FUNCTION_BYTES = 4 * 1024**2  # all of one function's kept calls
REPLAY_LIMIT_S = 2.0  # one recorded call replayed alone
RECORD_SHARE = 3.0  # the recording pass may run this many times the profiled pass's time
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")


@dataclass(frozen=True)
class Command:
    """A parsed workload command: ``kind`` "script" (``target`` a path relative to the project
    root, POSIX) or "module" (``target`` a module name), and its arguments."""

    text: str
    kind: str
    target: str
    argv: tuple[str, ...]


def parse_command(command: str, root: Path) -> Command:
    """``command`` as the sandbox runs it: ``[python] SCRIPT.py ARGS`` (the script inside the
    project ``root``; relative paths are relative to it) or ``[python] -m MODULE ARGS``. Raises
    WorkloadFailed for anything else (a shell command, interpreter options, a script outside
    the project or missing)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise WorkloadFailed(
            f"the workload `{command}` cannot be split into words: {exc}."
        ) from exc
    if words and _PYTHON.fullmatch(Path(words[0]).name):
        words = words[1:]
    usage = (
        "write it as `python SCRIPT.py ARGS` or `python -m MODULE ARGS`, run from the project root"
    )
    if not words:
        raise WorkloadFailed(f"the workload `{command}` names no script or module; {usage}.")
    if words[0] == "-m":
        if len(words) < 2:
            raise WorkloadFailed(f"the workload `{command}` names no module after -m; {usage}.")
        return Command(command, "module", words[1], tuple(words[2:]))
    if words[0].startswith("-"):
        raise WorkloadFailed(
            f"the workload `{command}` passes the interpreter option {words[0]}, which perfedit "
            f"does not take; {usage}."
        )
    if not words[0].endswith(".py"):
        raise WorkloadFailed(
            f"the workload `{command}` is not a Python command (perfedit profiles one Python "
            f"process); {usage}."
        )
    script = (root / words[0]).resolve()
    if not script.is_relative_to(root.resolve()):
        raise WorkloadFailed(
            f"the workload's script {words[0]} is outside the project {root}; the sandbox holds "
            "only the project: move it inside."
        )
    if not script.is_file():
        raise WorkloadFailed(f"the workload's script {script} does not exist.")
    return Command(
        command, "script", script.relative_to(root.resolve()).as_posix(), tuple(words[1:])
    )


def calls_path(profile: Profile) -> Path:
    """Where the recorded calls of the workload profile ``profile`` are cached."""
    return cache_path(profile.key).with_suffix(".calls.json")


def _key(root: Path, command: Command) -> str:
    return content_key(
        root, f"workload\0{command.kind}\0{command.target}\0{command.argv}", runner=RUNNER
    )


def profile_workload(
    root: Path,
    command: str,
    *,
    timeout_s: float = TIMEOUT_S,
    use_cache: bool = True,
    cancel: CancelFn = never_cancelled,
) -> Profile:
    """The profile of one sandboxed run of the workload ``command`` (see :func:`parse_command`)
    in the project ``root``, from the cache when the project is unchanged; its recorded calls
    are cached beside it (:func:`recorded_calls`).

    ``timeout_s`` limits the whole run, all three passes (seconds). ``cancel`` is polled during
    the run; once true, the run is killed and Cancelled raised. Raises WorkloadFailed when the
    command cannot be run, fails, passes ``timeout_s``, starts processes, reads stdin or runs
    none of the project's functions; SandboxError if the sandbox cannot start.
    """
    root = root.resolve()
    parsed = parse_command(command, root)
    key = _key(root, parsed)
    path = cache_path(key)
    if use_cache and (cached := _load(path, root)) is not None and calls_path(cached).is_file():
        return cached
    raw, wall_s = run_workload(root, parsed, mode="profile", timeout_s=timeout_s, cancel=cancel)
    functions = raw.get("functions", [])
    if not functions:
        raise WorkloadFailed(
            f"the workload `{command}` ran none of the project's own functions (its script, the "
            "tests and installed packages aside): does it import the project's code from the "
            "project folder, not from an installed copy?"
        )
    tests = {
        WORKLOAD_RUN: {"outcome": "passed", "seconds": raw["seconds"], "detail": ""},
    }
    shaped = {
        "tests": tests,
        "functions": [{**f, "tests": [WORKLOAD_RUN]} for f in functions],
        "lines": raw.get("lines", {}),
    }
    profile = dataclasses.replace(
        _profile_from_raw(root, None, shaped, wall_s, key), workload=command
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    calls = {"calls": raw.get("calls", {}), "passes_s": raw.get("passes_s", {})}
    for target, data in ((calls_path(profile), calls), (path, profile.to_json())):
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        temporary.replace(target)
    return profile


def run_workload(
    root: Path,
    command: Command,
    *,
    mode: str,
    timeout_s: float = TIMEOUT_S,
    cancel: CancelFn = never_cancelled,
) -> tuple[dict, float]:
    """Run the workload runner (``mode`` "profile", or "plain": the command alone, the baseline
    of the overhead figure) on a sandboxed copy of ``root``; its raw JSON (see
    :mod:`perfedit.sandbox.workload_runner`) and the run's wall time in seconds. Raises as
    :func:`profile_workload` does."""
    from perfedit.sandbox import protocol

    job = protocol.WorkloadJob(
        mode,
        command.kind,
        command.target,
        command.argv,
        hot_functions=HOT_FUNCTIONS,
        line_budget_share=LINE_BUDGET_SHARE,
        line_budget_min_s=LINE_BUDGET_MIN_S,
        record_share=RECORD_SHARE,
        max_calls=MAX_CALLS,
        max_call_bytes=MAX_CALL_BYTES,
        max_function_bytes=MAX_FUNCTION_BYTES,
        replay_limit_s=REPLAY_LIMIT_S,
    )
    name = f"the workload `{command.text}`"
    raw, wall_s = run_checked(
        root,
        RUNNER,
        job.to_json(),
        RunnerMessages(
            WorkloadFailed,
            cancelled=f"profiling {name} was cancelled.",
            timed_out=f"{name} ran longer than",
            step=(" (in its ", " pass)"),
            advice="give it a smaller input, or raise --timeout.",
            failed=f"{name} could not be run in the sandbox",
        ),
        timeout_s=timeout_s,
        cancel=cancel,
    )
    if raw.get("processes"):
        raise WorkloadFailed(
            f"{name} started another process ({raw['processes'][0]}); only its own process is "
            "profiled, so its time would be missed: run the work in one process (no "
            "subprocess, multiprocessing or fork)."
        )
    if raw.get("stdin"):
        raise WorkloadFailed(
            f"{name} read from stdin, which is empty when it is profiled; pass its input as a "
            "file argument instead."
        )
    if raw.get("outcome") != "passed":
        raise WorkloadFailed(
            f"{name} failed in the sandbox (a read-only copy of the project as its working "
            "folder, $TMPDIR to write in, no network, no input):\n"
            f"{str(raw.get('detail', ''))[-2000:]}".rstrip()
        )
    return raw, wall_s


@dataclass(frozen=True)
class RecordedCalls:
    """A function's calls recorded in a workload run: ``calls`` (pickled ``(args, kwargs)``, to be
    loaded only in the sandbox), ``skipped`` (reason → how many calls were not kept) and
    ``ran``: whether the workload executed the function at all."""

    calls: tuple[bytes, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)
    ran: bool = False

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def recorded_calls(profile: Profile, file: str, function: str) -> RecordedCalls:
    """The calls of ``function`` (a name as :func:`perfedit.targets.find` knows it) of ``file``
    (relative to the profile's root, POSIX) recorded by the workload run ``profile``; none when
    the calls file is missing or unreadable."""
    ran = any(f.file == file and target_name(f.function) == function for f in profile.functions)
    try:
        data = json.loads(calls_path(profile).read_text(encoding="utf-8"))["calls"]
    except (OSError, ValueError, KeyError, TypeError):
        return RecordedCalls(ran=ran)
    calls: list[bytes] = []
    skipped: dict[str, int] = {}
    for record in data.values():
        if record["file"] == file and target_name(record["function"]) == function:
            calls += [base64.b64decode(text) for text in record["kept"]]
            for reason, count in record["skipped"].items():
                skipped[reason] = skipped.get(reason, 0) + count
    return RecordedCalls(tuple(calls), skipped, ran)


def target_calls(target: Target, command: str) -> RecordedCalls:
    """The recorded calls of the function ``target`` in the workload ``command`` of its project
    (profiled in the sandbox unless cached). Raises WorkloadFailed, Cancelled, SandboxError as
    :func:`profile_workload` does."""
    from perfedit.config import find_project_root

    file = target.path.resolve()
    root = find_project_root(file)
    profile = profile_workload(root, command)
    return recorded_calls(profile, file.relative_to(root).as_posix(), target.name)
