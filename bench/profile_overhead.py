"""Overhead of the profiled test run (perfedit.testsource.profiling) against plain pytest, same sandbox, same run.

For each project, ``--rounds`` rounds; a round runs the project's tests in the sandbox once
plainly (the runner with no profiler: pytest and a per-test clock) and once profiled (cProfile
per test, then line timing of the hottest functions), in turn, so that a change in the
machine's load hits both alike. Printed as a Markdown table, medians over the rounds:

* **tests**: the tests' own time (setup, call, teardown summed), plain vs under cProfile: the
  profiler's overhead proper;
* **session**: pytest's whole first pass (collection included), plain vs profiled;
* **whole run**: the sandboxed run end to end (worker start, both passes) vs the plain one: what
  ``perfedit profile`` costs over running the tests once, without the cache;

then the top 5 functions of the last profiled round. The load average (``os.getloadavg``) is
printed beside the figures: on a busy machine the absolute times mean little.

Usage: python bench/profile_overhead.py PROJECT [PROJECT ...] [--tests PATH] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from perfedit.config import find_project_root
from perfedit.testsource.profiling import _profile_from_raw, run_sandboxed


def measure(root: Path, tests: str | None, rounds: int) -> dict:
    """Per-round seconds of each kind for plain and profiled runs, and the last profile."""
    figures: dict[str, list[float]] = {
        key: []
        for key in (
            "plain_tests",
            "profiled_tests",
            "plain_session",
            "profiled_session",
            "plain_run",
            "profiled_run",
        )
    }
    raw = {}
    for _ in range(rounds):
        for mode in ("plain", "profile"):
            raw, wall_s = run_sandboxed(root, tests, mode=mode)
            prefix = "plain" if mode == "plain" else "profiled"
            figures[f"{prefix}_tests"].append(
                sum(entry["seconds"] for entry in raw["tests"].values())
            )
            figures[f"{prefix}_session"].append(raw["wall_s"])
            figures[f"{prefix}_run"].append(wall_s)
    return {
        "figures": figures,
        "profile": _profile_from_raw(root, tests, raw, 0.0, ""),
        "tests": len(raw["tests"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("projects", nargs="+", help="project folders (or a file inside one)")
    parser.add_argument(
        "--tests", help="tests to run, relative to each project root (default: pytest's discovery)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs\n"
    )
    print(
        "| project | tests | tests' own time plain → profiled | ratio | pytest session | ratio | whole sandboxed run | ratio | load avg (1 min) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    profiles = []
    for project in args.projects:
        root = find_project_root(Path(project).resolve())
        started = time.perf_counter()
        result = measure(root, args.tests, args.rounds)
        elapsed = time.perf_counter() - started
        m = {key: statistics.median(values) for key, values in result["figures"].items()}
        cells = []
        for kind in ("tests", "session", "run"):
            plain, profiled = m[f"plain_{kind}"], m[f"profiled_{kind}"]
            cells += [
                f"{plain:.3f} s → {profiled:.3f} s",
                f"{profiled / plain:.2f}×" if plain else "n/a",
            ]
        print(
            f"| {root.name} | {result['tests']} | {' | '.join(cells)} | {os.getloadavg()[0]:.2f} |"
        )
        profiles.append((root, result["profile"], elapsed))
    for root, profile, elapsed in profiles:
        print(
            f"\n{root.name}: top 5 by own time ({args.rounds} rounds of both modes took {elapsed:.1f} s)\n"
        )
        print("| function | file:line | own s | share | cumulative s | tests reaching it |")
        print("|---|---|---|---|---|---|")
        for f in profile.ranked(5):
            print(
                f"| `{f.function}` | {f.file}:{f.line} | {f.own_s:.4f} | {profile.share(f):.1%} | {f.cumulative_s:.4f} | {len(f.tests)} |"
            )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
