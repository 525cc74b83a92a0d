"""Figures for the validation harness, printed as Markdown with the exact command.

1. False-positive rate: A/A trials, the same PIE validation program as baseline and candidate
   (``val.jsonl`` rows whose slow version passes its tests under CPython 3.11, with the cases in
   ``tests/{problem_id}/``, taken round-robin over problems, skipping programs whose own time
   per run exceeds ``--max-own-ms`` to bound the bench's duration), validated through
   :meth:`perfedit.verify.validate.Harness.validate`; the fraction declared faster at alpha = 0.05,
   with the default 10% speedup threshold and with the threshold off (1.0x: the test alone
   decides), in the adaptive and the fixed mode (``--aa-modes``).
2. Power: a constructed stdin/stdout program whose own run takes ~20 ms (a deterministic busy
   loop proportional to its input, no sleep) against versions sized to run 1.25x and 2x faster;
   per mode (adaptive, fixed), the fraction declared faster and the median harness wall time
   per decision (``validate``: candidate worker start, correctness run, warm-up and timed runs;
   the baseline's own start is once per job and not counted).
3. Overhead: harness wall time per measured run (one case run through a warm worker, seen from
   the manager) minus the program's own CPU time, against a bare ``python -c pass`` subprocess
   (``sys.executable``) timed in the same run; the ratio of the two.
4. Throughput: validated candidates per minute for a typical validation program (the median
   own time among the A/A programs whose PIE fast version passes too) on a mix of candidates:
   the PIE fast version, an identical copy and a wrong program, in turn, one at a time as the
   main job validates them.

5. The statistics alone, on simulated equal programs (seeded, no processes): the fraction of
   pairs declared faster at alpha = 0.05 by a plain Welch's t-test on the trimmed values (the
   test perfedit used before), by Yuen's trimmed-mean test (the one it uses now), and,
   over up to 10 runs, by the fixed rule, the adaptive rule and naive repeated looks at 0.05.
6. Wall clock against CPU time (``--clocks-only`` runs this figure alone): A/A trials on the
   validation programs and the busy program against versions with 1/1.25 and 1/2 of its loop,
   each validated in fixed mode (all ``runs`` pairs taken), whose runs carry both clocks. The
   adaptive and the fixed rule are replayed on the same runs twice: on the wall clock with the
   CPU time beside it (the verdict perfedit gives) and on the CPU time alone (the verdict it
   gave before). Per workload, clock and rule: the fraction declared faster, the mean runs to
   a decision, and the median spread of a side's runs (coefficient of variation).

Times are medians unless stated; "own time" is the program's CPU time (user + system from
``wait4``), so interpreter start-up is excluded and the program's imports are included.
Usage: python bench/harness.py [--data ../shared/data/pie] [--aa-programs 8] [--aa-trials 200]
[--max-own-ms 30] [--aa-modes adaptive,fixed] [--power-trials 100] [--overhead-runs 40]
[--throughput-candidates 30] [--simulations 4000] [--clocks-only --clock-trials 8].
Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

import perfedit
from perfedit.config import Settings
from perfedit.formats.suites import Case, TestSuite
from perfedit.sandbox import Limits, WorkerHandle, Workspace
from perfedit.targets import find
from perfedit.testsource.discovery import discover
from perfedit.verify.timing import (
    Comparison,
    SequentialRule,
    compare,
    trimmed,
    trimmed_mean,
    yuen_p,
)
from perfedit.verify.validate import Harness, Verdict

BUSY = """\
import sys
n = int(sys.stdin.readline())
x = 0
for i in range(n * {factor}):
    x = (x + i) & 1023
print(n)
"""
BUSY_N = (
    1000  # the input: the loop runs BUSY_N * factor times; the output is BUSY_N for every factor
)
WRONG = "print(0)\n"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Program:
    """A stdin/stdout program on disk with its cases; ``name`` for reports, ``row`` the PIE
    row it came from (empty for constructed programs)."""

    name: str
    path: Path
    source: str
    suite: TestSuite
    row: dict

    def harness(self, settings: Settings) -> Harness:
        return Harness(find(self.path, self.source), self.suite, settings)


@dataclass(frozen=True)
class Trial:
    """One candidate's validation: its verdict and the harness wall time it took (seconds)."""

    verdict: Verdict
    wall_s: float

    @property
    def faster(self) -> bool:
        return self.verdict.verdict == "faster"


def pie_rows(data: Path) -> Iterator[dict]:
    """val.jsonl rows whose slow version passes, round-robin over problems."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for line in (data / "val.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["sample_tests_py311"]["slow"] == "pass":
            by_problem[row["problem_id"]].append(row)
    for batch in itertools.zip_longest(*(by_problem[p] for p in sorted(by_problem))):
        yield from (row for row in batch if row is not None)


def pie_program(row: dict, data: Path, folder: Path) -> Program:
    """The slow version of ``row`` written under ``folder``, with its PIE cases."""
    path = folder / row["submission_id_v0"] / "prog.py"
    path.parent.mkdir(parents=True)
    path.write_text(row["slow"])
    suite = discover(find(path, row["slow"]), data / "tests" / row["problem_id"])
    return Program(f"{row['problem_id']}/{row['submission_id_v0']}", path, row["slow"], suite, row)


def busy_program(factor: int, folder: Path) -> Program:
    """The busy-loop program doing ``BUSY_N * factor`` iterations, with its one case."""
    source = BUSY.format(factor=factor)
    path = folder / f"busy{factor}" / "prog.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    case = Case("case 0", f"{BUSY_N}\n", f"{BUSY_N}\n")
    return Program(
        f"busy x{factor}", path, source, TestSuite("cases", path.parent, cases=(case,)), {}
    )


def run_times(program: Program, runs: int) -> tuple[list[float], list[float]]:
    """``runs`` runs of ``program`` in one warm worker after one discarded run: per measured run
    (one case), the manager's wall time and the program's own CPU time, seconds."""
    workspace = Workspace(program.suite, Path(program.path.name), program.source)
    wall, own = [], []
    try:
        with WorkerHandle(workspace, program.suite, Limits()) as worker:
            worker.run(calibrate=True)
            for _ in range(runs):
                started = time.perf_counter()
                records = worker.run(calibrate=True)
                wall.append((time.perf_counter() - started) / len(records))
                own.append(sum(r.cpu_seconds for r in records) / len(records))
    finally:
        workspace.close()
    return wall, own


def own_per_run_s(program: Program, runs: int = 5) -> float:
    """The program's own time per run (the sum over its cases), median over ``runs``, seconds."""
    return statistics.median(run_times(program, runs)[1]) * len(program.suite.cases)


def pie_programs(
    data: Path, count: int, max_own_s: float, folder: Path
) -> tuple[list[tuple[Program, float]], list[str]]:
    """The first ``count`` programs of :func:`pie_rows` whose own time per run is at most
    ``max_own_s``, each with that time (seconds), and the names of those skipped."""
    chosen, skipped = [], []
    for row in pie_rows(data):
        program = pie_program(row, data, folder)
        own_s = own_per_run_s(program)
        if own_s <= max_own_s:
            chosen.append((program, own_s))
        else:
            skipped.append(f"{program.name} ({own_s * 1e3:.0f} ms)")
        if len(chosen) == count:
            break
    return chosen, skipped


def trials(harness: Harness, label: str, source: str, count: int) -> list[Trial]:
    """``count`` validations of ``source`` by ``harness`` (whose baseline has run)."""
    done = []
    for _ in range(count):
        started = time.perf_counter()
        verdict = harness.validate(label, source)
        done.append(Trial(verdict, time.perf_counter() - started))
    return done


def _settings(mode: str, **changes: float) -> Settings:
    return Settings().replace(adaptive=mode == "adaptive", **changes)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})"


def _runs(done: list[Trial]) -> str:
    runs = [t.verdict.comparison.runs for t in done if t.verdict.comparison]
    return f"{statistics.mean(runs):.1f}" if runs else "-"


def false_positives(programs: list[Program], trials_total: int, modes: list[str]) -> list[str]:
    """Figure 1 as table rows: A/A trials spread evenly over ``programs``, per mode and threshold."""
    per_program = math.ceil(trials_total / len(programs))
    rows = []
    for mode, min_speedup in itertools.product(modes, (1.10, 1.0)):
        progress(f"figure 1: {mode}, min_speedup {min_speedup}")
        done: list[Trial] = []
        for program in programs:
            with program.harness(_settings(mode, min_speedup=min_speedup)) as harness:
                harness.baseline()
                done += trials(harness, "A/A", program.source, per_program)
        rejected = sum(t.verdict.verdict == "rejected" for t in done)
        rows.append(
            f"| {mode} | {min_speedup:.2f}x | {len(done)} | {_pct(sum(t.faster for t in done), len(done))} | "
            f"{rejected} | {_runs(done)} | {statistics.median(t.wall_s for t in done):.2f} s |"
        )
    return rows


def calibrate_busy(folder: Path) -> tuple[float, float]:
    """(fixed own time, own time per loop iteration) of the busy program, seconds, from two
    factors' trimmed-mean own times over 15 runs."""
    probe = 200
    fixed = trimmed_mean(run_times(busy_program(0, folder), 15)[1])
    loaded = trimmed_mean(run_times(busy_program(probe, folder), 15)[1])
    return fixed, (loaded - fixed) / (BUSY_N * probe)


def busy_factor(fixed_s: float, per_iteration_s: float, own_s: float) -> int:
    """The loop factor for which the busy program's own time is ``own_s``."""
    return max(1, round((own_s - fixed_s) / (per_iteration_s * BUSY_N)))


@dataclass(frozen=True)
class Reference:
    """A constructed candidate's true speedup: the geometric mean over ``speedups``, each from
    its own baseline and candidate workers (a worker pair carries an offset of a few percent)."""

    speedups: list[float]
    pairs: int

    @property
    def speedup(self) -> float:
        return statistics.geometric_mean(self.speedups)

    def describe(self) -> str:
        return (
            f"{self.speedup:.3f}x (geometric mean of {len(self.speedups)} worker pairs x {self.pairs} "
            f"interleaved runs: {min(self.speedups):.3f}x-{max(self.speedups):.3f}x)"
        )


def reference(
    baseline: Program, candidate: Program, workers: int = 4, pairs: int = 15
) -> Reference:
    """``candidate`` against ``baseline`` in fixed mode, ``pairs`` interleaved runs in each of
    ``workers`` fresh worker pairs."""
    speedups = []
    for _ in range(workers):
        with baseline.harness(Settings(runs=pairs, adaptive=False)) as harness:
            harness.baseline(runs=1)
            comparison = harness.validate("reference", candidate.source).comparison
        assert comparison is not None, "the constructed candidate must be correct"
        speedups.append(comparison.speedup)
    return Reference(speedups, pairs)


def sized_candidate(
    baseline: Program, factor: int, fixed_share: float, speedup: float, folder: Path
) -> tuple[Program, Reference]:
    """The busy program sized to run ``speedup`` times faster than ``baseline`` (loop factor
    ``factor``), with its reference speedup. The loop's time is proportional to its factor,
    so own(F) / own(factor) = s + (1 - s) F / factor, s the fixed share of the baseline's own
    time; one correction step with the measured speedup absorbs what that model misses."""
    wanted = 1 / speedup - fixed_share
    candidate = round(factor * wanted / (1 - fixed_share))
    measured = reference(baseline, busy_program(candidate, folder))
    candidate = round(candidate * wanted / (1 / measured.speedup - fixed_share))
    program = busy_program(candidate, folder)
    return program, reference(baseline, program)


def power(folder: Path, target_s: float, count: int) -> tuple[list[str], list[str]]:
    """Figure 2: (notes on the constructed programs, table rows per speedup and mode)."""
    progress("figure 2: calibrating the busy program")
    fixed_s, per_iteration_s = calibrate_busy(folder)
    factor = busy_factor(fixed_s, per_iteration_s, target_s)
    baseline = busy_program(factor, folder)
    base_own = trimmed_mean(run_times(baseline, 20)[1])
    notes = [
        f"baseline {baseline.name}: own time {base_own * 1e3:.1f} ms (fixed part {fixed_s * 1e3:.2f} ms)"
    ]
    rows = []
    for speedup in (1.25, 2.0):
        candidate, measured = sized_candidate(baseline, factor, fixed_s / base_own, speedup, folder)
        notes.append(f"{speedup}x version {candidate.name}: measured speedup {measured.describe()}")
        for mode in ("adaptive", "fixed"):
            progress(f"figure 2: {speedup}x, {mode}")
            with baseline.harness(_settings(mode)) as harness:
                harness.baseline()
                done = trials(harness, f"{speedup}x", candidate.source, count)
            walls = [t.wall_s for t in done]
            rows.append(
                f"| {speedup}x | {mode} | {_pct(sum(t.faster for t in done), len(done))} | {_runs(done)} | "
                f"{statistics.median(walls):.2f} s | {max(walls):.2f} s |"
            )
            notes += [
                f"missed ({speedup}x, {mode}): {t.verdict.reason}" for t in done if not t.faster
            ]
    return notes, rows


def bare_python_s(runs: int) -> float:
    """Median wall time of ``sys.executable -c pass`` as a subprocess, seconds."""
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def overhead(programs: list[Program], runs: int) -> list[str]:
    """Figure 3 as table rows, one per program: medians per measured run, ms, and the ratio of
    the harness overhead to a bare interpreter start measured right after."""
    progress("figure 3")
    rows = []
    for program in programs:
        wall, own = run_times(program, runs)
        bare = bare_python_s(runs)
        extra = statistics.median(w - o for w, o in zip(wall, own, strict=True))
        rows.append(
            f"| {program.name} | {statistics.median(own) * 1e3:.2f} | {statistics.median(wall) * 1e3:.2f} | "
            f"{extra * 1e3:.2f} | {bare * 1e3:.2f} | {extra / bare:.3f} |"
        )
    return rows


def typical(programs: list[tuple[Program, float]]) -> Program:
    """The program with the median own time among those whose PIE fast version passes too."""
    eligible = sorted(
        (own_s, p.name, p) for p, own_s in programs if p.row["sample_tests_py311"]["fast"] == "pass"
    )
    return eligible[len(eligible) // 2][2]


def throughput(program: Program, count: int) -> list[str]:
    """Figure 4 as table rows: the candidate mix validated one after another by one harness
    in the default settings."""
    progress("figure 4")
    mix = [
        ("PIE fast version", program.row["fast"]),
        ("identical copy", program.source),
        ("wrong output", WRONG),
    ]
    by_kind: dict[str, list[Trial]] = defaultdict(list)
    with program.harness(Settings()) as harness:
        started = time.perf_counter()
        harness.baseline()
        baseline_s = time.perf_counter() - started
        started = time.perf_counter()
        for index in range(count):
            label, source = mix[index % len(mix)]
            by_kind[label] += trials(harness, label, source, 1)
        elapsed = time.perf_counter() - started
    rows = [
        f"| {label} | {len(done)} | {', '.join(sorted({t.verdict.verdict for t in done}))} | "
        f"{statistics.mean(t.wall_s for t in done):.2f} s |"
        for label, done in by_kind.items()
    ]
    rows.append(
        f"| **all** | {count} | **{60 * count / elapsed:.0f} candidates/min** | "
        f"{elapsed / count:.2f} s (baseline {baseline_s:.2f} s, once per job) |"
    )
    return rows


NOISE = {
    "normal, 5% spread": lambda rng, n: rng.normal(1.0, 0.05, n),
    "lognormal, 5% spread": lambda rng, n: rng.lognormal(0.0, 0.05, n),
    "1 + exponential (right tail)": lambda rng, n: 1.0 + rng.exponential(0.05, n),
}


def simulated_tests(count: int, runs: int = 10) -> list[str]:
    """Figure 5a as table rows: per noise shape, the fraction of ``count`` equal pairs (``runs``
    per side) that each test declares faster at 0.05."""
    rng = np.random.default_rng(1)
    rows = []
    for name, draw in NOISE.items():
        pairs = [(draw(rng, runs), draw(rng, runs)) for _ in range(count)]
        welch = sum(
            stats.ttest_ind(trimmed(a), trimmed(b), equal_var=False, alternative="greater").pvalue
            < 0.05
            for a, b in pairs
        )
        yuen = sum(yuen_p(a, b) < 0.05 for a, b in pairs)
        rows.append(f"| {name} | {runs} | {_pct(welch, count)} | {_pct(yuen, count)} |")
    return rows


def _declares_faster(rule: SequentialRule, a: list[float], b: list[float]) -> bool:
    decision = next(
        d for n in range(1, rule.max_runs + 1) if (d := rule.decide(a[:n], b[:n])) is not None
    )
    return decision.faster


def simulated_looks(count: int) -> list[str]:
    """Figure 5b as table rows: ``count`` equal lognormal pairs of up to 10 runs, speedup
    threshold off (1.0x) so that only the test decides."""
    rng = np.random.default_rng(2)
    pairs = [
        (list(rng.lognormal(0, 0.05, 10)), list(rng.lognormal(0, 0.05, 10))) for _ in range(count)
    ]
    adaptive = SequentialRule(max_runs=10, min_runs=5, min_speedup=1.0)
    fixed = SequentialRule(max_runs=10, min_speedup=1.0, adaptive=False)
    naive = sum(
        any(compare(a[:n], b[:n], min_speedup=1.0).faster for n in range(5, 11)) for a, b in pairs
    )
    return [
        f"| fixed: one look at 10 runs, p < 0.05 | {_pct(sum(_declares_faster(fixed, a, b) for a, b in pairs), count)} |",
        f"| adaptive: looks at 5..10 runs, p < 0.05/6 | {_pct(sum(_declares_faster(adaptive, a, b) for a, b in pairs), count)} |",
        f"| naive: looks at 5..10 runs, p < 0.05 each | {_pct(naive, count)} |",
    ]


def _replay(rule: SequentialRule, c: Comparison, *, cpu_only: bool) -> Comparison:
    """The decision ``rule`` reaches on the runs of ``c`` (a fixed-mode comparison holding every
    run), looking at each prefix in turn as the harness would: on the wall clock with the CPU
    time beside it, or (``cpu_only``) on the CPU time alone."""
    wall = (c.baseline_runs_s, c.candidate_runs_s)
    cpu = (c.baseline_cpu_runs_s, c.candidate_cpu_runs_s)
    for n in range(1, c.runs + 1):
        sides = [side[:n] for side in cpu] if cpu_only else [side[:n] for side in (*wall, *cpu)]
        if (decision := rule.decide(*sides)) is not None:
            return decision
    raise ValueError("a fixed-mode comparison holds every run the rule may ask for")


def _spread(runs: tuple[float, ...]) -> float:
    """Coefficient of variation of one side's runs."""
    return statistics.stdev(runs) / statistics.mean(runs)


def clocks(
    programs: list[Program], folder: Path, target_s: float, count: int
) -> tuple[list[str], list[str]]:
    """Figure 6: (notes, table rows) for the wall clock against CPU time on the same runs."""
    settings = Settings()
    fixed_settings = _settings("fixed")
    rules = {
        "adaptive": SequentialRule(
            max_runs=settings.runs,
            min_runs=settings.min_runs,
            alpha=settings.alpha,
            min_speedup=settings.min_speedup,
        ),
        "fixed": SequentialRule(
            max_runs=settings.runs,
            alpha=settings.alpha,
            min_speedup=settings.min_speedup,
            adaptive=False,
        ),
    }
    workloads: dict[str, list[Comparison]] = {}
    progress("figure 6: A/A")
    per_program = math.ceil(count / len(programs))
    workloads["A/A"] = []
    for program in programs:
        with program.harness(fixed_settings) as harness:
            harness.baseline()
            workloads["A/A"] += _comparisons(harness, "A/A", program.source, per_program)
    fixed_s, per_iteration_s = calibrate_busy(folder)
    factor = busy_factor(fixed_s, per_iteration_s, target_s)
    baseline = busy_program(factor, folder)
    notes = [f"baseline {baseline.name}: loop factor {factor}"]
    for speedup in (1.25, 2.0):
        progress(f"figure 6: {speedup}x")
        candidate = busy_program(round(factor / speedup), folder)
        with baseline.harness(fixed_settings) as harness:
            harness.baseline()
            done = _comparisons(harness, f"{speedup}x", candidate.source, count)
        workloads[f"{speedup}x loop"] = done
        notes.append(
            f"{speedup}x loop ({candidate.name}): median CPU-time speedup "
            f"{statistics.median(c.cpu_speedup for c in done):.3f}x, median wall-clock speedup "
            f"{statistics.median(c.speedup for c in done):.3f}x over {len(done)} trials"
        )
    rows = []
    for name, done in workloads.items():
        for clock, cpu_only in (("wall (+ CPU not slower)", False), ("CPU alone", True)):
            spread = statistics.median(
                _spread(c.baseline_cpu_runs_s if cpu_only else c.baseline_runs_s) for c in done
            )
            for rule_name, rule in rules.items():
                decisions = [_replay(rule, c, cpu_only=cpu_only) for c in done]
                faster = sum(d.faster for d in decisions)
                runs = statistics.mean(d.runs for d in decisions)
                rows.append(
                    f"| {name} | {clock} | {rule_name} | {_pct(faster, len(done))} | {runs:.1f} | "
                    f"{100 * spread:.1f}% |"
                )
    return notes, rows


def _comparisons(harness: Harness, label: str, source: str, count: int) -> list[Comparison]:
    """The comparisons of ``count`` validations of ``source`` (candidates that are not timed,
    rejected ones, are left out)."""
    return [c for t in trials(harness, label, source, count) if (c := t.verdict.comparison)]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def sandbox_digest() -> str:
    """The first 12 hex digits of the SHA-256 of the sandbox's sources, as imported."""
    digest = hashlib.sha256()
    for path in sorted((Path(perfedit.__file__).parent / "sandbox").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> str:
    """CPU count, model, Python, commit, sandbox sources and load, for the report's header."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, commit {commit or '?'}, "
        f"sandbox sources sha256 {sandbox_digest()}, load average {_load()}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/pie"), help="PIE data folder"
    )
    parser.add_argument(
        "--aa-programs", type=int, default=8, help="validation programs for figures 1, 3, 4"
    )
    parser.add_argument(
        "--aa-trials", type=int, default=200, help="A/A trials per mode and threshold"
    )
    parser.add_argument(
        "--max-own-ms",
        type=float,
        default=30.0,
        help="skip validation programs slower than this per run, ms",
    )
    parser.add_argument(
        "--aa-modes",
        default="adaptive,fixed",
        help="timing modes for figure 1: adaptive, fixed, or both (comma)",
    )
    parser.add_argument("--power-trials", type=int, default=100, help="trials per speedup and mode")
    parser.add_argument(
        "--power-own-ms", type=float, default=20.0, help="own time of the constructed baseline, ms"
    )
    parser.add_argument(
        "--overhead-runs", type=int, default=40, help="measured runs per program for figure 3"
    )
    parser.add_argument(
        "--throughput-candidates", type=int, default=30, help="candidates validated for figure 4"
    )
    parser.add_argument(
        "--simulations", type=int, default=4000, help="simulated pairs per row of figure 5"
    )
    parser.add_argument(
        "--clocks-only", action="store_true", help="run figure 6 (wall clock and CPU time) alone"
    )
    parser.add_argument(
        "--clock-trials", type=int, default=40, help="trials per workload of figure 6"
    )
    return parser.parse_args()


def figure_clocks(
    args: argparse.Namespace,
    programs: list[Program],
    chosen: list[tuple[Program, float]],
    folder: Path,
) -> None:
    """Print figure 6."""
    listed = ", ".join(f"{p.name} ({own_s * 1e3:.1f} ms)" for p, own_s in chosen)
    notes, rows = clocks(programs, folder, args.power_own_ms / 1e3, args.clock_trials)
    print(
        f"\n## 6. Wall clock against CPU time ({args.clock_trials} trials per workload, fixed-mode runs "
        f"replayed; load average now {_load()})\n\nA/A programs (own time per run): {listed}\n"
        + "\n".join(f"- {n}" for n in notes)
        + "\n"
    )
    print(
        _table(
            "| workload | clock | rule | declared faster | mean runs | median spread of a side's runs |",
            rows,
        ),
        flush=True,
    )


def _table(header: str, rows: list[str]) -> str:
    cells = header.count("|") - 1
    return "\n".join([header, "|" + "---|" * cells, *rows])


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    print(f"command: python bench/harness.py {shlex.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine()}")
    defaults = Settings()
    print(
        f"settings: runs (max) {defaults.runs}, min_runs {defaults.min_runs}, alpha {defaults.alpha}, "
        f"min_speedup {defaults.min_speedup}; fixed mode = adaptive off\n"
    )
    with tempfile.TemporaryDirectory(prefix="perfedit-bench-") as tmp:
        folder = Path(tmp)
        progress("choosing validation programs")
        chosen, skipped = pie_programs(args.data, args.aa_programs, args.max_own_ms / 1e3, folder)
        programs = [program for program, _ in chosen]
        if args.clocks_only:
            figure_clocks(args, programs, chosen, folder)
            print(
                f"\ntotal bench time {time.perf_counter() - started:.0f} s; load average at the end {_load()}"
            )
            return
        listed = ", ".join(f"{p.name} ({own_s * 1e3:.1f} ms)" for p, own_s in chosen)
        print(
            f"## 1. False-positive rate (A/A)\n\nprograms (own time per run): {listed}; "
            f"skipped as slower than {args.max_own_ms:g} ms: {', '.join(skipped) or 'none'}\n"
        )
        print(
            _table(
                "| mode | min_speedup | trials | declared faster | rejected | mean runs | median wall / decision |",
                false_positives(programs, args.aa_trials, args.aa_modes.split(",")),
            ),
            flush=True,
        )
        notes, power_rows = power(folder, args.power_own_ms / 1e3, args.power_trials)
        print(
            f"\n## 2. Power ({args.power_trials} trials each)\n\n"
            + "\n".join(f"- {n}" for n in notes)
            + "\n"
        )
        print(
            _table(
                "| true speedup | mode | declared faster | mean runs | median wall / decision | max wall |",
                power_rows,
            ),
            flush=True,
        )
        print(f"\n## 3. Overhead per measured run ({args.overhead_runs} runs each; ms)\n")
        print(
            _table(
                "| program | own time | harness wall | overhead | bare `python -c pass` | overhead / bare |",
                overhead([*programs, busy_program(1, folder)], args.overhead_runs),
            ),
            flush=True,
        )
        program = typical(chosen)
        print(
            f"\n## 4. Throughput on {program.name} ({len(program.suite.cases)} cases), {os.cpu_count()} CPUs\n"
        )
        print(
            _table(
                "| candidates | validated | verdicts | mean wall / candidate |",
                throughput(program, args.throughput_candidates),
            ),
            flush=True,
        )
        figure_clocks(args, programs, chosen, folder)
    progress("figure 5")
    print(
        f"\n## 5. The statistics on simulated equal programs ({args.simulations} pairs per row, no processes)\n"
    )
    print(
        _table(
            "| noise | runs per side | plain Welch on trimmed values | Yuen's trimmed-mean test (used) |",
            simulated_tests(args.simulations),
        )
    )
    print()
    print(
        _table(
            "| rule (threshold 1.0x) | declared faster |", simulated_looks(args.simulations // 2)
        )
    )
    print(
        f"\ntotal bench time {time.perf_counter() - started:.0f} s; load average at the end {_load()}"
    )


if __name__ == "__main__":
    main()
