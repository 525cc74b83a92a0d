"""pyperf interop: timing samples as pyperf JSON files, and pyperf's checks of the machine.

``--save-timings DIR`` writes the original's and the candidate's per-run times as two pyperf
benchmark files (``original.json``, ``candidate.json``), so pyperf's own tools read them::

    python -m pyperf compare_to DIR/original.json DIR/candidate.json
    python -m pyperf hist DIR/candidate.json

Each timed run becomes one pyperf run with one value, its wall-clock time in seconds (what pyperf
itself records), its CPU time in the run's metadata (``perfedit_cpu_s``), and no warm-ups: perfedit's
runs are independent processes' calls already warmed by a discarded run, as pyperf's worker
processes are. Both files name the same benchmark (the target), which is what ``compare_to``
matches on.

:func:`system_checks` runs ``python -m pyperf system show`` (pyperf's own checks: CPU frequency
scaling, isolated CPUs, ASLR, ...) for ``perfedit doctor``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: The sections of ``pyperf system show`` and the keys ``perfedit doctor`` reports them under.
_SECTIONS = {
    "System state": "state",
    "Advices": "advice",
    "Warnings": "warnings",
    "Errors": "errors",
}


def save_timings(
    folder: Path,
    benchmark: str,
    runs_s: Mapping[str, Sequence[float]],
    metadata: Mapping[str, str],
    cpu_runs_s: Mapping[str, Sequence[float]] | None = None,
) -> list[Path]:
    """Write one pyperf benchmark file ``folder/<side>.json`` per entry of ``runs_s`` (side name
    -> per-run wall-clock times in seconds, one value per run) and return their paths.

    ``benchmark`` is the benchmark's name in every file (the target, so ``compare_to`` pairs
    them); ``metadata`` (str -> str) is added to each run's metadata, with pyperf's
    ``unit = "second"`` and ``loops = 1``, and ``perfedit_cpu_s``, the run's CPU time in
    seconds, where ``cpu_runs_s`` (the same sides, the same runs) gives one. Existing files of
    the same names are replaced.

    Raises:
        OSError: the folder or a file cannot be written.
        ValueError: a side has no runs.
    """
    import pyperf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for side, values in runs_s.items():
        if not values:
            raise ValueError(f"no timed runs for {side!r}")
        cpu: list[float | None] = [*(cpu_runs_s or {}).get(side, ())] or [None] * len(values)
        runs = [
            pyperf.Run(
                [value],
                metadata={
                    **metadata,
                    "name": benchmark,
                    "unit": "second",
                    "loops": 1,
                    **({} if cpu_s is None else {"perfedit_cpu_s": cpu_s}),
                },
                collect_metadata=False,
            )
            for value, cpu_s in zip(values, cpu, strict=True)
        ]
        path = folder / f"{side}.json"
        path.unlink(missing_ok=True)  # pyperf refuses to overwrite
        pyperf.Benchmark(runs).dump(str(path))
        paths.append(path)
    return paths


def system_checks(timeout_s: float = 30.0) -> dict[str, list[str]]:
    """pyperf's checks of this machine for benchmarking (``python -m pyperf system show``), by
    section: ``state``, ``advice``, ``warnings``, ``errors`` (each a list of lines); on failure,
    ``errors`` holds why. Takes about a second."""
    try:
        shown = subprocess.run(
            [sys.executable, "-m", "pyperf", "system", "show"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"errors": [f"pyperf system show did not run: {exc}"]}
    checks: dict[str, list[str]] = {}
    section = None
    for line in shown.stdout.splitlines():
        if line in _SECTIONS:
            section = _SECTIONS[line]
            checks[section] = []
        elif section and line.strip() and not line.startswith("==="):
            checks[section].append(line.strip())
    if not checks:
        checks["errors"] = [
            shown.stderr.strip() or f"pyperf system show exited with {shown.returncode}"
        ]
    return checks
