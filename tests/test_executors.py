"""Executors without a cluster: the local executor runs units in order, a unit that died on the
cluster becomes a recorded failure (no verdict) that a resumed evaluation runs again, and
``--executor ray`` without Ray says how to install it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from helpers.settings import FAST
from helpers.training_programs import DOUBLE_FAST, DOUBLE_SLOW, DOUBLE_WRONG, SUM_FAST, make_pie
from perfedit.executors import LocalExecutor, Result, pack_folder, unpack_folder
from perfedit.formats import pairs
from perfedit.training import evaluate, mining, remote, rewards

SLOW_TOTAL = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
FAST_TOTAL = "def total(n):\n    return n * (n - 1) // 2 if n > 0 else 0\n"
TEST_TOTAL = "from mod import total\n\n\ndef test_total():\n    assert total(300_000) == 300_000 * 299_999 // 2\n"


def test_local_executor_runs_in_order_and_maps_like_a_pool():
    results = list(LocalExecutor().run(str.upper, ["a", "b"]))
    assert results == [Result(0, "A"), Result(1, "B")]
    assert list(LocalExecutor().map(len, ["ab", "c"])) == [2, 1]


def test_a_case_folder_travels_as_bytes(tmp_path: Path):
    data = make_pie(tmp_path / "data")
    files = pack_folder(data / "tests" / "pdouble")
    assert files == {
        "input.0.txt": b"3\n",
        "input.1.txt": b"10\n",
        "output.0.txt": b"6\n",
        "output.1.txt": b"20\n",
    }
    assert pack_folder(unpack_folder(files, tmp_path / "copy")) == files


class PicklingHere:
    """A remote-shaped executor that runs here: each item and result goes through pickle, as
    across Ray's process boundary, so a closure or an open handle would fail here too."""

    name, remote = "pickling-here", True

    def run(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Result]:
        for index, item in enumerate(items):
            yield Result(index, pickle.loads(pickle.dumps(fn(pickle.loads(pickle.dumps(item))))))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        return (result.value for result in self.run(fn, items))


def test_rrhf_rewards_travel_with_their_cases(tmp_path: Path):
    """RRHF's reward jobs on a remote executor: each carries its case folder."""
    data = make_pie(tmp_path / "data")
    job = rewards.RewardGroup(
        DOUBLE_SLOW, data / "tests" / "pdouble", (DOUBLE_FAST, DOUBLE_WRONG, None), FAST
    )
    assert rewards.score_inputs([job], remote.ShippingPool(PicklingHere())) == [
        [rewards.FASTER, rewards.FAILS, rewards.NO_PARSE]
    ]


def test_mining_units_carry_the_parent_tree(tmp_path: Path):
    """`data pairs --git` on a remote executor: the unit holds the parent's files as a tar, so
    the node needs no repository."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "mod.py").write_text(SLOW_TOTAL)
    (repo / "tests" / "test_mod.py").write_text(TEST_TOTAL)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "slow"], check=True)
    (repo / "mod.py").write_text(FAST_TOTAL)
    subprocess.run([*git, "commit", "-qam", "fast"], check=True)
    [pair] = mining.mine_git(repo, FAST, executor=PicklingHere())
    assert (pair["slow"], pair["fast"]) == (SLOW_TOTAL, FAST_TOTAL) and pair["speedup"] > 1.1


class DiesOnce:
    """An executor whose first unit "dies on the cluster": the shape RayExecutor yields after
    its retries; the other units run here, through the shipped (packed) case folders."""

    name, remote = "dies-once", True

    def __init__(self) -> None:
        self.runs = 0

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Result]:
        self.runs += 1
        for index, item in enumerate(items):
            assert item.cases is not None  # shipped, as for a remote node
            yield (
                Result(index, error="WorkerCrashedError after 4 attempts", attempts=4)
                if self.runs == 1 and index == 0
                else Result(index, fn(item))
            )


def test_a_lost_unit_is_recorded_as_failed_and_run_again_on_resume(tmp_path: Path):
    data = make_pie(tmp_path / "data")
    chosen = evaluate.programs(pairs.load(data / "train.jsonl"), 2)
    codes = {"pdouble": (DOUBLE_WRONG, DOUBLE_FAST), "psum": (SUM_FAST, "print(")}
    propose = remote.FileProposer({p.slow: codes[p.problem_id] for p in chosen})
    out = tmp_path / "eval.jsonl"
    executor = DiesOnce()
    first = evaluate.evaluate(
        chosen, propose, FAST, out, meta={"model": "file", "k": 2}, executor=executor
    )
    assert (
        first[0]["failed"]
        and "WorkerCrashedError" in first[0]["skipped"]
        and "candidates" not in first[0]
    )
    assert [c["verdict"] for c in first[1]["candidates"]][1] == "rejected"
    [(_, best1), _] = evaluate.summaries(first, 2)
    assert best1.programs == 1  # the failed program counts in no metric

    again = evaluate.evaluate(
        chosen, propose, FAST, out, meta={"model": "file", "k": 2}, executor=executor
    )
    assert [c["verdict"] for c in again[0]["candidates"]] == ["rejected", "faster"]
    assert again[1] == first[1]  # kept from the file, not run again
    assert len(out.read_text().splitlines()) == 3


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path: Path):
    """With Ray unimportable (as in a plain install), `--executor ray` exits 2 with the command
    that installs it, and no traceback."""
    data = make_pie(tmp_path / "data")
    blocked = "import sys; sys.modules['ray'] = None; from perfedit.cli.main import main; sys.exit(main())"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked,
            "evaluate",
            "--pairs",
            str(data / "train.jsonl"),
            "--candidates",
            str(tmp_path / "none.jsonl"),
            "--out",
            str(tmp_path / "out.jsonl"),
            "--executor",
            "ray",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'perfedit[ray]'" in done.stderr and "Traceback" not in done.stderr
