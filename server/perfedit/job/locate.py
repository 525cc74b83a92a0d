"""The first two steps of a job: the target in the file, and the tests that exercise it.

Light to import (no numpy, no sandbox): the language server's code actions use it, in a helper
process (see :class:`perfedit.lsp.state.ActionTargets`), without loading the rest of the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfedit import targets
from perfedit.config import Settings
from perfedit.errors import NoTestsFound
from perfedit.formats.suites import TestSuite
from perfedit.testsource.discovery import discover


@dataclass(frozen=True)
class Request:
    """What to speed up: ``source`` is the file's current text (an editor buffer may be
    unsaved); the target is ``function``, else the function around 0-based ``line``, else the
    whole file as a script. ``tests`` overrides test discovery."""

    path: Path
    source: str
    function: str | None = None
    line: int | None = None
    tests: Path | None = None


def locate(
    request: Request, settings: Settings, *, run_tests: bool = True
) -> tuple[targets.Target, TestSuite]:
    """The target and its tests: those that executed it in the profiled test run (cached by
    content; with ``run_tests`` False nothing is run: a cached profile or a first guess from
    the tests' text, see :func:`perfedit.testsource.discovery.discover`).

    Raises SourceSyntaxError, TargetNotFound, NoTestsFound or ProfilingFailed.
    """
    target = targets.find(
        request.path, request.source, function=request.function, line=request.line
    )
    tests = request.tests
    if tests is None and settings.tests:  # from [tool.perfedit]: relative to the file's folder
        tests = request.path.resolve().parent / settings.tests
    return target, discover(
        target, tests, differential=settings.differential_min_tests > 0, run_tests=run_tests
    )


def action_target(request: Request, settings: Settings) -> tuple[str, str | None]:
    """What an editor's code action offers at ``request.line``: (the target's name, why the action
    is disabled, or None) — disabled when no test covers the target. Runs no test (see
    :func:`locate` with ``run_tests`` False).

    Raises SourceSyntaxError or TargetNotFound when there is nothing to offer.
    """
    try:
        target, _ = locate(request, settings, run_tests=False)
        return target.name, None
    except NoTestsFound as exc:
        return targets.find(request.path, request.source, line=request.line).name, str(exc)
