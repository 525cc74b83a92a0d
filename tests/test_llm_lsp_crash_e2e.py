"""A native crash of the inference engine in the middle of a language-server job: the real
``perfedit lsp`` with SmolLM2-135M, whose engine process is sent SIGSEGV while it generates. The
job ends with a shown message that names the crash, and the server keeps answering: the next
job runs on a fresh engine."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import psutil
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from helpers.lsp import JOB_TIMEOUT_S, SERVER, code_actions, execute, line_of, open_project


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


pytestmark = pytest.mark.model

#: The model writes every candidate (no rule candidates), without an explanation.
OPTIONS = {"model": "smollm2-135m", "rules": False, "samples": 2, "maxNewTokens": 256, "runs": 5, "explain": False}  # fmt: skip


def engines() -> list[psutil.Process]:
    """The engine processes of the language server this test started."""
    servers = [
        child
        for child in psutil.Process().children()
        if child.cmdline()[-3:] == ["-m", "perfedit", "lsp"]
    ]
    return [
        child
        for server in servers
        for child in server.children(recursive=True)
        if "perfedit.llm.engine_host" in " ".join(child.cmdline())
    ]


def generating(lsp: LanguageClient) -> bool:
    """Whether the job's progress has reached the model's replies."""
    return any(
        isinstance(report, types.WorkDoneProgressReport) and "generating" in (report.message or "")
        for reports in lsp.progress_reports.values()
        for report in reports
    )


async def test_an_engine_crash_mid_job_is_shown_and_the_server_keeps_answering(
    client: LanguageClient, dedupe_project: Path
):
    document = await open_project(client, dedupe_project, **OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    job = execute(client, action)
    while not generating(client):
        await asyncio.sleep(0.05)
    (engine,) = engines()
    engine.send_signal(signal.SIGSEGV)
    result = await asyncio.wait_for(job, 2 * JOB_TIMEOUT_S)
    assert result["applied"] is False and "crashed (SIGSEGV)" in result["error"], result
    assert any("crashed (SIGSEGV)" in message.message for message in client.messages)

    again = await asyncio.wait_for(execute(client, action), 2 * JOB_TIMEOUT_S)
    assert "crashed" not in str(again.get("error")), again
    (fresh,) = engines()
    assert fresh.pid != engine.pid
