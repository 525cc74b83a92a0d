"""The sandbox's file-system side, through ``perfedit compare --json`` as a process: nothing a
candidate writes is left behind or exceeds the scratch cap, nothing outside the interpreter, its
libraries and the sandbox's own copy can be read, and a candidate's output reaches the JSON only
capped.

Each candidate replaces ``unique_in_order`` of examples/dedupe and fails its tests, so it is
rejected at the first run; the tests look at the JSON ``detail``, stderr and the host's folders.
"""

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from perfedit.sandbox import Limits
from perfedit.sandbox.protocol import MAX_DETAIL_BYTES

SHM = Path("/dev/shm")
CHUNK_BYTES = 15 * 1024**2  # below RLIMIT_FSIZE (16 MiB), so only the total cap can stop the writes
TOTAL_BYTES = 300 * 1024**2  # beyond the default scratch cap (Limits.max_scratch_bytes)
SECRET = f"secret-{uuid.uuid4().hex}"

WRITER = """\
def unique_in_order(items):
    import os
    folder = os.path.join(FOLDER, "MARK")
    os.makedirs(folder, exist_ok=True)
    written = 0
    try:
        while written < TOTAL:
            with open(os.path.join(folder, str(written)), "wb") as handle:
                handle.write(b"x" * CHUNK)
            written += CHUNK
    except OSError as exc:
        raise RuntimeError(f"stopped after {written} bytes: {exc}") from exc
    raise RuntimeError(f"wrote all {written} bytes")
"""

READER = """\
def unique_in_order(items):
    import os
    seen = []
    for attempt in (lambda: open(SECRET_FILE).read(), lambda: os.listdir(FAKE_HOME), lambda: os.listdir("/root")):
        try:
            seen.append(repr(attempt()))
        except OSError as exc:
            seen.append(type(exc).__name__)
    raise RuntimeError("read: " + " | ".join(seen))
"""

LOUD = """\
def unique_in_order(items):
    import sys
    loud = "y" * (10 * 1024**2)
    sys.stdout.write(loud)
    raise RuntimeError(loud)
"""


def compare(project: Path, candidate: str, tmp: Path, home: Path) -> tuple[dict, str]:
    """``perfedit compare --json`` of ``candidate`` against dedupe.py, with TMPDIR ``tmp`` and
    HOME ``home``; returns the JSON object and stderr."""
    path = project / "candidate.py"
    path.write_text(candidate)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfedit",
            "compare",
            "dedupe.py",
            "candidate.py",
            "--function",
            "unique_in_order",
            "--json",
            "--runs",
            "5",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "TMPDIR": str(tmp),
            "HOME": str(home),
            "PERFEDIT_CACHE_DIR": str(tmp.parent / "cache"),
        },
    )
    assert result.stdout, result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A TMPDIR for perfedit (empty) and a fake HOME holding a key file."""
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(SECRET)
    return tmp, home


def _writer(folder: str, mark: str) -> str:
    return (
        WRITER.replace("FOLDER", repr(folder))
        .replace("MARK", mark)
        .replace("TOTAL", str(TOTAL_BYTES))
        .replace("CHUNK", str(CHUNK_BYTES))
    )


def test_dev_shm_is_private_capped_and_gone(dedupe_project: Path, places: tuple[Path, Path]):
    """(a) 300 MB written to /dev/shm: stopped at the scratch cap, and nothing of it is left in the
    host's /dev/shm once compare exits."""
    mark = f"perfedit-test-{uuid.uuid4().hex}"
    try:
        answer, _ = compare(dedupe_project, _writer("/dev/shm", mark), *places)
        assert not (SHM / mark).exists(), "the candidate's files are left in the host's /dev/shm"
        assert answer["verdict"] == "rejected"
        assert "No space left on device" in answer["detail"], answer["detail"]
        written = int(re.search(r"stopped after (\d+) bytes", answer["detail"])[1])
        assert written <= Limits().max_scratch_bytes
    finally:
        subprocess.run(["rm", "-rf", str(SHM / mark)], check=False)


def test_tmpdir_is_capped_and_removed(dedupe_project: Path, places: tuple[Path, Path]):
    """(b) 300 MB written to TMPDIR: rejected at the scratch cap with the reason, nothing left in
    perfedit's own TMPDIR."""
    mark = f"perfedit-test-{uuid.uuid4().hex}"
    candidate = _writer("__TMP__", mark).replace("'__TMP__'", "os.environ['TMPDIR']")
    answer, _ = compare(dedupe_project, candidate, *places)
    assert answer["verdict"] == "rejected"
    assert "No space left on device" in answer["reason"] + answer["detail"], answer
    assert list(places[0].iterdir()) == [], "the workspace was left behind"


def test_reads_outside_the_sandbox_fail(dedupe_project: Path, places: tuple[Path, Path]):
    """(c) A key file by absolute path, the real HOME and /root: every read fails, and the
    secret appears neither in the JSON nor on stderr."""
    home = places[1]
    candidate = READER.replace("SECRET_FILE", repr(str(home / ".ssh" / "id_ed25519"))).replace(
        "FAKE_HOME", repr(str(home))
    )
    answer, stderr = compare(dedupe_project, candidate, *places)
    text = json.dumps(answer)
    assert SECRET not in text and SECRET not in stderr
    assert "['.ssh']" not in answer["detail"]  # the fake HOME's listing
    assert "read: PermissionError | PermissionError | PermissionError" in answer["detail"], answer[
        "detail"
    ]


def test_loud_output_is_capped_in_detail(dedupe_project: Path, places: tuple[Path, Path]):
    """(d) 10 MiB printed by a failing test, and in its exception's message: the JSON ``detail`` is at most MAX_DETAIL_BYTES
    (plus the cut's marker) and says how much was cut."""
    answer, _ = compare(dedupe_project, LOUD, *places)
    assert answer["verdict"] == "rejected"
    detail = answer["detail"]
    assert len(detail.encode()) <= MAX_DETAIL_BYTES + 64, len(detail.encode())
    assert "bytes cut)" in detail, detail[-300:]
    assert len(answer["reason"].encode()) <= MAX_DETAIL_BYTES + 64


MASK_CHECK = """
import json, os, sys
sys.path.insert(0, SANDBOX)
import confine
if not confine._private_mounts():
    sys.exit(3)
hidden = confine._mask_secrets(confine._readable([KEEP]))
print(json.dumps({"hidden": hidden, "secret": open(SECRET).read(), "keep": os.listdir(KEEP),
                  "stdlib": os.path.exists(os.path.join(os.path.dirname(os.__file__), "json", "__init__.py"))}))
"""


@pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting needs root here (the keeper gets it from a user namespace)"
)
def test_fallback_without_landlock_masks_secret_folders(tmp_path: Path):
    """The keeper's fallback where Landlock is missing, run in a mount namespace of its own: the
    folders that may hold secrets (here /tmp, holding the secret) are hidden under empty file
    systems, but the way to the workspace and the interpreter stays (the interpreter here lives
    under /root)."""
    keep, secret = tmp_path / "workspace", tmp_path / "secret.txt"
    keep.mkdir()
    (keep / "test_it.py").write_text("")
    secret.write_text(SECRET)
    sandbox = Path(__file__).resolve().parent.parent / "server" / "perfedit" / "sandbox"
    code = (
        MASK_CHECK.replace("SANDBOX", repr(str(sandbox)))
        .replace("KEEP", repr(str(keep)))
        .replace("SECRET", repr(str(secret)))
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120
    )
    if result.returncode == 3:
        pytest.skip("no mount namespace here")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {
        "hidden": True,
        "secret": "",
        "keep": ["test_it.py"],
        "stdlib": True,
    }  # a file: /dev/null over it
    assert secret.read_text() == SECRET  # the host's file is untouched
