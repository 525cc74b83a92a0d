"""Code-action latency on a large file, printed as a Markdown table with the command and the load.

The real ``perfedit lsp`` (a pygls client over stdio) opens a generated module of ``--lines``
lines (one small function per three lines) and asks for code actions at ``--requests`` lines
spread over the file: the first request (the server has not parsed this version yet, so it
answers with a guess while the parse runs), then the rest (answered from the parse, kept per
version). The reference in the same session is a ``textDocument/hover`` on the same file (a
request that does no engine work): the ratios to it are the figures to compare across machines.
The goal is 100 ms per code action.

Usage: python bench/code_action.py [--lines 20000] [--requests 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient


def module(lines: int) -> str:
    return "\n".join(
        f"def f{i}(x):\n    y = x + {i}\n    return y * 2\n" for i in range(lines // 3)
    )


async def measure(lines: int, requests: int) -> dict[str, list[float]]:
    """Seconds per request: ``first`` action, ``later`` actions, ``hover`` (the reference)."""
    with tempfile.TemporaryDirectory(prefix="perfedit-bench-") as folder:
        path = Path(folder) / "big.py"
        path.write_text(module(lines), encoding="utf-8")
        (Path(folder) / "pyproject.toml").write_text("")
        client = LanguageClient("perfedit-bench", "1")
        await client.start_io(sys.executable, "-m", "perfedit", "lsp")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(), root_uri=Path(folder).as_uri()
            )
        )
        client.initialized(types.InitializedParams())
        uri = path.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=path.read_text()
                )
            )
        )
        times: dict[str, list[float]] = {"first": [], "later": [], "hover": []}
        for index in range(requests):
            line = 1 + 3 * ((index * 997) % (lines // 3))
            position = types.Position(line=line, character=4)
            started = time.perf_counter()
            await client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(start=position, end=position),
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )
            times["first" if index == 0 else "later"].append(time.perf_counter() - started)
            started = time.perf_counter()
            await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri), position=position
                )
            )
            times["hover"].append(time.perf_counter() - started)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return times


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    load_before = load()
    times = asyncio.run(measure(args.lines, args.requests))
    reference = statistics.median(times["hover"])
    print(
        f"command: python bench/code_action.py --lines {args.lines} --requests {args.requests}  "
        f"({os.cpu_count()} CPUs, load average 1/5/15 min: {load_before} before, {load()} after)"
    )
    print("| request | median ms | max ms | × hover |\n|---|---|---|---|")
    for name, label in (
        ("first", "first code action (new version)"),
        ("later", "later code actions"),
        ("hover", "hover (reference)"),
    ):
        values = times[name]
        print(
            f"| {label} | {statistics.median(values) * 1000:.1f} | {max(values) * 1000:.1f} | "
            f"{statistics.median(values) / reference:.1f} |"
        )


if __name__ == "__main__":
    main()
