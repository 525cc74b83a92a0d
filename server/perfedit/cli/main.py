"""Command line: ``perfedit suggest``, ``perfedit compare``, ``perfedit profile`` (in
:mod:`perfedit.cli.profile_command`), ``perfedit scan`` (in :mod:`perfedit.cli.scan_command`), ``perfedit doctor``,
``perfedit lsp``, ``perfedit model pull|list``; the training commands ``perfedit train``,
``perfedit data pairs`` and ``perfedit evaluate`` live in :mod:`perfedit.cli.train_command`.

Exit codes: 0 a faster version was found (or the command succeeded: ``compare`` exits 0
whatever its verdict); 1 no faster version (or no usable code) was found; 2 bad input (file,
function, tests, settings); 3 the model is missing or broken; 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit import __version__, config
from perfedit.cli import profile_command, scan_command, train_command
from perfedit.deliver.apply import apply_source
from perfedit.errors import (
    Cancelled,
    InputError,
    ModelError,
    NoCodeGenerated,
    NoFasterVersion,
    PerfeditError,
)
from perfedit.executors import supervise
from perfedit.llm import modelstore
from perfedit.progress import Phase

if TYPE_CHECKING:  # the handlers import these when they run, so --help and usage errors stay quick
    from rich.console import Console
    from rich.progress import Progress

    from perfedit.candidates import Proposer
    from perfedit.job.compare import Report
    from perfedit.job.pipeline import Suggestion
    from perfedit.targets import Target
    from perfedit.verify.differential import DifferentialCheck
    from perfedit.verify.timing import Comparison
    from perfedit.verify.validate import Verdict

_EXIT_CODES: list[tuple[type[PerfeditError], int]] = [
    (InputError, 2),
    (ModelError, 3),
    (Cancelled, 130),
    (NoFasterVersion, 1),
    (NoCodeGenerated, 1),
    (PerfeditError, 1),
]


class _RichProgress:
    """A :data:`~perfedit.progress.TaskProgressFn` on rich progress bars (on stderr): one bar per
    ``key`` (default: the label), the label as its description; a new bar completes the earlier
    ones. When stderr is not a terminal the bars are off and each new step is one plain line."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[object, Any] = {}

    def __call__(
        self, label: str, completed: float, total: float | None, key: object = None
    ) -> None:
        key = label if key is None else key
        if key not in self._tasks and self._progress.disable:  # not a terminal: one line per step
            self._progress.console.print(label, markup=False, highlight=False)
        if key not in self._tasks:
            for task in self._tasks.values():
                self._progress.update(
                    task,
                    completed=self._progress.tasks[task].total or 1,
                    total=self._progress.tasks[task].total or 1,
                )
            self._tasks[key] = self._progress.add_task(label, total=total)
        self._progress.update(self._tasks[key], description=label, completed=completed, total=total)


class _RichJobProgress:
    """A :class:`~perfedit.progress.ProgressFn` for the main job: one rich bar per
    :class:`~perfedit.progress.Phase`, its label and the report's detail as the description; a
    ``FOUND`` report is a line of its own that stays."""

    def __init__(self, progress: Progress) -> None:
        self._bars = _RichProgress(progress)
        self._console = progress.console

    def __call__(
        self, phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None:
        if phase is Phase.FOUND:
            self._console.print(f"found {detail}")
        else:
            self._bars(f"{phase.label} {detail}".rstrip(), completed, total, key=phase)


def _progress_bar(console: Console, *, bytes_: bool = False) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    counter = DownloadColumn() if bytes_ else MofNCompleteColumn()
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def _finite(value: float) -> float | None:
    """``value``, or None where it is infinite or NaN (JSON has no such numbers)."""
    return value if math.isfinite(value) else None


def _differential_json(check: DifferentialCheck | None) -> dict[str, int] | None:
    """The inputs a candidate was checked on by differential testing (lower confidence), or None."""
    return (
        None
        if check is None
        else {
            "inputs": check.inputs,
            "recorded": check.recorded,
            "workload": check.workload,
            "shared": check.shared,
            "generated": check.generated,
        }
    )


def _suggestion_json(s: Suggestion, applied: bool) -> dict[str, Any]:
    c = s.winner.comparison
    assert c is not None
    return {
        "found": True,
        "target": {"path": str(s.target.path), "name": s.target.name, "kind": s.target.kind},
        "tests": {
            "kind": s.suite.kind,
            "description": s.suite.describe(),
            "passed": s.winner.tests_passed,
            "total": s.winner.tests_total,
        },
        "checked_by_differential_testing": _differential_json(s.winner.differential),
        "timed_on": _timed_on(s.winner),
        "timing_sets": _timing_sets_json(s.winner),
        "winner": s.winner.label,
        "speedup": _finite(c.speedup),
        "ci95": [_finite(bound) for bound in c.ci95],
        "p_value": c.p_value,
        "rtr_percent": c.rtr,
        "baseline_s": c.baseline_s,
        "candidate_s": c.candidate_s,
        "cpu": _cpu_json(c),
        "peak_rss_bytes": {
            "original": s.baseline.peak_rss_bytes,
            "candidate": s.winner.peak_rss_bytes,
        },
        "changed_lines": s.changed_lines,
        "changed_lines_before_minimisation": s.changed_lines_before,
        "lines_removed_by_minimisation": s.changed_lines_before - s.changed_lines,
        "distinct_correct_candidates": s.distinct_correct,
        "diff": s.diff,
        "facts": s.facts,
        "reason": s.reason,
        "candidates": [
            {"label": v.label, "verdict": v.verdict, "reason": v.reason} for v in s.verdicts
        ],
        "timings_s": s.timings_s,
        "generated_tokens": s.generated_tokens,
        "stopped_early": s.stopped_early or None,
        "applied": applied,
    }


def _print_suggestion(console: Console, s: Suggestion, applied: bool) -> None:
    from rich.markup import escape
    from rich.syntax import Syntax

    console.print(
        f"[bold]Faster version of {escape(s.target.name)}[/bold] ({escape(s.winner.label)})"
    )
    if console.is_terminal:
        console.print(Syntax(s.diff, "diff", theme="ansi_dark", background_color="default"))
    else:  # a file or a CI log: the diff as it is, never cropped at the console's width
        console.print(s.diff.rstrip("\n"), markup=False, highlight=False)
    for fact in s.facts:
        console.print(f"• {fact}", markup=False)
    if s.reason:
        console.print(f"• Why: {s.reason}", markup=False)
    console.print(
        f"Candidates: {len(s.verdicts)} ({s.distinct_correct} distinct and correct, "
        f"{sum(v.verdict == 'faster' for v in s.verdicts)} faster)"
    )
    if s.changed_lines_before != s.changed_lines:
        console.print(
            f"Minimisation removed {s.changed_lines_before - s.changed_lines} changed line(s) the speedup did not need."
        )
    if s.stopped_early:
        console.print(f"Stopped generating early: {s.stopped_early}.")
    console.print(
        f"[green]Applied to {s.target.path}[/green]" if applied else "Not applied (use --apply)."
    )


def _check_workload(settings: config.Settings, path: Path) -> None:
    """Raise WorkloadFailed now (exit code 2) if the ``workload`` setting is no command the
    sandbox can run; a workload that fails when it runs only leaves the tests to judge alone."""
    if settings.workload:
        from perfedit.testsource.workload import parse_command

        parse_command(settings.workload, config.find_project_root(path.resolve()))


def command_started() -> float:
    """When this command's process started, as a :func:`time.monotonic` reading (seconds): the
    job's budget counts from it, so that the interpreter's start-up and the imports are part of
    the time the user waits."""
    import psutil

    age_s = max(0.0, time.time() - psutil.Process().create_time())
    return time.monotonic() - age_s


def _cmd_suggest(args: argparse.Namespace, console: Console) -> int:
    from perfedit.candidates.model import model_provider
    from perfedit.candidates.stub import stub_proposer
    from perfedit.job.pipeline import Request, suggest
    from perfedit.targets import read_source

    path = Path(args.file)
    source = read_source(path)
    settings = config.from_args(
        args,
        config.load(path),
        exemplars=str(Path(args.exemplars).resolve()) if args.exemplars else None,
    )
    _check_workload(settings, path)
    request = Request(
        path=path,
        source=source,
        function=args.function,
        tests=Path(args.tests) if args.tests else None,
    )
    # --candidates: the versions in that file instead of the rules, the model and refinement
    refiners: list[Proposer] | None
    proposers, refiners = (
        ([stub_proposer(Path(args.candidates))], []) if args.candidates else (None, None)
    )

    from perfedit import llm

    if not args.candidates:  # a model that cannot load fails now, not after the baseline
        llm.check(settings.model, backend=settings.backend, endpoint=settings.endpoint)

    with _progress_bar(console) as bar:
        suggestion = suggest(
            request,
            settings,
            model_provider(settings),
            _RichJobProgress(bar),
            proposers=proposers,
            refiners=refiners,
            started=command_started(),
        )
    not_applied = _apply(suggestion, source) if args.apply else None
    applied = bool(args.apply) and not_applied is None
    if args.export_pair:
        train_command.export_pair(suggestion, Path(args.export_pair))
    if args.save_timings and suggestion.winner.comparison:
        _save_timings(console, Path(args.save_timings), suggestion.target, suggestion.winner)
    if args.json:
        print(json.dumps(_suggestion_json(suggestion, applied), indent=2))
    else:
        _print_suggestion(console, suggestion, applied)
    if not_applied:
        raise not_applied
    return 0


def _save_timings(console: Console, folder: Path, target: Target, verdict: Verdict) -> None:
    """Write the compared runs as pyperf files in ``folder`` and say where (see
    :mod:`perfedit.deliver.pyperf_files`). Raises InputError if the folder cannot be written."""
    from perfedit.deliver.pyperf_files import save_timings

    c = verdict.comparison
    assert c is not None
    metadata = {
        "description": f"perfedit: {target.name} in {target.path.name}, candidate {verdict.label}",
        "perfedit_verdict": verdict.verdict,
        "perfedit_timing_set": verdict.timing_set,  # whose runs these are: the deciding set's
    }
    try:
        paths = save_timings(
            folder,
            target.name,
            {"original": c.baseline_runs_s, "candidate": c.candidate_runs_s},
            metadata,
            {"original": c.baseline_cpu_runs_s, "candidate": c.candidate_cpu_runs_s},
        )
    except OSError as exc:
        raise InputError(f"could not write the timings to {folder}: {exc.strerror or exc}") from exc
    console.print(
        f"Timings saved as pyperf files: python -m pyperf compare_to {paths[0]} {paths[1]}",
        markup=False,
        highlight=False,
    )


def _apply(s: Suggestion, source: str) -> InputError | None:
    """Write the faster version into the target's file (:func:`apply_source`)."""
    return apply_source(s.target.path, source, s.new_source, s.diff, s.target.name)


def _timed_on(v: Verdict) -> dict[str, int]:
    """What a timed verdict was timed on: its tests (or differential inputs), the calls
    recorded from the workload and those recorded from the tests (0 when none were timed)."""
    from perfedit.verify.validate import CALLS

    check = v.differential if CALLS in v.per_test_s else None
    return {
        "tests": len(set(v.per_test_s) - {CALLS}),
        "workload_calls": check.workload if check and v.calls_from == "workload" else 0,
        "test_calls": check.recorded if check and v.calls_from == "test" else 0,
    }


def _timing_sets_json(v: Verdict) -> dict[str, Any]:
    """A timed verdict's timing sets, by name ("workload_calls" or "test_calls": the function's
    recorded calls, from the workload or the tests; "tests"): the speedup (original
    / candidate trimmed means), its 95% CI, Yuen's one-sided p-values that the candidate is
    faster and that it is slower, the alpha they were held to, the runs per side and the
    trimmed means (seconds per run), each as measured on that set; ``decided_by`` names the
    set whose speedup the verdict rests on (the top-level figures are its)."""
    from perfedit.verify.validate import CALLS

    c = v.comparison
    assert c is not None
    decided_by = f"{v.calls_from}_calls" if v.timing_set == CALLS else "tests"
    sets = {decided_by: c, "tests": v.tests_comparison or c}
    return {
        "decided_by": decided_by,
        **{
            name: {
                "speedup": _finite(s.speedup),
                "ci95": [_finite(bound) for bound in s.ci95],
                "p_value": s.p_value,
                "p_slower": s.p_slower,
                "alpha": s.alpha,
                "runs": s.runs,
                "time_s": {"original": s.baseline_s, "candidate": s.candidate_s},
            }
            for name, s in sets.items()
        },
    }


def _cpu_json(c: Comparison) -> dict[str, Any] | None:
    """The CPU time beside a wall-clock comparison (None where it has none): the ratio
    original / candidate, the p-value that the candidate uses more, whether it significantly
    does, and the trimmed means (seconds per run)."""
    if not c.baseline_cpu_runs_s:
        return None
    return {
        "speedup": _finite(c.cpu_speedup),
        "p_slower": c.cpu_p_slower,
        "slower": c.cpu_slower,
        "time_s": {"original": c.baseline_cpu_s, "candidate": c.candidate_cpu_s},
    }


def _compare_json(o: Report) -> dict[str, Any]:
    """The ``compare --json`` object; timing fields are null for a rejected candidate. The
    speedup, CI, p-value and ``time_s`` are the wall clock's; ``cpu`` is the CPU time beside it."""
    v, c = o.verdict, o.verdict.comparison
    return {
        "verdict": v.verdict,
        "reason": v.reason,
        "speedup": _finite(c.speedup) if c else None,
        "ci95": [_finite(bound) for bound in c.ci95] if c else None,
        "p_value": c.p_value if c else None,
        "alpha": c.alpha if c else None,
        "runs": c.runs if c else None,
        "time_s": {"original": c.baseline_s, "candidate": c.candidate_s} if c else None,
        "cpu": _cpu_json(c) if c else None,
        "tests_passed": v.tests_passed,
        "tests_total": v.tests_total,
        "checked_by_differential_testing": _differential_json(v.differential),
        "timed_on": _timed_on(v) if c else None,
        "timing_sets": _timing_sets_json(v) if c else None,
        "tests": o.suite.describe(),
        "peak_rss_bytes": {
            "original": o.baseline.peak_rss_bytes,
            "candidate": v.peak_rss_bytes or None,
        },
        "target": {"path": str(o.target.path), "name": o.target.name, "kind": o.target.kind},
        "detail": v.detail,
    }


def _compare_lines(o: Report) -> list[str]:
    """The ``compare`` report: the verdict and why, its facts (:func:`perfedit.deliver.explain.facts`),
    then the failing test's output."""
    from perfedit.deliver.explain import facts

    v = o.verdict
    return [
        f"{v.verdict}: {v.reason}",
        *facts(v, o.baseline, o.suite),
        *(["", v.detail] if v.detail else []),
    ]


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from perfedit.job.compare import compare_files

    original = Path(args.original)
    settings = config.from_args(args, config.load(original))
    _check_workload(settings, original)
    with console.status(f"validating {args.candidate} against {args.original}"):
        report = compare_files(
            original,
            Path(args.candidate),
            settings,
            function=args.function,
            tests=Path(args.tests) if args.tests else None,
        )
    if args.json:
        print(json.dumps(_compare_json(report), indent=2))
    else:
        print("\n".join(_compare_lines(report)))
    if args.save_timings and report.verdict.comparison:
        _save_timings(console, Path(args.save_timings), report.target, report.verdict)
    return 0


def _cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    from perfedit.deliver.pyperf_files import system_checks
    from perfedit.llm import doctor
    from perfedit.sandbox import isolation_report

    report = {
        **isolation_report(),
        "load average (1, 5, 15 min)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "timing checks (pyperf system show)": system_checks(),
        **doctor.report(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if isinstance(value, dict):
                print(f"{key}:")
                print(
                    "\n".join(
                        f"  {section}: {line}" for section, lines in value.items() for line in lines
                    )
                )
            else:
                print(f"{key}: {value}")
    return 0


def _cmd_model_pull(args: argparse.Namespace, console: Console) -> int:
    """Fetch and verify a model's GGUF file, saying what it does and why; one bar, in bytes."""
    with _progress_bar(console, bytes_=True) as bar:

        def say(sentence: str) -> None:
            bar.console.print(sentence, markup=False, highlight=False, soft_wrap=True)

        path = modelstore.pull(args.name, progress=_RichProgress(bar), explain=say)
    _prime_prompts(args.name, console)
    console.print(f"{args.name}: ready at {path}", markup=False, highlight=False, soft_wrap=True)
    return 0


def _prime_prompts(model: str, console: Console) -> None:
    """Evaluate the prompt's fixed start for both kinds of target once, on every core, so that
    a new process's first job restores it from disk (:meth:`LlamaCppModel.prime`); the model is
    not loaded when both are on disk already. A failure here only costs that evaluation later,
    so it is reported and the pull still succeeds."""
    from perfedit.candidates import ask
    from perfedit.llm.llamacpp import LlamaCppModel, model_files, prompt_cache_file

    with console.status("evaluating the prompt's fixed start (system message, demonstration) once"):
        try:
            files = model_files(model)
            kinds = [
                kind
                for kind in ("function", "script")
                if not prompt_cache_file(files, ask.prime_messages(kind)).is_file()
            ]
            if kinds:
                chat = LlamaCppModel.load(model, n_threads=os.cpu_count())
                for kind in kinds:
                    ask.prime(chat, kind)
                chat.engine.stop()
        except ModelError as error:
            console.print(
                f"note: the prompt was not evaluated ahead ({error}); jobs evaluate it themselves.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _cmd_model_list(args: argparse.Namespace, console: Console) -> int:
    """Each known model and perfedit adapter: its GGUF file and its converted transformers copy."""
    for m in modelstore.list_models():
        pull = f"run: perfedit model pull {m.name}"
        lines = [f"{m.name}  {m.description}"]
        if m.adapter is not None:
            lines.append(f"  folder: {m.adapter}")
            lines.append(
                "  base model GGUF: "
                + (str(m.gguf) if m.gguf else f"{'damaged' if m.damaged else 'missing'} ({pull})")
            )
        else:
            lines.append(
                "  GGUF: "
                + (
                    str(m.gguf)
                    if m.gguf
                    else f"{'damaged' if m.damaged else 'not downloaded'} ({pull})"
                )
            )
            lines.append(
                "  transformers copy: "
                + (str(m.converted) if m.converted else "none (made once, when first needed)")
            )
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def _cmd_lsp(args: argparse.Namespace, console: Console) -> int:
    """``perfedit lsp`` reached through the parser; the ``perfedit`` entry point
    (:mod:`perfedit.__main__`) starts it sooner, before this module is imported."""
    from perfedit.lsp.start import serve

    return serve()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``perfedit`` command."""
    parser = argparse.ArgumentParser(prog="perfedit", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"perfedit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_suggest(commands)
    c = commands.add_parser(
        "compare", help="validate a faster version you wrote and time it against the original"
    )
    c.add_argument("original", help="the original Python file")
    c.add_argument("candidate", help="the new version of the whole file")
    c.add_argument(
        "--function", help="the function to compare (default: the files as stdin/stdout scripts)"
    )
    c.add_argument(
        "--tests", help="pytest file or folder, or a folder of input.N.txt/output.N.txt cases"
    )
    config.add_option(c, "runs")
    config.add_option(c, "workload", metavar="CMD")
    config.add_option(c, "time_calls")
    c.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the report"
    )
    c.add_argument(
        "--save-timings",
        metavar="DIR",
        help="write both sides' timed runs as pyperf JSON files in DIR",
    )
    c.set_defaults(handler=_cmd_compare)

    doctor = commands.add_parser(
        "doctor",
        help="show the sandbox's isolation, pyperf's checks of this machine, the inference engine "
        "(CPU features, a trial generation) and each model's SHA-256 check",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(handler=_cmd_doctor)

    lsp = commands.add_parser("lsp", help="run the language server on stdio")
    lsp.set_defaults(handler=_cmd_lsp)

    model = commands.add_parser("model", help="manage local models").add_subparsers(
        dest="model_command", required=True
    )
    pull = model.add_parser("pull", help="fetch and verify a model's GGUF file (idempotent)")
    pull.add_argument(
        "name", nargs="?", default=modelstore.DEFAULT_MODEL, help="model alias or Hub id"
    )
    pull.set_defaults(handler=_cmd_model_pull)
    model.add_parser("list", help="known models and where they are").set_defaults(
        handler=_cmd_model_list
    )
    train_command.register(commands)  # train sft|rrhf, data pairs, evaluate
    profile_command.register(commands)  # profile
    scan_command.register(commands)  # scan
    return parser


def _add_suggest(commands: argparse._SubParsersAction) -> None:
    """``perfedit suggest``: its arguments and options."""
    s = commands.add_parser("suggest", help="suggest a faster version of a function or script")
    s.add_argument("file", help="the Python file")
    s.add_argument(
        "--function", help="the function to speed up (default: the file as a stdin/stdout script)"
    )
    s.add_argument(
        "--tests", help="pytest file or folder, or a folder of input.N.txt/output.N.txt cases"
    )
    for name in ("samples", "runs", "model", "backend"):
        config.add_option(s, name)
    config.add_option(s, "endpoint", metavar="URL")
    config.add_option(s, "budget_s", "--budget", metavar="SECONDS")
    config.add_option(s, "explain")
    for name in (
        "cookbook",
        "scaling_feedback",
        "compact_prompt",
        "budget_reserve",
        "interleave_rules",
        "stream_fixes",
        "argument_repair",
        "time_calls",
    ):
        config.add_option(s, name)
    config.add_option(s, "workload", metavar="CMD")
    s.add_argument(
        "--exemplars",
        metavar="PATH",
        help="retrieve the prompt's slow→fast exemplars from this pair file or PIE folder, e.g. ../shared/data/pie (default: none)",
    )
    s.add_argument(
        "--candidates",
        help="stub proposer: take candidate versions from this file instead of the model",
    )
    s.add_argument(
        "--apply", action="store_true", help="write the faster version into FILE if one was found"
    )
    s.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the report"
    )
    s.add_argument(
        "--save-timings",
        metavar="DIR",
        help="write the original's and the winner's timed runs as pyperf JSON files in DIR",
    )
    s.add_argument(
        "--export-pair",
        metavar="FILE",
        help="append the accepted suggestion to FILE as a slow→fast training pair",
    )
    s.set_defaults(handler=_cmd_suggest)


def _supervised(address: str, argv: list[str] | None, console: Console) -> int:
    """The command as a child driver on the Ray cluster at ``address``, watched by this process
    (:mod:`perfedit.executors.supervise`); its exit code.

    Raises:
        ExecutorUnavailable: nothing answers at ``address``."""
    from perfedit.executors.ray_cluster import head_of

    return supervise.supervise(
        sys.argv[1:] if argv is None else argv,
        head_of(address),
        say=lambda text: console.print(f"perfedit: {text}", style="red", markup=False),
        name=address,
    )


def main(argv: list[str] | None = None) -> int:
    """The ``perfedit`` command (after :func:`perfedit.__main__.main`); returns the exit code."""
    args = build_parser().parse_args(argv)
    from rich.console import Console

    console = Console(stderr=True)
    console.soft_wrap = not console.is_terminal  # piped output: whole lines, never wrapped at 80
    try:
        if supervise.wanted(getattr(args, "executor", None), getattr(args, "ray_address", None)):
            return _supervised(args.ray_address, argv, console)
        return args.handler(args, console)
    except NoFasterVersion as exc:
        if getattr(args, "json", False):
            print(
                json.dumps(
                    {"found": False, "message": str(exc), "candidates": exc.reasons}, indent=2
                )
            )
        console.print(str(exc), style="yellow", markup=False)
        for label, reason in exc.reasons.items():
            console.print(f"  {label}: {reason}", markup=False)
        return 1
    except PerfeditError as exc:
        console.print(f"perfedit: {exc}", style="red", markup=False, highlight=False)
        return next(code for kind, code in _EXIT_CODES if isinstance(exc, kind))
    except KeyboardInterrupt:
        console.print("cancelled")
        return 130
