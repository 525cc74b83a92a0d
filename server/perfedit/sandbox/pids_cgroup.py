"""A pids cgroup per sandbox worker: a process cap that binds root too.

RLIMIT_NPROC does not bind root, and otherwise counts a user's processes machine-wide. Where
the kernel's pids controller is writable (root on a cgroup v1 or v2 host, or a delegated v2
subtree), each worker gets its own child cgroup with ``pids.max``, so a fork bomb's forks fail
with EAGAIN; :meth:`PidsCgroup.close` kills whatever is left in it, even processes that left
the worker's tree, and removes it.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_COUNTER = itertools.count()
_EMPTY_WAIT_S = 2.0


def _own_cgroups() -> list[Path]:
    """This process's cgroup folders in the mounted hierarchies that may have the pids
    controller: the v1 pids hierarchy, then the v2 one."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    own = {}  # controller list ("pids"; "" for v2) -> path of this process's cgroup
    for line in memberships:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    found = {}
    for line in mounts:
        fields, _, tail = line.partition(" - ")
        parts, (fstype, _, options) = fields.split(), tail.split()[:3]
        root, mount_point = parts[3], parts[4]
        key = (
            "pids"
            if fstype == "cgroup" and "pids" in options.split(",")
            else ""
            if fstype == "cgroup2"
            else None
        )
        if key in own and key not in found:
            relative = os.path.relpath(own[key], root)
            if not relative.startswith(".."):
                found[key] = Path(mount_point) / relative
    return [found[key] for key in ("pids", "") if key in found]


class PidsCgroup:
    """A child cgroup of the pids hierarchy capped at ``max_pids`` processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup | None:
        """A new capped cgroup, or None where the pids controller cannot be written here."""
        name = f"perfedit-{os.getpid()}-{next(_COUNTER)}"
        for parent in _own_cgroups():
            path = parent / name
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(max_pids))
                return cls(path)
            except OSError:  # no pids controller in this v2 subtree
                path.rmdir()
        return None

    def add(self, pid: int) -> None:
        """Move process ``pid`` (and so its future children) into the cgroup."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def _members(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        """Kill every process in the cgroup, then remove it (left behind, empty, if it will not go)."""
        deadline = time.monotonic() + _EMPTY_WAIT_S
        while time.monotonic() < deadline:
            members = self._members()
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
            try:
                self.path.rmdir()
                return
            except OSError:  # EBUSY until the killed processes have exited
                time.sleep(0.01)
