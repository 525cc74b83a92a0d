"""The language server's test client: ``perfedit lsp`` over stdio, driven by pytest-lsp."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

#: The server as a user's editor starts it.
SERVER_COMMAND = [sys.executable, "-m", "perfedit", "lsp"]

#: How long a test waits for a job or a profiled run (a loaded two-core machine), in seconds.
JOB_TIMEOUT_S = 180


def client_converter():
    """pygls' converter, except that a CodeAction carrying a ``command`` object is read as a
    CodeAction: lsprotocol's hook reads any object with a "command" key as a Command."""
    converter = default_converter()

    def command_or_action(value: dict[str, Any], _: object) -> types.Command | types.CodeAction:
        return converter.structure(
            value, types.Command if isinstance(value.get("command"), str) else types.CodeAction
        )

    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


def make_client() -> LanguageClient:
    """pytest-lsp's test client with :func:`client_converter`."""
    client = LanguageClient(converter_factory=client_converter)
    register_lsp_features(client)
    return client


SERVER = ClientServerConfig(server_command=SERVER_COMMAND, client_factory=make_client)


async def open_project(
    client: LanguageClient,
    project: Path,
    file: str = "dedupe.py",
    editor: str = "visual-studio-code",
    **options: Any,
) -> types.TextDocumentItem:
    """Initialize with ``editor``'s capabilities (VS Code: UTF-16, versioned and annotated edits,
    work-done progress, configuration) and open ``file``."""
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(editor),
            root_uri=project.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name=project.name)],
            initialization_options=options,
        )
    )
    path = project / file
    document = types.TextDocumentItem(
        uri=path.as_uri(), language_id="python", version=1, text=path.read_text(encoding="utf-8")
    )
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=document))
    return document


def line_of(document: types.TextDocumentItem, text: str) -> int:
    """The number (from 0) of the document's first line containing ``text``."""
    return next(i for i, line in enumerate(document.text.splitlines()) if text in line)


async def wait_until(condition, timeout_s: float = JOB_TIMEOUT_S) -> None:
    """Return once ``condition()`` is true (polled every 50 ms); raise TimeoutError after
    ``timeout_s`` seconds."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout_s)


async def hover_at(
    client: LanguageClient, document: types.TextDocumentItem, line: int
) -> types.Hover | None:
    """The server's hover at column 4 of ``line`` (from 0)."""
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=document.uri),
            position=types.Position(line=line, character=4),
        )
    )


async def code_actions(
    client: LanguageClient,
    document: types.TextDocumentItem,
    line: int,
    only: list[str] | None = None,
):
    """The server's code actions at column 4 of ``line`` (from 0), of the kinds ``only``."""
    where = types.Range(
        start=types.Position(line=line, character=4), end=types.Position(line=line, character=4)
    )
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=document.uri),
            range=where,
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )


def execute(client: LanguageClient, action: types.CodeAction, msg_id: str | None = None):
    """Run ``action``'s command (as the editor does when it is chosen); the reply, as a future."""
    assert action.command is not None
    params = types.ExecuteCommandParams(
        command=action.command.command, arguments=action.command.arguments
    )
    return asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id)
    )
