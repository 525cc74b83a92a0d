"""`perfedit evaluate --executor ray` never waits in silence: on a real cluster of 1-CPU nodes on
127.0.0.1 (the shape that once hung: a model host per node took every CPU), it places the model
so that the programs still run, refuses at once (exit 2) a placement that would leave them no
CPU, reports a stall with Ray's own view of the demand and then stops or waits as asked, and
ends with a clear message (exit 2, the results written so far kept) when the head node dies or
the address is wrong. The cluster helpers are in tests/helpers/ray_nodes.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.ray_nodes import (
    ENV,
    cluster,
    evaluate,
    free_port,
    kill,
    programs_with_candidates,
    runs_a_unit,
)

pytest.importorskip("ray", reason="the Ray extra is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.ray

#: Seconds for one evaluation of the three small programs on the cluster, with Ray's start-up,
#: on a machine whose 2 cores other jobs share.
EVALUATE_TIMEOUT_S = 420
#: Seconds within which a refusal (wrong address, cluster too small) must come: it is decided
#: before any work is submitted, so this only covers Python's and Ray's start-up under load.
REFUSAL_TIMEOUT_S = 120
#: The stall timeout the tests ask for, and the bound on the whole stalled run (start-up, the
#: timeout itself, the report): the run must end (or report) well before a silent hang would.
STALL_S = 20
STALLED_RUN_TIMEOUT_S = 240

#: Holds N CPUs of the cluster (one actor each) until killed, as another user's job would.
HOLDER = """
import sys, time, ray

@ray.remote(num_cpus=1)
class Hold:
    def ready(self):
        return True

ray.init(address=sys.argv[1], log_to_driver=False)
holds = [Hold.remote() for _ in range(int(sys.argv[2]))]
ray.get([h.ready.remote() for h in holds])
print("held", flush=True)
time.sleep(3600)
"""


@pytest.fixture(scope="module")
def one_cpu_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The issue's cluster: a head and a worker node with 1 CPU each; its address."""
    with cluster(tmp_path_factory.mktemp("nodes"), (1, 1)) as (address, _):
        yield address


def _hold(address: str, cpus: int) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, address, str(cpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_a_wrong_address_is_refused_at_once(tmp_path: Path):
    data, candidates = programs_with_candidates(tmp_path)
    address = f"127.0.0.1:{free_port()}"
    run = evaluate(
        data, tmp_path / "out.jsonl", "--candidates", str(candidates), "--executor", "ray",
        "--ray-address", address,
    )  # fmt: skip
    _, err = run.communicate(timeout=REFUSAL_TIMEOUT_S)
    assert run.returncode == 2, err[-3000:]
    assert f"no Ray cluster answers at '{address}'" in err and "Traceback" not in err


def test_too_many_model_hosts_for_one_cpu_nodes_are_refused_before_any_work(
    tmp_path: Path, one_cpu_nodes: str
):
    """A host on each 1-CPU node would leave the programs no CPU (the hang of the issue): the
    run stops before loading anything, naming both nodes and the three ways out."""
    data, _ = programs_with_candidates(tmp_path)
    run = evaluate(
        data, tmp_path / "out.jsonl", "--model", "smollm2-135m", "--model-hosts", "2",
        "--executor", "ray", "--ray-address", one_cpu_nodes,
    )  # fmt: skip
    _, err = run.communicate(timeout=REFUSAL_TIMEOUT_S)
    assert run.returncode == 2, err[-3000:]
    flat = " ".join(err.split())
    assert flat.count(", 1 CPU)") == 2 and len(set(re.findall(r"\(node (\w+),", flat))) == 2, flat
    assert "--num-cpus" in flat and "--model-hosts 1" in flat and "--endpoint" in flat
    assert "Traceback" not in err and not _records(tmp_path / "out.jsonl")


def test_a_stall_is_reported_with_rays_demand_then_stopped_or_waited_out(
    tmp_path: Path, one_cpu_nodes: str
):
    """Another job holds both CPUs: the units cannot start. With --on-stall stop the run ends
    with Ray's pending demand on stderr (exit 2); with --on-stall wait it says so, keeps
    waiting, and finishes every program once the CPUs are free."""
    data, candidates = programs_with_candidates(tmp_path)
    common = ("--candidates", str(candidates), "--executor", "ray", "--ray-address", one_cpu_nodes)
    holder = _hold(one_cpu_nodes, 2)
    try:
        stopped = evaluate(data, tmp_path / "stop.jsonl", *common, "--stall-timeout", str(STALL_S))
        _, err = stopped.communicate(timeout=STALLED_RUN_TIMEOUT_S)
        assert stopped.returncode == 2, err[-3000:]
        assert f"nothing progressed on the Ray cluster for {STALL_S} s" in err, err[-3000:]
        assert "Ray's pending demand" in err and "{'CPU': 1.0}" in err, err[-3000:]
        assert "CPU 1/1 in use" in err and "Stopped (--on-stall stop)" in err
        assert "Traceback" not in err

        log = tmp_path / "wait.err"
        waiting = evaluate(
            data, tmp_path / "wait.jsonl", *common, "--stall-timeout", str(STALL_S),
            "--on-stall", "wait", stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + STALLED_RUN_TIMEOUT_S
        while "Going on (--on-stall wait)" not in log.read_text():
            assert waiting.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no stall report while the CPUs were held"
            time.sleep(1)
    finally:
        kill(holder)
    out, _ = waiting.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert waiting.returncode == 0, log.read_text()[-3000:]
    records = _records(tmp_path / "wait.jsonl")
    assert len(records) == 3 and not any(r.get("failed") for r in records)
    assert "| Best@1 | 3 |" in out


def test_a_lost_head_ends_the_run_clearly_and_the_written_results_resume(tmp_path: Path):
    """The head node dies mid-run: perfedit says so and exits 2 (not Ray's own exit a minute
    later), the records already written stay, and the same command resumes from them."""
    data, candidates = programs_with_candidates(tmp_path)
    out = tmp_path / "out.jsonl"
    with cluster(tmp_path, (1,)) as (address, [head]):
        run = evaluate(
            data, out, "--candidates", str(candidates), "--runs", "20", "--executor", "ray",
            "--ray-address", address,
        )  # fmt: skip
        deadline = time.monotonic() + EVALUATE_TIMEOUT_S
        while not (_records(out) and runs_a_unit(head)):
            assert run.poll() is None and time.monotonic() < deadline, "no unit ran"
            time.sleep(0.2)
        kept = _records(out)
        kill(head)
        _, err = run.communicate(timeout=REFUSAL_TIMEOUT_S)
    assert run.returncode == 2, err[-3000:]
    assert "stopped answering" in err and "run the same command to resume" in err
    assert _records(out)[: len(kept)] == kept and len(kept) < 3

    resumed = evaluate(data, out, "--candidates", str(candidates), "--runs", "20")
    _, err = resumed.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert resumed.returncode == 0, err[-3000:]
    assert {r["id"] for r in _records(out)} == {"s1", "s2", "s3"}
    assert _records(out)[: len(kept)] == kept  # kept, not run again


@pytest.mark.model
def test_the_model_on_one_cpu_nodes_gives_the_local_verdicts(tmp_path: Path, one_cpu_nodes: str):
    """Generation on the cluster of the issue: one node hosts SmolLM2-135M, the other runs the
    programs and asks it. The run either completes with the local executor's verdicts (greedy
    decoding is deterministic) or stops with the stall report, within the bound."""
    data, _ = programs_with_candidates(tmp_path)
    model = ("--model", "smollm2-135m", "--k", "1", "--programs", "2", "--max-new-tokens", "48")
    remote = evaluate(
        data, tmp_path / "ray.jsonl", *model, "--executor", "ray", "--ray-address", one_cpu_nodes,
        "--stall-timeout", "240",
    )  # fmt: skip
    _, err = remote.communicate(timeout=EVALUATE_TIMEOUT_S)
    if remote.returncode == 2:
        assert "nothing progressed on the Ray cluster" in err, err[-3000:]
        return
    assert remote.returncode == 0, err[-3000:]
    local = evaluate(data, tmp_path / "local.jsonl", *model)
    _, err = local.communicate(timeout=EVALUATE_TIMEOUT_S)
    assert local.returncode == 0, err[-3000:]
    verdicts = {
        name: {r["id"]: [c["verdict"] == "rejected" for c in r.get("candidates", [])]
               for r in _records(tmp_path / f"{name}.jsonl")}
        for name in ("ray", "local")
    }  # fmt: skip
    assert len(verdicts["ray"]) == 2 and verdicts["ray"] == verdicts["local"]
