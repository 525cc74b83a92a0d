"""Language-server figures on this machine, printed as a Markdown table.

* cold start: from spawning ``perfedit lsp`` until ``initialize`` answers (the model is not
  loaded yet: it loads lazily on first use and stays loaded), against a bare
  ``python -c pass`` spawned in the same run (the ratio is the figure to compare across machines);
* time to the first validated suggestion for the README example (``examples/dedupe``:
  codeAction → executeCommand → applyEdit), first with a cold model (load included), then again
  with the model loaded;
* generation throughput, tokens/s, of the same model in this process: greedy (1 row) and the
  default batch (greedy + 8 samples) on the README example's prompt;
* the server's resident memory: idle after ``initialize``, after the job, and its peak
  (``VmHWM`` from /proc).

Usage: python bench/server.py [--model qwen2.5-coder-0.5b] [--samples 8]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from perfedit.candidates.prompts import optimize_messages
from perfedit.llm import load
from perfedit.targets import find

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dedupe"


def _peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc status")


def _bare_python_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


async def _suggest(
    client: LanguageClient, document: types.TextDocumentItem, applied: list
) -> float:
    """Time from the code action request to the applyEdit, seconds."""
    line = document.text.splitlines().index("def unique_in_order(items):") + 2
    started = time.perf_counter()
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=document.uri),
            range=types.Range(
                start=types.Position(line=line, character=0),
                end=types.Position(line=line, character=0),
            ),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    command = actions[0].command if isinstance(actions[0], types.CodeAction) else actions[0]
    before = len(applied)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    elapsed = time.perf_counter() - started
    if len(applied) == before:
        raise RuntimeError(f"no suggestion was delivered: {result}")
    return elapsed


async def measure_server(model: str, samples: int) -> dict[str, float]:
    """Cold start, time to first suggestion (cold and warm model) and memory, via a real client."""
    client = LanguageClient("perfedit-bench", "1")
    applied: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(
            applied=False, failure_reason="benchmark: not applied"
        )

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    with tempfile.TemporaryDirectory() as folder:
        project = Path(shutil.copytree(EXAMPLE, Path(folder) / "dedupe"))
        bare_s = _bare_python_s()
        started = time.perf_counter()
        await client.start_io(sys.executable, "-m", "perfedit", "lsp")
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(
                    window=types.WindowClientCapabilities(work_done_progress=True),
                    workspace=types.WorkspaceClientCapabilities(apply_edit=True),
                ),
                root_uri=project.as_uri(),
                initialization_options={
                    "model": model,
                    "samples": samples,
                    "needsConfirmation": False,
                },
            )
        )
        cold_start_s = time.perf_counter() - started
        client.initialized(types.InitializedParams())
        (server,) = psutil.Process().children()
        idle_rss = server.memory_info().rss
        path = project / "dedupe.py"
        document = types.TextDocumentItem(
            uri=path.as_uri(), language_id="python", version=1, text=path.read_text()
        )
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=document))
        first_s = await _suggest(client, document, applied)
        # A new document version, so that the cached result is not reused: a second real job.
        document = types.TextDocumentItem(
            uri=document.uri, language_id="python", version=2, text=document.text + "\n"
        )
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=document.uri, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=document.text)],
            )
        )
        again_s = await _suggest(client, document, applied)
        after_rss, peak_rss = server.memory_info().rss, _peak_rss_bytes(server.pid)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return {
        "bare_python_s": bare_s,
        "cold_start_s": cold_start_s,
        "first_suggestion_s": first_s,
        "warm_suggestion_s": again_s,
        "idle_rss_bytes": idle_rss,
        "after_job_rss_bytes": after_rss,
        "peak_rss_bytes": peak_rss,
    }


def measure_generation(model_name: str, samples: int) -> dict[str, float]:
    """Tokens/s of greedy (1 row) and of the default batch (1 + samples rows), and load time."""
    model = load(model_name)
    target = find(
        EXAMPLE / "dedupe.py", (EXAMPLE / "dedupe.py").read_text(), function="unique_in_order"
    )
    messages = optimize_messages(target.code, "function")
    greedy = model.generate(messages, num_samples=0, max_new_tokens=128)
    batch = model.generate(messages, num_samples=samples, max_new_tokens=256, seed=0)
    return {
        "load_s": model.load_seconds,
        "greedy_tok_s": greedy.tokens_per_second,
        "batch_tok_s": batch.tokens_per_second,
        "batch_tokens": batch.new_tokens,
        "batch_s": batch.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    server = asyncio.run(measure_server(args.model, args.samples))
    generation = measure_generation(args.model, args.samples)
    mib = 2**20
    print(
        f"command: python bench/server.py --model {args.model} --samples {args.samples}  ({psutil.cpu_count()} CPUs)"
    )
    print("| figure | value |\n|---|---|")
    print(
        f"| cold start until `initialize` answers | {server['cold_start_s']:.2f} s ({server['cold_start_s'] / server['bare_python_s']:.1f}x a bare `python -c pass`: {server['bare_python_s']:.3f} s) |"
    )
    print(
        f"| first validated suggestion, README example (model load included) | {server['first_suggestion_s']:.1f} s |"
    )
    print(f"| same again, model already loaded | {server['warm_suggestion_s']:.1f} s |")
    print(f"| model load (in-process) | {generation['load_s']:.1f} s |")
    print(f"| generation, greedy (1 row) | {generation['greedy_tok_s']:.1f} tokens/s |")
    print(
        f"| generation, greedy + {args.samples} samples in one batch | {generation['batch_tok_s']:.1f} tokens/s over all rows ({generation['batch_tokens']} tokens in {generation['batch_s']:.1f} s) |"
    )
    print(
        f"| server resident memory, idle after initialize | {server['idle_rss_bytes'] / mib:.0f} MiB |"
    )
    print(
        f"| server resident memory, after the jobs (model loaded) | {server['after_job_rss_bytes'] / mib:.0f} MiB |"
    )
    print(f"| server peak resident memory (VmHWM) | {server['peak_rss_bytes'] / mib:.0f} MiB |")


if __name__ == "__main__":
    main()
