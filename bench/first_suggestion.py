"""Time to the first validated suggestion on the README's two examples, as a user meets it.

* cold: ``perfedit suggest FILE --json`` spawned as a new process (interpreter start, imports and
  model load included); the time is from spawning until the CLI prints "found …× faster
  (validated)" on stderr, then until the process exits. Two kinds: with the model's primed
  prompts on disk, as ``perfedit model pull`` and every job leave them
  (:meth:`perfedit.llm.llamacpp.LlamaCppModel.prime`), and *without*: the model's files in the
  prompt cache deleted before each run, as on the first job after an upgrade of the binding;
* warm: the same job in one process whose model is already loaded (as in the language server
  after its first job), its context emptied first: ``timings_s["first_faster_s"]`` and
  ``total_s`` of :func:`perfedit.job.pipeline.suggest`; once more with the rules off
  (``rules = false``), so that the first validated candidate is one the model wrote.

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

from perfedit import config, llm
from perfedit.job.pipeline import Request, suggest
from perfedit.llm import modelstore
from perfedit.llm.llamacpp import model_files, prompt_cache_dir

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


def forget_prompts(model: str) -> None:
    """Delete ``model``'s primed prompts from the prompt cache (they are made again on use)."""
    for file in prompt_cache_dir().glob(f"{model_files(model)[0].stem}-*"):
        file.unlink()


def cold(
    path: Path, function: str | None, model: str, prompt_cache: bool
) -> tuple[float | None, float]:
    """(seconds until "found" appeared or None, seconds until exit) for one CLI process."""
    if not prompt_cache:
        forget_prompts(model)
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


def warm(path: Path, function: str | None, settings: config.Settings) -> tuple[float | None, float]:
    """(first_faster_s or None, total_s) of one in-process job with the model already loaded,
    its context emptied (the job primes it from the prompt cache)."""
    model = llm.shared(settings.model)
    model.llama.reset()  # llama.cpp: nothing of the previous job is reused
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
        "| example | cold: first validated | cold: whole job | cold, no prompt cache: first "
        "validated | cold, no prompt cache: whole job | warm: first validated | warm: whole job "
        "| warm, rules off: first validated |"
    )
    print("|---|---|---|---|---|---|---|---|")
    llm.shared(args.model)  # warm runs share this loaded model
    with tempfile.TemporaryDirectory() as scratch:
        for name, relative, function in CASES:
            cells = []
            for prompt_cache in (True, False):
                colds = [
                    cold(fresh_copy(relative, Path(scratch)), function, args.model, prompt_cache)
                    for _ in range(args.repeat)
                ]
                cells += [median([c[0] for c in colds]), median([c[1] for c in colds])]
            example = config.load(EXAMPLES / relative).replace(model=args.model)
            warms = [
                warm(fresh_copy(relative, Path(scratch)), function, example)
                for _ in range(args.repeat)
            ]
            cells += [median([w[0] for w in warms]), median([w[1] for w in warms])]
            model_only = [
                warm(fresh_copy(relative, Path(scratch)), function, example.replace(rules=False))
                for _ in range(args.repeat)
            ]
            cells.append(median([w[0] for w in model_only]))
            print(f"| {name} | {' | '.join(cells)} |", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
