"""The server and its handlers: each converts LSP types (:mod:`perfedit.lsp.convert`) and calls
the engine (:mod:`perfedit.pipeline`), the job runner (:mod:`perfedit.lsp.jobs`) or the server's
state (:mod:`perfedit.lsp.state`)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCMessage
from pygls.workspace import TextDocument

from perfedit import __version__, config
from perfedit.config import Settings
from perfedit.errors import (
    ConfigError,
    InputError,
    NoTestsFound,
    PerfeditError,
    SourceSyntaxError,
    TargetNotFound,
)
from perfedit.lsp import convert, jobs
from perfedit.lsp.convert import ACTION_KIND, COMMAND
from perfedit.lsp.state import ActionTargets, EditorOptions, Jobs, ResultCache

if TYPE_CHECKING:
    from perfedit.pipeline import Request
    from perfedit.proposers import Proposer

CONFIG_SECTION = "perfedit"


class PerfeditProtocol(LanguageServerProtocol):
    """pygls' protocol that also passes ``$/cancelRequest`` to the running jobs: pygls cancels the
    request's future, which cannot stop a job's worker thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = Jobs()

    def handle_message(self, message: RPCMessage) -> None:
        if getattr(message, "method", None) == types.CANCEL_REQUEST:
            self.jobs.cancel(message.params.id)  # type: ignore[union-attr]
        super().handle_message(message)


class PerfeditServer(LanguageServer):
    """The server and its state: editor options, running jobs, cached results."""

    protocol: PerfeditProtocol

    def __init__(self) -> None:
        super().__init__("perfedit", __version__, protocol_cls=PerfeditProtocol)
        self.init_options: Any = None
        self.options = EditorOptions()
        self.results = ResultCache()
        self.action_targets = ActionTargets()
        self._warned: set[str] = set()

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"perfedit: {message}"))

    def set_options(self, *layers: Any) -> None:
        """Editor options from ``layers`` (JSON objects or None) merged in order; invalid ones are
        shown and ignored."""
        merged: dict[str, Any] = {}
        for layer in layers:
            if isinstance(layer, dict):
                merged.update(layer)
            elif layer is not None:
                self.warn_once(f"settings must be an object, got {layer!r} (ignored)")
        try:
            self.options = EditorOptions.from_json(merged)
        except ConfigError as exc:
            self.warn_once(f"{exc} (ignoring the editor's settings)")
            self.options = EditorOptions()

    async def pull_configuration(self) -> None:
        """Re-read the ``perfedit`` section of ``workspace/configuration`` if the client has it."""
        section = None
        if get_capability(self.client_capabilities, "workspace.configuration", False):
            item = types.ConfigurationItem(section=CONFIG_SECTION)
            section = (await self.workspace_configuration_async(types.ConfigurationParams(items=[item])))[0]
        self.set_options(self.init_options, section)

    def settings_for(self, path: Path) -> Settings:
        """``[tool.perfedit]`` of the file's project with the editor's settings over it."""
        try:
            project = config.load(path)
        except ConfigError as exc:
            self.warn_once(f"{exc} (using the defaults)")
            project = Settings()
        return config.from_mapping({**dataclasses.asdict(project), **self.options.settings})

    def request_for(self, document: TextDocument, line: int) -> tuple[Request, Settings]:
        """The engine's request for the cursor ``line`` of the open ``document``, and its settings."""
        from perfedit.pipeline import Request

        path = Path(document.path)
        return Request(path, document.source, line=line), self.settings_for(path)

    def stub_for(self, path: Path) -> list[Proposer] | None:
        """With ``candidatesFile``: its stub proposer (the file relative to ``path``'s project
        root; absolute stays absolute), instead of the rules, the model and refinement."""
        from perfedit.proposers.stub import stub_proposer

        candidates = self.options.editor.candidates_file
        return [stub_proposer(config.find_project_root(path) / candidates)] if candidates else None


server = PerfeditServer()

#: How long a code action waits for its target and tests before answering with a guess (the
#: first parse of a 20,000-line file takes about a second; the answer is kept for the next
#: request), seconds.
ACTION_WAIT_S = 0.08


def target_for_action(request: Request, settings: Settings) -> tuple[str, str | None]:
    """(the target's name, why the action is disabled or None): disabled when no test covers it.
    Raises SourceSyntaxError or TargetNotFound when there is nothing to offer."""
    from perfedit import pipeline, targets

    try:
        target, _ = pipeline.locate(request, settings, run_tests=False)  # an action never runs tests
        return target.name, None
    except NoTestsFound as exc:
        return targets.find(request.path, request.source, line=request.line).name, str(exc)


@server.feature(types.INITIALIZE)
def initialize(ls: PerfeditServer, params: types.InitializeParams) -> None:
    ls.init_options = params.initialization_options


@server.feature(types.INITIALIZED)
async def initialized(ls: PerfeditServer, params: types.InitializedParams) -> None:
    await ls.pull_configuration()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def configuration_changed(ls: PerfeditServer, params: types.DidChangeConfigurationParams) -> None:
    await ls.pull_configuration()


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def document_changed(ls: PerfeditServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    ls.results.document_changed(document.uri, document.version, document.source)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def document_closed(ls: PerfeditServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.results.forget(params.text_document.uri)
    ls.action_targets.forget(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[ACTION_KIND]))
async def code_actions(ls: PerfeditServer, params: types.CodeActionParams) -> list[types.CodeAction | types.Command] | None:
    if not convert.kind_requested(params.context.only):
        return None
    from perfedit.targets import def_above
    from perfedit.testsource import is_test_file

    if params.text_document.uri not in ls.workspace.text_documents:
        return None  # only files open in the editor
    document = ls.workspace.get_text_document(params.text_document.uri)
    if is_test_file(Path(document.path)):
        return None
    request, settings = ls.request_for(document, params.range.start.line)
    assert request.line is not None  # request_for sets it to the cursor's line
    lookup = ls.action_targets.lookup(document.uri, document.version, request.line,
                                      functools.partial(target_for_action, request, settings))
    try:
        name, disabled = await asyncio.wait_for(asyncio.shield(lookup), ACTION_WAIT_S)
    except TimeoutError:  # still parsing a large file: answer with a guess now, exactly next time
        guess = def_above(document.source, request.line)
        if guess is None:
            return None
        name, disabled = guess, None
    except (SourceSyntaxError, TargetNotFound):
        return None
    if name.rsplit(".", 1)[-1].startswith("test"):
        return None
    cached = ls.results.get(document.uri, name, document.version)
    edit = convert.workspace_edit(
        document.uri, document.version, cached, document.source, ls.workspace.position_codec, ls.client_capabilities,
        ls.options.editor.needs_confirmation,
    ) if cached is not None else None
    return [convert.code_action(document.uri, request.line, document.version, name, disabled, edit, ls.client_capabilities)]


@server.command(COMMAND)
async def suggest_command(ls: PerfeditServer, uri: str, line: int, version: int | None) -> dict[str, Any]:
    """``perfedit.suggest [uri, line, version]``: the job for the code action, then delivery."""
    document = ls.workspace.get_text_document(uri)
    if document.version != version:
        return jobs.failed(ls, InputError(f"{document.filename} changed since the action was offered; ask again."))
    request, settings = ls.request_for(document, line)
    try:
        suggestion = await jobs.run(ls, ls.protocol.jobs, request, settings, ls.stub_for(request.path))
    except PerfeditError as exc:
        return jobs.failed(ls, exc)
    ls.results.put(uri, version, suggestion)
    return await jobs.deliver(ls, uri, version, request.source, suggestion, ls.options.editor.needs_confirmation)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: PerfeditServer, params: types.HoverParams) -> types.Hover | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    suggestion = ls.results.at(document.uri, document.version, params.position.line)
    return convert.hover(suggestion) if suggestion else None


def serve() -> None:
    """Run the language server on stdin/stdout until the client sends ``exit`` or closes the
    input, with framing that answers malformed frames and resyncs (:mod:`perfedit.lsp.framing`)."""
    from perfedit.lsp.framing import serve_stdio

    serve_stdio(server)
