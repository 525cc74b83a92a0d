"""Time to the first validated suggestion on the README's two examples, as a user meets it.

* cold: ``perfedit suggest FILE --json`` spawned as a new process (interpreter start, imports and
  model load included); the time is from spawning until the CLI prints "found …× faster
  (validated)" on stderr, then until the process exits;
* warm: the same job in one process whose model is already loaded (as in the language server
  after its first job): ``timings_s["first_faster_s"]`` and ``total_s`` of
  :func:`perfedit.pipeline.suggest`. Two kinds: *primed*, as the server leaves the model after a
  job on a target of the same kind (:func:`perfedit.ask.prime`: the prompt's system message and
  demonstration evaluated ahead, with no code of the example in it), and *not primed*, the
  model's context emptied first (as right after loading, or after a job of the other kind).

Each figure is the median of ``--repeat`` runs on a fresh copy of the example; the load average
is printed beside them. Usage: python bench/first_suggestion.py [--repeat 3] [--model qwen2.5-coder-0.5b]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perfedit import ask, config, llm, modelstore
from perfedit.pipeline import Request, suggest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: (name, file in the example's folder, function or None for a script)
CASES = [
    ("dedupe", "dedupe/dedupe.py", "unique_in_order"),
    ("script", "script/seen_before.py", None),
]


def fresh_copy(relative: str, scratch: Path) -> Path:
    """A new copy of the example holding ``relative`` under ``scratch``; the file's path in it."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    shutil.copytree(EXAMPLES / Path(relative).parts[0], folder / Path(relative).parts[0])
    return folder / relative


def cold(path: Path, function: str | None, model: str) -> tuple[float | None, float]:
    """(seconds until "found" appeared or None, seconds until exit) for one CLI process."""
    command = [sys.executable, "-m", "perfedit", "suggest", str(path), "--json", "--model", model]
    command += ["--function", function] if function else []
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    found = None
    assert process.stderr is not None
    for line in process.stderr:
        if found is None and "(validated)" in line:
            found = time.perf_counter() - start
    process.wait()
    return found, time.perf_counter() - start


def warm(
    path: Path, function: str | None, settings: config.Settings, primed: bool
) -> tuple[float | None, float]:
    """(first_faster_s or None, total_s) of one in-process job with the model already loaded,
    primed for the example's kind first or its context emptied."""
    model = llm.shared(settings.model)
    if primed:
        ask.prime(model, "function" if function else "script")
    else:
        model.llama.reset()  # llama.cpp: nothing of an earlier prompt is reused
    result = suggest(Request(path, path.read_text(), function=function), settings, lambda: model)
    return result.timings_s.get("first_faster_s"), result.timings_s["total_s"]


def median(values: list[float | None]) -> str:
    found = [v for v in values if v is not None]
    return (
        f"{statistics.median(found):.1f} s"
        + ("" if len(found) == len(values) else f" ({len(values) - len(found)} found none)")
        if found
        else "none found"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=modelstore.DEFAULT_MODEL)
    args = parser.parse_args()
    settings = config.Settings(model=args.model)
    print(f"model {args.model}, default budget {settings.budget_s:g} s, median of {args.repeat}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(
        "| example | cold: first validated | cold: whole job | warm, primed: first validated "
        "| warm, primed: whole job | warm, not primed: first validated | warm, not primed: whole job |"
    )
    print("|---|---|---|---|---|---|---|")
    llm.shared(args.model)  # warm runs share this loaded model
    with tempfile.TemporaryDirectory() as scratch:
        for name, relative, function in CASES:
            colds = [
                cold(fresh_copy(relative, Path(scratch)), function, args.model)
                for _ in range(args.repeat)
            ]
            example = config.load(EXAMPLES / relative).replace(model=args.model)
            cells = [median([c[0] for c in colds]), median([c[1] for c in colds])]
            for primed in (True, False):
                warms = [
                    warm(fresh_copy(relative, Path(scratch)), function, example, primed)
                    for _ in range(args.repeat)
                ]
                cells += [median([w[0] for w in warms]), median([w[1] for w in warms])]
            print(f"| {name} | {' | '.join(cells)} |", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
