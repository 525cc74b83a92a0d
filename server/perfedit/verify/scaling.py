"""Measured scaling: how the original's time grows with the size of its input, from runs the job
makes anyway, shown to the model beside the hot lines.

An expert who sees that a function's time grows like n² looks for an algorithm of lower
complexity before polishing loops; the model is told the same. The empirical exponent of the
time in the input size (the empirical order of growth, Goldsmith, Aiken and Wilkerson 2007,
"Measuring empirical computational complexity") comes from two measured points, the largest
input and the largest one at most half its size: ``log(t2 / t1) / log(n2 / n1)``. Fixed costs
(a call's overhead, a script's imports) weigh most on the small point and pull the exponent
down, so an exponent above :data:`SUPERLINEAR_EXPONENT` is a safe sign of worse than linear.

* A function's points are its calls in the tests: the differential testing recording
  (:func:`perfedit.verify.differential.record_calls`) times each distinct outermost call in the
  sandbox and measures its arguments there (:data:`SIZE_OF`: elements of containers and
  characters of strings, else the magnitude of a number, as ``fib(n)`` grows with ``n``).
* A script's points are its cases: the baseline's per-case times against the number of
  whitespace-separated tokens of each case's stdin (:func:`of_cases`).

No extra run of the program is made; a target with fewer than two sizes a factor
:data:`MIN_SIZE_RATIO` apart has no measured scaling.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from perfedit.formats.suites import TestSuite

#: Above this exponent the time grows clearly faster than the input (n log n over a thousandfold
#: range measures about 1.1), and the model is asked for a lower-complexity algorithm first.
SUPERLINEAR_EXPONENT = 1.2
#: The two points' sizes must differ at least this much for their ratio of times to mean anything.
MIN_SIZE_RATIO = 2.0
#: Times below this (seconds) are below the timer's and the interpreter's resolution.
MIN_TIME_S = 1e-7

#: The size measure the sandbox applies to one call's arguments, as Python source defining
#: ``_perfedit_size(args, kwargs) -> float``: the sum of the sizes of the arguments that have a
#: length (strings: characters; containers: elements, nested ones counted inside, estimated from
#: the first 16 items so that a call on a million elements costs microseconds to measure); with
#: none, the largest magnitude of a numeric argument. Booleans and None count 0.
SIZE_OF = """
def _perfedit_size(args, kwargs):
    import math

    def nested(value, depth):
        if isinstance(value, (str, bytes, bytearray)):
            return len(value)
        if isinstance(value, (list, tuple, set, frozenset, dict)):
            if depth >= 3 or not value:
                return len(value)
            items = value.values() if isinstance(value, dict) else value
            first = [max(1, nested(item, depth + 1)) for _, item in zip(range(16), items)]
            return len(value) * sum(first) / len(first)
        return 1

    values = [*args, *kwargs.values()]
    sized = [v for v in values if isinstance(v, (str, bytes, bytearray, list, tuple, set, frozenset, dict))]
    if sized:
        return float(sum(nested(v, 0) for v in sized))
    numbers = [min(abs(v), 1e300) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(max(numbers, default=0)) if all(map(math.isfinite, numbers)) else 0.0
"""


@dataclass(frozen=True)
class Scaling:
    """Two measured points of the original: ``small_s`` seconds at input size ``small_size`` and
    ``large_s`` at ``large_size`` (sizes in ``unit``: "elements" for a function's arguments,
    "input tokens" for a script's stdin)."""

    small_size: float
    small_s: float
    large_size: float
    large_s: float
    unit: str

    @property
    def exponent(self) -> float:
        """The empirical exponent k of time ∝ sizeᵏ between the two points."""
        return math.log(self.large_s / self.small_s) / math.log(self.large_size / self.small_size)

    @property
    def superlinear(self) -> bool:
        """True when the time grows clearly faster than the input (:data:`SUPERLINEAR_EXPONENT`)."""
        return self.exponent > SUPERLINEAR_EXPONENT

    def describe(self) -> str:
        """One sentence for the prompt, e.g. "On its tests it took 0.02 ms at size 10 and 180 ms
        at size 10000 (elements): time grows like size^1.31"."""
        return (
            f"On its tests it took {self.small_s * 1e3:.3g} ms at input size {self.small_size:g} and "
            f"{self.large_s * 1e3:.3g} ms at size {self.large_size:g} ({self.unit}): "
            f"time grows like size^{self.exponent:.2f}"
        )


def from_points(points: Iterable[tuple[float, float]], unit: str) -> Scaling | None:
    """The :class:`Scaling` of measured ``(size, seconds)`` points: the median time at the
    largest size, and at the largest size at most 1 / :data:`MIN_SIZE_RATIO` of it; None
    without two such sizes (points of size ≤ 0 or time below :data:`MIN_TIME_S` are skipped)."""
    times: dict[float, list[float]] = defaultdict(list)
    for size, seconds in points:
        if math.isfinite(size) and size > 0 and math.isfinite(seconds) and seconds >= MIN_TIME_S:
            times[size].append(seconds)
    if not times:
        return None
    large = max(times)
    smaller = [size for size in times if size * MIN_SIZE_RATIO <= large]
    if not smaller:
        return None
    small = max(smaller)
    return Scaling(
        small, statistics.median(times[small]), large, statistics.median(times[large]), unit
    )


def case_size(stdin: str) -> int:
    """A script case's input size: the whitespace-separated tokens of its stdin."""
    return len(stdin.split())


def of_cases(suite: TestSuite, per_test_s: Mapping[str, float]) -> Scaling | None:
    """A script's scaling from its cases (``suite.cases``) and the baseline's per-case times
    (``per_test_s``, seconds by case name); None for other suites or too few sizes."""
    if suite.kind != "cases":
        return None
    return from_points(
        (
            (case_size(case.stdin), per_test_s[case.name])
            for case in suite.cases
            if case.name in per_test_s
        ),
        "input tokens",
    )
