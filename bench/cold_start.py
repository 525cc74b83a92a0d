"""Start-up figures, printed as a Markdown table with the exact command and the load average.

* ``perfedit lsp``: from spawning the server until its ``initialize`` reply arrives (a client
  that writes the frames itself, so that no client-side work is timed: ``initialize`` with no
  capabilities, sent at once as editors do; no model, no document), and until its reply to the
  request sent as soon as that reply is in, after ``initialized`` (``shutdown``, which only pygls
  answers: the server is ready for requests);
* importing the server's module (pygls, lsprotocol, the handlers), which ``initialize`` waited
  for before the start answered it itself;
* ``perfedit --help``, and an argument error (``perfedit suggest --budget abc x.py``, exit 2);
* a bare ``python -c pass``, spawned in the same rounds: the ratios to it are the figures to
  compare across machines.

Each figure is the median over ``--rounds`` rounds; one round runs every command once, in turn, so
that a change in the machine's load hits them alike. The load average (``os.getloadavg``) is
printed before and after: on a busy machine the absolute times mean little.

Usage: python bench/cold_start.py [--rounds 5]

To time another checkout's server (the reference), run this script with that checkout's ``server``
folder first on ``PYTHONPATH``: the script spawns ``python -m perfedit``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, cast

from perfedit.lsp.framing import Body, FrameReader

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
    "python -c 'import perfedit.lsp.server'": [
        sys.executable,
        "-c",
        "import perfedit.lsp.server",
    ],
}
INITIALIZE = "perfedit lsp until initialize answers"
READY = "perfedit lsp until the next request answers (pygls ready)"


def run_s(command: list[str]) -> float:
    """Wall time of ``command`` until it exits, seconds (output discarded)."""
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def read_reply(stdout: io.BufferedReader, frames: FrameReader, msg_id: int) -> None:
    """Read ``stdout`` until the reply to request ``msg_id`` is in."""
    while data := stdout.read1(65536):
        for event in frames.feed(data):
            if isinstance(event, Body) and json.loads(event.data).get("id") == msg_id:
                return
    raise RuntimeError(f"perfedit lsp exited before answering request {msg_id}")


def start_s() -> tuple[float, float]:
    """Seconds from spawning ``perfedit lsp`` until its ``initialize`` reply, and until its reply
    to the ``shutdown`` request sent (after ``initialized``) once that reply is in; then it exits."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [*PERFEDIT, "lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdin is not None
    stdout = cast(io.BufferedReader, server.stdout)
    frames = FrameReader()
    server.stdin.write(frame({"id": 1, "method": "initialize", "params": {"capabilities": {}}}))
    server.stdin.flush()
    read_reply(stdout, frames, 1)
    answered = time.perf_counter() - started
    server.stdin.write(
        frame({"method": "initialized", "params": {}}) + frame({"id": 2, "method": "shutdown"})
    )
    server.stdin.flush()
    read_reply(stdout, frames, 2)
    ready = time.perf_counter() - started
    server.stdin.write(frame({"method": "exit"}))
    server.stdin.close()
    server.wait(timeout=60)
    stdout.close()
    return answered, ready


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = load()
    times: dict[str, list[float]] = {name: [] for name in [*COMMANDS, INITIALIZE, READY]}
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            times[name].append(run_s(command))
        answered, ready = start_s()
        times[INITIALIZE].append(answered)
        times[READY].append(ready)
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
