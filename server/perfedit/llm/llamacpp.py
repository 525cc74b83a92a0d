"""The llama.cpp backend (the default): GGUF files run in-process through llama-cpp-python.

The model is the GGUF file ``perfedit model pull`` fetched and verified (no conversion); a
perfedit LoRA adapter runs on it from the adapter's ``adapter.gguf`` (``perfedit train export``
writes it). Replies are generated one after another in one context, each streamed token by token,
so the pipeline can validate a reply while the next one is generated.

Copy-aware decoding was measured and left out: the binding's prompt-lookup decoding
(``LlamaPromptLookupDecoding``) generated at 0.55x the plain speed on this 2-core CPU
(``bench/generation.py``, docs/results.md), and its chat API has no batch of several sequences in
one context, so the samples are generated one after another.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from perfedit.errors import Cancelled, ModelError, ModelMissing
from perfedit.llm import modelstore
from perfedit.llm.base import ChatModel, Draw, Messages, Reply

#: Tokens of context: the longest prompt (refinement with a test) plus a reply.
CONTEXT_TOKENS = 4096

#: ggml's log levels (ggml.h of the vendored llama.cpp) as logging levels. llama-cpp-python
#: 0.3.36 maps them in an older order, which prints llama.cpp's warnings even with verbose=False.
GGML_LOG_LEVELS = {
    0: logging.CRITICAL,
    1: logging.DEBUG,
    2: logging.INFO,
    3: logging.WARNING,
    4: logging.ERROR,
    5: logging.DEBUG,
}

#: The file of a perfedit adapter that llama.cpp loads (``perfedit train export`` writes it).
ADAPTER_GGUF = "adapter.gguf"

log = logging.getLogger(__name__)


def prompt_cache_dir() -> Path:
    """Where primed prompts are kept (:meth:`LlamaCppModel.prime`): ``prompts/`` in
    :func:`perfedit.llm.modelstore.cache_root`."""
    return modelstore.cache_root() / "prompts"


def prompt_cache_file(files: tuple[Path, Path | None], messages: Messages) -> Path:
    """The session file of ``messages`` primed on the model of ``files`` (base GGUF, adapter GGUF
    or None; :func:`model_files`): named by a SHA-256 of the messages, the binding's version, the
    context size and the GGUF files (path, size and modification time: llama.cpp's file does not
    check which model wrote it)."""
    from llama_cpp import __version__ as binding

    stats = [
        (str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)
        for path in files
        if path is not None
    ]
    key = json.dumps([messages, binding, CONTEXT_TOKENS, stats], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return prompt_cache_dir() / f"{files[0].stem}-{digest}.bin"


def threads() -> int:
    """CPU threads for generation and prompt evaluation: every core this process may run on but
    one.

    The spare core is for validation, which runs while the next candidate is generated.
    llama.cpp's threads wait for each other by spinning, so a thread that must share its core
    stalls all of them: on this 2-core machine, with one other busy process, 0.5B generation ran
    at 3 tokens/s with 2 threads and 18 tokens/s with 1 (bench/generation.py measures both).
    """
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    return max(1, cores - 1)


def model_files(model: str) -> tuple[Path, Path | None]:
    """The base GGUF file of ``model`` and its LoRA adapter GGUF file, or None without an adapter.

    ``model`` is an alias, a hub id, a ``.gguf`` path, or an adapter directory (perfedit's own
    ``models/<name>/`` by name, or a path) whose base is resolved in turn.

    Raises:
        ModelMissing: the GGUF file (or the adapter's ``adapter.gguf``) is not on this machine.
        ModelIntegrityError: the GGUF file has the wrong size (damaged or truncated).
    """
    folder = modelstore.shipped_adapter(model) or Path(model).expanduser()
    base = modelstore.adapter_base(folder) if folder.is_dir() else None
    if base is None:
        return modelstore.resolve_gguf(model), None
    adapter = folder / ADAPTER_GGUF
    if not adapter.is_file():
        raise ModelMissing(
            f"the adapter {folder} has no {ADAPTER_GGUF} for llama.cpp; write it with "
            f"`perfedit train export {folder} --out {folder}`, or run it with --backend transformers."
        )
    return modelstore.resolve_gguf(base), adapter


class LlamaCppModel(ChatModel):
    """A GGUF chat model in a llama.cpp context (one reply at a time; not thread-safe)."""

    backend = "llama.cpp"

    def __init__(
        self, llama: Any, *, name: str, load_seconds: float, files: tuple[Path, Path | None]
    ) -> None:
        self.llama = llama  # llama_cpp.Llama
        self.name = name
        self.load_seconds = load_seconds
        self.files = files  # (base GGUF, adapter GGUF or None)
        self._context = threading.Lock()  # one evaluation at a time in the one context

    @classmethod
    def load(
        cls, model: str = modelstore.DEFAULT_MODEL, *, n_threads: int | None = None
    ) -> LlamaCppModel:
        """Load ``model`` (see :func:`model_files`) into a context of :data:`CONTEXT_TOKENS`
        tokens; ``n_threads`` defaults to :func:`threads`. Never downloads.

        Raises:
            ModelMissing, ModelIntegrityError: as :func:`model_files`.
            ModelError: the binding is not installed, or llama.cpp cannot load the file.
        """
        start = time.perf_counter()
        files = model_files(model)
        try:
            from llama_cpp import Llama, _logger
        except ImportError as error:
            raise ModelError(
                f"the llama.cpp binding (llama-cpp-python) is not installed or failed to build ({error}); "
                "reinstall perfedit (`make setup`) or run with --backend transformers."
            ) from error
        _logger.GGML_LOG_LEVEL_TO_LOGGING_LEVEL.update(GGML_LOG_LEVELS)
        gguf, adapter = files
        try:
            llama = Llama(
                model_path=str(gguf),
                lora_path=str(adapter) if adapter else None,
                n_ctx=CONTEXT_TOKENS,
                n_threads=n_threads or threads(),
                # The prompt too: the binding's default is every core, which stalls in the same
                # way (a 74-token prompt took 10.7 s beside a validation, against about 5 s on one).
                n_threads_batch=n_threads or threads(),
                verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            raise ModelError(
                f"llama.cpp could not load {gguf}{' with ' + str(adapter) if adapter else ''} ({error}): "
                "the file is damaged or not a GGUF model. Delete it and fetch it again with "
                "`perfedit model pull`."
            ) from error
        loaded = cls(llama, name=model, load_seconds=time.perf_counter() - start, files=files)
        # Free the context when the model goes, or at exit before the interpreter tears down the
        # binding's module (whose own __del__ then fails with a traceback on stderr).
        weakref.finalize(loaded, llama.close)
        return loaded

    def reply(self, messages: Messages, draw: Draw) -> Reply:
        """:meth:`ChatModel.reply`, streamed token by token in the model's one context (the GGUF's
        own chat template formats ``messages``). Raises Cancelled when ``draw`` says stop."""
        with self._context:
            return self._reply(messages, draw)

    def prime(self, messages: Messages) -> None:
        """:meth:`ChatModel.prime`: the prompt of ``messages`` evaluated into the context (one
        token generated and dropped). llama.cpp reuses the longest common beginning of the
        context and the next prompt, so a request that shares the system prompt and the
        demonstrations starts after them: of the README examples' 263 and 341 prompt tokens,
        145 and 191 are the same for every target of their kind.

        The evaluated context is kept on disk as a llama.cpp session file (what llama.cpp's
        ``--prompt-cache`` writes, a few MB: :func:`prompt_cache_file`), so that priming in a
        new process (a CLI job's first reply) loads it in milliseconds instead of evaluating
        it again. A file that cannot be written or read only costs that evaluation."""
        with self._context:
            cache = prompt_cache_file(self.files, messages)
            if self._load_prompt(cache):
                return
            self.llama.create_chat_completion(messages, temperature=0.0, max_tokens=1)
            self._save_prompt(cache)

    def _save_prompt(self, path: Path) -> None:
        import llama_cpp

        count = self.llama.n_tokens
        tokens = (llama_cpp.llama_token * count)(*self.llama.input_ids[:count].tolist())
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not llama_cpp.llama_state_save_file(
                self.llama.ctx, str(partial).encode(), tokens, count
            ):
                raise OSError("llama_state_save_file failed")
            os.replace(partial, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            log.info("the primed prompt was not kept in %s (%s)", path, error)

    def _load_prompt(self, path: Path) -> bool:
        import llama_cpp

        if not path.is_file():
            return False
        tokens = (llama_cpp.llama_token * CONTEXT_TOKENS)()
        count = ctypes.c_size_t(0)
        loaded = llama_cpp.llama_state_load_file(
            self.llama.ctx, str(path).encode(), tokens, CONTEXT_TOKENS, ctypes.byref(count)
        )
        if not loaded or count.value < 2:  # the context may hold part of the file: forget it
            log.info("the primed prompt in %s could not be loaded; evaluating it", path)
            self.llama.reset()
            return False
        # The binding's record of the context. One token short of the file, so that a prompt
        # equal to the primed one evaluates its last token again for fresh logits.
        kept = count.value - 1
        self.llama.input_ids[:kept] = tokens[:kept]
        self.llama.n_tokens = kept
        return True

    def _reply(self, messages: Messages, draw: Draw) -> Reply:
        start = time.perf_counter()
        chunks = self.llama.create_chat_completion(
            messages,
            temperature=draw.temperature,
            max_tokens=draw.max_new_tokens,
            seed=draw.seed,
            stop=draw.stop_strings,
            stream=True,
        )
        pieces: list[str] = []
        for chunk in chunks:
            if draw.cancelled():
                chunks.close()
                raise Cancelled("Generation was cancelled.")
            pieces.append(chunk["choices"][0]["delta"].get("content") or "")
            draw.step(len(pieces))
        text = "".join(pieces)
        tokens = len(self.llama.tokenize(text.encode(), add_bos=False, special=True)) if text else 0
        return Reply(text, tokens, time.perf_counter() - start)
