"""Settings for tests that validate and time candidates: few timed runs, a short time limit."""

from __future__ import annotations

import dataclasses
from typing import Any

from perfedit.config import Settings

#: 5 timed runs (the fewest Yuen's test takes) and 5 s per test run (the test programs run in
#: milliseconds; 5 s leaves room for a loaded machine).
FAST = Settings(runs=5, timeout_s=5.0)


def fast_settings(**changes: Any) -> Settings:
    """:data:`FAST` with ``changes`` (field name → value, None included) applied and checked."""
    return dataclasses.replace(FAST, **changes)
