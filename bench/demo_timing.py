"""Time of the README's ``make demo`` on a fresh clone, split into set-up, model download and the
job, printed as a Markdown table.

This checkout's committed HEAD (or ``--rev``) is cloned into a temporary folder and ``make demo``
runs there as on a new machine: no virtual environment, an empty pip cache (``PIP_CACHE_DIR``),
an empty perfedit cache (``PERFEDIT_CACHE_DIR``) and an empty Hugging Face cache (``HF_HOME``),
so every package and the model are downloaded. make echoes each recipe line before it runs it;
each line of its output is time-stamped as it arrives, and the run is split where make starts
the model's pull (a line starting ``.venv/bin/perfedit model pull``: the download, its SHA-256
check and the priming of the prompts) and where it starts the job (``rm -rf .demo``, then the
two ``perfedit suggest`` runs). Each phase's wall time is given with the load average when it
began and ended (other work on the machine slows set-up and the job; the downloads' speed
depends on the network). make's whole output is kept in ``make.log`` in the folder.

``--pip-cache`` and ``--model-cache`` use the user's caches instead (no longer a fresh machine,
for trying the script out); ``--target`` runs another make target, ``--repo`` clones another
repository.

Usage: python bench/demo_timing.py [--rev HEAD] [--keep] [--pip-cache] [--model-cache]
       [--target demo] [--repo PATH] [--python python3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The phases of ``make demo``: each begins at the first line of make's output that starts with
#: its marker (set-up begins with the run).
PHASES = [
    ("set-up", ""),
    ("model download", ".venv/bin/perfedit model pull"),
    ("job", "rm -rf .demo"),
]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def clone(repo: Path, rev: str, into: Path) -> str:
    """Clone ``repo`` into ``into`` and check out ``rev``; returns the commit's short hash."""
    subprocess.run(["git", "clone", "--quiet", str(repo), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "--quiet", rev], check=True)
    return subprocess.run(
        ["git", "-C", str(into), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def fresh_environment(scratch: Path, pip_cache: bool, model_cache: bool) -> dict[str, str]:
    """The environment of the run: empty caches in ``scratch`` unless kept, no virtual
    environment of the caller's."""
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    bin_of_venv = str(Path(sys.prefix) / "bin")
    environment["PATH"] = os.pathsep.join(
        p for p in environment.get("PATH", "").split(os.pathsep) if p != bin_of_venv
    )
    if not pip_cache:
        environment["PIP_CACHE_DIR"] = str(scratch / "pip-cache")
    if not model_cache:
        environment["PERFEDIT_CACHE_DIR"] = str(scratch / "perfedit-cache")
        environment["HF_HOME"] = str(scratch / "hf-home")
    return environment


def run_make(
    checkout: Path, target: str, python: str, environment: dict[str, str], log: Path
) -> tuple[int, list[tuple[str, float, str]], float]:
    """Run ``make TARGET`` in ``checkout``, its output into ``log``; returns its exit status,
    the phases reached as (name, seconds from the start when it began, load average then), and
    the seconds of the whole run."""
    reached: list[tuple[str, float, str]] = [(PHASES[0][0], 0.0, load_average())]
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", target, f"PYTHON={python}"],
            cwd=checkout,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            now = time.perf_counter() - start
            out.write(f"{now:8.1f} {line}")
            following = PHASES[len(reached)] if len(reached) < len(PHASES) else None
            if following is not None and line.startswith(following[1]):
                reached.append((following[0], now, load_average()))
                print(f"{now:7.1f} s: {following[0]} begins", flush=True)
        status = process.wait()
    return status, reached, time.perf_counter() - start


def table(reached: list[tuple[str, float, str]], total: float, end_load: str) -> list[str]:
    """The Markdown rows of the phases reached."""
    rows = ["| phase | seconds | load average at start | at end |", "|---|---|---|---|"]
    ends = [(at, load) for _, at, load in reached[1:]] + [(total, end_load)]
    for (name, began, load), (ended, later) in zip(reached, ends, strict=True):
        rows.append(f"| {name} | {ended - began:.0f} | {load} | {later} |")
    rows.append(f"| total | {total:.0f} | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone")
    parser.add_argument("--rev", default="HEAD", help="the commit to check out")
    parser.add_argument("--target", default="demo", help="the make target")
    parser.add_argument("--python", default="python3", help="the Python that makes the venv")
    parser.add_argument("--pip-cache", action="store_true", help="use pip's own cache")
    parser.add_argument(
        "--model-cache", action="store_true", help="use the user's perfedit and HF caches"
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (and make.log)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="perfedit-demo-"))
    checkout = scratch / "perfedit"
    commit = clone(args.repo.resolve(), args.rev, checkout)
    environment = fresh_environment(scratch, args.pip_cache, args.model_cache)
    caches = [
        "pip's own cache" if args.pip_cache else "an empty pip cache",
        "the user's model caches" if args.model_cache else "empty model caches",
    ]
    version = subprocess.run(
        [args.python, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"make {args.target} at {commit}, {version}, {', '.join(caches)}; "
        f"{os.cpu_count()} CPUs ({cpu_name()})"
    )
    if environment.get("PIP_FIND_LINKS"):
        print(f"pip also installs from PIP_FIND_LINKS={environment['PIP_FIND_LINKS']}")
    print(f"load average before: {load_average()}\n", flush=True)
    log = scratch / "make.log"
    status, reached, total = run_make(checkout, args.target, args.python, environment, log)
    end_load = load_average()
    print("\n" + "\n".join(table(reached, total, end_load)))
    print(f"\nload average after: {end_load}")
    if status != 0:
        print(f"\nmake {args.target} failed (exit status {status}); its output's end:")
        print("".join(log.read_text().splitlines(keepends=True)[-30:]))
    if args.keep or status != 0:
        print(f"kept: {scratch} (make's output: {log})")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(1 if status else 0)


if __name__ == "__main__":
    main()
