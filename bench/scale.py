"""Figures for the executors: `perfedit evaluate`'s programs per minute through the
local executor and through Ray on this machine (a private local Ray instance with 1 and with 2
CPUs, i.e. at most 1 or 2 programs timed at once), and Ray's overhead per task.

Programs: PIE validation pairs (``val.jsonl``, round-robin over problems, as ``perfedit evaluate``
chooses them) whose slow version passes its cases; each is evaluated with two fixed candidates
(the PIE fast version, then the slow version itself), so no model runs and every configuration
does the same work: baseline, two validations, timing. Each configuration writes its own results
file; the verdicts of the configurations are compared at the end (correct/incorrect must agree).

Ray overhead: the median round trip of a no-op task submitted and waited for one at a time
(``ray.get(f.remote())``), and the wall time per no-op unit when 200 of them go through
:meth:`RayExecutor.run` (the path `evaluate` takes), both in milliseconds.

Usage: python bench/scale.py [--data ../shared/data/pie] [--programs 4] [--runs 10]
Progress goes to stderr; the Markdown report (with the load average) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

from perfedit.config import Settings
from perfedit.executors import Executor, LocalExecutor
from perfedit.executors.ray_cluster import RayExecutor
from perfedit.formats import pairs
from perfedit.training import evaluate, remote


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _noop(item: int) -> int:
    return item


def ray_overhead_ms(executor: RayExecutor, count: int = 200) -> tuple[float, float]:
    """(median ms of one no-op task's round trip, one at a time; ms per no-op unit through
    ``executor.run`` with ``count`` units)."""
    task = ray.remote(_noop)
    ray.get(task.remote(0))  # a worker is up
    trips = []
    for i in range(50):
        started = time.perf_counter()
        ray.get(task.remote(i))
        trips.append(time.perf_counter() - started)
    list(executor.run(_noop, range(10)))  # warm
    started = time.perf_counter()
    done = list(executor.run(_noop, range(count)))
    assert len(done) == count and all(r.error is None for r in done)
    return 1000 * statistics.median(trips), 1000 * (time.perf_counter() - started) / count


def run(
    name: str,
    executor: Executor,
    chosen: list[pairs.Pair],
    propose: remote.FileProposer,
    settings: Settings,
    folder: Path,
) -> tuple[float, list[dict]]:
    """Programs per minute of ``evaluate`` over ``chosen`` on ``executor``, and its records."""
    out = folder / f"{name}.jsonl"
    started = time.perf_counter()
    records = evaluate.evaluate(
        chosen,
        propose,
        settings,
        out,
        meta={"model": "pie-fast", "k": 2},
        executor=executor,
        on_record=lambda i, n, r: progress(f"  {name} [{i + 1}/{n}] {r['id']}"),
    )
    minutes = (time.perf_counter() - started) / 60
    return len(chosen) / minutes, records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default="../shared/data/pie", help="PIE folder with val.jsonl and tests/"
    )
    parser.add_argument("--programs", type=int, default=4, help="programs per configuration")
    parser.add_argument(
        "--runs", type=int, default=10, help="most timed runs per candidate and baseline"
    )
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    data = Path(args.data)
    chosen = evaluate.programs(pairs.load(data / "val.jsonl"), args.programs)
    propose = remote.FileProposer({p.slow: (p.fast, p.slow) for p in chosen})
    settings = Settings(runs=args.runs)
    load_before = os.getloadavg()
    rows, verdicts, overhead = [], {}, None
    with tempfile.TemporaryDirectory(prefix="perfedit-scale-") as tmp:
        folder = Path(tmp)
        progress("local executor")
        per_minute, records = run("local", LocalExecutor(), chosen, propose, settings, folder)
        rows.append(("local executor (this process)", per_minute))
        verdicts["local"] = records
        for cpus in (1, 2):
            progress(f"Ray, {cpus} CPU(s)")
            started = time.perf_counter()
            ray.init(
                address="local",
                num_cpus=cpus,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env={
                    "py_modules": [str(Path(remote.__file__).parents[1])],
                    "excludes": ["__pycache__"],
                },
            )
            start_s = time.perf_counter() - started
            with RayExecutor(None) as executor:
                per_minute, records = run(f"ray{cpus}", executor, chosen, propose, settings, folder)
                if cpus == 2:
                    overhead = ray_overhead_ms(executor)
            ray.shutdown()
            rows.append(
                (
                    f"Ray, local instance, {cpus} worker CPU(s) (start-up {start_s:.1f} s, not counted)",
                    per_minute,
                )
            )
            verdicts[f"ray{cpus}"] = records
    load_after = os.getloadavg()

    correct = {
        name: [[c["verdict"] != "rejected" for c in r.get("candidates", [])] for r in records]
        for name, records in verdicts.items()
    }
    faster = {
        name: sum(c["verdict"] == "faster" for r in records for c in r.get("candidates", []))
        for name, records in verdicts.items()
    }
    print(
        f"command: python bench/scale.py --data {args.data} --programs {args.programs} --runs {args.runs}"
    )
    print(
        f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    print(
        f"programs: {len(chosen)} PIE val pairs ({', '.join(p.problem_id for p in chosen)}), 2 candidates each "
        f"(fast version, slow version), runs <= {args.runs}\n"
    )
    print("| executor | programs per minute | vs local |")
    print("|---|---|---|")
    for name, per_minute in rows:
        print(f"| {name} | {per_minute:.1f} | {per_minute / rows[0][1]:.2f}x |")
    assert overhead is not None
    print(
        f"\nRay overhead per task: {overhead[0]:.1f} ms (no-op round trip, one at a time); "
        f"{overhead[1]:.1f} ms per no-op unit through RayExecutor.run (200 units, 2 CPUs)"
    )
    agree = all(c == correct["local"] for c in correct.values())
    print(
        f"correct/incorrect verdicts equal across executors: {agree}; candidates judged faster: "
        + ", ".join(f"{k} {v}" for k, v in faster.items())
    )
    print(json.dumps({"rows": rows, "overhead_ms": overhead}), file=sys.stderr)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
