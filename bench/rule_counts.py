"""How many targets each rule of the catalogue applies to, and how long applying the whole
catalogue takes per target (a static count: nothing is run or validated).

The targets: the first ``--enamel`` ENAMEL dev problems (HumanEval's canonical solution, the
entry point as the target, as bench/enamel_tasks.py builds them), the ``--pie`` PIE val
programs that bench/ablation.py uses (bench/pie_val.py's selection), and with ``--train`` every
slow program of PIE's train split (where "PIE train: n of 612" in docs/rules.md comes from).
Times are CPU seconds of :func:`perfedit.candidates.rules.propose_rules` per target (the combined
candidate included), median and maximum, with the load average beside them.

    python bench/rule_counts.py --data ../shared/data [--enamel 40] [--pie 19] [--train]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import enamel_tasks
import pie_val
from perfedit.candidates import Feedback
from perfedit.candidates.rules import CATALOGUE, propose_rules
from perfedit.errors import PerfeditError
from perfedit.progress import never_cancelled, no_progress
from perfedit.targets import Target, find


def enamel_targets(data: Path, count: int) -> list[Target]:
    """The entry points of the first ``count`` ENAMEL dev problems' canonical solutions."""
    programs = enamel_tasks.canonical_programs()
    rows = enamel_tasks.load_rows(data / "enamel")[:count]
    return [
        find(Path("solution.py"), programs[row["task_id"]], function=row["entry_point"])
        for row in rows
    ]


def script_targets(programs: list[str]) -> list[Target]:
    """The programs as script targets (those that parse and read stdin)."""
    targets = []
    for source in programs:
        try:
            targets.append(find(Path("prog.py"), source))
        except PerfeditError:
            continue
    return targets


def count(targets: list[Target]) -> tuple[Counter[str], list[float], int]:
    """Per rule, the targets it applies to; per target, the CPU seconds of the rule proposer;
    the targets at least one rule applies to."""
    applies: Counter[str] = Counter()
    seconds = []
    touched = 0
    for target in targets:
        applied = [rule.name for rule in CATALOGUE if rule(target.code, target.kind)]
        applies.update(applied)
        touched += bool(applied)
        started = time.process_time()
        propose_rules(target, Feedback(), no_progress, never_cancelled)
        seconds.append(time.process_time() - started)
    return applies, seconds, touched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--enamel", type=int, default=40, help="first N ENAMEL dev problems")
    parser.add_argument("--pie", type=int, default=19, help="PIE val programs")
    parser.add_argument("--train", action="store_true", help="also every PIE train program")
    args = parser.parse_args()
    sets = {
        f"ENAMEL dev {args.enamel}": enamel_targets(args.data, args.enamel),
        f"PIE val {args.pie}": script_targets(
            [row["slow"] for row in pie_val.select_programs(args.data / "pie", args.pie)]
        ),
    }
    if args.train:
        train = (args.data / "pie" / "train.jsonl").read_text().splitlines()
        sets[f"PIE train {len(train)}"] = script_targets([json.loads(r)["slow"] for r in train])
    results = {name: count(targets) for name, targets in sets.items()}
    print(f"load average {os.getloadavg()[0]:.1f}; {len(CATALOGUE)} rules")
    for name, (_, seconds, touched) in results.items():
        print(
            f"{name}: {len(seconds)} targets, {touched} with at least one rule; rule proposer "
            f"CPU time per target median {statistics.median(seconds) * 1e3:.1f} ms, "
            f"max {max(seconds) * 1e3:.1f} ms"
        )
    names = list(results)
    print("| rule | family | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for rule in CATALOGUE:
        cells = " | ".join(str(results[n][0][rule.name]) for n in names)
        print(f"| {rule.name} | {rule.family} | {cells} |")
    for n in names:
        applied = sum(1 for rule in CATALOGUE if results[n][0][rule.name])
        print(f"{n}: {applied} of {len(CATALOGUE)} rules apply to at least one target")


if __name__ == "__main__":
    main()
