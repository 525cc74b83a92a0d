"""The main job on PIE validation programs (script mode), with PIE's metrics.

For each program of ``val.jsonl`` whose slow version passes its sample tests under CPython 3.11,
run ``perfedit suggest`` (the same :func:`perfedit.job.pipeline.suggest` the CLI and server call)
on the slow version with ``tests/{problem_id}/`` as its cases, and report:

* %Correct: programs where at least one candidate passed every test;
* %OPT: programs where a candidate was correct, significant (one-sided Yuen's trimmed-mean test,
  p < 0.05) and at least 10% faster: a suggestion was delivered;
* SP: mean speedup (old/new) over the optimised programs; RTR: mean relative time reduction,
  (old - new) / old * 100, over the optimised programs;
* the median wall time per program (model generation, validation and timing).

Programs are taken round-robin over problems so that every problem appears before any repeats.
Usage: python bench/pie_val.py --data ../shared/data/pie --programs 30 [--samples 8] [--model ...]
Each result is appended to --out as one JSON line, so an interrupted run can be resumed.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from perfedit import config
from perfedit.errors import NoCodeGenerated, NoFasterVersion
from perfedit.job.pipeline import Request, suggest
from perfedit.llm import shared
from perfedit.training.pairs import round_robin
from perfedit.verify.metrics import Outcome, markdown_table
from perfedit.verify.metrics import summarise as summarise_outcomes


def imports_third_party(code: str) -> bool:
    """Whether ``code`` imports a module outside the standard library
    (``sys.stdlib_module_names``; relative imports do not count)."""
    nodes = list(ast.walk(ast.parse(code)))
    modules = [a.name for n in nodes if isinstance(n, ast.Import) for a in n.names] + [
        n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.module and not n.level
    ]
    return any(m.partition(".")[0] not in sys.stdlib_module_names for m in modules)


def select_programs(data: Path, count: int, *, third_party: bool = False) -> list[dict]:
    """``count`` passing slow programs from val.jsonl, round-robin over problems; with
    ``third_party``, only those that import a module outside the standard library
    (:func:`imports_third_party`: numpy in 35 of the 89 pairs)."""
    rows = [json.loads(line) for line in (data / "val.jsonl").read_text().splitlines()]
    passing = [
        row
        for row in rows
        if row["sample_tests_py311"]["slow"] == "pass"
        and (not third_party or imports_third_party(row["slow"]))
    ]
    return round_robin(passing, count, problem=lambda row: row["problem_id"])


def pie_programs(
    data: Path, count: int, workdir: Path, *, third_party: bool = False
) -> Iterator[tuple[str, Request, Path]]:
    """(name, request, ceiling) for ``count`` passing slow programs of val.jsonl (script mode;
    ``third_party``: only those importing a third-party module, as ``select_programs``), the
    ceiling the same programmer's faster submission (PIE's "human" reference)."""
    for row in select_programs(data, count, third_party=third_party):
        folder = (
            workdir / row["problem_id"] / row["submission_id_v0"]
        )  # the problem in the path: retrieval skips it
        folder.mkdir(parents=True)
        program, expert = folder / "prog.py", folder / "fast.py"
        program.write_text(row["slow"])
        expert.write_text(row["fast"])
        yield (
            f"{row['problem_id']}/{row['submission_id_v0']}",
            Request(program, row["slow"], tests=data / "tests" / row["problem_id"]),
            expert,
        )


def add_dataset_arguments(parser: argparse.ArgumentParser, programs: int) -> None:
    """The dataset ("pie" or "enamel"), ``--data`` and ``--programs`` (default ``programs``) of
    the benches that run on either; :func:`dataset_folder` reads the folder back."""
    parser.add_argument("dataset", choices=["pie", "enamel"])
    parser.add_argument(
        "--data", type=Path, help="dataset folder (default ../shared/data/<dataset>)"
    )
    parser.add_argument("--programs", type=int, default=programs)


def dataset_folder(args: argparse.Namespace) -> Path:
    """The dataset folder :func:`add_dataset_arguments` parsed."""
    return args.data or Path("../shared/data") / args.dataset


def run_one(row: dict, data: Path, settings: config.Settings, model) -> dict:
    """The main job on one slow program; returns a JSON-able record."""
    started = time.perf_counter()
    record = {"problem_id": row["problem_id"], "submission": row["submission_id_v0"]}
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "prog.py"
        program.write_text(row["slow"])
        request = Request(
            path=program, source=row["slow"], tests=data / "tests" / row["problem_id"]
        )
        try:
            s = suggest(request, settings, model)
        except NoFasterVersion as exc:
            record.update(
                optimised=False,
                correct=any(v == "not_faster" for v in exc.verdicts.values()),
                reasons=exc.reasons,
            )
        except NoCodeGenerated as exc:
            record.update(optimised=False, correct=False, reasons={"all": str(exc)})
        else:
            c = s.winner.comparison
            record.update(
                optimised=True,
                correct=True,
                speedup=c.speedup,
                ci95=list(c.ci95),
                p_value=c.p_value,
                rtr=c.rtr,
                baseline_s=c.baseline_s,
                candidate_s=c.candidate_s,
                diff=s.diff,
                explanation=s.explanation,
                changed_lines=s.changed_lines,
                original=row["slow"],
                reasons={v.label: v.reason for v in s.verdicts},
            )
    record["wall_s"] = time.perf_counter() - started
    return record


def summarise(records: list[dict]) -> str:
    """The metrics table (Markdown, :mod:`perfedit.verify.metrics`) over ``records``, with the median
    wall time per program."""
    summary = summarise_outcomes(
        [Outcome(r["correct"], r["speedup"] if r["optimised"] else None) for r in records]
    )
    table = markdown_table([("suggest", summary)]).splitlines()
    table[0] += " median wall time / program |"
    table[1] += "---|"
    table[2] += f" {statistics.median(r['wall_s'] for r in records):.1f} s |"
    return "\n".join(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/pie"), help="PIE data folder"
    )
    parser.add_argument("--programs", type=int, default=30)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--model", default=config.Settings().model)
    parser.add_argument("--out", type=Path, default=Path(".bench-out/pie_val.jsonl"))
    args = parser.parse_args()

    settings = config.Settings(model=args.model, samples=args.samples, runs=args.runs)
    model = functools.partial(shared, settings.model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {
            json.loads(line)["submission"]: json.loads(line)
            for line in args.out.read_text().splitlines()
        }
        if args.out.exists()
        else {}
    )
    records = []
    for index, row in enumerate(select_programs(args.data, args.programs), start=1):
        record = done.get(row["submission_id_v0"])
        if record is None:
            record = run_one(row, args.data, settings, model)
            with args.out.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        records.append(record)
        outcome = (
            f"{record['speedup']:.2f}x"
            if record["optimised"]
            else ("correct, not faster" if record["correct"] else "no correct candidate")
        )
        print(
            f"[{index}/{args.programs}] {record['problem_id']} {record['submission']}: {outcome} ({record['wall_s']:.0f} s)",
            flush=True,
        )
    print()
    print(
        f"command: python bench/pie_val.py --data {args.data} --programs {args.programs} --samples {args.samples} "
        f"--runs {args.runs} --model {args.model}"
    )
    print(summarise(records))
    for record in sorted((r for r in records if r["optimised"]), key=lambda r: -r["speedup"])[:3]:
        print(f"\n### {record['problem_id']} ({record['submission']}): {record['speedup']:.2f}x\n")
        print(
            "```python\n"
            + record["original"].strip()
            + "\n```\n\n```diff\n"
            + record["diff"].strip()
            + "\n```\n"
        )
        print(record["explanation"])


if __name__ == "__main__":
    main()
