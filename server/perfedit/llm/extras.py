"""perfedit's optional parts (pip extras) and the check a command makes before it needs one.

``pip install perfedit`` brings what suggest, compare, profile, scan and the language server
need (the llama.cpp engine included). Training and the transformers backend need the ``train``
extra (torch, transformers, peft, accelerate, gguf, safetensors); ``--executor ray`` needs
``ray`` (checked in :mod:`perfedit.executors`).
"""

from __future__ import annotations

import importlib.util

from perfedit.errors import MissingExtra

#: The packages (import names) of the ``train`` extra that a command may need.
TRAIN = ("torch", "transformers", "peft", "accelerate", "gguf", "safetensors")


def installed(module: str) -> bool:
    """Whether ``module`` (an import name) can be imported here, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


def require(extra: str, modules: tuple[str, ...], purpose: str) -> None:
    """Fail now, before any work starts, unless every one of ``modules`` is installed.

    ``purpose`` names what needs them ("perfedit train", "backend = \\"transformers\\"").

    Raises:
        MissingExtra: a module is missing; the message names the extra and the pip command.
    """
    missing = [module for module in modules if not installed(module)]
    if missing:
        raise MissingExtra(
            f"{purpose} needs {', '.join(missing)}, from perfedit's {extra!r} extra, which is not "
            f"installed here. Install it with: pip install 'perfedit[{extra}]'"
        )
