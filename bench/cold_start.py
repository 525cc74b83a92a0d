"""Start-up figures, printed as a Markdown table with the exact command and the load average.

* ``perfedit lsp``: from spawning the server until its ``initialize`` reply arrives (a real pygls
  client over stdio; no model, no document);
* ``perfedit --help``, and an argument error (``perfedit suggest --budget abc x.py``, exit 2);
* a bare ``python -c pass``, spawned in the same rounds: the ratios to it are the figures to
  compare across machines.

Each figure is the median over ``--rounds`` rounds; one round runs every command once, in turn, so
that a change in the machine's load hits them alike. The load average (``os.getloadavg``) is
printed before and after: on a busy machine the absolute times mean little.

Usage: python bench/cold_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from lsprotocol import types
from pygls.lsp.client import LanguageClient

PERFEDIT = [sys.executable, "-m", "perfedit"]
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "perfedit --help": [*PERFEDIT, "--help"],
    "perfedit suggest --budget abc x.py (usage error)": [
        *PERFEDIT,
        "suggest",
        "--budget",
        "abc",
        "x.py",
    ],
}


def run_s(command: list[str]) -> float:
    """Wall time of ``command`` until it exits, seconds (output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


async def initialize_s() -> float:
    """Seconds from spawning ``perfedit lsp`` until its ``initialize`` reply; then shuts it down."""
    client = LanguageClient("perfedit-bench", "1")
    started = time.perf_counter()
    await client.start_io(*PERFEDIT, "lsp")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities()))
    elapsed = time.perf_counter() - started
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return elapsed


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = load()
    times: dict[str, list[float]] = {
        name: [] for name in [*COMMANDS, "perfedit lsp until initialize answers"]
    }
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            times[name].append(run_s(command))
        times["perfedit lsp until initialize answers"].append(asyncio.run(initialize_s()))
    bare = statistics.median(times["python -c pass"])
    print(
        f"command: python bench/cold_start.py --rounds {args.rounds}  ({os.cpu_count()} CPUs, "
        f"load average 1/5/15 min: {load_before} before, {load()} after)"
    )
    print(f"| figure (median of {args.rounds}) | seconds | × `python -c pass` |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `{name}` | {median:.3f} | {median / bare:.1f} |")


if __name__ == "__main__":
    main()
