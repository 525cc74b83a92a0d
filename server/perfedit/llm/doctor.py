"""``perfedit doctor``'s look at the inference engine: which CPU features its build uses, a short
generation in its own process, and each known model's SHA-256 check.

Everything that runs llama.cpp's code runs in a child process (the engine's), so that the
doctor, too, reports a native crash instead of dying of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from perfedit.errors import ModelError
from perfedit.llm import modelstore

#: What a model's line says when its file passed the check.
MATCHES = "SHA-256 matches the pinned"

#: Tokens the trial generation asks for.
TRIAL_TOKENS = 16

#: The CPU flags (as /proc/cpuinfo names them) that decide llama.cpp's CPU kernels.
CPU_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")


def cpu_flags() -> str:
    """Which of :data:`CPU_FLAGS` this CPU has (Linux; elsewhere "unknown")."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return " ".join(flag for flag in CPU_FLAGS if flag in flags) or "none of " + " ".join(CPU_FLAGS)


def engine_info() -> dict[str, str]:
    """The engine's own account of itself (:func:`perfedit.llm.engine_host.system_info`), asked
    in a child process; on failure, ``{"engine": "<what went wrong>"}``."""
    command = [sys.executable, "-m", "perfedit.llm.engine_host", "--info"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return {"engine": "could not be started: no answer within 120 s"}
    try:
        return dict(json.loads(done.stdout.splitlines()[-1]))
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        return {"engine": f"could not be started (exit status {done.returncode}) {tail}".strip()}


def trial(model: str) -> str:
    """A short greedy generation with ``model`` in the engine's process, as one line: its speed,
    or what went wrong (a crash included)."""
    from perfedit.llm.llamacpp import LlamaCppModel

    try:
        loaded = LlamaCppModel.load(model)
        start = time.perf_counter()
        reply = loaded.generate(
            [{"role": "user", "content": "Write a Python function that adds two numbers."}],
            num_samples=0,
            max_new_tokens=TRIAL_TOKENS,
        )
        loaded.engine.stop()
    except ModelError as error:
        return f"failed: {error}"
    seconds = time.perf_counter() - start
    return (
        f"ok: {model}, {reply.new_tokens} tokens in {seconds:.1f} s "
        f"({reply.new_tokens / seconds:.1f} tokens/s, after {loaded.load_seconds:.1f} s loading)"
    )


def model_checks() -> dict[str, list[str]]:
    """Each known model's GGUF file and its SHA-256 check (one line per alias)."""
    lines = {}
    for source in modelstore.KNOWN_MODELS.values():
        try:
            path = modelstore.resolve_gguf(source.alias)
        except ModelError as error:
            lines[source.alias] = [str(error)]
            continue
        lines[source.alias] = [f"{path}: {MATCHES} {source.sha256[:16]}…"]
    return lines


def report() -> dict[str, Any]:
    """The engine's part of ``perfedit doctor``: engine and build, the CPU features it uses
    beside the CPU's own, a trial generation with the smallest pulled model, and each model's
    digest check."""
    info = engine_info()
    checks = model_checks()
    ready = [alias for alias, (line,) in checks.items() if MATCHES in line]
    smallest = min(ready, key=lambda a: modelstore.KNOWN_MODELS[a].size_bytes, default=None)
    return {
        "inference engine": info.get("engine", "unknown"),
        "engine build": info.get("build", "unknown"),
        "CPU features the engine uses (llama.cpp's system info)": info.get("cpu", "unknown"),
        "CPU features of this machine": cpu_flags(),
        "trial generation (in the engine's own process)": trial(smallest)
        if smallest
        else "skipped: no model is pulled (perfedit model pull smollm2-135m)",
        "models (SHA-256 check)": checks,
    }
