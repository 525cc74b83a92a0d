"""The llama.cpp backend (the default): GGUF files run by llama.cpp's server in a child process.

The model is the GGUF file ``perfedit model pull`` fetched and verified (no conversion); a
perfedit LoRA adapter runs on it from the adapter's ``adapter.gguf`` (``perfedit train export``
writes it). The engine is xllamacpp (prebuilt wheels of llama.cpp's own server: no compiler at
install, one AVX2/FMA build without AMX kernels) in its own process
(:mod:`perfedit.llm.engine_host`), spoken to over HTTP on 127.0.0.1 through the OpenAI-compatible
API (:class:`~perfedit.llm.endpoint.EndpointModel`). A native crash of the engine ends only that
process: the reply in progress fails with a :class:`~perfedit.errors.ModelError` that says what
happened and what to do, and the next request starts a fresh engine. Replies are streamed token
by token, one after another, so the pipeline can validate a reply while the next is generated.
The server keeps the evaluated prompt of its slot and reuses its longest common beginning with
the next prompt (llama.cpp's prompt cache); a primed prompt is also kept on disk as a saved slot
(:meth:`LlamaCppModel.prime`), which a new process restores instead of evaluating it.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from perfedit.errors import ModelError, ModelMissing
from perfedit.llm import modelstore
from perfedit.llm.base import ChatModel, Draw, Messages, Reply
from perfedit.llm.endpoint import EndpointModel

#: Tokens of context: the longest prompt (refinement with a test) plus a reply.
CONTEXT_TOKENS = 4096

#: The file of a perfedit adapter that llama.cpp loads (``perfedit train export`` writes it).
ADAPTER_GGUF = "adapter.gguf"

#: Seconds the engine may take to load a model and answer (a 1.1 GB file on a loaded 2-core
#: machine loads in seconds; the margin is for a slow disk and a busy CPU).
LOAD_TIMEOUT_S = 300.0

#: Seconds without a token or a report of prompt progress after which a running engine counts
#: as hung (the slowest token of a 1.5B model on one busy core takes about a second, a step of
#: prompt evaluation, engine_host.PROMPT_STEP_TOKENS tokens, under 20 s).
REPLY_TIMEOUT_S = 120.0

#: Seconds a failed request waits for the engine to end: a crashing process closes its
#: connections before it has ended (writing a core file may take a while).
CRASH_WAIT_S = 5.0

#: The lines of the engine's own log kept for error messages.
LOG_LINES = 40

#: llama.cpp's speculative decoding for every reply: n-gram drafts from the prompt and the
#: reply so far (``common_speculative_type`` names; None: off). A candidate mostly copies the
#: target's code, which is in the prompt, so most drafts are accepted: 3.8x the plain speed on a
#: 50-line function's rewrite, 0.83-0.95x on a 7-line one's (bench/generation.py).
SPECULATIVE: str | None = "NGRAM_MOD"

#: The engine process's command line, before its JSON settings (tests put a fake engine here).
ENGINE_COMMAND = [sys.executable, "-m", "perfedit.llm.engine_host"]

#: What to do after the engine crashed, for the messages.
CRASH_ADVICE = (
    "perfedit kept running and starts a fresh engine with the next request. If it happens "
    "again, run `perfedit doctor` (it shows the CPU features the engine uses) and report its "
    "output; meanwhile `--backend transformers` (pip install 'perfedit[train]') runs the model "
    "without llama.cpp."
)


log = logging.getLogger(__name__)


def prompt_cache_dir() -> Path:
    """Where primed prompts are kept (:meth:`LlamaCppModel.prime`): ``prompts/`` in
    :func:`perfedit.llm.modelstore.cache_root`."""
    return modelstore.cache_root() / "prompts"


def prompt_cache_file(files: tuple[Path, Path | None], messages: Messages) -> Path:
    """The saved slot of ``messages`` primed on the model of ``files`` (base GGUF, adapter GGUF
    or None; :func:`model_files`): named by a SHA-256 of the messages, the engine's version, the
    context size and the GGUF files (path, size and modification time: llama.cpp's file does not
    say which model wrote it)."""
    from importlib.metadata import version

    stats = [
        (str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)
        for path in files
        if path is not None
    ]
    key = json.dumps([messages, version("xllamacpp"), CONTEXT_TOKENS, stats], sort_keys=True)
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


class Engine:
    """One engine process (:mod:`perfedit.llm.engine_host`, started by :data:`ENGINE_COMMAND`)
    serving one model, started on demand and started again after it died."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.process: subprocess.Popen[str] | None = None
        self.address = ""
        self.log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._readers: list[threading.Thread] = []  # they close their pipe at its end

    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> str:
        """Start the process and wait until it serves; returns its base URL (``.../v1``).

        Raises:
            ModelError: the engine cannot start here (a system library it needs is missing:
                the message names it and how to install it), could not load the model, died
                while loading, or did not answer within :data:`LOAD_TIMEOUT_S` seconds (it was
                stopped).
        """
        self.stop()
        self.log.clear()
        self.process = subprocess.Popen(
            [*ENGINE_COMMAND, json.dumps(self.settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        lines: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(
                target=_read, args=(self.process.stderr, self.log.append), daemon=True
            ),
            threading.Thread(target=_read, args=(self.process.stdout, lines.put), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        try:
            answer = json.loads(lines.get(timeout=LOAD_TIMEOUT_S) or "{}")
        except queue.Empty:
            self.stop()
            raise ModelError(
                f"the inference engine did not load {self.settings['model']} within "
                f"{LOAD_TIMEOUT_S:g} s and was stopped; the machine may be out of memory or "
                "very busy. Try again, or run `perfedit doctor`."
            ) from None
        except json.JSONDecodeError:
            answer = {}
        if "unavailable" in answer:  # xllamacpp cannot be imported (a missing system library)
            self.stop()
            raise ModelError(answer["unavailable"])
        if "address" not in answer:
            death = self.death(wait=CRASH_WAIT_S)  # it has said all it will: it is ending
            self.stop()
            if death is not None and "crashed" in death:
                raise ModelError(
                    f"the inference engine (llama.cpp) stopped while loading "
                    f"{self.settings['model']}: {death}{self.log_tail()}. {CRASH_ADVICE}"
                )
            raise self.load_failure(answer.get("error") or death or "it stopped without a word")
        self.address = f"{answer['address']}/v1"
        return self.address

    def load_failure(self, why: str) -> ModelError:
        """The error of an engine that could not load its model, for ``why`` (a clause)."""
        gguf, adapter = self.settings["model"], self.settings.get("lora")
        return ModelError(
            f"llama.cpp could not load {gguf}{' with ' + adapter if adapter else ''} ({why}{self.log_tail()}): "
            "the file is damaged or not a GGUF model that this llama.cpp runs; it was left as it "
            "is. A model that perfedit fetched is fetched again by `perfedit model pull`."
        )

    def death(self, wait: float = 0.0) -> str | None:
        """How the process ended, as a clause ("it crashed (SIGSEGV)"), or None while it runs
        ``wait`` seconds from now."""
        if self.process is None:
            return None
        try:
            code = self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"it crashed ({name})"
        return f"it exited with status {code}"

    def log_tail(self) -> str:
        """The engine's last error line, as ``"; the engine said: ..."``, or ``""``."""
        errors = [line for line in self.log if " E " in line or "error" in line.lower()]
        return f"; the engine said: {errors[-1].strip()}" if errors else ""

    def stop(self) -> None:
        """End the process (if any) and wait for it, and for its output to be read."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdin is not None:
            process.stdin.close()
        for reader in self._readers:
            reader.join(timeout=CRASH_WAIT_S)


def _read(stream: IO[str], keep: Callable[[str], object]) -> None:
    """Hands each line of ``stream`` to ``keep``, then ``""`` at its end, and closes it."""
    with stream:
        for line in stream:
            keep(line)
    keep("")


class LlamaCppModel(ChatModel):
    """A GGUF chat model served by llama.cpp in a child process (one reply at a time)."""

    backend = "llama.cpp"

    def __init__(self, engine: Engine, *, name: str, files: tuple[Path, Path | None]) -> None:
        self.engine = engine
        self.name = name
        self.files = files  # (base GGUF, adapter GGUF or None)
        self.load_seconds = 0.0
        self._client: EndpointModel | None = None
        self._one_at_a_time = threading.Lock()
        weakref.finalize(self, engine.stop)

    @classmethod
    def load(
        cls,
        model: str = modelstore.DEFAULT_MODEL,
        *,
        n_threads: int | None = None,
        speculative: str | None = SPECULATIVE,
    ) -> LlamaCppModel:
        """Start an engine with ``model`` (see :func:`model_files`) in a context of
        :data:`CONTEXT_TOKENS` tokens; ``n_threads`` defaults to :func:`threads`;
        ``speculative`` as :data:`SPECULATIVE`. Never downloads.

        Raises:
            ModelMissing, ModelIntegrityError: as :func:`model_files`.
            ModelError: the engine is not installed, cannot load the file, or crashed.
        """
        start = time.perf_counter()
        files = model_files(model)
        _require_engine()
        gguf, adapter = files
        settings = {
            "model": str(gguf),
            "lora": str(adapter) if adapter else None,
            "threads": n_threads or threads(),
            "context": CONTEXT_TOKENS,
            "slots": 1,
            "speculative": speculative,
            "slot_dir": str(prompt_cache_dir()),
        }
        loaded = cls(Engine(settings), name=model, files=files)
        loaded._connect()
        loaded.load_seconds = time.perf_counter() - start
        return loaded

    def _connect(self) -> EndpointModel:
        """The client of a running engine, starting one if there is none (or it died)."""
        if self._client is None or not self.engine.running():
            address = self.engine.start()
            self._client = EndpointModel.connect(
                address,
                "perfedit",
                # The token count of each reply; progress while a prompt is evaluated.
                extra_body={"stream_options": {"include_usage": True}, "return_progress": True},
            )
            self._client.client = self._client.client.with_options(timeout=REPLY_TIMEOUT_S)
        return self._client

    def reply(self, messages: Messages, draw: Draw) -> Reply:
        """:meth:`ChatModel.reply`, streamed token by token from the engine (the GGUF's own chat
        template formats ``messages``).

        Raises:
            Cancelled: ``draw`` says stop (the engine stops that reply too).
            ModelError: the engine crashed, stopped answering for :data:`REPLY_TIMEOUT_S`
                seconds (it was stopped), or answered nothing; the next request starts a fresh one.
        """
        with self._one_at_a_time:
            client = self._connect()
            try:
                return client.reply(messages, draw)
            except ModelError as error:
                raise self._failure(error) from error

    def prime(self, messages: Messages) -> None:
        """:meth:`ChatModel.prime`: the prompt of ``messages`` evaluated into the engine's slot
        (one token generated and dropped). llama.cpp reuses the longest common beginning of the
        slot and the next prompt, so a request that shares the system prompt and the
        demonstrations starts after them: of the README examples' 263 and 341 prompt tokens,
        145 and 191 are the same for every target of their kind.

        The evaluated slot is kept on disk (llama.cpp's slot save, a few MB:
        :func:`prompt_cache_file`), so that priming in a new process (a CLI job's first reply)
        restores it in milliseconds instead of evaluating it again. A file that cannot be
        written or read only costs that evaluation. Raises ModelError as :meth:`reply`."""
        cache = prompt_cache_file(self.files, messages)
        with self._one_at_a_time:
            self._connect()
            if cache.is_file() and self._slot("restore", cache):
                return
        self.reply(messages, Draw(0.0, 1, 0, []))
        with self._one_at_a_time:
            with contextlib.suppress(OSError):
                cache.parent.mkdir(parents=True, exist_ok=True)
            self._slot("save", cache)

    def _slot(self, action: str, path: Path) -> bool:
        """Asks the engine to ``save`` its slot to ``path`` or ``restore`` it from there; True
        when it did. A failure is logged: it only costs an evaluation."""
        request = urllib.request.Request(
            f"{self.engine.address.removesuffix('/v1')}/slots/0?action={action}",
            json.dumps({"filename": path.name}).encode(),
            {"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT_S) as answer:
                answer.read()
            return True
        except (OSError, urllib.error.HTTPError) as error:
            log.info("the primed prompt in %s was not %sd (%s)", path, action, error)
            return False

    def _failure(self, error: ModelError) -> ModelError:
        """What the user is told when a request to the engine failed with ``error``."""
        death = self.engine.death(wait=CRASH_WAIT_S)
        if death is not None:
            self.engine.stop()
            return ModelError(
                f"the inference engine (llama.cpp) stopped while generating: {death}. {CRASH_ADVICE}"
            )
        cause = error.__cause__
        if cause is not None and "Timeout" in type(cause).__name__:
            self.engine.stop()
            return ModelError(
                f"the inference engine (llama.cpp) stopped answering: no token for "
                f"{REPLY_TIMEOUT_S:g} s, so it was stopped. {CRASH_ADVICE}"
            )
        self.engine.stop()
        return ModelError(
            f"the inference engine (llama.cpp) failed: {str(error).rstrip('.')}. {CRASH_ADVICE}"
        )


def _require_engine() -> None:
    """Raises ModelError when xllamacpp (the engine) cannot be imported here."""
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        raise ModelError(
            "the llama.cpp engine (xllamacpp) is not installed; reinstall perfedit "
            "(`pip install perfedit`, or `make setup` in a checkout), or run with "
            "--backend transformers."
        )
