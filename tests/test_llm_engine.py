"""Containment of the inference engine: an engine process that crashes, crashes while loading,
hangs or answers nothing gives one clear ModelError, perfedit keeps running, and the next request
starts a fresh engine. The engine is tests/fake_engine.py (no model is loaded), started as the
real one is. A machine without a system library that the engine links (libgomp.so.1) gets one
message naming it and how to install it, from the engine, the doctor and the CLI."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
from perfedit.errors import ModelError
from perfedit.llm import engine_host, llamacpp
from perfedit.llm.llamacpp import LlamaCppModel

FAKE = Path(__file__).resolve().parent / "fake_engine.py"
MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]

#: What ``import xllamacpp`` raises on a machine without GCC's OpenMP runtime: glibc's loader
#: message for a library that a module links and that is not there (checked by importing a
#: module linked to a library that was then deleted).
NO_LIBGOMP = "libgomp.so.1: cannot open shared object file: No such file or directory"

#: Where Linux distributions keep libgomp.so.1.
FOLDERS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """A file the fake engine is given as its model (it never reads it)."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 64)
    return path


@pytest.fixture
def fake(monkeypatch):
    """``fake(mode)`` makes the next engine started a fake one misbehaving as ``mode`` says."""

    def use(mode: str) -> None:
        monkeypatch.setattr(llamacpp, "ENGINE_COMMAND", [sys.executable, str(FAKE), mode])

    return use


def test_a_crash_while_generating_is_a_clear_error_and_the_next_request_restarts(gguf, fake):
    fake("crash")
    model = LlamaCppModel.load(str(gguf))
    first = model.engine.process
    assert first is not None
    with pytest.raises(ModelError, match=r"crashed \(SIGSEGV\).*perfedit kept running"):
        model.complete(MESSAGES, max_new_tokens=8)
    assert first.returncode is not None and first.returncode < 0  # it died, perfedit did not
    with pytest.raises(ModelError, match=r"crashed \(SIGSEGV\)"):
        model.complete(MESSAGES, max_new_tokens=8)
    assert model.engine.process is None or model.engine.process.pid != first.pid


def test_a_crash_while_loading_says_so(gguf, fake):
    fake("crash-at-load")
    with pytest.raises(ModelError, match=r"while loading .*crashed \(SIGSEGV\)"):
        LlamaCppModel.load(str(gguf))
    assert gguf.read_bytes() == b"GGUF" + b"\x00" * 64  # the user's file is untouched


def test_a_hung_engine_is_stopped_after_the_reply_timeout(gguf, fake, monkeypatch):
    monkeypatch.setattr(llamacpp, "REPLY_TIMEOUT_S", 2.0)  # short, so that the test is quick
    fake("hang")
    model = LlamaCppModel.load(str(gguf))
    hung = model.engine.process
    assert hung is not None
    with pytest.raises(ModelError, match="stopped answering: no token for 2 s"):
        model.complete(MESSAGES, max_new_tokens=8)
    assert hung.poll() is not None  # stopped, not left behind


def test_an_engine_that_answers_nothing_is_a_clear_error(gguf, fake):
    fake("empty")
    model = LlamaCppModel.load(str(gguf))
    with pytest.raises(ModelError, match="inference engine .* failed"):
        model.complete(MESSAGES, max_new_tokens=8)


def test_a_missing_engine_says_what_to_install(gguf, monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # import xllamacpp now fails
    with pytest.raises(ModelError, match=r"xllamacpp\) is not installed.*--backend transformers"):
        LlamaCppModel.load(str(gguf))


def test_doctor_reports_a_crashing_engine_instead_of_dying(gguf, fake):
    from perfedit.llm import doctor

    fake("crash")
    line = doctor.trial(str(gguf))
    assert line.startswith("failed: ") and "crashed (SIGSEGV)" in line


@pytest.fixture
def without_libgomp(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """A machine without libgomp.so.1, as the engine's import sees it: an ``xllamacpp`` package
    first on PYTHONPATH (so in every process started from here, the engine's too) whose import
    fails as the real one's does there. Returns that PYTHONPATH as an environment."""
    package = tmp_path / "without-libgomp" / "xllamacpp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise ImportError({NO_LIBGOMP!r})\n")
    paths = [str(package.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return {"PYTHONPATH": os.environ["PYTHONPATH"]}


def test_a_missing_system_library_says_what_to_install(gguf, without_libgomp):
    with pytest.raises(ModelError) as raised:
        LlamaCppModel.load(str(gguf))
    message = str(raised.value)
    assert "needs the system library libgomp.so.1 (GCC's OpenMP runtime)" in message
    assert "`sudo apt install libgomp1`" in message and "`sudo dnf install libgomp`" in message
    assert "damaged" not in message  # not blamed on the model file
    assert gguf.read_bytes() == b"GGUF" + b"\x00" * 64  # the user's file is untouched


def test_doctor_says_which_system_library_is_missing(tmp_path, without_libgomp):
    result = run_perfedit("doctor", "--json", cwd=tmp_path, env=without_libgomp)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    engine = report["inference engine"]
    assert "libgomp.so.1" in engine and "`sudo apt install libgomp1`" in engine, engine
    trial = report["trial generation (in the engine's own process)"]
    assert trial.startswith("skipped") or "libgomp.so.1" in trial, trial  # no traceback


def hidden_libgomp_command(tmp_path: Path, command: list[str]) -> list[str]:
    """``command`` in a mount namespace where the system's libgomp.so.1 is gone: an overlay on
    its folder whose upper layer whites its files out (root only; the machine is not changed)."""
    folder = next((Path(f).resolve() for f in FOLDERS if (Path(f) / "libgomp.so.1").exists()), None)
    if folder is None or os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root, unshare and the system's libgomp.so.1")
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    for library in folder.glob("libgomp.so.1*"):
        os.mknod(upper / library.name, stat.S_IFCHR, os.makedev(0, 0))  # an overlay whiteout
    mount = f"lowerdir={folder},upperdir={upper},workdir={work}"
    script = f"mount -t overlay overlay -o {mount} {folder} && exec {shlex.join(command)}"
    return ["unshare", "--mount", "sh", "-c", script]


def test_the_real_engine_without_libgomp_says_what_to_install(tmp_path):
    """The real wheel and the real dynamic loader, on a machine where libgomp.so.1 is not."""
    info = [sys.executable, "-m", "perfedit.llm.engine_host", "--info"]
    done = subprocess.run(
        hidden_libgomp_command(tmp_path, info), capture_output=True, text=True, timeout=120
    )
    if "mount" in done.stderr and not done.stdout:
        pytest.skip(f"no overlay mount here: {done.stderr.strip()}")
    engine = json.loads(done.stdout)["engine"]
    assert "needs the system library libgomp.so.1" in engine, engine
    assert "is not installed on this machine" in engine and "`sudo apt install libgomp1`" in engine


def test_an_unknown_missing_library_a_damaged_one_and_any_other_import_failure():
    gone = engine_host.unavailable(ImportError("libfoo.so.3: cannot open shared object file"))
    assert "the system library libfoo.so.3 (a system library)" in gone
    assert "package of your Linux distribution that provides it" in gone
    # what glibc's loader says of a library file that is there but empty
    damaged = engine_host.unavailable(
        ImportError("/lib/x86_64-linux-gnu/libgomp.so.1: file too short")
    )
    assert "cannot be loaded (/lib/x86_64-linux-gnu/libgomp.so.1: file too short)" in damaged
    assert "`sudo apt install --reinstall libgomp1`" in damaged
    other = engine_host.unavailable(ImportError("/x/xllamacpp.abi3.so: undefined symbol: f"))
    assert "(/x/xllamacpp.abi3.so: undefined symbol: f)" in other and "reinstall perfedit" in other
