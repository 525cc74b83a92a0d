"""The sandbox protocol on its own (no sandbox processes): frames round-trip over a pipe and
refuse what is not a frame, the manager's TestRecord takes the worker's records, job specs and
isolation facts keep to their fields, and the worker loads protocol.py without importing
anything for the programs it times."""

import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfedit.sandbox import TestRecord as Record  # "Test...": pytest would collect it
from perfedit.sandbox import protocol

MARSHALABLE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(MARSHALABLE)
def test_frame_round_trips_over_a_pipe(message):
    read, write = os.pipe()
    try:
        protocol.send_frame(write, message)
        assert protocol.receive_frame(read) == message
    finally:
        os.close(read)
        os.close(write)


def test_receive_frame_refuses_oversized_malformed_and_closed():
    read, write = os.pipe()
    try:
        os.write(write, (protocol.MAX_FRAME_BYTES + 1).to_bytes(4, "little"))
        with pytest.raises(protocol.BrokenChannel, match="bytes"):
            protocol.receive_frame(read)
        os.write(write, (3).to_bytes(4, "little") + b"\xff\xff\xff")
        with pytest.raises(protocol.BrokenChannel, match="malformed"):
            protocol.receive_frame(read)
    finally:
        os.close(write)
    with pytest.raises(protocol.ChannelClosed):
        protocol.receive_frame(read)
    os.close(read)


def test_test_record_fields_are_the_protocol_s():
    assert tuple(field.name for field in fields(Record)) == protocol.RECORD_FIELDS
    record = Record(**protocol.record("t", protocol.PASSED, 0.5, 0.6, 1024, "", stdout="out"))
    assert record.ran_cleanly and record.stdout == "out"


def test_job_spec_needs_exactly_its_mode_s_fields():
    common = dict.fromkeys(protocol.SPEC_FIELDS["common"])
    spec = protocol.job_spec(protocol.DIFFERENTIAL, module="m", function="f", **common)
    assert spec["mode"] == protocol.DIFFERENTIAL
    with pytest.raises(ValueError, match="differential job spec"):
        protocol.job_spec(protocol.DIFFERENTIAL, module="m", **common)


def test_a_profile_job_round_trips_through_json_and_knows_its_modes():
    import json

    job = protocol.ProfileJob(
        protocol.PROFILE_PASS, ["tests"], 60.0, 8, 16, 0.5, 1.0, out="/o/p.json", root="/r"
    )
    lines = job.replace(mode=protocol.LINES_PASS, wanted=[("m.py", "f", 3)], budget_s=2.0)
    again = protocol.ProfileJob(**json.loads(json.dumps(lines.to_json())))
    assert again.to_json() == lines.to_json() and again.wanted == [["m.py", "f", 3]]
    assert (job.mode, job.budget_s, job.wanted) == (protocol.PROFILE_PASS, 0.0, [])
    with pytest.raises(ValueError, match="mode"):
        job.replace(mode="profiled")
    with pytest.raises(TypeError):
        protocol.ProfileJob(**{**job.to_json(), "budget": 1.0})


def test_a_workload_job_round_trips_through_json_and_checks_its_mode_and_kind():
    import json

    job = protocol.WorkloadJob(
        protocol.PROFILE_PASS,
        protocol.SCRIPT,
        "bench/run.py",
        ("--n", "3"),
        8,
        0.25,
        2.0,
        3.0,
        20,
        1024,
        4096,
        2.0,
        out="/o/w.json",
        root="/r",
    )
    recorded = {"m.py:3": {"file": "m.py", "function": "f", "line": 3, "kept": [], "skipped": {}}}
    later = job.replace(wanted=[("m.py", "f", 3)], budget_s=2.0, recorded=recorded)
    again = protocol.WorkloadJob(**json.loads(json.dumps(later.to_json())))
    assert again.to_json() == later.to_json() and again.wanted == [["m.py", "f", 3]]
    assert again.argv == ["--n", "3"] and again.recorded == recorded
    assert (job.wanted, job.recorded, job.record_budget_s) == ([], {}, 0.0)
    with pytest.raises(ValueError, match="mode"):
        job.replace(mode=protocol.LINES_PASS)
    with pytest.raises(ValueError, match="kind"):
        job.replace(kind="shell")
    with pytest.raises(TypeError):
        protocol.WorkloadJob(**{**job.to_json(), "calls": 1})


def test_facts_round_trip_through_arguments():
    facts = {protocol.PIDS: protocol.NAMESPACE, protocol.FILESYSTEM: f"{protocol.LANDLOCK}6"}
    assert protocol.facts_from_args(protocol.facts_to_args(facts)) == facts


def test_worker_loads_protocol_without_importing_modules():
    """The worker script, run under -I as the keeper runs it, loads protocol.py and
    worker_common.py beside it and adds no module to sys.modules but its private copies of them
    (and ``resource``); the module of its mode comes only when it runs."""
    worker = Path(protocol.__file__).with_name("worker.py")
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        f"path = {str(worker)!r}\n"
        "exec(compile(open(path).read(), path, 'exec'), {'__name__': 'worker', '__file__': path})\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == (
        "['_perfedit_sandbox_protocol', '_perfedit_sandbox_worker_common', 'resource']"
    )


def test_a_profile_is_checked_before_it_is_believed():
    """A line profile comes from the process that runs the program: only ``{line: seconds}``
    with positive int lines and finite non-negative float seconds is taken."""
    assert protocol.line_seconds({6: 0.25, 1: 0.0}) == {6: 0.25, 1: 0.0}
    for forged in (
        [(6, 0.25)],
        {0: 0.1},
        {True: 0.1},
        {"6": 0.1},
        {6: 1},
        {6: -0.1},
        {6: float("nan")},
        {6: float("inf")},
        None,
    ):
        assert protocol.line_seconds(forged) is None, forged
