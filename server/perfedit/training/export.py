"""Shipping a trained adapter: the files of ``<run>/adapter/`` that ``models/<name>/`` needs.

:func:`export_adapter` writes the PEFT files (for the transformers backend and training) and
:func:`write_lora_gguf` the same LoRA weights as ``adapter.gguf``, in llama.cpp's LoRA adapter
GGUF format, which llama.cpp loads on top of the adapter's base GGUF file (the default backend).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit.errors import InputError, ModelError, ModelMissing
from perfedit.llm import modelstore
from perfedit.llm.llamacpp import ADAPTER_GGUF

if TYPE_CHECKING:
    import torch

#: Copied as they are: the PEFT config (which names the base by alias) and the resolved recipe.
COPIED = ("adapter_config.json", "recipe.json")
WEIGHTS = "adapter_model.safetensors"

#: GGUF architectures whose LoRA tensors :func:`write_lora_gguf` can write, and whether llama.cpp's
#: HF→GGUF conversion permutes the rows of their q/k projections (the rotary layout of "llama",
#: ``LlamaModel.permute`` in llama.cpp's ``conversion/llama.py``), which LoRA B must follow.
ARCHITECTURES = {"llama": True, "qwen2": False, "qwen3": False}

_PEFT_PREFIX = "base_model.model."
_FLOAT16_MAX = 65504.0


@dataclass(frozen=True)
class BaseShape:
    """What a LoRA GGUF file needs to know of its base, read from the base's GGUF metadata."""

    arch: str  # general.architecture, e.g. "qwen2", "llama"
    blocks: int  # <arch>.block_count
    heads: int  # <arch>.attention.head_count
    heads_kv: int  # <arch>.attention.head_count_kv
    tensors: dict[str, tuple[int, ...]]  # GGUF tensor name -> shape in ggml order (ne: in, out)


def export_adapter(adapter: Path, out: Path) -> int:
    """Write the adapter folder ``adapter`` (as ``perfedit train`` leaves it) into ``out`` for
    shipping: its config and recipe, its LoRA weights cast to bf16 (half the bytes of the
    float32 training copy; PEFT casts them to the loaded model's dtype), and ``adapter.gguf``
    for llama.cpp (:func:`write_lora_gguf`, from the uncast weights). PEFT's generated README is
    not copied: ``out`` gets a model card of its own. ``out`` may be ``adapter`` itself: then
    only ``adapter.gguf`` is written (for an adapter exported before the file existed, or a
    ``perfedit train`` output to run with llama.cpp). Returns the bytes of the files in ``out``.

    Raises:
        InputError: ``adapter`` is not an adapter folder, or its LoRA cannot be written for
            llama.cpp (DoRA, trained biases or embeddings).
        ModelMissing: the base's GGUF file is not on this machine; the PEFT files are already
            written then, only ``adapter.gguf`` is not (pull the base and export again).
        ModelError: the base's architecture is not one :func:`write_lora_gguf` supports.
    """
    import torch
    from safetensors.torch import load_file, save

    if not all((adapter / name).is_file() for name in (*COPIED, WEIGHTS)):
        raise InputError(
            f"{adapter} is not a trained adapter folder (it needs {', '.join((*COPIED, WEIGHTS))}); "
            "pass the adapter/ folder of a `perfedit train` output"
        )
    out.mkdir(parents=True, exist_ok=True)
    weights = load_file(adapter / WEIGHTS)
    if (
        adapter.resolve() != out.resolve()
    ):  # else only adapter.gguf is added: the rest stays as it is
        for name in COPIED:
            shutil.copyfile(adapter / name, out / name)
        partial = out / f".{WEIGHTS}.partial"
        # save() and a plain write, not save_file(), which leaves the file readable by its owner only.
        partial.write_bytes(
            save(
                {key: tensor.to(torch.bfloat16).contiguous() for key, tensor in weights.items()},
                metadata={"format": "pt"},
            )
        )
        os.replace(partial, out / WEIGHTS)
    try:
        write_lora_gguf(out, out / ADAPTER_GGUF, weights=weights)
    except ModelMissing as error:
        raise ModelMissing(
            f"{out} has the adapter's PEFT files (the transformers backend loads them) but no "
            f"{ADAPTER_GGUF} for llama.cpp: {error} Then run this export again."
        ) from error
    return sum((out / name).stat().st_size for name in (*COPIED, WEIGHTS, ADAPTER_GGUF))


def write_lora_gguf(
    adapter: Path,
    path: Path,
    *,
    weights: Mapping[str, torch.Tensor] | None = None,
    base_gguf: Path | None = None,
    float16: bool = True,
) -> int:
    """Write the PEFT LoRA adapter in the folder ``adapter`` to ``path`` in llama.cpp's LoRA
    adapter GGUF format; returns the bytes written.

    The format is the one llama.cpp's ``convert_lora_to_gguf.py`` writes and
    ``src/llama-adapter.cpp`` (``llama_adapter_lora_init``) reads: ``general.architecture`` = the
    base's architecture, ``general.type`` = "adapter", ``adapter.type`` = "lora",
    ``adapter.lora.alpha`` = ``lora_alpha`` (float32), and for each adapted weight ``W`` (out × in)
    of the base, e.g. ``blk.0.attn_q.weight``, the tensors ``<name>.lora_a`` (PEFT's lora_A,
    r × in) and ``<name>.lora_b`` (PEFT's lora_B, out × r). llama.cpp adds
    ``alpha / r · B (A x)`` to ``W x``, PEFT ``scaling · B (A x)``; where the two scales differ
    (rsLoRA, ``alpha_pattern``) B is multiplied by their ratio. For the "llama" architecture the
    rows of B of q/k are permuted as llama.cpp's conversion permutes those of the base.

    ``weights`` are the adapter's tensors by PEFT name (default: ``adapter_model.safetensors`` in
    ``adapter``), ``base_gguf`` the base's GGUF file (default: :func:`perfedit.llm.modelstore.resolve_gguf`
    of the ``base_model_name_or_path`` of ``adapter_config.json``), whose metadata gives the
    architecture, block and head counts, and whose tensor shapes are checked against the adapter.
    Tensors are float16 with ``float16`` (float32 where a value does not fit), else float32. The
    file is written beside ``path`` and renamed into place.

    Raises:
        InputError: ``adapter`` is not a PEFT LoRA adapter folder, or holds what llama.cpp's LoRA
            format cannot carry (DoRA, trained biases, embeddings or other non-LoRA tensors), or
            a LoRA for a weight the base does not have or of another shape (a wrong base).
        ModelMissing, ModelIntegrityError: the base's GGUF file is missing or damaged.
        ModelError: the base's architecture is not in :data:`ARCHITECTURES`.
    """
    import gguf

    config = _lora_config(adapter)
    if base_gguf is None:
        base_gguf = modelstore.resolve_gguf(config["base_model_name_or_path"])
    if weights is None:
        from safetensors.torch import load_file

        weights = load_file(adapter / WEIGHTS)
    base = read_base_shape(base_gguf)
    if base.arch not in ARCHITECTURES:
        raise ModelError(
            f"perfedit writes llama.cpp LoRA files for the {', '.join(ARCHITECTURES)} architectures; the base "
            f"{base_gguf.name} is {base.arch!r}. Convert the adapter with llama.cpp's convert_lora_to_gguf.py, "
            "or run it with --backend transformers."
        )
    names = gguf.get_tensor_name_map(_arch_enum(base.arch), base.blocks)
    alpha = float(config["lora_alpha"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    writer = gguf.GGUFWriter(partial, base.arch)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        for module, (a, b) in sorted(
            _lora_pairs(weights, adapter).items(), key=lambda item: _natural(item[0])
        ):
            name = names.get_name(module + ".weight", try_suffixes=(".weight",))
            if name is None or name not in base.tensors:
                raise InputError(
                    f"{adapter}: the LoRA of {module} has no weight to adapt in the base {base_gguf.name} "
                    "(llama.cpp's LoRA format carries linear projections only); is it the right base?"
                )
            rank = a.shape[0]
            a, b = a.float(), b.float() * _scale_ratio(config, module, rank, alpha)
            if base.tensors[name] != (a.shape[1], b.shape[0]) or b.shape[1] != rank:
                raise InputError(
                    f"{adapter}: the LoRA of {module} (A {tuple(a.shape)}, B {tuple(b.shape)}) does not fit "
                    f"{name} of {base_gguf.name} (in × out {base.tensors[name]}): a different base model?"
                )
            if ARCHITECTURES[base.arch] and name.split(".")[-2] in ("attn_q", "attn_k"):
                b = _permute_rows(
                    b, base.heads, base.heads if name.split(".")[-2] == "attn_q" else base.heads_kv
                )
            for suffix, tensor in (("lora_a", a), ("lora_b", b)):
                writer.add_tensor(f"{name}.{suffix}", _array(tensor, float16))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(partial, path)
    return path.stat().st_size


def read_base_shape(base_gguf: Path) -> BaseShape:
    """The architecture, block and head counts and tensor shapes of the GGUF model ``base_gguf``,
    from its metadata (no tensor data is read).

    Raises:
        ModelError: the file is not a GGUF model or lacks those keys.
    """
    import gguf

    try:
        reader = gguf.GGUFReader(base_gguf)
        arch = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())

        def number(key: str) -> int:
            return int(reader.fields[key.format(arch=arch)].contents())

        return BaseShape(
            arch=arch,
            blocks=number(gguf.Keys.LLM.BLOCK_COUNT),
            heads=number(gguf.Keys.Attention.HEAD_COUNT),
            heads_kv=number(gguf.Keys.Attention.HEAD_COUNT_KV),
            tensors={t.name: tuple(int(n) for n in t.shape) for t in reader.tensors},
        )
    except (KeyError, ValueError, OSError) as error:
        raise ModelError(
            f"{base_gguf} is not a GGUF model with the metadata a LoRA needs ({error!r}); "
            "pull the base model again"
        ) from error


def _lora_config(adapter: Path) -> dict:
    """``adapter_config.json`` of a plain LoRA adapter, or InputError saying what is wrong."""
    try:
        config = json.loads((adapter / "adapter_config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{adapter} is not a PEFT adapter folder ({error})") from error
    if config.get("peft_type") != "LORA":
        raise InputError(
            f"{adapter} is a {config.get('peft_type')} adapter; llama.cpp loads LoRA adapters only"
        )
    if config.get("use_dora"):
        raise InputError(
            f"{adapter} is a DoRA adapter; llama.cpp's LoRA format cannot carry its magnitude vectors"
        )
    if not config.get("base_model_name_or_path"):
        raise InputError(
            f"{adapter}/adapter_config.json names no base model (base_model_name_or_path)"
        )
    return config


def _lora_pairs(
    weights: Mapping[str, torch.Tensor], adapter: Path
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """PEFT's ``base_model.model.<module>.lora_A.weight`` / ``lora_B.weight`` tensors as
    ``{<module>: (A, B)}``; InputError for any other tensor or a half of a pair."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in weights.items():
        match = re.fullmatch(
            rf"{re.escape(_PEFT_PREFIX)}(.+)\.lora_([AB])(?:\.default)?\.weight", key
        )
        if match is None:
            raise InputError(
                f"{adapter}: {key} is not a LoRA A or B matrix (a trained bias, embedding or "
                "modules_to_save?); llama.cpp's LoRA format carries only those"
            )
        pairs.setdefault(match[1], {})[match[2]] = tensor
    if not pairs:
        raise InputError(f"{adapter} holds no LoRA weights")
    incomplete = sorted(module for module, pair in pairs.items() if len(pair) != 2)
    if incomplete:
        raise InputError(f"{adapter}: {incomplete[0]} has only one of its LoRA matrices A and B")
    return {module: (pair["A"], pair["B"]) for module, pair in pairs.items()}


def _scale_ratio(config: Mapping, module: str, rank: int, alpha: float) -> float:
    """PEFT's scaling of ``module`` divided by llama.cpp's (``alpha / rank``, or 1 when alpha is 0)."""
    module_alpha = float(config["lora_alpha"])
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if re.fullmatch(rf"(.*\.)?{pattern}", module):
            module_alpha = float(value)
            break
    peft = module_alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    return peft / (alpha / rank if alpha else 1.0)


def _permute_rows(b: torch.Tensor, heads: int, heads_kv: int) -> torch.Tensor:
    """The rows (outputs) of ``b`` in the rotary layout llama.cpp gives q/k of a "llama" GGUF
    (``LlamaModel.permute`` of llama.cpp's ``conversion/llama.py``, applied to LoRA B)."""
    if heads_kv != heads:
        heads = heads_kv
    return (
        b.reshape(heads, 2, b.shape[0] // heads // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)
    )


def _array(tensor: torch.Tensor, float16: bool):
    """``tensor`` as a contiguous numpy array, float16 when asked and every value fits."""
    import torch

    if float16 and tensor.abs().max().item() <= _FLOAT16_MAX:
        tensor = tensor.to(torch.float16)
    return tensor.contiguous().numpy()


def _arch_enum(arch: str):
    """gguf's ``MODEL_ARCH`` member named ``arch`` (e.g. "qwen2")."""
    import gguf

    return next(member for member, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)


def _natural(name: str) -> list[int | str]:
    """Sort key that orders ``layers.2`` before ``layers.10``."""
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", name)]
