"""Nothing one run in the sandbox leaves reaches the next, in the places no file-system rule
covers: POSIX message queues (the sandbox's own IPC namespace, emptied before every test child),
a message queue the collected pytest session holds open, and the host's /dev/shm where there is
no mount namespace (forced here by a keeper whose namespace calls fail, the seam being the
manager's CONFINE script).

Each test starts a real worker (``WorkerHandle``) and runs a probe program twice; the second
run must not see what the first left.
"""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfedit.formats.suites import Case
from perfedit.formats.suites import TestSuite as Suite  # "Test...": pytest would collect it
from perfedit.sandbox import manager
from perfedit.sandbox.manager import Limits, WorkerHandle, Workspace

SANDBOX = Path(manager.__file__).resolve().parent

QUEUE_PROBE = """\
import ctypes
import errno
import os

rt = ctypes.CDLL("librt.so.1", use_errno=True)
name = b"/left-by-an-earlier-run"
queue = rt.mq_open(name, os.O_RDONLY)
print("found" if queue >= 0 or ctypes.get_errno() != errno.ENOENT else "absent")
rt.mq_open(name, os.O_CREAT | os.O_RDONLY, 0o600, None)
"""

SHM_PROBE = """\
import os

print(sorted(name for name in os.listdir("/dev/shm") if name.startswith(MARK)))
with open(f"/dev/shm/{MARK}-{os.getpid()}", "w") as cache:
    cache.write("an answer")
os.makedirs(f"/dev/shm/{MARK}-folder/inner", exist_ok=True)
"""

# A keeper that cannot make any namespace: the worker runs with the host's /dev/shm, IPC and
# mounts, as in an unprivileged container without user namespaces.
NO_NAMESPACES = """\
import sys

sys.path.insert(0, SANDBOX)
import confine

confine._pid_namespace_works = lambda: False
confine._unshare = lambda flags: False
confine._private_mounts = lambda: False
confine.main()
"""


def _cases_worker(tmp_path: Path, program: str) -> Iterator[WorkerHandle]:
    """A cases-mode worker running ``program`` on one empty stdin."""
    suite = Suite(kind="cases", root=tmp_path, cases=(Case("only", "", ""),))
    workspace = Workspace(suite, Path("probe.py"), program)
    try:
        with WorkerHandle(workspace, suite, Limits(timeout_s=30.0)) as worker:
            yield worker
    finally:
        workspace.close()


def _outputs(worker: WorkerHandle, runs: int) -> list[str]:
    """The probe's stdout in each of ``runs`` runs (each must pass)."""
    printed = []
    for _ in range(runs):
        (record,) = worker.run()
        assert record.status == "passed", record.detail
        printed.append(record.stdout.strip())
    return printed


def test_message_queues_are_removed_between_runs(tmp_path: Path):
    """A queue made by one run is gone when the next run starts."""
    for worker in _cases_worker(tmp_path, QUEUE_PROBE):
        if "POSIX message queues (mq_open) too" not in worker.isolation["ipc"]:
            pytest.skip(f"queues are not emptied here: {worker.isolation['ipc']}")
        assert _outputs(worker, 3) == ["absent"] * 3


def test_a_message_queue_held_by_the_collected_session_fails_the_run(tmp_path: Path):
    """A queue opened at import is held by the pytest process every sample is forked from:
    removing its name leaves it open to every sample, so the run fails and says why."""
    (tmp_path / "held.py").write_text(
        "import ctypes, os\n\n"
        'QUEUE = ctypes.CDLL("librt.so.1").mq_open(b"/held", os.O_CREAT | os.O_RDWR, 0o600, None)\n'
    )
    (tmp_path / "test_held.py").write_text(
        "from held import QUEUE\n\n\ndef test_opened():\n    assert QUEUE >= 0\n"
    )
    suite = Suite(kind="pytest", root=tmp_path, node_ids=("test_held.py::test_opened",))
    workspace = Workspace(suite, Path("held.py"), (tmp_path / "held.py").read_text())
    try:
        with WorkerHandle(workspace, suite, Limits(timeout_s=30.0)) as worker:
            if "POSIX message queues (mq_open) too" not in worker.isolation["ipc"]:
                pytest.skip(f"a test cannot open a queue here: {worker.isolation['ipc']}")
            (record,) = worker.run()
    finally:
        workspace.close()
    assert record.status == "error", record
    assert "keep descriptor" in record.detail and "/held" in record.detail, record.detail


HELD_QUEUE_CHECK = """\
import ctypes, os, sys

path = os.path.join(SANDBOX, "worker_common.py")
common = type(sys)("_perfedit_sandbox_worker_common")
common.__file__ = path
sys.modules[common.__name__] = common
exec(compile(open(path).read(), path, "exec"), common.__dict__)
pytest_mode = common._load_beside("worker_pytest.py", "_perfedit_sandbox_worker_pytest")
rt = ctypes.CDLL("librt.so.1", use_errno=True)
queue = rt.mq_open(NAME, os.O_CREAT | os.O_RDWR, 0o600, None)
try:
    print(queue, pytest_mode._shared_channels(os.getpid(), (0, 1, 2)))
finally:
    rt.mq_unlink(NAME)
"""


def test_a_held_message_queue_is_named_though_its_name_is_not_removed():
    """Where the sandbox cannot remove a queue's name (no mqueue file system mounted), the
    descriptor of a queue still reads as a path, "/NAME", which leads to no file: the check of
    the collected session names it all the same (run here, in a process of its own, on itself)."""
    name = f"/perfedit-test-{uuid.uuid4().hex}"
    code = HELD_QUEUE_CHECK.replace("SANDBOX", repr(str(SANDBOX))).replace(
        "NAME", repr(name.encode())
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    queue, _, held = result.stdout.strip().partition(" ")
    assert int(queue) >= 3, result.stdout
    assert f"descriptor {queue} ({name}, a file no path leads to)" in held, held


@pytest.fixture
def without_namespaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers started in this test get no namespace of any kind."""
    keeper = tmp_path / "keeper_without_namespaces.py"
    keeper.write_text(NO_NAMESPACES.replace("SANDBOX", repr(str(SANDBOX))))
    monkeypatch.setattr(manager, "CONFINE", keeper)


@pytest.mark.usefixtures("without_namespaces")
def test_host_shm_keeps_nothing_a_run_made_without_a_mount_namespace(tmp_path: Path):
    """With the host's /dev/shm, what a run creates there (a file, a folder with a folder in it)
    is removed when it ends, so the next run does not see it and nothing is left when the worker
    closes; an entry that was there before the runs stays."""
    mark = f"perfedit-test-{uuid.uuid4().hex}"
    host_entry = Path("/dev/shm") / f"{mark}-host"
    host_entry.write_text("the host's")
    project = tmp_path / "project"
    project.mkdir()
    try:
        for worker in _cases_worker(project, SHM_PROBE.replace("MARK", repr(mark))):
            assert worker.isolation["shm"].startswith("the host's"), worker.isolation["shm"]
            assert "removed when it ends" in worker.isolation["shm"]
            assert _outputs(worker, 3) == [repr([host_entry.name])] * 3
        assert sorted(p.name for p in Path("/dev/shm").glob(f"{mark}*")) == [host_entry.name]
        assert host_entry.read_text() == "the host's"
    finally:
        for left in Path("/dev/shm").glob(f"{mark}*"):
            if left.is_dir():
                for inner in sorted(left.rglob("*"), reverse=True):
                    inner.rmdir()
                left.rmdir()
            else:
                left.unlink()
