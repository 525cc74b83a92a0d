"""Inference backends behind one interface (:class:`~perfedit.llm.base.ChatModel`).

* ``llama.cpp`` (the default): the GGUF file runs in llama.cpp's server (xllamacpp) in a child
  process, where a native crash cannot take perfedit with it (:mod:`perfedit.llm.llamacpp`);
* ``transformers``: Hugging Face transformers on the bf16 copy, as training uses it
  (:mod:`perfedit.llm.hf`);
* an OpenAI-compatible endpoint (Ollama, LM Studio, a llama.cpp server, vLLM) when the user names
  its URL (:mod:`perfedit.llm.endpoint`): the only backend through which code leaves the process.

This module imports no backend until one is loaded, so the language server starts without torch
or the llama.cpp engine.
"""

from __future__ import annotations

import threading

from perfedit.errors import ConfigError
from perfedit.llm.base import ChatModel, Draw, Generation, Messages, Reply, StepFn

__all__ = [
    "BACKENDS",
    "ChatModel",
    "Draw",
    "Generation",
    "Messages",
    "Reply",
    "StepFn",
    "check",
    "load",
    "shared",
]

#: The in-process backends a setting may name (an endpoint is chosen by giving its URL).
BACKENDS = ("llama.cpp", "transformers")


def load(model: str, *, backend: str = "llama.cpp", endpoint: str | None = None) -> ChatModel:
    """Load ``model`` (alias, hub id or path; with ``endpoint``, the server's model name).

    ``endpoint`` is the base URL of an OpenAI-compatible server (e.g.
    ``http://127.0.0.1:11434/v1``); when given, ``backend`` is ignored. Never downloads weights.

    Raises:
        ConfigError: ``backend`` is not one of :data:`BACKENDS`.
        MissingExtra: the transformers backend without the ``train`` extra installed.
        ModelMissing: the model's files are not on this machine (the message names the pull).
        ModelError: the file is damaged, the engine is missing or crashed, or the endpoint does
            not answer.
    """
    if endpoint:
        from perfedit.llm.endpoint import EndpointModel

        return EndpointModel.connect(endpoint, model)
    if backend == "llama.cpp":
        from perfedit.llm.llamacpp import LlamaCppModel

        return LlamaCppModel.load(model)
    if backend == "transformers":
        require_train_extra()
        from perfedit.llm.hf import TransformersModel

        return TransformersModel.load(model)
    raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


def check(model: str, *, backend: str = "llama.cpp", endpoint: str | None = None) -> None:
    """Fail now, before any work starts, if :func:`load` certainly would: an unknown backend, or
    a llama.cpp model whose files are not on this machine. Loads nothing and imports no backend
    (milliseconds); an endpoint is only checked when it is first asked.

    Raises:
        ConfigError: ``backend`` is not one of :data:`BACKENDS`.
        MissingExtra: the transformers backend without the ``train`` extra installed.
        ModelMissing: the model's GGUF file (or its adapter's) is not on this machine.
        ModelIntegrityError: the GGUF file fails its size or SHA-256 check.
    """
    if endpoint:
        return
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend == "llama.cpp":
        from perfedit.llm.llamacpp import model_files

        model_files(model)
    else:
        require_train_extra()


def require_train_extra() -> None:
    """Raises MissingExtra unless the transformers backend's packages are installed."""
    from perfedit.llm import extras

    extras.require("train", ("torch", "transformers", "peft"), "--backend transformers")


_loaded: dict[tuple[str, str, str | None], ChatModel] = {}
_loading = threading.Lock()


def shared(model: str, *, backend: str = "llama.cpp", endpoint: str | None = None) -> ChatModel:
    """:func:`load`, once per process and kept (the CLI, the server and the benchmarks share it);
    thread-safe. Raises as :func:`load`."""
    key = (model, backend, endpoint)
    with _loading:
        if key not in _loaded:
            _loaded[key] = load(model, backend=backend, endpoint=endpoint)
        return _loaded[key]
