"""Containment of the inference engine: an engine process that crashes, crashes while loading,
hangs or answers nothing gives one clear ModelError, perfedit keeps running, and the next request
starts a fresh engine. The engine is tests/fake_engine.py (no model is loaded), started as the
real one is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from perfedit.errors import ModelError
from perfedit.llm import llamacpp
from perfedit.llm.llamacpp import LlamaCppModel

FAKE = Path(__file__).resolve().parent / "fake_engine.py"
MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]


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
