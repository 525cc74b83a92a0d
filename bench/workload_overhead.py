"""Overhead of the recorded workload run (perfedit.testsource.workload) against a plain run of the same
command, same sandbox, same run.

For each project, ``--rounds`` rounds; a round runs the workload in the sandbox once plainly (the
runner executing the command with no profiler) and once recorded (cProfile, then the line timing
and call recording of the hottest functions, then the replay of the recorded calls), in turn, so
that a change in the machine's load hits both alike. Printed as a Markdown table, medians over
the rounds:

* **workload**: the command's own time, plain vs under cProfile: the profiler's overhead proper;
* **whole run**: the sandboxed run end to end (worker start, all three passes) vs the plain one:
  what ``perfedit profile --workload`` costs over running the command once, without the cache;

then, for the last recorded round, the time of each pass and the top 5 functions with the calls
kept and skipped for each. The load average (``os.getloadavg``) is printed beside the figures:
on a busy machine the absolute times mean little.

Usage: python bench/workload_overhead.py PROJECT --workload CMD [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from perfedit.config import find_project_root
from perfedit.testsource.profiling import target_name
from perfedit.testsource.workload import parse_command, run_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", help="the project's folder (or a file inside it)")
    parser.add_argument("--workload", required=True, metavar="CMD", help="the workload command")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = find_project_root(Path(args.project).resolve())
    command = parse_command(args.workload, root)
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs\n"
    )
    figures: dict[str, list[float]] = {
        key: [] for key in ("plain_workload", "recorded_workload", "plain_run", "recorded_run")
    }
    raw: dict = {}
    for _ in range(args.rounds):
        for mode, prefix in (("plain", "plain"), ("profile", "recorded")):
            raw, wall_s = run_workload(root, command, mode=mode)
            figures[f"{prefix}_workload"].append(raw["seconds"])
            figures[f"{prefix}_run"].append(wall_s)
    m = {key: statistics.median(values) for key, values in figures.items()}
    print(
        "| project | workload | its own time plain → under cProfile | ratio | whole sandboxed run | ratio | load avg (1 min) |"
    )
    print("|---|---|---|---|---|---|---|")
    cells = []
    for kind in ("workload", "run"):
        plain, recorded = m[f"plain_{kind}"], m[f"recorded_{kind}"]
        cells += [
            f"{plain:.3f} s → {recorded:.3f} s",
            f"{recorded / plain:.2f}×" if plain else "n/a",
        ]
    print(f"| {root.name} | `{args.workload}` | {' | '.join(cells)} | {os.getloadavg()[0]:.2f} |")
    passes = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in raw["passes_s"].items())
    print(f"\npasses of the last recorded run: {passes}\n")
    total = raw["seconds"]
    print("| function | file:line | own s | share | calls kept | skipped (why) |")
    print("|---|---|---|---|---|---|")
    calls = {(c["file"], c["function"]): c for c in raw["calls"].values()}
    ranked = sorted(raw["functions"], key=lambda f: -f["own_s"])
    for f in [f for f in ranked if target_name(f["function"])][:5]:
        recorded = calls.get((f["file"], f["function"]), {"kept": [], "skipped": {}})
        skipped = "; ".join(f"{n} {why}" for why, n in recorded["skipped"].items()) or "none"
        print(
            f"| `{f['function']}` | {f['file']}:{f['line']} | {f['own_s']:.4f} | "
            f"{f['own_s'] / total:.1%} | {len(recorded['kept'])} | {skipped} |"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
