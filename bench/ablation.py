"""Ablation of the candidate sources and steps on PIE and ENAMEL programs.

Configurations, each the product's own steps (:class:`perfedit.job.pipeline.Job`) on the same
program, model and timing settings:

* model only: greedy + k samples (PIE Best@k), validated;
* + refinement: PerfCodeGen refinement of the model's candidates (Peng et al. 2024, section 2);
* + rules: the rule-based candidates added to the model's;
* + both: rules and model candidates, refined together (what ``perfedit suggest`` does);
* + minimisation: the "+ both" winner with unneeded hunks reverted (delta debugging).

Switches for the job's optional steps, each run on or off for the whole run (compare two runs' --out
files; the default --out names the switches): ``--exemplars PATH`` (retrieved slow→fast
exemplars, PIE section 3.1; off without it), ``--no-strategies`` (samples all from the plain
prompt at one temperature, instead of spread over strategies and temperatures) and
``--no-refine-retry`` (a refinement that repeats an earlier candidate is dropped at once
instead of being asked again once). Grounded explanations and trivia-preserving minimisation are not
switched: they change no figure here.

One run per program serves all five: candidates are generated once, and a candidate met again
(same syntax tree) or a greedy refinement prompt asked again reuses the first result. Each
configuration's wall time is the sum of the parts it uses (baseline, generation, the
validation of its candidates, refinement, minimisation), as if it had run alone; the model's
explanation is left out. Metrics (perfedit.verify.metrics): %Correct, %OPT, SP and RTR, mean changed
lines of the suggestion, mean distinct correct candidates (duplicates by syntax tree counted
once), median wall time per program.

Datasets: PIE ``val.jsonl`` slow programs that pass their sample tests (script mode, stdin/stdout
cases, round-robin over problems as bench/pie_val.py) and ENAMEL problems (bench/enamel_tasks.py:
HumanEval canonical solution as the input, ENAMEL's generated large inputs as the workload), in
both the expert's version (PIE's next faster submission, ENAMEL's reference solution) validated
the same way as the ceiling.

Usage: python bench/ablation.py pie --data ../shared/data/pie --programs 30
       python bench/ablation.py enamel --data ../shared/data/enamel --programs 20
       python bench/ablation.py pie --programs 19 --exemplars ../shared/data/pie --no-strategies
Each program's record is appended to --out as a JSON line, so an interrupted run resumes;
``--report`` prints the summary of the programs already there.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import enamel_tasks
from perfedit import config
from perfedit.candidates.model import model_proposer
from perfedit.candidates.refine import refiner
from perfedit.candidates.rules import propose_rules
from perfedit.candidates.stub import stub_proposer
from perfedit.deliver.diffs import changed_lines, unified_diff
from perfedit.errors import PerfeditError
from perfedit.job.pipeline import Job, Request, choose_winner, locate
from perfedit.llm import ChatModel, Reply, shared
from perfedit.targets import Candidate
from perfedit.verify.metrics import Outcome, markdown_table, summarise
from perfedit.verify.validate import Harness, Verdict
from pie_val import add_dataset_arguments, dataset_folder, pie_programs

CONFIGS = ["model only", "+ refinement", "+ rules", "+ both", "+ minimisation"]


class MemoModel(ChatModel):
    """A model whose greedy replies (deterministic) are remembered per prompt; ``charged_s`` adds
    up generation seconds, a remembered reply costing what it first cost."""

    def __init__(self, model: ChatModel) -> None:
        self._model = model
        self._replies: dict[str, list[Reply]] = {}
        self.charged_s = 0.0
        self.name, self.backend, self.load_seconds = model.name, model.backend, model.load_seconds

    def replies(
        self, messages: list[dict[str, str]], *, num_samples: int = 8, **options: Any
    ) -> Iterator[Reply]:
        if num_samples or not options.get("greedy", True):  # only a greedy reply is remembered
            fresh: Iterable[Reply] = self._model.replies(
                messages, num_samples=num_samples, **options
            )
        else:
            key = json.dumps(
                [messages, {k: v for k, v in options.items() if not callable(v)}],
                sort_keys=True,
                default=str,
            )
            if key not in self._replies:
                self._replies[key] = list(self._model.replies(messages, num_samples=0, **options))
            fresh = self._replies[key]
        for reply in fresh:
            self.charged_s += reply.seconds
            yield reply


def _record(
    verdicts: list[Verdict], winner: Verdict | None, changed_lines: int | None, wall_s: float
) -> dict[str, Any]:
    """One configuration's result on one program."""
    return {
        "correct": any(v.verdict != "rejected" for v in verdicts),
        "speedup": winner.comparison.speedup if winner and winner.comparison else None,
        "winner": winner.label if winner else None,
        "changed_lines": changed_lines,
        "distinct_correct": sum(v.verdict != "rejected" for v in verdicts),
        "wall_s": wall_s,
    }


def ablate(
    request: Request, settings: config.Settings, model: ChatModel, ceiling: Path | None = None
) -> dict[str, Any]:
    """Every configuration on one program; a JSON-able record (times in seconds).

    Raises PerfeditError (e.g. OriginalFailsTests) when the program cannot be run at all.
    """
    memo = MemoModel(model)
    target, suite = locate(request, settings)
    spent: dict[str, float] = {}

    def wall(part: str, step, *args):
        started = time.perf_counter()
        result = step(*args)
        spent[part] = time.perf_counter() - started
        return result

    def generating(
        part: str, step, *args
    ):  # generation seconds (validation is counted per candidate)
        charged = memo.charged_s
        result = step(*args)
        spent[part] = memo.charged_s - charged
        return result

    with Harness(target, suite, settings) as harness:
        job = Job(settings, harness)
        wall("baseline", job.baseline)  # a script's includes profiling the original (its hot lines)
        refiners = [refiner(lambda: memo, settings)]
        model_c = generating(
            "generation", lambda: list(job.propose([model_proposer(lambda: memo, settings)]))
        )
        rule_c = wall("rules", lambda: list(job.propose([propose_rules])))
        model_v = job.validate(model_c)
        rule_v = job.validate(rule_c, model_c)
        ref_m, ref_m_v = generating("refine model", job.refine, refiners, model_c, model_v)
        ref_b, ref_b_v = generating(
            "refine both", job.refine, refiners, model_c + rule_c, model_v + rule_v
        )
        pools: dict[str, tuple[list[Candidate], list[Verdict], list[str]]] = {
            "model only": (model_c, model_v, []),
            "+ refinement": (model_c + ref_m, model_v + ref_m_v, ["refine model"]),
            "+ rules": (model_c + rule_c, model_v + rule_v, ["rules"]),
            "+ both": (
                model_c + rule_c + ref_b,
                model_v + rule_v + ref_b_v,
                ["rules", "refine both"],
            ),
        }
        configs: dict[str, dict[str, Any]] = {}
        for name, (candidates, verdicts, parts) in pools.items():
            chosen = choose_winner(candidates, verdicts, target)
            wall_s = sum(spent[p] for p in ["baseline", "generation", *parts]) + sum(
                v.validation_s for v in verdicts
            )
            size = (
                changed_lines(unified_diff(target.source, chosen[0].source, target.path.name))
                if chosen
                else None
            )
            configs[name] = _record(verdicts, chosen[1] if chosen else None, size, wall_s)
        configs["+ minimisation"] = dict(configs["+ both"])
        chosen = choose_winner(*pools["+ both"][:2], target)
        if chosen:
            minimised = wall("minimise", job.minimise, *chosen)
            configs["+ minimisation"] = _record(
                pools["+ both"][1],
                minimised.verdict,
                minimised.changed_lines_after,
                configs["+ both"]["wall_s"] + spent["minimise"],
            )
        record: dict[str, Any] = {
            "configs": configs,
            "reasons": {v.label: v.reason for v in pools["+ both"][1]},
        }
        if ceiling is not None:
            (expert,) = job.validate(list(job.propose([stub_proposer(ceiling)])))
            record["ceiling"] = {
                "verdict": expert.verdict,
                "speedup": expert.comparison.speedup if expert.comparison else None,
                "reason": expert.reason,
            }
    return record


def enamel_programs(
    data: Path, count: int, workdir: Path, *, max_call_s: float = 0.2, beyond: int = 0
) -> Iterator[tuple[str, Request, Path | None]]:
    """(name, request, ceiling) for the first ``count`` ENAMEL problems whose cases build, their
    inputs up to the largest level the canonical solution answers within ``max_call_s`` seconds
    per call, up to ``beyond`` tenfold levels past ENAMEL's largest (bench/enamel_tasks.py)."""
    for task in enamel_tasks.first_tasks(
        data, count, workdir, max_call_s=max_call_s, beyond=beyond
    ):
        source = task.solution.read_text()
        yield (
            task.task_id,
            Request(task.solution, source, function=task.function, tests=task.tests),
            task.reference,
        )


def summary(records: list[dict[str, Any]]) -> str:
    """Markdown: PIE metrics per configuration, mean changed lines, median wall time."""
    rows = []
    for name in CONFIGS:
        results = [r["configs"][name] for r in records]
        rows.append((name, summarise([Outcome(r["correct"], r["speedup"]) for r in results])))
    table = markdown_table(rows).splitlines()
    table[0] += " mean changed lines | mean distinct correct | median wall time / program |"
    table[1] += "---|---|---|"
    for index, name in enumerate(CONFIGS, start=2):
        sizes = [
            r["configs"][name]["changed_lines"]
            for r in records
            if r["configs"][name]["changed_lines"] is not None
        ]
        table[index] += f" {statistics.mean(sizes):.1f} |" if sizes else " – |"
        distinct = [r["configs"][name].get("distinct_correct") for r in records]
        table[index] += (
            f" {statistics.mean(distinct):.1f} |" if distinct and None not in distinct else " – |"
        )
        table[index] += (
            f" {statistics.median(r['configs'][name]['wall_s'] for r in records):.1f} s |"
        )
    ceilings = [r["ceiling"] for r in records if "ceiling" in r]
    if ceilings:
        faster = [c["speedup"] for c in ceilings if c["verdict"] == "faster"]
        table.append(
            f"\nCeiling (expert solution, same harness): faster on {len(faster)} of {len(ceilings)} problems, "
            f"mean speedup {statistics.mean(faster) if faster else float('nan'):.2f}x over those."
        )
    return "\n".join(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_dataset_arguments(parser, 30)
    enamel_tasks.add_level_arguments(parser)
    parser.add_argument("--model", default=config.Settings().model)
    parser.add_argument(
        "--samples",
        type=int,
        default=config.Settings().samples,
        help="sampled candidates besides the greedy one",
    )
    parser.add_argument(
        "--exemplars",
        type=Path,
        help="retrieval on: a pair file or PIE folder to retrieve prompt exemplars from",
    )
    parser.add_argument(
        "--no-strategies",
        action="store_true",
        help="strategies off: all samples from the plain prompt at one temperature",
    )
    parser.add_argument(
        "--no-refine-retry",
        action="store_true",
        help="refinement retry off: a repeated refinement is not asked again",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON lines (default .bench-out/ablation-<dataset>[-retrieval][-nostrategies][-noretry].jsonl)",
    )
    parser.add_argument(
        "--report", action="store_true", help="only summarise the programs already in --out"
    )
    args = parser.parse_args()
    data = dataset_folder(args)
    switches = "".join(
        tag
        for on, tag in (
            (args.exemplars, "-retrieval"),
            (args.no_strategies, "-nostrategies"),
            (args.no_refine_retry, "-noretry"),
        )
        if on
    )
    out = args.out or Path(f".bench-out/ablation-{args.dataset}{switches}.jsonl")
    settings = config.Settings(
        model=args.model,
        samples=args.samples,
        explain=False,
        exemplars=str(args.exemplars.resolve()) if args.exemplars else None,
        strategies=not args.no_strategies,
        refine_retry=not args.no_refine_retry,
    )
    model = functools.partial(shared, settings.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {r["program"]: r for r in map(json.loads, out.read_text().splitlines())}
        if out.exists()
        else {}
    )
    if args.report:
        print(f"{len(done)} programs from {out}")
        if done:
            print(summary(list(done.values())))
        return
    records = []
    programs = (
        pie_programs
        if args.dataset == "pie"
        else functools.partial(enamel_programs, **enamel_tasks.level_options(args))
    )
    with tempfile.TemporaryDirectory() as workdir:
        for index, (name, request, ceiling) in enumerate(
            programs(data, args.programs, Path(workdir)), start=1
        ):
            record = done.get(name)
            if record is None:
                started = time.perf_counter()
                try:
                    record = {"program": name, **ablate(request, settings, model(), ceiling)}
                except PerfeditError as exc:
                    print(f"[{index}] {name}: skipped: {str(exc).splitlines()[0]}", flush=True)
                    continue
                record["total_s"] = time.perf_counter() - started
                with out.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
            records.append(record)
            line = ", ".join(
                f"{c}: {r['speedup']:.2f}x"
                if r["speedup"]
                else f"{c}: {'correct' if r['correct'] else '-'}"
                for c, r in record["configs"].items()
            )
            print(f"[{index}] {name}: {line} ({record['total_s']:.0f} s)", flush=True)
    flags = "".join(
        [
            f" --exemplars {args.exemplars}" if args.exemplars else "",
            " --no-strategies" if args.no_strategies else "",
            " --no-refine-retry" if args.no_refine_retry else "",
        ]
    )
    print(
        f"\ncommand: python bench/ablation.py {args.dataset} --data {data} --programs {args.programs} --model {args.model} --samples {args.samples}{flags}"
    )
    print(
        f"settings: samples={settings.samples}, runs={settings.runs}, refine_rounds={settings.refine_rounds}, "
        f"minimise_validations={settings.minimise_validations}, exemplars={settings.exemplars}, strategies={settings.strategies}, "
        f"refine_retry={settings.refine_retry}; {len(records)} programs"
    )
    print(summary(records))


if __name__ == "__main__":
    sys.exit(main())
