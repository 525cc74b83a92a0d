"""``perfedit scan``'s engine: profile the project's tests once, then look for a faster version of
each of its N hottest functions in turn, and gather what was found into one :class:`ScanReport`.

1. :func:`perfedit.testsource.profiling.profile_tests` (cached by content) ranks the project's functions by
   their own share of the test time; code that is no function of its own (a generator
   expression, a comprehension, a lambda) counts towards the function it is written in
   (:func:`perfedit.testsource.profiling.by_target`).
2. For each of the ``top`` hottest, one unit of work, :func:`suggest_unit` (the main job,
   :func:`perfedit.job.pipeline.suggest`, for that function), runs through an executor
   (:mod:`perfedit.executors`: here, one after another, by default; one Ray task each with
   ``--executor ray``). Units are module-level and their items and results small dataclasses
   (:class:`ScanItem`, :class:`ScanResult`), so they cross process boundaries. Each has its own time budget: ``budget_s`` split over the
   functions not yet started (so time a quick function leaves is given to the next, when they run
   in turn), or the project's ``budget_s`` each.
3. A unit reads its function's file when it starts and returns the new text with the text it
   read; the caller applies it (or not) as each result arrives, if the file still holds that text.

Nothing here writes to the project; the report's renderers (:func:`markdown`, :func:`html_page`)
return text.
"""

from __future__ import annotations

import dataclasses
import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfedit import config
from perfedit.errors import Cancelled, ModelError, NoFasterVersion, PerfeditError, ProfilingFailed
from perfedit.testsource.profiling import FunctionProfile, Profile, by_target
from perfedit.verify.validate import calls_phrase


@dataclass(frozen=True)
class ScanItem:
    """One unit of work for :func:`suggest_unit`: the function ``function`` of the file ``path``,
    with ``settings`` (its own ``budget_s``), ``tests`` instead of discovery and the stub
    proposer's ``candidates`` file, if given."""

    path: Path
    function: str
    settings: config.Settings
    tests: Path | None = None
    candidates: Path | None = None


@dataclass
class ScanResult:
    """What one unit found: a validated faster version (``found``; ``speedup`` with its 95% CI,
    ``diff``..., and ``new_source``, the faster version of ``source``, the file's text the unit
    read), or ``why`` not (``candidates``: each candidate's reason; ``model_error``: the model
    could not be used, which ends the scan). ``decided_by`` names the timing set the speedup
    was measured on: "workload_calls" or "test_calls" (the function's calls recorded from the
    workload or from the tests; ``tests_speedup`` is then the speedup on the tests, timed beside
    them) or "tests"."""

    found: bool = False
    why: str = ""
    model_error: bool = False
    speedup: float | None = None
    ci95: tuple[float | None, float | None] | None = None
    p_value: float | None = None
    decided_by: str | None = None
    tests_speedup: float | None = None
    winner: str | None = None
    diff: str = ""
    changed_lines: int = 0
    facts: list[str] = field(default_factory=list)
    reason: str = ""
    candidates: dict[str, str] = field(default_factory=dict)
    # the file's text the unit read and the faster version of it (not reported)
    source: str = field(default="", repr=False)
    new_source: str = field(default="", repr=False)


@dataclass(kw_only=True)
class ScanEntry(ScanResult):
    """What was found for one hot function: its place (``file`` relative to the root, POSIX;
    ``line`` 1-based), ``share`` of the test time (0-1, own time; ``own_s`` its own seconds in
    the run it was ranked by), ``workload_share`` of the workload's time (None without a
    workload), and its unit's :class:`ScanResult`. ``applied`` says whether it was written;
    ``not_applied`` why not, when asked to apply."""

    file: str
    function: str
    line: int
    own_s: float
    share: float
    tests: int
    workload_share: float | None = None  # of the workload's time (0-1), when ranked by it
    budget_s: float = 0.0
    applied: bool = False
    not_applied: str = ""

    def to_json(self) -> dict[str, Any]:
        """The entry's place first, then its result (not the file's text, nor ``model_error``)."""
        data = dataclasses.asdict(self)
        data["ci95"] = list(self.ci95) if self.ci95 else None
        own = [f.name for f in dataclasses.fields(self) if f.name not in _RESULT]
        kept = [name for name in _RESULT if name not in ("model_error", "source", "new_source")]
        return {name: data[name] for name in own + kept}


#: The fields of a :class:`ScanResult`, which :func:`merge` copies into its entry.
_RESULT = tuple(f.name for f in dataclasses.fields(ScanResult))


@dataclass
class ScanReport:
    """The whole scan: the profile's figures and one entry per hot function, hottest first."""

    root: Path
    tests: int
    failed_tests: list[str]
    total_s: float
    profile_cached: bool
    executor: str
    entries: list[ScanEntry]
    workload: str | None = None  # the command whose time ranked the functions
    workload_s: float = 0.0  # its profiled seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "tests": self.tests,
            "failed_tests": self.failed_tests,
            "total_s": self.total_s,
            "workload": self.workload,
            "workload_s": self.workload_s,
            "profile_cached": self.profile_cached,
            "executor": self.executor,
            "found": sum(e.found for e in self.entries),
            "functions": [e.to_json() for e in self.entries],
        }


def hottest(profile: Profile, top: int, workload: Profile | None = None) -> list[ScanEntry]:
    """Entries (nothing found yet) for the ``top`` hottest functions by own time that took some
    time, hottest first: in the tests' ``profile``, or in the ``workload``'s profile if given
    (each entry then has both shares). Raises ProfilingFailed when every test failed (a faster
    version cannot be judged) and InputError when no function of the project ran."""
    from perfedit.errors import InputError

    failed = [run for run in profile.runs if run.outcome == "failed"]
    if profile.runs and len(failed) == len(profile.runs):
        first = failed[0]
        raise ProfilingFailed(
            f"all {len(failed)} test(s) failed while profiling, so no faster version can be judged; "
            f"fix them first. The first: {first.node_id}\n{first.detail[-1500:]}".rstrip()
        )
    ranked = [f for f in by_target(workload or profile) if f.own_s > 0][:top]
    if not ranked:
        ran = f"the workload `{workload.workload}`" if workload else f"the tests of {profile.root}"
        raise InputError(
            f"{ran} ran none of the project's own functions (test files aside); nothing to scan."
        )
    if workload is None:
        return [_entry(profile, f) for f in ranked]
    by_tests = {(f.file, f.function): f for f in by_target(profile)}
    entries = []
    for f in ranked:
        tested = by_tests.get((f.file, f.function))
        entry = (
            _entry(profile, tested) if tested else _entry(profile, dataclasses.replace(f, tests=()))
        )
        if not tested:
            entry.share = 0.0
        entry.own_s, entry.workload_share = f.own_s, workload.share(f)
        entries.append(entry)
    return entries


def _entry(profile: Profile, f: FunctionProfile) -> ScanEntry:
    return ScanEntry(
        file=f.file,
        function=f.function,
        line=f.line,
        own_s=f.own_s,
        share=profile.share(f),
        tests=len(f.tests),
    )


def shares_text(entry: ScanEntry) -> str:
    """The entry's share of the workload's time and of the test time, or of the test time."""
    tests = f"{entry.share:.1%} of test time"
    if entry.workload_share is None:
        return tests
    return f"{entry.workload_share:.1%} of workload time, {tests}"


def items(
    root: Path,
    entries: list[ScanEntry],
    settings: config.Settings,
    *,
    budget_s: float | None,
    tests: Path | None,
    candidates: Path | None,
    announce: Callable[[int, ScanEntry], None],
) -> Iterator[ScanItem]:
    """The work items for :func:`suggest_unit`, made as they are asked for: ``budget_s`` (total,
    seconds) split over the functions not yet started, or ``settings.budget_s`` each if None.
    ``announce(index, entry)`` is called as each item is made."""
    start = time.monotonic()
    for index, entry in enumerate(entries):
        if budget_s is None:
            each_s = settings.budget_s
        else:
            left_s = budget_s - (time.monotonic() - start)
            each_s = max(1.0, left_s / (len(entries) - index))
        entry.budget_s = each_s
        announce(index, entry)
        yield ScanItem(
            root / entry.file,
            entry.function,
            dataclasses.replace(settings, budget_s=each_s),
            tests,
            candidates,
        )


def suggest_unit(item: ScanItem) -> ScanResult:
    """One unit of work (see :mod:`perfedit.executors`): the main job for ``item.function`` of
    the file ``item.path`` with ``item.settings``, the stub proposer of ``item.candidates`` if
    given, else the rules and the model. Errors the user can act on become ``why``; Cancelled
    propagates."""
    from perfedit.candidates.model import model_provider
    from perfedit.candidates.stub import stub_proposer
    from perfedit.job.pipeline import Request, suggest
    from perfedit.targets import read_source

    settings = item.settings
    try:
        source = read_source(item.path)
        request = Request(item.path, source, function=item.function, tests=item.tests)
        proposers = [stub_proposer(item.candidates)] if item.candidates else None
        s = suggest(
            request,
            settings,
            model_provider(settings),
            proposers=proposers,
            refiners=[] if proposers else None,
        )
    except NoFasterVersion as exc:
        return ScanResult(False, str(exc), candidates=exc.reasons)
    except Cancelled:
        raise
    except ModelError as exc:
        return ScanResult(False, str(exc), model_error=True)
    except PerfeditError as exc:
        return ScanResult(False, str(exc))
    c = s.winner.comparison
    assert c is not None
    return ScanResult(
        True,
        speedup=c.speedup,
        ci95=c.ci95,
        p_value=c.p_value,
        decided_by=f"{s.winner.calls_from}_calls" if s.winner.tests_comparison else "tests",
        tests_speedup=s.winner.tests_comparison.speedup if s.winner.tests_comparison else None,
        winner=s.winner.label,
        diff=s.diff,
        changed_lines=s.changed_lines,
        facts=s.facts,
        reason=s.reason,
        candidates={v.label: v.reason for v in s.verdicts},
        source=source,
        new_source=s.new_source,
    )


def merge(entry: ScanEntry, result: ScanResult | None, error: str | None = None) -> ScanEntry:
    """``entry`` with a unit's ``result`` (or the executor's ``error``: the unit could not run)."""
    if result is None:
        entry.why = f"the unit of work could not run: {error}"
        return entry
    for name in _RESULT:
        setattr(entry, name, getattr(result, name))
    return entry


def _finite(value: float | None) -> float | None:
    import math

    return value if value is not None and math.isfinite(value) else None


def result_text(entry: ScanEntry) -> str:
    """One line: the speedup with its CI, or why nothing was found (its first line)."""
    if entry.found and entry.speedup is not None:
        low, high = entry.ci95 or (None, None)
        ci = f" (95% CI {_times(low)}–{_times(high)})" if low is not None else ""
        applied = (
            "; applied"
            if entry.applied
            else (f"; not applied: {entry.not_applied}" if entry.not_applied else "")
        )
        decided_by = entry.decided_by or "tests"
        on = (
            f"{calls_phrase(decided_by.removesuffix('_calls'))}{ci}, "
            f"{_times(entry.tests_speedup)} on the tests"
            if decided_by.endswith("_calls")
            else ci
        )
        return f"{_times(entry.speedup)} faster{on}, {entry.changed_lines} line(s) changed{applied}"
    return "nothing found: " + (entry.why.splitlines()[0] if entry.why else "no result")


def _times(value: float | None) -> str:
    return "∞×" if _finite(value) is None else f"{value:.2f}×"


def markdown(report: ScanReport) -> str:
    """The report as Markdown: a summary table, then per function its facts and diff, or why
    nothing was found."""
    lines = [
        f"# perfedit scan of `{report.root}`",
        "",
        f"{report.tests} tests ran ({len(report.failed_tests)} failed), {report.total_s:.3f} s of profiled test time"
        f"{' (profile from the cache)' if report.profile_cached else ''}"
        + (
            f"; the workload `{report.workload}` ran {report.workload_s:.3f} s profiled"
            if report.workload
            else ""
        )
        + f"; the {len(report.entries)} hottest functions, "
        f"by their own share of {'the workload' if report.workload else 'that'} time, run through the `{report.executor}` executor. Nothing was applied"
        + (
            " except where it says so."
            if any(e.applied for e in report.entries)
            else " (`--apply` writes the faster versions)."
        ),
        "",
        "| # | function | file:line | share | result |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {i} | `{e.function}` | `{e.file}:{e.line}` | {shares_text(e)} | {_cell(result_text(e))} |"
        for i, e in enumerate(report.entries, 1)
    ]
    for i, e in enumerate(report.entries, 1):
        lines += ["", f"## {i}. `{e.function}` ({e.file}:{e.line}), {shares_text(e)}", ""]
        if e.found:
            lines += [f"**{result_text(e)}** ({e.winner}, budget {e.budget_s:.0f} s)", ""]
            lines += [f"- {fact}" for fact in e.facts]
            lines += [f"- Why: {e.reason}"] if e.reason else []
            lines += ["", "```diff", e.diff.rstrip("\n"), "```"]
        else:
            lines += [f"Nothing found (budget {e.budget_s:.0f} s): {e.why}"]
            lines += [
                f"- {label}: {' '.join(reason.split())[:300]}"
                for label, reason in e.candidates.items()
            ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def html_page(report: ScanReport) -> str:
    """The report as a self-contained HTML page (the same content as :func:`markdown`)."""
    esc = html.escape
    rows = "\n".join(
        f"<tr><td>{i}</td><td><code>{esc(e.function)}</code></td><td>{esc(e.file)}:{e.line}</td>"
        f"<td>{esc(shares_text(e))}</td><td>{esc(result_text(e))}</td></tr>"
        for i, e in enumerate(report.entries, 1)
    )
    sections = []
    for i, e in enumerate(report.entries, 1):
        head = f"<h2>{i}. <code>{esc(e.function)}</code> ({esc(e.file)}:{e.line}), {esc(shares_text(e))}</h2>"
        if e.found:
            facts = "".join(
                f"<li>{esc(fact)}</li>"
                for fact in e.facts + ([f"Why: {e.reason}"] if e.reason else [])
            )
            body = f"<p><b>{esc(result_text(e))}</b> ({esc(e.winner or '')})</p><ul>{facts}</ul><pre>{esc(e.diff)}</pre>"
        else:
            reasons = "".join(
                f"<li>{esc(label)}: {esc(' '.join(r.split())[:300])}</li>"
                for label, r in e.candidates.items()
            )
            body = f"<p>Nothing found: {esc(e.why)}</p><ul>{reasons}</ul>"
        sections.append(head + body)
    title = f"perfedit scan of {esc(str(report.root))}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:left;vertical-align:top}} pre{{background:#f6f8fa;padding:8px}}</style></head>
<body><h1>{title}</h1>
<p>{report.tests} tests ran ({len(report.failed_tests)} failed), {report.total_s:.3f} s of profiled test time; executor
<code>{esc(report.executor)}</code>.</p>
<table><tr><th>#</th><th>function</th><th>file:line</th><th>share</th><th>result</th></tr>
{rows}
</table>
{"".join(sections)}
</body></html>
"""
