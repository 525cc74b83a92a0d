"""Command line of the training side: ``perfedit train sft|rrhf``, ``perfedit data pairs`` and
``perfedit evaluate`` (registered on the ``perfedit`` parser by :func:`register`).

The handlers only read arguments, call :mod:`perfedit.training` and print; torch and
transformers are imported when a command needs them, so ``perfedit --help`` stays quick.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit import config, executors
from perfedit.errors import InputError
from perfedit.llm import extras, modelstore
from perfedit.training import recipe as recipes

if TYPE_CHECKING:
    from rich.console import Console

    from perfedit.job.pipeline import Suggestion

PIE_DATA = Path("../shared/data/pie")


def _cmd_train(args: argparse.Namespace, console: Console) -> int:
    extras.require("train", extras.TRAIN, "perfedit train")
    overrides = dict(recipes.parse_override(text) for text in args.set)
    recipe = recipes.load(Path(args.recipe) if args.recipe else None, overrides, args.method)
    out = Path(args.out)
    console.print(
        f"{recipe.method}: base {recipe.base}, {recipe.max_steps} steps, output in {out}",
        markup=False,
    )
    if isinstance(recipe, recipes.RRHFRecipe):
        from perfedit.training.rrhf import train_rrhf

        with open_executor(args.executor, args) as executor:
            result = train_rrhf(recipe, out, resume=not args.no_resume, executor=executor)
    else:
        from perfedit.training.sft import train_sft

        result = train_sft(recipe, out, resume=not args.no_resume)
    resumed = f" (resumed at step {result.resumed_from})" if result.resumed_from else ""
    console.print(
        f"done: {result.steps} steps{resumed} in {result.seconds:.0f} s; adapter in {result.adapter}; log {result.log}",
        markup=False,
    )
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    extras.require("train", ("torch", "gguf", "safetensors"), "perfedit train export")
    from perfedit.training.export import export_adapter

    written = export_adapter(Path(args.adapter), Path(args.out))
    console.print(
        f"adapter written to {args.out} ({written / 1e6:.1f} MB: PEFT files in bf16 for transformers, "
        f"adapter.gguf for llama.cpp); add a model card (README.md) there",
        markup=False,
    )
    return 0


def _cmd_data_pairs(args: argparse.Namespace, console: Console) -> int:
    from perfedit.training import mining

    out = Path(args.out)
    if args.git:
        settings = config.from_args(args, config.Settings())
        with (
            open_executor(settings.executor, args) as executor,
            console.status(f"mining {args.git}"),
        ):
            pairs = mining.mine_git(
                Path(args.git), settings, max_commits=args.max_commits, executor=executor
            )
        counts = mining.write_splits([{**p, "split": "train"} for p in pairs], out)
        console.print(
            f"{len(pairs)} function pairs made significantly faster by a commit; written to {out}/train.jsonl"
        )
    else:
        if not args.trajectories:
            console.print("perfedit: give a trajectory file or --git REPO", style="red")
            return 2
        submissions = mining.read_trajectories(Path(args.trajectories))
        pairs, dropped = mining.mine_trajectories(
            submissions, val_fraction=args.val_fraction, test_fraction=args.test_fraction
        )
        counts = mining.write_splits(pairs, out)
        console.print(
            f"{len(submissions)} submissions → {len(pairs)} pairs ({', '.join(f'{k} {v}' for k, v in counts.items())}) in {out}"
        )
        for reason, count in sorted(dropped.items()):
            console.print(f"  dropped {count}: {reason}", markup=False)
    print(json.dumps(counts))
    return 0


def _cmd_data_self_improve(args: argparse.Namespace, console: Console) -> int:
    from perfedit.formats import pairs
    from perfedit.training import evaluate, selfimprove

    settings = config.from_args(
        args,
        config.Settings(),
        exemplars=str(Path(args.exemplars).resolve()) if args.exemplars else None,
    )
    chosen = evaluate.programs(
        pairs.load(Path(args.pairs), Path(args.tests) if args.tests else None), args.programs
    )
    out = Path(args.out)

    def report(index: int, total: int, outcome: selfimprove.Outcome) -> None:
        what = f"{outcome.record['speedup']:.2f}x" if outcome.record else outcome.skipped
        console.print(
            f"[{index + 1}/{total}] {outcome.pair.problem_id} {outcome.pair.id}: {outcome.correct} of "
            f"{outcome.candidates} samples correct; {what}",
            markup=False,
        )

    with open_executor(settings.executor, args) as executor:
        propose = _proposer(args, settings, chosen, executor, console)
        outcomes = selfimprove.self_improve(
            chosen, propose, settings, out, on_outcome=report, executor=executor
        )
    written = sum(o.record is not None for o in outcomes)
    console.print(
        f"{written} of {len(outcomes)} programs gave a significantly faster sample; written to "
        f"{out} (every judged sample: {selfimprove.samples_file(out)})",
        markup=False,
    )
    print(json.dumps({"programs": len(outcomes), "pairs": written, "out": str(out)}))
    return 0


def _cmd_evaluate(args: argparse.Namespace, console: Console) -> int:
    from perfedit.formats import pairs
    from perfedit.training import evaluate, remote

    if args.k < 1:
        raise InputError("--k must be at least 1 (the greedy candidate)")
    if args.compare:
        return _compare(args.compare, args.k)
    if not args.out:
        raise InputError(
            "--out is required (the JSON Lines file that receives one record per program)"
        )
    settings = config.from_args(args, config.Settings(), samples=args.k - 1)
    chosen = evaluate.programs(
        pairs.load(Path(args.pairs), Path(args.tests) if args.tests else None), args.programs
    )
    with open_executor(settings.executor, args) as executor:
        propose = (
            remote.read_candidates(Path(args.candidates), chosen)
            if args.candidates
            else _proposer(args, settings, chosen, executor, console)
        )
        return _run_evaluation(args, settings, chosen, propose, executor, console)


def _proposer(
    args: argparse.Namespace,
    settings: config.Settings,
    chosen: list,
    executor: executors.Executor,
    console: Console,
) -> Any:
    """The model proposer of evaluate and self-improve: ``args.model`` loaded here for the local
    executor; for Ray, one server for all nodes with --endpoint, else model hosts placed as the
    cluster affords them (at most ``args.model_hosts``).

    Raises:
        ModelMissing: the model is not on this machine.
        ClusterTooSmall: the model hosts would leave no CPU of the cluster for the programs."""
    from perfedit.training import evaluate, remote

    model = args.model
    if not executor.remote:
        with console.status(f"loading {model}"):
            return evaluate.model_proposer(model, settings)
    if settings.endpoint:
        return remote.EndpointProposer(model, settings)
    from perfedit.executors.ray_cluster import model_hosts
    from perfedit.llm import check

    check(model, backend=settings.backend)  # here first: ModelMissing names the fix
    hosts, serves = model_hosts(
        executor,  # type: ignore[arg-type]
        model,
        settings,
        units=max(1, len(chosen)),
        most=args.model_hosts,
    )
    return remote.NodeModelProposer(hosts, serves)


def _run_evaluation(
    args: argparse.Namespace,
    settings: config.Settings,
    chosen: list,
    propose: Any,
    executor: executors.Executor,
    console: Console,
) -> int:
    from perfedit.training import evaluate
    from perfedit.verify.metrics import markdown_table

    def report(index: int, total: int, record: dict[str, Any]) -> None:
        verdicts = record.get("candidates", [])
        counts = {
            v: sum(c["verdict"] == v for c in verdicts)
            for v in ("faster", "not_faster", "rejected")
        }
        what = record.get("skipped") or ", ".join(f"{n} {v}" for v, n in counts.items())
        console.print(
            f"[{index + 1}/{total}] {record['problem_id']} {record['id']}: {what} ({record['wall_s']:.0f} s)",
            markup=False,
        )

    meta = {
        "model": f"candidates:{Path(args.candidates).name}" if args.candidates else args.model,
        "k": args.k,
    }
    records = evaluate.evaluate(
        chosen, propose, settings, Path(args.out), meta=meta, on_record=report, executor=executor
    )
    command = [
        "perfedit",
        "evaluate",
        "--pairs",
        args.pairs,
        "--model",
        args.model,
        "--backend",
        args.backend,
        *(["--endpoint", args.endpoint] if args.endpoint else []),
        "--k",
        str(args.k),
        "--programs",
        str(args.programs),
        "--runs",
        str(args.runs),
        "--seed",
        str(args.seed),
        "--max-new-tokens",
        str(args.max_new_tokens),
        "--out",
        args.out,
        *(["--candidates", args.candidates] if args.candidates else []),
        *(["--executor", args.executor] if args.executor != "local" else []),
        *(["--ray-address", args.ray_address] if args.ray_address else []),
    ]
    print(f"command: {shlex.join(command)}")
    print(
        markdown_table(
            evaluate.summaries(records, args.k), first=f"{meta['model']} on {Path(args.pairs).name}"
        )
    )
    return 0


def _compare(named_files: list[str], k: int) -> int:
    from perfedit.training import evaluate
    from perfedit.verify.metrics import markdown_table

    results: dict[str, Sequence[dict[str, Any]]] = {}
    for item in named_files:
        name, sep, file = item.partition("=")
        if not sep or not name or not Path(file).is_file():
            raise InputError(
                f"--compare takes NAME=FILE with an existing results file, not {item!r}"
            )
        results[name] = [
            json.loads(line) for line in Path(file).read_text().splitlines() if line.strip()
        ]
    try:
        rows = evaluate.side_by_side(results, k)
    except ValueError as exc:
        raise InputError(f"{exc}: evaluate every model on the same --programs first") from exc
    print(markdown_table(rows, first="model"))
    return 0


def export_pair(suggestion: Suggestion, path: Path) -> None:
    """Append ``suggestion`` to the pair file ``path`` (``perfedit suggest --export-pair``)."""
    from perfedit.training.pairs import suggestion_record

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(suggestion_record(suggestion)) + "\n")


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``train``, ``data`` and ``evaluate`` to the ``perfedit`` sub-command parsers."""
    _register_train(commands)
    _register_data(commands)
    _register_evaluate(commands)


def _register_train(commands: argparse._SubParsersAction) -> None:
    """``perfedit train sft|rrhf|export``."""
    train = commands.add_parser(
        "train",
        help="fine-tune a LoRA adapter (sft), train it with PerfRL's RRHF (rrhf), or ship it (export)",
    )
    methods = train.add_subparsers(dest="method", required=True)
    for method, what in (
        ("sft", "supervised fine-tuning on slow→fast pairs (PIE)"),
        ("rrhf", "RRHF with test-based rewards (PerfRL)"),
    ):
        t = methods.add_parser(method, help=what)
        t.add_argument(
            "--recipe", help="TOML recipe (see models/recipes/); default: the built-in defaults"
        )
        t.add_argument(
            "--out", required=True, help="output folder: log.jsonl, checkpoint-*/, adapter/"
        )
        t.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a recipe key (TOML value), repeatable",
        )
        t.add_argument(
            "--no-resume", action="store_true", help="start afresh even if --out holds checkpoints"
        )
        if method == "rrhf":
            add_executor_arguments(t)  # where the candidates are rewarded: one unit per input
        t.set_defaults(handler=_cmd_train)
    x = methods.add_parser(
        "export",
        help="copy a trained adapter into models/<name>/ for shipping (weights in bf16, and adapter.gguf for llama.cpp)",
    )
    x.add_argument("adapter", help="the adapter/ folder of a `perfedit train` output")
    x.add_argument(
        "--out",
        required=True,
        help="destination folder, e.g. models/<name> (the adapter folder itself: add adapter.gguf)",
    )
    x.set_defaults(handler=_cmd_export)


def _register_data(commands: argparse._SubParsersAction) -> None:
    """``perfedit data pairs|self-improve``."""
    data = commands.add_parser("data", help="training data").add_subparsers(
        dest="data_command", required=True
    )
    p = data.add_parser(
        "pairs", help="mine slow→fast pairs from submission trajectories (PIE 2.1) or a git history"
    )
    p.add_argument("trajectories", nargs="?", help="CSV or JSON Lines file, one submission per row")
    p.add_argument("--git", metavar="REPO", help="mine a git repository's history instead")
    p.add_argument("--out", required=True, help="output folder for train/val/test.jsonl")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of problems in val.jsonl")
    p.add_argument(
        "--test-fraction", type=float, default=0.1, help="share of problems in test.jsonl"
    )
    p.add_argument(
        "--max-commits",
        type=int,
        default=100,
        help="--git: most recent first-parent commits to look at",
    )
    config.add_option(
        p, "runs", default=10, help="--git: most timed runs per side when timing a change"
    )
    add_executor_arguments(p)  # --git: one unit per commit
    p.set_defaults(handler=_cmd_data_pairs)
    si = data.add_parser(
        "self-improve",
        help="pairs from the model's own fastest correct samples (EffiCoder), for train sft / rrhf",
    )
    si.add_argument(
        "--pairs",
        default=str(PIE_DATA / "train.jsonl"),
        help="training programs: a pair file whose slow sides are scripts with case folders (default ../shared/data/pie/train.jsonl)",
    )
    si.add_argument(
        "--out",
        required=True,
        help="JSON Lines pair file to write (slow, fast = fastest significantly faster sample, tier rewards of all samples); every judged sample goes to OUT.samples.jsonl, which a second run resumes from",
    )
    si.add_argument(
        "--programs",
        type=int,
        default=0,
        help="this many programs, round-robin over problems (0: all)",
    )
    config.add_option(
        si, "model", default=modelstore.DEFAULT_MODEL, help="model alias, Hub id or local path"
    )
    _add_program_arguments(si, "sample from", backend_help="in-process inference")
    config.add_option(si, "samples", default=16, help="samples per program besides the greedy one")
    si.add_argument(
        "--exemplars",
        metavar="PATH",
        help="retrieve prompt exemplars from this pair file or PIE folder (the program's own problem is excluded)",
    )
    add_executor_arguments(si)  # one unit per program
    si.set_defaults(handler=_cmd_data_self_improve)


def _register_evaluate(commands: argparse._SubParsersAction) -> None:
    """``perfedit evaluate``."""
    e = commands.add_parser(
        "evaluate",
        help="PIE metrics (%%Correct, %%OPT, SP, RTR at Best@1 and Best@k) of a model on a pair file",
    )
    e.add_argument(
        "--pairs",
        default=str(PIE_DATA / "val.jsonl"),
        help="pair file (default ../shared/data/pie/val.jsonl)",
    )
    config.add_option(
        e,
        "model",
        default=modelstore.DEFAULT_MODEL,
        help="model alias, Hub id, local path or LoRA adapter folder",
    )
    _add_program_arguments(
        e,
        "evaluate",
        backend_help="in-process inference (llama.cpp needs an adapter's adapter.gguf: `perfedit train export`; transformers loads the PEFT files)",
    )
    e.add_argument(
        "--k",
        type=int,
        default=8,
        help="candidates per program: the greedy one and k-1 samples (Best@k)",
    )
    e.add_argument(
        "--programs",
        type=int,
        default=0,
        help="evaluate this many programs, round-robin over problems (0: all)",
    )
    e.add_argument("--out", help="JSON Lines results, one per program; an existing file is resumed")
    e.add_argument(
        "--compare",
        nargs="+",
        metavar="NAME=FILE",
        help="print one table of the results files (e.g. base=eval-base.jsonl sft=eval-sft.jsonl) over the programs all of them scored; runs no model",
    )
    e.add_argument(
        "--candidates",
        metavar="FILE",
        help='JSON Lines of {"id": pair id, "candidates": [program, ...]} to evaluate instead of generating (greedy first; no model is loaded)',
    )
    add_executor_arguments(e)
    e.set_defaults(handler=_cmd_evaluate)


def _add_program_arguments(parser: argparse.ArgumentParser, verb: str, backend_help: str) -> None:
    """``--tests``, ``--backend``, ``--endpoint``, ``--runs``, ``--seed``, ``--max-new-tokens``
    and ``--model-hosts``: how the commands that generate for a pair file's programs and judge
    the candidates (``data self-improve``, ``evaluate``) reach the cases and the model; ``verb``
    says what the endpoint is for."""
    parser.add_argument(
        "--tests",
        help="folder of {problem_id}/ case folders (default: tests/ beside the pair file)",
    )
    config.add_option(parser, "backend", default="llama.cpp", help=backend_help)
    config.add_option(
        parser,
        "endpoint",
        metavar="URL",
        help=f"an OpenAI-compatible server to {verb} instead (--model is its model name)",
    )
    config.add_option(parser, "runs", default=10, help="most timed runs per candidate and baseline")
    config.add_option(parser, "seed", default=0, help="sampling seed")
    config.add_option(
        parser, "max_new_tokens", default=512, help="generation budget per candidate, tokens"
    )
    parser.add_argument(
        "--model-hosts",
        type=int,
        metavar="N",
        help="--executor ray without --endpoint: at most N nodes load the model (default: as many as the cluster affords, each keeping a CPU for the programs; see docs/scale.md)",
    )


def open_executor(name: str, args: argparse.Namespace) -> executors.Executor:
    """The executor ``name`` with the Ray options of :func:`add_executor_arguments` in ``args``.

    Raises:
        ExecutorUnavailable: see :func:`perfedit.executors.open_executor`."""
    return executors.open_executor(
        name,
        address=args.ray_address,
        max_retries=args.max_retries,
        stall_s=args.stall_timeout,
        on_stall=args.on_stall,
    )


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--max-retries``, ``--stall-timeout`` and
    ``--on-stall`` (see docs/scale.md); for every command whose work fans out over
    :mod:`perfedit.executors`."""
    config.add_option(
        parser,
        "executor",
        choices=executors.NAMES,
        default="local",
        help="where the units of work run: local (this process) or ray (a Ray cluster; pip install 'perfedit[ray]')",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="--executor ray: the cluster to join (auto: the running one; HOST:PORT); default: start a local Ray instance",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=3,
        help="--executor ray: restarts of a unit whose worker or node died, before the unit is given up as failed",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=executors.STALL_S,
        metavar="SECONDS",
        help="--executor ray: seconds without a finished unit or generation before the job reports the cluster's state (Ray's pending demand, each node's CPUs, each model host) on stderr",
    )
    parser.add_argument(
        "--on-stall",
        choices=executors.ON_STALL,
        default="stop",
        help="--executor ray: after that report, stop (exit code 2; the results written so far are kept, so the same command resumes) or wait and report again",
    )
