"""A tabulate workload written from its documented use (README: a list of rows with headers, the
table formats, floatfmt and missing values) and its benchmark's table (benchmark/benchmark.py:
ten rows of a text and nine numbers)."""

import random

from tabulate import tabulate

rng = random.Random(0)
small = [["some text", *range(i, i + 9)] for i in range(10)]
rows = [
    [f"item{i}", rng.random() * 1000, rng.randrange(10**6), rng.choice(["yes", "no", None])]
    for i in range(1500)
]
for _ in range(150):
    tabulate(small)
for fmt in ("plain", "simple", "grid", "github", "pipe", "orgtbl", "rst", "html", "latex"):
    tabulate(rows, headers=["name", "value", "count", "flag"], tablefmt=fmt, floatfmt=".2f")
print(tabulate(rows[:3], headers="firstrow"))
