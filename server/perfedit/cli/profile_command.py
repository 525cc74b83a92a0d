"""``perfedit profile [PATH] [--tests PATH] [--workload CMD] [--json] [--top N] [--html FILE]
[--svg FILE]``: the project's functions ranked by their share of the test time, or of a
workload's (:mod:`perfedit.testsource.workload`).

One profiled run of the project's tests in the sandbox (:func:`perfedit.testsource.profiling.profile_tests`,
cached by content) gives each function its own and cumulative time, the tests that reach it and
its hottest lines. The terminal gets a table (rich), ``--json`` one object::

    {"root": str, "tests": int, "total_s": float, "wall_s": float, "cached": bool,
     "functions": [{"file", "function", "line", "own_s", "cumulative_s", "share", "tests",
                    "hot_lines": [{"line", "s"}]}]}

where ``share`` is the function's own time over the time of all tests (0-1); for a workload,
``"workload": CMD`` and per function ``calls`` instead of ``tests``. Off a terminal the table
takes the full width of its content (:mod:`perfedit.cli.tables`). ``--html`` and
``--svg`` write a bar chart of own and cumulative shares (drawsvg). Only argparse is imported
until the command runs.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from perfedit.testsource.profiling import Profile

DEFAULT_TOP = 15
_BAR_WIDTH = 420
_ROW_HEIGHT = 26
_LABEL_WIDTH = 360


def add_project_arguments(parser: Any) -> None:
    """The project's ``path``, ``--tests`` and ``--workload``, as ``profile`` and ``scan`` take them."""
    from perfedit import config

    parser.add_argument(
        "path",
        nargs="?",
        default=".",
        help="a file or folder of the project (default: the current folder)",
    )
    parser.add_argument(
        "--tests",
        help="pytest file or folder to run (default: the project's tests, as pytest finds them)",
    )
    config.add_option(parser, "workload", metavar="CMD")


def workload_command(args: argparse.Namespace, root: Path) -> str | None:
    """The workload to use: ``--workload`` if given (an empty one: none), else the project's
    ``workload`` setting; None for the tests alone."""
    from perfedit import config

    command = args.workload if args.workload is not None else config.load(root).workload
    return command or None


def register(commands: Any) -> None:
    """Add the ``profile`` command to ``perfedit``'s subcommands."""
    p = commands.add_parser(
        "profile",
        help="run the tests once, profiled, and rank the project's functions by test time",
    )
    add_project_arguments(p)
    p.add_argument(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        metavar="N",
        help=f"show the N hottest functions (default {DEFAULT_TOP})",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument(
        "--html", metavar="FILE", help="also write an HTML page with a bar chart and the table"
    )
    p.add_argument("--svg", metavar="FILE", help="also write the bar chart as an SVG file")
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="limit of the whole profiled run (default 900)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="profile again even if the project is unchanged"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """The command's handler; raises InputError subclasses for bad input (exit code 2)."""
    from perfedit.config import find_project_root
    from perfedit.errors import InputError
    from perfedit.testsource.profiling import profile_tests

    if args.top < 1:
        raise InputError("--top must be at least 1.")
    path = Path(args.path).resolve()
    if not path.exists():
        raise InputError(f"{args.path} does not exist.")
    root = find_project_root(path)
    tests = Path(args.tests) if args.tests else None
    if tests is not None and not tests.exists():
        raise InputError(f"{args.tests} does not exist.")
    workload = workload_command(args, root)
    if workload:
        from perfedit.testsource.workload import profile_workload

        with console.status(f"running the workload `{workload}` once, profiled (in the sandbox)"):
            profile = profile_workload(
                root, workload, timeout_s=args.timeout, use_cache=not args.no_cache
            )
    else:
        with console.status(f"running the tests of {root} once, profiled (in the sandbox)"):
            profile = profile_tests(
                root, tests, timeout_s=args.timeout, use_cache=not args.no_cache
            )
    report = to_json(profile, args.top)
    if args.html:
        Path(args.html).write_text(html_page(profile, report), encoding="utf-8")
    if args.svg:
        Path(args.svg).write_text(svg_chart(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(console, profile, report)
    return 0


def to_json(profile: Profile, top: int) -> dict[str, Any]:
    """The ``--json`` object (see the module docstring) for the ``top`` hottest functions; for a
    workload, ``workload`` (the command) and per function its ``calls`` instead of ``tests``."""
    report: dict[str, Any] = {
        "root": str(profile.root),
        "tests": 0 if profile.workload else len(profile.runs),
        "failed_tests": [run.node_id for run in profile.runs if run.outcome == "failed"],
        "total_s": profile.total_s,
        "wall_s": profile.wall_s,
        "cached": profile.cached,
        "functions": [
            {
                "file": f.file,
                "function": f.function,
                "line": f.line,
                "own_s": f.own_s,
                "cumulative_s": f.cumulative_s,
                "share": profile.share(f),
                **({"calls": f.calls} if profile.workload else {"tests": list(f.tests)}),
                "hot_lines": [{"line": h.line, "s": h.s} for h in f.hot_lines],
            }
            for f in profile.ranked(top)
        ],
    }
    if profile.workload:
        report["workload"] = profile.workload
    return report


def print_table(console: Console, profile: Profile, report: dict[str, Any]) -> None:
    """The ranking as a rich table on stdout (the full width of its content when stdout is not a
    terminal), with a line on the run beneath it."""
    from rich.table import Table

    from perfedit.cli.tables import print_table as print_wide

    workload = profile.workload
    table = Table(
        title=f"Where the workload's time goes (`{workload}`, {report['total_s']:.3f} s profiled)"
        if workload
        else f"Where the test time goes ({report['tests']} tests, {report['total_s']:.3f} s profiled)"
    )
    for column, justify in (
        ("#", "right"),
        ("function", "left"),
        ("file:line", "left"),
        ("own s", "right"),
        ("share", "right"),
        ("cumulative s", "right"),
        ("cum. share", "right"),
        ("calls" if workload else "tests", "right"),
        ("hot lines (s)", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for index, row in enumerate(report["functions"], 1):
        cumulative_share = row["cumulative_s"] / report["total_s"] if report["total_s"] else 0.0
        hot = ", ".join(f"{h['line']}: {h['s']:.4f}" for h in row["hot_lines"][:3])
        table.add_row(
            str(index),
            row["function"],
            f"{row['file']}:{row['line']}",
            f"{row['own_s']:.4f}",
            f"{row['share']:.1%}",
            f"{row['cumulative_s']:.4f}",
            f"{min(cumulative_share, 1):.1%}",
            str(row["calls"] if workload else len(row["tests"])),
            hot,
        )
    source = "from the cache" if profile.cached else f"took {profile.wall_s:.1f} s"
    ran = (
        "the workload ran"
        if workload
        else f"{report['tests']} tests ran ({len(report['failed_tests'])} failed)"
    )
    print_wide(table, f"{ran}; the profiled run {source}.")
    if profile.collect_errors:
        console.print(
            "some test files could not be collected:\n" + profile.collect_errors,
            markup=False,
            style="yellow",
        )


def svg_chart(report: dict[str, Any]) -> str:
    """A horizontal bar chart (SVG text): per function its cumulative share (light) and own share
    (dark) of the test time, labelled with its name and place."""
    import drawsvg

    rows = report["functions"]
    width, height = _LABEL_WIDTH + _BAR_WIDTH + 80, 40 + _ROW_HEIGHT * max(1, len(rows))
    drawing = drawsvg.Drawing(width, height, font_family="sans-serif", font_size=12)
    drawing.append(drawsvg.Rectangle(0, 0, width, height, fill="white"))
    what = "workload" if report.get("workload") else "test"
    drawing.append(drawsvg.Text(f"share of {what} time: own (dark), cumulative (light)", 13, 8, 20))
    total_s = report["total_s"] or 1.0
    for index, row in enumerate(rows):
        y = 32 + index * _ROW_HEIGHT
        cumulative = min(1.0, row["cumulative_s"] / total_s)
        label = f"{row['function']}  {row['file']}:{row['line']}"
        drawing.append(drawsvg.Text(label[:60], 12, 8, y + 15))
        drawing.append(
            drawsvg.Rectangle(
                _LABEL_WIDTH, y + 3, max(1.0, _BAR_WIDTH * cumulative), 18, fill="#9ecae1"
            )
        )
        drawing.append(
            drawsvg.Rectangle(
                _LABEL_WIDTH, y + 3, max(1.0, _BAR_WIDTH * row["share"]), 18, fill="#08519c"
            )
        )
        drawing.append(
            drawsvg.Text(f"{row['share']:.1%}", 11, _LABEL_WIDTH + _BAR_WIDTH + 8, y + 16)
        )
    return drawing.as_svg()


def html_page(profile: Profile, report: dict[str, Any]) -> str:
    """A self-contained HTML page: the bar chart and the table with tests and hot lines."""
    rows = "\n".join(
        "<tr><td>{}</td><td>{}:{}</td><td>{:.4f}</td><td>{:.1%}</td><td>{:.4f}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(r["function"]),
            html.escape(r["file"]),
            r["line"],
            r["own_s"],
            r["share"],
            r["cumulative_s"],
            "<br>".join(html.escape(t) for t in r["tests"][:10])
            + (" …" if len(r["tests"]) > 10 else ""),
            ", ".join(f"{h['line']}: {h['s']:.4f} s" for h in r["hot_lines"]),
        )
        for r in report["functions"]
    )
    title = f"perfedit profile of {html.escape(str(profile.root))}"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;vertical-align:top;text-align:left}}</style></head>
<body><h1>{title}</h1>
<p>{html.escape(f"the workload `{report['workload']}`") if report.get("workload") else f"{report['tests']} tests"}, {report["total_s"]:.3f} s profiled; shares are of that time.</p>
{svg_chart(report)}
<table><tr><th>function</th><th>file:line</th><th>own s</th><th>share</th><th>cumulative s</th><th>tests</th><th>hot lines</th></tr>
{rows}
</table></body></html>
"""
