"""Start-up stays light: ``perfedit lsp`` answers ``initialize``, and ``perfedit`` checks its
arguments, without importing the engine's or the models' libraries (a job imports them); the
answer to ``initialize`` itself needs only the standard library (pygls is imported meanwhile).

Each process runs under ``python -X importtime``, which names every module it imports on stderr;
the tests assert on those names, never on times (``bench/cold_start.py`` measures the times).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Top-level packages that only a job needs: the engine's (libcst, numpy, scipy) and the models'.
HEAVY = {
    "libcst",
    "numpy",
    "scipy",
    "torch",
    "transformers",
    "xllamacpp",
    "openai",
    "huggingface_hub",
    "ray",
}
#: perfedit's modules that answer ``initialize`` before pygls is imported.
EARLY = {
    "perfedit",
    "perfedit.errors",
    "perfedit.lsp",
    "perfedit.lsp.framing",
    "perfedit.lsp.initialize_result",
    "perfedit.lsp.start",
}


def run_traced(
    *args: str, stdin: bytes = b""
) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    """``python -X importtime -m perfedit ARGS`` to its exit, and the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "perfedit", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    return result, modules


def top_level(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


def frame(message: dict) -> bytes:
    """One JSON-RPC message with its LSP base-protocol header."""
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def replies(stdout: bytes) -> list[dict]:
    """The JSON-RPC messages in the server's ``stdout``."""
    messages = []
    while stdout:
        header, _, rest = stdout.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        messages.append(json.loads(rest[:length]))
        stdout = rest[length:]
    return messages


def test_lsp_answers_initialize_without_heavy_imports():
    """initialize, shutdown and exit in one go: what the server imported by its exit it had not
    imported later than that, so it answered initialize without it."""
    session = [
        {
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}},
        },
        {"id": 2, "method": "shutdown"},
        {"method": "exit"},
    ]
    result, modules = run_traced("lsp", stdin=b"".join(map(frame, session)))
    imported = top_level(modules)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    answer = next(message for message in replies(result.stdout) if message.get("id") == 1)
    capabilities = answer["result"]["capabilities"]
    assert capabilities["codeActionProvider"]["codeActionKinds"] == ["refactor.rewrite.perfedit"]
    assert {"perfedit.suggest", "perfedit.profile"} <= set(
        capabilities["executeCommandProvider"]["commands"]
    )
    assert capabilities["codeLensProvider"] is not None
    assert "pygls" in imported  # the trace is read right
    assert not imported & HEAVY
    assert "perfedit.cli.main" not in modules and "rich" not in imported  # nor the command line's


def test_initialize_is_answered_with_the_standard_library_only():
    """What the start imports beyond the interpreter's own start, and what answering
    ``initialize`` imports then: the standard library (asyncio not even: it comes with pygls)
    and perfedit's :data:`EARLY` modules."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}
    )
    code = (
        "import sys\n"
        "started = set(sys.modules)\n"
        "import perfedit.lsp.start\n"
        "from perfedit.lsp.initialize_result import early_answer\n"
        f"assert early_answer({body!r}.encode()) is not None\n"
        "print(*sorted(set(sys.modules) - started))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=300, check=True
    )
    modules = set(result.stdout.decode().split())
    assert top_level(modules) <= {*sys.stdlib_module_names, "perfedit"}
    assert {module for module in modules if module.startswith("perfedit")} == EARLY
    assert "asyncio" not in modules


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--help"], 0, "usage: perfedit"),
        (["suggest", "--help"], 0, "--budget SECONDS"),
        (["suggest"], 2, "the following arguments are required: file"),
        (["suggest", "x.py", "--no-such-flag"], 2, "unrecognized arguments: --no-such-flag"),
        (["suggest", "--budget", "abc", "x.py"], 2, "invalid float value: 'abc'"),
        (["evaluate", "--help"], 0, "--ray-address ADDRESS"),
        (["profile", "--help"], 0, "--top N"),
        (["profile", "--top", "many"], 2, "invalid int value: 'many'"),
        (["scan", "--help"], 0, "--executor {local,ray}"),
        (["scan", "--budget", "soon"], 2, "invalid float value: 'soon'"),
    ],
)
def test_cli_checks_arguments_without_heavy_imports(args: list[str], code: int, said: str):
    result, modules = run_traced(*args)
    imported = top_level(modules)
    assert result.returncode == code
    assert said in (result.stdout if code == 0 else result.stderr).decode()
    assert "argparse" in imported  # the trace is read right
    assert not imported & (HEAVY | {"rich"})
