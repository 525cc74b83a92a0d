"""The sandbox: untrusted programs run only here (see :mod:`perfedit.sandbox.manager`).

The engine's API is re-exported here; the other modules are the sandbox's own:
:mod:`~perfedit.sandbox.protocol` (what crosses its pipes), and the scripts that run inside it,
:mod:`~perfedit.sandbox.confine`, :mod:`~perfedit.sandbox.worker` and
:mod:`~perfedit.sandbox.differential_child`.
"""

from perfedit.sandbox.manager import (
    DIFFERENTIAL_BUDGET,
    Calls,
    Limits,
    TestRecord,
    WorkerHandle,
    Workspace,
    isolation_report,
)

__all__ = [
    "DIFFERENTIAL_BUDGET",
    "Calls",
    "Limits",
    "TestRecord",
    "WorkerHandle",
    "Workspace",
    "isolation_report",
]
