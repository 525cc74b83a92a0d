"""``perfedit compare``: the validation harness on a candidate the user wrote.

The target and its tests are found as in the main job (:func:`perfedit.job.locate.locate`). The
candidate is the whole CANDIDATE file, placed at ORIGINAL's path in the sandbox copy (so the
tests' imports resolve to it), and it is judged by :class:`perfedit.verify.validate.Harness` —
``baseline()`` then ``validate()`` — the code path the engine uses for model candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfedit import targets
from perfedit.config import Settings
from perfedit.formats.suites import TestSuite
from perfedit.job.locate import Request, locate
from perfedit.progress import CancelFn, never_cancelled
from perfedit.verify.validate import Baseline, Harness, Verdict


@dataclass(frozen=True)
class Report:
    """The original's baseline and the candidate's verdict (see :class:`~perfedit.verify.validate.Verdict`)."""

    target: targets.Target
    suite: TestSuite
    baseline: Baseline
    verdict: Verdict


def check_candidate(path: Path, source: str, function: str | None) -> None:
    """Raise SourceSyntaxError if the candidate does not parse, TargetNotFound if it does not
    define ``function`` (when one is named); both messages name the candidate file."""
    if function is None:
        targets.parse(source, path)
    else:
        targets.find(path, source, function=function)


def compare_files(
    original: Path,
    candidate: Path,
    settings: Settings,
    *,
    function: str | None = None,
    tests: Path | None = None,
    cancel: CancelFn = never_cancelled,
) -> Report:
    """Validate ``candidate`` against the tests of ``original`` (its ``function``, else the
    file as a stdin/stdout script) and time it against ``original``.

    Bad input raises InputError subclasses before any process starts (unreadable file,
    SourceSyntaxError, TargetNotFound, NoTestsFound), or OriginalFailsTests after the baseline
    run. A candidate that fails is a report with verdict "rejected", not an error.
    """
    original_source, candidate_source = (
        targets.read_source(original),
        targets.read_source(candidate),
    )
    target, suite = locate(
        Request(path=original, source=original_source, function=function, tests=tests), settings
    )
    check_candidate(candidate, candidate_source, function)
    with Harness(target, suite, settings, cancel) as harness:
        baseline = harness.baseline()
        verdict = harness.validate(candidate.name, candidate_source)
    return Report(target, suite, baseline, verdict)
