"""The machine's load while a job times its candidates.

Other work on the machine slows some timed runs more than others, so a speedup measured on a busy
machine is noisier (two runs of the same job here gave 17.1x and 33.1x, the first while the
machine was busy). A report therefore states the load when it was timed and warns when the
machine was busy: more processes wanting a CPU than there are CPUs (``os.getloadavg``'s
one-minute average above the CPUs this process may use), so that timed runs waited for one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    """``average``: the one-minute load average (processes running or waiting for a CPU,
    averaged over the last minute, the job's own among them); ``cpus``: the CPUs this process
    may run on."""

    average: float
    cpus: int

    @property
    def busy(self) -> bool:
        """True when more processes wanted a CPU than there are CPUs."""
        return self.average > self.cpus

    def sentence(self) -> str:
        """One sentence for a report: the load, and a warning when the machine was busy."""
        load = f"load average {self.average:.1f} over the last minute on {self.cpus} CPU{'s' if self.cpus != 1 else ''}"
        if self.busy:
            return (
                f"The machine was busy while it was timed ({load}): other work slowed some runs, "
                "so the speedup is less certain than its interval says; run it again on a quieter machine to confirm."
            )
        return f"Timed with the machine at {load}."


def current_load() -> Load:
    """The load now (:class:`Load`)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return Load(os.getloadavg()[0], cpus)


def heaviest(*loads: Load) -> Load:
    """The highest of ``loads`` (samples taken while a job timed; at least one)."""
    return max(loads, key=lambda load: load.average / load.cpus)
