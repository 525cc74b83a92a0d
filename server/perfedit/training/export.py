"""Shipping a trained adapter: the files of ``<run>/adapter/`` that ``models/<name>/`` needs."""

from __future__ import annotations

import shutil
from pathlib import Path

from perfedit.errors import InputError

#: Copied as they are: the PEFT config (which names the base by alias) and the resolved recipe.
COPIED = ("adapter_config.json", "recipe.json")
WEIGHTS = "adapter_model.safetensors"


def export_adapter(adapter: Path, out: Path) -> int:
    """Write the adapter folder ``adapter`` (as ``perfedit train`` leaves it) into ``out`` for
    shipping: its config and recipe, and its LoRA weights cast to bf16 (half the bytes of the
    float32 training copy; PEFT casts them to the loaded model's dtype). PEFT's generated
    README is not copied: ``out`` gets a model card of its own. Returns the bytes written.

    Raises:
        InputError: ``adapter`` is not an adapter folder.
    """
    import torch
    from safetensors.torch import load_file, save_file

    if not all((adapter / name).is_file() for name in (*COPIED, WEIGHTS)):
        raise InputError(f"{adapter} is not a trained adapter folder (it needs {', '.join((*COPIED, WEIGHTS))}); "
                         "pass the adapter/ folder of a `perfedit train` output")
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copyfile(adapter / name, out / name)
    weights = load_file(adapter / WEIGHTS)
    save_file({key: tensor.to(torch.bfloat16) for key, tensor in weights.items()}, out / WEIGHTS, metadata={"format": "pt"})
    return sum((out / name).stat().st_size for name in (*COPIED, WEIGHTS))
