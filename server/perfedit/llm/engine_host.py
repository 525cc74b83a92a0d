"""The inference engine's own process: llama.cpp's server (through xllamacpp) on 127.0.0.1.

``python -m perfedit.llm.engine_host '<settings as JSON>'`` loads the GGUF file into
llama.cpp's server (the one ``llama-server`` runs: an OpenAI-compatible HTTP API, continuous
batching of its slots, n-gram speculative decoding), writes one JSON line to stdout —
``{"address": "http://127.0.0.1:PORT"}`` once it answers, or ``{"error": "..."}`` when the model
could not be loaded — and serves until its parent goes: stdin reaches end of file (the parent
closed it or died) or the parent process changes (it was re-parented). It never outlives its
parent.

It runs apart from perfedit so that a native crash of the engine (a fault in a CPU kernel, an
abort in llama.cpp) ends only this process; :mod:`perfedit.llm.llamacpp` starts it, talks to it
over HTTP and turns its death into a :class:`~perfedit.errors.ModelError`.

The settings (keys of the JSON object): ``model`` (GGUF path), ``lora`` (adapter GGUF path or
null), ``threads`` (CPU threads for generation and prompt evaluation), ``context`` (tokens of
context per slot), ``slots`` (sequences decoded together), ``speculative`` (an xllamacpp
``common_speculative_type`` name such as ``"NGRAM_SIMPLE"``, or null), ``slot_dir`` (the folder
where ``/slots/0?action=save`` writes a slot's evaluated prompt and ``restore`` reads it, or
null).

If xllamacpp cannot be imported, because a system library that its wheel links but does not
ship is missing (GCC's OpenMP runtime ``libgomp.so.1`` on a minimal Linux), the one JSON line
is ``{"unavailable": "..."}`` (with ``--info``: ``{"engine": "..."}``): what is missing and how
to install it (:func:`unavailable`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from typing import Any

#: Tokens of a prompt evaluated in one step. The server reports its progress on a prompt after
#: each step (``return_progress``), so that a long prompt on a busy CPU still sends something
#: every few seconds: a silent engine counts as hung, and cancelling is noticed at each report.
PROMPT_STEP_TOKENS = 128

#: Seconds between two looks at the parent process.
PARENT_POLL_S = 1.0

#: The system libraries that xllamacpp's Linux wheel links but leaves out of the wheel (its
#: build excludes them: GCC's runtime, present on common Linux installs): what each is, and its
#: package on Debian and Ubuntu, on Fedora and RHEL, and on openSUSE.
SYSTEM_LIBRARIES = {
    "libgomp.so.1": ("GCC's OpenMP runtime", ("libgomp1", "libgomp", "libgomp1")),
    "libstdc++.so.6": ("GCC's C++ runtime", ("libstdc++6", "libstdc++", "libstdc++6")),
}

#: How the dynamic loader (glibc's ``dlerror``) names a shared library it could not load, and why.
LOADER_ERROR = re.compile(r"([^\s:]+\.so[.\d]*): ([^\n]+)")


def server_params(settings: dict[str, Any]) -> Any:
    """xllamacpp's ``CommonParams`` for ``settings`` (see the module's docstring)."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = settings["model"]
    if settings.get("lora"):
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(settings["lora"], 1.0)]
    slots = int(settings.get("slots") or 1)
    params.n_parallel = slots
    # Each slot has the whole context to itself: a slot's prompt and reply never compete with
    # another slot's for room.
    params.n_ctx = int(settings["context"]) * slots
    params.kv_unified = False
    params.n_batch = params.n_ubatch = PROMPT_STEP_TOKENS
    params.cpuparams.n_threads = int(settings["threads"])
    params.cpuparams_batch.n_threads = int(settings["threads"])
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # any free port; the address is reported on stdout
    params.endpoint_slots = True
    if settings.get("slot_dir"):
        # llama.cpp joins this and a file name without a separator.
        params.slot_save_path = os.path.join(settings["slot_dir"], "")
    if settings.get("speculative"):
        kind = getattr(
            xlc.common_speculative_type, f"COMMON_SPECULATIVE_TYPE_{settings['speculative']}"
        )
        params.speculative.types = [kind]
    return params


def _watch_parent(parent: int) -> None:
    """Ends this process when its parent has gone (stdin closed, or re-parented)."""

    def parent_gone() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=parent_gone, daemon=True).start()
    sys.stdin.read()  # returns at end of file: the parent closed the pipe or died
    os._exit(0)


def system_info() -> dict[str, str]:
    """What the engine is and which CPU features its build uses: ``{"engine": "xllamacpp
    VERSION", "build": compiler and target, "cpu": llama.cpp's system info line}``."""
    from importlib.metadata import version

    import xllamacpp as xlc

    build = xlc.BUILD_INFO
    return {
        "engine": f"xllamacpp {version('xllamacpp')}",
        "build": f"{build.get('compiler', '?')}, {build.get('build_target', '?')}",
        "cpu": xlc.get_system_info().strip().removeprefix("CPU : ").strip(" |"),
    }


def package_commands(packages: tuple[str, str, str], reinstall: bool) -> str:
    """The commands that install (or reinstall) a system library's ``packages`` (Debian and
    Ubuntu, Fedora and RHEL, openSUSE), as one clause."""
    deb, rpm, suse = packages
    if reinstall:
        commands = [f"apt install --reinstall {deb}", f"dnf reinstall {rpm}"]
        commands.append(f"zypper install --force {suse}")
    else:
        commands = [f"apt install {deb}", f"dnf install {rpm}", f"zypper install {suse}"]
    systems = ["Debian, Ubuntu", "Fedora, RHEL", "openSUSE"]
    return ", ".join(f"`sudo {c}` ({where})" for c, where in zip(commands, systems, strict=True))


def unavailable(error: ImportError) -> str:
    """What the user is told when ``import xllamacpp`` failed with ``error``: for a system
    library that the dynamic loader did not find (or found damaged), which one, what it is and
    how to install it; otherwise the import's own message and how to reinstall the engine."""
    found = LOADER_ERROR.search(str(error))
    path, problem = found.groups() if found else ("", "")
    library = os.path.basename(path)
    missing = problem.startswith("cannot open shared object file")
    if not missing and library not in SYSTEM_LIBRARIES:
        return (
            f"the llama.cpp engine (xllamacpp) cannot be imported here ({error}); reinstall "
            "perfedit (`pip install --force-reinstall perfedit`, or `make setup` in a checkout), "
            "or run with --backend transformers."
        )
    what, packages = SYSTEM_LIBRARIES.get(library, ("a system library", None))
    if packages is None:
        advice = "Install the package of your Linux distribution that provides it"
    else:
        advice = ("Install it: " if missing else "Reinstall it: ") + package_commands(
            packages, reinstall=not missing
        )
    state = (
        "which its wheel does not ship and which is not installed on this machine"
        if missing
        else f"which is there but cannot be loaded ({path}: {problem})"
    )
    return (
        f"the llama.cpp engine (xllamacpp) cannot start: it needs the system library {library} "
        f"({what}), {state}. {advice}; then `perfedit doctor` checks the engine again. "
        "Meanwhile --backend transformers (pip install 'perfedit[train]') runs the model "
        "without llama.cpp."
    )


def main(argv: list[str]) -> int:
    """Load the model, report the address (or the error) on stdout, serve until the parent goes;
    with ``--info``, print :func:`system_info` as JSON instead."""
    try:
        import xllamacpp as xlc
    except ImportError as error:
        key = "engine" if argv == ["--info"] else "unavailable"
        print(json.dumps({key: unavailable(error)}), flush=True)
        return 1
    if argv == ["--info"]:
        print(json.dumps(system_info()), flush=True)
        return 0
    parent = os.getppid()
    settings = json.loads(argv[0])

    try:
        server = xlc.Server(server_params(settings))
    except (RuntimeError, ValueError) as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return 1
    print(json.dumps({"address": server.listening_address}), flush=True)
    _watch_parent(parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
