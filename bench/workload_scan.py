"""``perfedit scan --workload`` on real packages: the hot functions by tests and by workload,
what the scan found on the workload's hottest, and how long it all took.

For each project (a folder unpacked from a package's sdist, see docs/workloads.md), three runs of
the real CLI, one after another, each timed on the wall clock:

1. ``perfedit profile --top N --json``: the N hottest functions by the tests' time;
2. ``perfedit profile --workload CMD --top N --json``: the N hottest by the workload's time;
3. ``perfedit scan --workload CMD --top M --json`` (with ``--model``, ``--candidates``,
   ``--budget`` and ``--runs`` passed on): a suggestion job on each of the M hottest by the
   workload, each candidate checked by the tests and on the workload's recorded calls, timed on
   both, the speedup decided on the calls.

Printed as Markdown per project: the two rankings (share of the tests' / the workload's time),
then per scanned function both shares, the speedup on the timing set that decided it (the
workload's calls) with its 95% CI, the speedup on the tests beside it, or why nothing was found;
then each run's seconds and the load average (``os.getloadavg``, 1/5/15 min) before and after
it: on a busy machine the absolute seconds mean little.

The workload is ``python workload.py`` in the project's root by default; when the project has no
``workload.py`` and ``bench/workloads/<name>_workload.py`` exists (``<name>``: the folder's name
up to its first ``-``, so ``toolz-1.2.0`` → ``toolz``), it is copied there first (and said so).
The scan finds both profiles cached by the first two runs, so its time is the suggestion jobs'
(and their sandboxed baselines); ``--no-cache`` makes those two runs profile afresh, so that
their times are the profiled runs' own.

Usage: python bench/workload_scan.py PROJECT [PROJECT ...] [--workload CMD] [--top 5]
       [--scan-top 5] [--model NAME | --candidates FILE] [--budget SECONDS] [--runs N]
       [--timeout SECONDS] [--no-cache] [--save-json FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORKLOADS = Path(__file__).parent / "workloads"
DEFAULT_WORKLOAD = "python workload.py"


def load() -> str:
    """The load average (1, 5, 15 min) and the CPU count, in words."""
    return f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"


def perfedit(project: Path, *arguments: str, timeout_s: float) -> tuple[dict | None, str, float]:
    """Run ``perfedit ARGUMENTS --json`` in ``project``: its JSON (None when it printed none),
    the tail of its stderr and its wall time in seconds."""
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "perfedit", *arguments, "--json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    seconds = time.perf_counter() - started
    try:
        report = json.loads(run.stdout)
    except ValueError:
        report = None
    return report, run.stderr.strip()[-2000:], seconds


def ranking(report: dict, top: int) -> list[str]:
    """The Markdown rows of a ``profile --json`` report's ``top`` hottest functions."""
    return [
        f"| {rank} | `{row['function']}` | {row['file']}:{row['line']} | {row['share']:.1%} |"
        for rank, row in enumerate(report["functions"][:top], 1)
    ]


def times(value: float | None) -> str:
    return "∞×" if value is None else f"{value:.2f}×"


def scan_rows(report: dict) -> list[str]:
    """The Markdown rows of a ``scan --json`` report: one per function scanned."""
    rows = []
    for f in report["functions"]:
        if f["found"]:
            low, high = f["ci95"] or (None, None)
            on = {
                "workload_calls": "the workload's calls",
                "test_calls": "its calls in the tests",
            }.get(f["decided_by"], "the tests")
            found = (
                f"{times(f['speedup'])} on {on} (95% CI {times(low)}–{times(high)}, "
                f"p={f['p_value']:.2g}); {times(f['tests_speedup'])} on the tests; "
                f"{f['changed_lines']} line(s) changed"
            )
        else:
            found = "nothing: " + (f["why"].splitlines()[0] if f["why"] else "no result")
        rows.append(
            f"| `{f['function']}` | {f['file']}:{f['line']} | {f['workload_share'] or 0:.1%} | "
            f"{f['share']:.1%} | {f['budget_s']:.0f} s | {found} |"
        )
    return rows


def ensure_workload(project: Path, command: str) -> None:
    """Copy ``bench/workloads/<name>_workload.py`` to ``project/workload.py`` when the default
    workload is asked for and missing."""
    wanted = project / "workload.py"
    bundled = WORKLOADS / f"{project.name.split('-')[0]}_workload.py"
    if command == DEFAULT_WORKLOAD and not wanted.exists() and bundled.is_file():
        shutil.copyfile(bundled, wanted)
        print(f"copied {bundled} to {wanted}\n")


def scan_arguments(args: argparse.Namespace) -> list[str]:
    """The options passed on to ``perfedit scan``."""
    passed = ["--workload", args.workload, "--top", str(args.scan_top)]
    for option, value in (
        ("--model", args.model),
        ("--candidates", args.candidates and str(Path(args.candidates).resolve())),
        ("--budget", args.budget),
        ("--runs", args.runs),
        ("--timeout", args.timeout),
    ):
        if value is not None:
            passed += [option, str(value)]
    return passed


def measure(project: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The three runs on ``project``, printed as they end; their reports."""
    ensure_workload(project, args.workload)
    print(f"## {project.name}\n\nload average before: {load()}\n")
    limit_s = args.timeout + 3600  # the scan's functions each take up to their budget
    runs: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    fresh = ["--no-cache"] if args.no_cache else []
    for name, arguments in (
        ("tests", ["profile", "--top", str(args.top), *fresh]),
        ("workload", ["profile", "--workload", args.workload, "--top", str(args.top), *fresh]),
        ("scan", ["scan", *scan_arguments(args)]),
    ):
        report, errors, seconds[name] = perfedit(project, *arguments, timeout_s=limit_s)
        runs[name] = report
        if report is None:
            print(f"`perfedit {' '.join(arguments)}` gave no report:\n\n```\n{errors}\n```\n")
            continue
        if name == "scan":
            print(f"### What `scan --workload` found on the {len(report['functions'])} hottest\n")
            print(
                "| function | file:line | workload share | test share | budget | found |\n"
                "|---|---|---|---|---|---|"
            )
            print("\n".join(scan_rows(report)))
            cached = "; its profiles came from the cache" if report["profile_cached"] else ""
            print(f"\nfound {report['found']} of {len(report['functions'])}{cached}\n")
        else:
            by = "the tests" if name == "tests" else f"the workload `{args.workload}`"
            print(f"### The {args.top} hottest by {by} ({report['total_s']:.2f} s profiled)\n")
            print("| # | function | file:line | share |\n|---|---|---|---|")
            print("\n".join(ranking(report, args.top)) + "\n")
        print(f"load average after it: {load()}\n")
    print(
        "time (wall clock, this machine): "
        + ", ".join(f"{name} {s:.1f} s" for name, s in seconds.items())
        + "\n"
    )
    return {"runs": runs, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("projects", nargs="+", type=Path, help="the projects' folders")
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD, metavar="CMD")
    parser.add_argument("--top", type=int, default=5, help="hot functions shown per ranking")
    parser.add_argument("--scan-top", type=int, default=5, help="functions the scan tries")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--model", help="the model (default: perfedit's default model)")
    chosen.add_argument("--candidates", help="candidate versions from this file, no model")
    parser.add_argument("--budget", type=float, help="the scan's seconds for all its functions")
    parser.add_argument("--runs", type=int, help="the most timed runs per side (perfedit's runs)")
    parser.add_argument("--timeout", type=float, default=900.0, help="each profiled run's limit")
    parser.add_argument(
        "--no-cache", action="store_true", help="profile again even if a profile is cached"
    )
    parser.add_argument("--save-json", type=Path, metavar="FOLDER", help="write the reports here")
    args = parser.parse_args()
    print(f"# perfedit scan --workload\n\nload average at start: {load()}\n")
    for project in args.projects:
        project = project.resolve()
        if not project.is_dir():
            raise SystemExit(f"{project} is not a folder: give the unpacked sdist's folder.")
        measured = measure(project, args)
        if args.save_json:
            args.save_json.mkdir(parents=True, exist_ok=True)
            path = args.save_json / f"{project.name}.json"
            path.write_text(json.dumps(measured, indent=2), encoding="utf-8")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
