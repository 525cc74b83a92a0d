"""``perfedit scan [PATH] [--top N] [--budget SECONDS] [--workload CMD] [--json] [--report
FILE.md|.html] [--apply] [--executor local|ray]``: profile the project's tests (and with
``--workload``, a workload that ranks the functions instead), then look for a faster version of
each of its N hottest functions in turn, and report what was found.

The engine is :mod:`perfedit.job.scan`; this module parses the arguments (only argparse is imported
until the command runs), checks the report's path before any work, shows one line per function
as it starts, applies results as they arrive (with ``--apply`` only; atomically, as
``perfedit suggest --apply`` does, :func:`perfedit.cli.main.apply_source`) and prints a table, or
with ``--json`` one object::

    {"root": str, "tests": int, "failed_tests": [str], "total_s": float, "workload": str | None,
     "workload_s": float, "profile_cached": bool, "executor": str, "found": int,
     "functions": [{"file", "function", "line", "own_s", "share", "tests", "workload_share",
                    "budget_s", "found",
                    "speedup", "ci95", "p_value", "decided_by", "tests_speedup", "winner",
                    "diff", "changed_lines", "facts",
                    "reason", "why", "candidates", "applied", "not_applied"}]}

Exit codes: 0 a faster version was found for at least one function; 1 none was; 2 bad input (no
tests, every test failing, tests that cannot be collected, a report path that cannot be
written, an executor that cannot start); 3 the model is missing or broken; 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit import config
from perfedit.cli.profile_command import add_project_arguments

if TYPE_CHECKING:
    from rich.console import Console

    from perfedit.job.scan import ScanEntry, ScanReport

DEFAULT_TOP = 5
REPORT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


def register(commands: Any) -> None:
    """Add the ``scan`` command to ``perfedit``'s subcommands."""
    p = commands.add_parser(
        "scan",
        help="profile the tests, then suggest faster versions of the N hottest functions, in one report",
    )
    add_project_arguments(p)
    p.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"how many of the hottest functions to try (default {DEFAULT_TOP})",
    )
    p.add_argument(
        "--budget",
        type=float,
        dest="total_budget_s",
        metavar="SECONDS",
        help="time for the whole scan, split over the functions (time one leaves goes to the next); "
        "default: the `budget_s` setting for each function",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument(
        "--report",
        metavar="FILE",
        help="also write the report as Markdown (FILE.md) or HTML (FILE.html)",
    )
    p.add_argument(
        "--apply",
        action="store_true",
        help="write each faster version into its file (nothing is written without it)",
    )
    config.add_option(p, "executor")
    for name in ("samples", "runs", "model", "backend"):
        config.add_option(p, name)
    config.add_option(p, "endpoint", metavar="URL")
    config.add_option(p, "explain")
    p.add_argument(
        "--candidates",
        help="stub proposer: take candidate versions from this file instead of the model",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="limit of the profiled test run (default 900)",
    )
    p.set_defaults(handler=run)


def check_report_path(value: str) -> tuple[Path, str]:
    """The report's path and format ("markdown" or "html"), checked before any work: raises
    InputError for another suffix, a missing folder, or a folder or file that cannot be written."""
    from perfedit.errors import InputError

    path = Path(value)
    kind = REPORT_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"--report {value}: name a .md or .html file.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"--report {value}: the folder {folder} does not exist.")
    if (
        path.is_dir()
        or (path.exists() and not os.access(path, os.W_OK))
        or not os.access(folder, os.W_OK)
    ):
        raise InputError(
            f"--report {value}: cannot write there (permission denied); choose another path."
        )
    return path, kind


def run(args: argparse.Namespace, console: Console) -> int:
    """The command's handler; raises PerfeditError subclasses (see the exit codes above)."""
    from perfedit.errors import InputError, ModelError
    from perfedit.executors import open_executor
    from perfedit.job import scan
    from perfedit.testsource.profiling import profile_tests

    if args.top < 1:
        raise InputError("--top must be at least 1.")
    if args.total_budget_s is not None and args.total_budget_s <= 0:
        raise InputError("--budget must be more than 0 seconds.")
    report_path, report_kind = check_report_path(args.report) if args.report else (None, "")
    path = Path(args.path).resolve()
    if not path.exists():
        raise InputError(f"{args.path} does not exist.")
    tests = Path(args.tests).resolve() if args.tests else None
    if tests is not None and not tests.exists():
        raise InputError(f"{args.tests} does not exist.")
    candidates = Path(args.candidates).resolve() if args.candidates else None
    if candidates is not None and not candidates.is_file():
        raise InputError(f"{args.candidates} is not a file.")
    root = config.find_project_root(path)
    from perfedit.cli.profile_command import workload_command

    workload = workload_command(args, root)
    if workload:
        from perfedit.testsource.workload import parse_command

        parse_command(workload, root)  # a command the sandbox cannot run fails now
    settings = config.from_args(args, config.load(root), workload=workload or "")
    if candidates is None:  # a model that cannot load fails now, not after the profiled run
        from perfedit import llm

        llm.check(settings.model, backend=settings.backend, endpoint=settings.endpoint)

    with console.status(f"running the tests of {root} once, profiled (in the sandbox)"):
        profile = profile_tests(root, tests, timeout_s=args.timeout)
    ranking = None
    if workload:
        from perfedit.testsource.workload import profile_workload

        with console.status(f"running the workload `{workload}` once, profiled (in the sandbox)"):
            ranking = profile_workload(root, workload, timeout_s=args.timeout)
    entries = scan.hottest(profile, args.top, ranking)
    report = scan.ScanReport(
        root,
        len(profile.runs),
        [r.node_id for r in profile.runs if r.outcome == "failed"],
        profile.total_s,
        profile.cached,
        settings.executor,
        entries,
        workload,
        ranking.total_s if ranking else 0.0,
    )

    def announce(index: int, entry: ScanEntry) -> None:
        console.print(
            f"[{index + 1}/{len(entries)}] {entry.function} ({entry.file}:{entry.line}, {scan.shares_text(entry)}): "
            f"looking for a faster version (budget {entry.budget_s:.0f} s)",
            markup=False,
            highlight=False,
        )

    work = scan.items(
        root,
        entries,
        settings,
        budget_s=args.total_budget_s,
        tests=tests,
        candidates=candidates,
        announce=announce,
    )
    with open_executor(settings.executor) as executor:
        for result in executor.run(scan.suggest_unit, work):
            entry = scan.merge(entries[result.index], result.value, result.error)
            if result.value and result.value.model_error:
                raise ModelError(entry.why)
            if args.apply and entry.found:
                _apply(entry, root)
            console.print(
                f"  {entry.function}: {scan.result_text(entry)}", markup=False, highlight=False
            )

    _report(args, console, report, report_path, report_kind)
    return 0 if any(e.found for e in entries) else 1


def _report(
    args: argparse.Namespace,
    console: Console,
    report: ScanReport,
    report_path: Path | None,
    report_kind: str,
) -> None:
    """Print the scan (a table, or JSON with ``--json``) and write its ``--report`` file
    (``report_kind`` "markdown" or "html"). Raises InputError if the file cannot be written."""
    from perfedit.errors import InputError
    from perfedit.job import scan

    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print_table(report)
    if report_path is not None:
        text = scan.markdown(report) if report_kind == "markdown" else scan.html_page(report)
        try:
            report_path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"could not write the report to {report_path}: {exc.strerror or exc}"
            ) from exc
        console.print(f"report written to {report_path}", markup=False, highlight=False)


def _apply(entry: ScanEntry, root: Path) -> None:
    """Write ``entry``'s faster version if its file still holds the text the unit read."""
    from perfedit.deliver.apply import apply_source

    error = apply_source(
        root / entry.file, entry.source, entry.new_source, entry.diff, entry.function
    )
    entry.applied = error is None
    entry.not_applied = str(error) if error else ""


def print_table(report: ScanReport) -> None:
    """The scan as a rich table on stdout (the full width of its content when stdout is not a
    terminal), one row per function, hottest first; with a workload, both shares."""
    from rich.table import Table

    from perfedit.cli.tables import print_table as print_wide
    from perfedit.job.scan import result_text

    workload = f", the workload {report.workload_s:.3f} s" if report.workload else ""
    table = Table(
        title=f"perfedit scan: the {len(report.entries)} hottest functions ({report.tests} tests, {report.total_s:.3f} s profiled{workload})"
    )
    columns = [("#", "right"), ("function", "left"), ("file:line", "left")]
    columns += [("workload share", "right")] if report.workload else []
    columns += [("test share", "right"), ("result", "left")]
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for index, e in enumerate(report.entries, 1):
        shares = [f"{e.workload_share or 0.0:.1%}"] if report.workload else []
        table.add_row(
            str(index),
            e.function,
            f"{e.file}:{e.line}",
            *shares,
            f"{e.share:.1%}",
            result_text(e),
        )
    found = sum(e.found for e in report.entries)
    applied = sum(e.applied for e in report.entries)
    print_wide(
        table,
        f"{found} of {len(report.entries)} functions have a validated faster version; "
        + (f"{applied} applied." if applied else "nothing applied (use --apply)."),
    )
