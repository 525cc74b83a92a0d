"""The perfedit language server: ``perfedit lsp`` on stdio (pygls 2).

Features:

* ``textDocument/codeAction`` — with the cursor in a function (or anywhere in a script that reads
  stdin), one action "Suggest faster version of `f`" of kind ``refactor.rewrite.perfedit``; it is
  disabled, with the reason, when no test covers the target. Its command is ``perfedit.suggest``
  with the arguments ``[uri, line, version]``; once a result for this version of the document is
  cached, the action carries that edit instead.
* ``workspace/executeCommand`` ``perfedit.suggest`` — runs :func:`perfedit.pipeline.suggest` in a
  thread, reports server-initiated work-done progress, stops on ``window/workDoneProgress/cancel``
  or ``$/cancelRequest``, and delivers the result with ``workspace/applyEdit``: a versioned
  ``TextDocumentEdit`` under the change annotation ``perfedit`` (``needsConfirmation`` opens
  VS Code's refactor preview), then a summary ``window/showMessage``. Nothing is applied if the
  document changed meanwhile. Returns ``{"applied": bool, "speedup": float, "summary": the shown
  message, "report": the hover's Markdown}`` or ``{"applied": false, "error": message, "cancelled":
  bool}`` (the VS Code extension keeps it for "perfedit: Show Last Result").
* ``textDocument/hover`` — on a function with a result (also once its edit is applied): the
  measured facts, the model's reason and the diff, as Markdown.

Positions go out in the negotiated encoding (UTF-16 unless the client prefers another) through
pygls' PositionCodec. Clients without ``documentChanges``, change annotations, disabled code
actions or code action literals get the plainer forms.

Settings: the project's ``[tool.perfedit]``, overridden by ``initializationOptions``, overridden by
the ``perfedit`` section of ``workspace/configuration``; keys are the fields of
:class:`perfedit.config.Settings`, plus two that only the editor has: ``candidatesFile`` (the stub
proposer, :mod:`perfedit.proposers.stub`: for tests and hand-written versions) and
``needsConfirmation`` (default true); ``python``, ``path`` and ``trace`` are the editor
extension's own and are skipped. Invalid settings are shown as a warning and ignored.

Handlers only convert types; the work is in :mod:`perfedit.pipeline`. The engine (libcst, numpy,
scipy) is imported by the first code action or job, not at start-up, so ``initialize`` is answered
at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import PositionCodec, TextDocument

from perfedit import __version__, config
from perfedit.config import Settings
from perfedit.errors import (
    Cancelled,
    ConfigError,
    InputError,
    NoCodeGenerated,
    NoFasterVersion,
    NoTestsFound,
    PerfeditError,
    SourceSyntaxError,
    TargetNotFound,
)
from perfedit.progress import CancelFn, ProgressFn

if TYPE_CHECKING:
    from perfedit.diffs import Edit
    from perfedit.llm import ChatModel
    from perfedit.pipeline import ModelProvider, Request, Suggestion

COMMAND = "perfedit.suggest"
ACTION_KIND = "refactor.rewrite.perfedit"
ANNOTATION_ID = "perfedit"
CONFIG_SECTION = "perfedit"
#: Keys of the ``perfedit`` section that belong to the editor extension, not to the server
#: (``perfedit.python``: the VS Code extension's interpreter; ``perfedit.path``: an executable;
#: ``perfedit.trace.server``: vscode-languageclient's tracing).
CLIENT_KEYS = frozenset({"python", "path", "trace"})

#: Where each engine phase sits on the 0–100 progress bar (percentages never go back).
#: Model candidates are validated while the next is generated, so "generating" (counted in
#: candidates) carries the bar through both; "found …" reports keep the bar where it is.
_PHASE_PERCENT = {
    "running the original": (0, 10),
    "validating": (10, 15),
    "loading the model": (15, 20),
    "generating": (20, 85),
    "refining": (85, 92),
    "minimising the diff": (92, 95),
    "explaining": (95, 99),
}


@dataclass(frozen=True, kw_only=True)
class EditorOptions:
    """What the editor sends: Settings fields (over ``[tool.perfedit]``) and two LSP-only keys."""

    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    candidates_file: str | None = None  # "candidatesFile": stub proposer instead of the model
    needs_confirmation: bool = True  # "needsConfirmation": preview the edit before applying it

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EditorOptions:
        """Options from ``initializationOptions`` / ``workspace/configuration``; raises ConfigError."""
        rest = {key: item for key, item in value.items() if key not in CLIENT_KEYS}
        candidates, confirm = rest.pop("candidatesFile", None), rest.pop("needsConfirmation", True)
        if not isinstance(candidates, str | None) or not isinstance(confirm, bool):
            raise ConfigError("perfedit settings: candidatesFile must be a path, needsConfirmation a boolean")
        config.from_mapping(rest)  # validates names and types
        return cls(settings=rest, candidates_file=candidates, needs_confirmation=confirm)


class Jobs:
    """Cancel events of running jobs, found by progress token or by request id (event loop only)."""

    def __init__(self) -> None:
        self._events: dict[object, threading.Event] = {}

    def add(self, event: threading.Event, *keys: object) -> None:
        self._events.update(dict.fromkeys(keys, event))

    def remove(self, event: threading.Event) -> None:
        for key in [key for key, value in self._events.items() if value is event]:
            del self._events[key]

    def cancel(self, key: object) -> None:
        if key in self._events:
            self._events[key].set()


@dataclass
class _Result:
    suggestion: Suggestion
    version: int | None  # the document version the suggestion was computed for
    spans: dict[int | None, tuple[int, int]]  # version -> the target's 0-based lines [start, end)


class ResultCache:
    """The latest suggestion per (document uri, target name), for hover and for code actions.

    A result holds for the version it was computed for, and for any later version whose text is
    exactly the suggested file (the edit was applied), where the target spans the new lines.
    """

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], _Result] = {}

    def put(self, uri: str, version: int | None, suggestion: Suggestion) -> None:
        span = (suggestion.target.start_line, suggestion.target.end_line)
        self._results[(uri, suggestion.target.name)] = _Result(suggestion, version, {version: span})

    def get(self, uri: str, name: str, version: int | None) -> Suggestion | None:
        """The suggestion computed for exactly this version of the document, if any."""
        result = self._results.get((uri, name))
        return result.suggestion if result and result.version == version else None

    def at(self, uri: str, version: int | None, line: int) -> Suggestion | None:
        """The suggestion whose target contains ``line`` in this version of the document."""
        for (result_uri, _), result in self._results.items():
            span = result.spans.get(version) if result_uri == uri else None
            if span and span[0] <= line < span[1]:
                return result.suggestion
        return None

    def document_changed(self, uri: str, version: int | None, source: str) -> None:
        """Note ``version`` of ``uri`` if it is a suggestion applied."""
        for (result_uri, _), result in self._results.items():
            s = result.suggestion
            if result_uri == uri and source == s.new_source:
                from perfedit.targets import split_lines  # loaded by the job that made ``s``

                grown = len(split_lines(s.new_source)) - len(split_lines(s.target.source))
                result.spans[version] = (s.target.start_line, s.target.end_line + grown)


    def forget(self, uri: str) -> None:
        """Drop the results for ``uri`` (closed: its version numbers may start again)."""
        for key in [key for key in self._results if key[0] == uri]:
            del self._results[key]


class PerfeditProtocol(LanguageServerProtocol):
    """pygls' protocol, except that ``$/cancelRequest`` also stops a running ``perfedit.suggest``
    (pygls alone can only cancel a request that has not started)."""

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        self._server.jobs.cancel(("request", msg_id))  # type: ignore[attr-defined]
        super()._handle_cancel_notification(msg_id)


class PerfeditServer(LanguageServer):
    """The server and its state: editor options, running jobs, cached results."""

    def __init__(self) -> None:
        super().__init__("perfedit", __version__, protocol_cls=PerfeditProtocol)
        self.init_options: Any = None
        self.options = EditorOptions()
        self.jobs = Jobs()
        self.results = ResultCache()
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
        candidates = self.options.candidates_file
        stub = config.find_project_root(path) / candidates if candidates else None  # absolute stays absolute
        return Request(path, document.source, line=line, candidates_file=stub), self.settings_for(path)



server = PerfeditServer()


def _shared_model(settings: Settings) -> ChatModel:
    """The model of ``settings``, loaded on first use and kept for the life of the server (the
    backend is imported only then, so the server starts fast)."""
    from perfedit.llm import shared

    return shared(settings.model, backend=settings.backend, endpoint=settings.endpoint)


# ---- type conversion helpers -------------------------------------------------------------------


def kind_requested(only: Sequence[str] | None) -> bool:
    """True if ``context.only`` lets our kind through (a requested kind is a prefix of ours)."""
    return only is None or any(k == "" or f"{ACTION_KIND}.".startswith(f"{k}.") for k in only)


def locate_for_action(request: Request, settings: Settings) -> tuple[Request, str, str | None]:
    """(request, target name, why the action is disabled or None) for a code action.

    The function around ``request.line``, else the file as a script; raises SourceSyntaxError or
    TargetNotFound when there is nothing to offer.
    """
    from perfedit import pipeline, targets

    try:
        target, _ = pipeline.locate(request, settings, run_tests=False)  # quick: no test run here
        return request, target.name, None
    except TargetNotFound:
        if request.line is None:
            raise
        return locate_for_action(dataclasses.replace(request, line=None), settings)
    except NoTestsFound as exc:
        return request, targets.find(request.path, request.source, line=request.line).name, str(exc)


def suggest_at(
    request: Request, settings: Settings, model: ModelProvider, progress: ProgressFn, cancel: CancelFn
) -> Suggestion:
    """:func:`pipeline.suggest` for the function around ``request.line``, else the whole script."""
    from perfedit import pipeline

    try:
        return pipeline.suggest(request, settings, model, progress, cancel)
    except TargetNotFound:
        if request.line is None:
            raise
        return pipeline.suggest(dataclasses.replace(request, line=None), settings, model, progress, cancel)


def text_edits(edits: Sequence[Edit], source: str, codec: PositionCodec, annotated: bool) -> list[types.TextEdit]:
    """The engine's edits (code-point columns in ``source``) in the client's position units."""
    from perfedit.targets import split_lines

    lines = split_lines(source)

    def position(at: tuple[int, int]) -> types.Position:
        return codec.position_to_client_units(lines, types.Position(line=at[0], character=at[1]))

    def convert(edit: Edit) -> types.TextEdit:
        where = types.Range(start=position(edit.start), end=position(edit.end))
        if annotated:
            return types.AnnotatedTextEdit(range=where, new_text=edit.new_text, annotation_id=ANNOTATION_ID)
        return types.TextEdit(range=where, new_text=edit.new_text)

    return [convert(edit) for edit in edits]


def workspace_edit(
    uri: str, version: int | None, edits: Sequence[Edit], source: str, codec: PositionCodec,
    capabilities: types.ClientCapabilities, annotation: types.ChangeAnnotation,
) -> types.WorkspaceEdit:
    """A versioned, annotated WorkspaceEdit, or the plainer forms a client without them accepts."""
    annotated = get_capability(capabilities, "workspace.workspace_edit.change_annotation_support") is not None
    changes = text_edits(edits, source, codec, annotated)
    if not get_capability(capabilities, "workspace.workspace_edit.document_changes", False):
        return types.WorkspaceEdit(changes={uri: changes})
    document = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    return types.WorkspaceEdit(
        document_changes=[types.TextDocumentEdit(text_document=document, edits=changes)],  # type: ignore[arg-type]
        change_annotations={ANNOTATION_ID: annotation} if annotated else None,
    )


def suggestion_edit(ls: PerfeditServer, uri: str, version: int | None, source: str, s: Suggestion) -> types.WorkspaceEdit:
    annotation = types.ChangeAnnotation(
        label="perfedit: faster version", needs_confirmation=ls.options.needs_confirmation, description=s.facts[0]
    )
    return workspace_edit(uri, version, s.edits, source, ls.workspace.position_codec, ls.client_capabilities, annotation)


def code_action(
    document: TextDocument, request: Request, name: str, disabled: str | None, edit: types.WorkspaceEdit | None,
    capabilities: types.ClientCapabilities,
) -> types.CodeAction | types.Command:
    """Our one action; a client without ``disabled`` support gets it enabled (running it shows the
    reason), one without code action literals gets the bare command."""
    title = f"Suggest faster version of `{name}`"
    command = types.Command(title=title, command=COMMAND, arguments=[document.uri, request.line, document.version])
    if not get_capability(capabilities, "text_document.code_action.code_action_literal_support"):
        return command
    can_disable = get_capability(capabilities, "text_document.code_action.disabled_support", False)
    return types.CodeAction(
        title=title,
        kind=ACTION_KIND,
        disabled=types.CodeActionDisabled(reason=disabled) if disabled and can_disable else None,
        edit=edit,
        command=None if edit else command,
    )


def summary(s: Suggestion) -> str:
    c = s.winner.comparison
    assert c is not None, "a winner is always timed"
    low, high = c.ci95
    checked = s.winner.differential
    evidence = f"{s.winner.tests_passed} tests pass"
    if checked:
        evidence += f", checked by differential testing on {checked.inputs} inputs"
    return f"perfedit: {s.target.name} is {c.speedup:.1f}x faster (95% CI {low:.1f}x–{high:.1f}x), {evidence}"


def hover_markdown(s: Suggestion) -> str:
    facts = "\n".join(f"- {fact}" for fact in s.facts)
    why = f"\n\n**Why:** {s.reason}" if s.reason else ""
    return f"**perfedit: a faster `{s.target.name}`** ({s.winner.label})\n\n{facts}{why}\n\n```diff\n{s.diff}```"


def severity(exc: PerfeditError) -> types.MessageType:
    if isinstance(exc, Cancelled | NoFasterVersion):
        return types.MessageType.Info
    if isinstance(exc, InputError | NoCodeGenerated):
        return types.MessageType.Warning
    return types.MessageType.Error


def failed(ls: PerfeditServer, exc: PerfeditError) -> dict[str, Any]:
    """Show ``exc`` (the candidates' reasons go to the log) and return the command's result."""
    message = f"perfedit: {exc}"
    if isinstance(exc, NoFasterVersion):
        reasons = [f"{label}: {reason}" for label, reason in exc.reasons.items()]
        ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message="\n".join([message, *reasons])))
        message = f"{message} {'; '.join(' '.join(r.split())[:160] for r in reasons[:3])}"
    ls.window_show_message(types.ShowMessageParams(type=severity(exc), message=message))
    return {"applied": False, "error": str(exc), "cancelled": isinstance(exc, Cancelled)}


def progress_value(phase: str, completed: float, total: float | None, floor: int) -> types.WorkDoneProgressReport:
    """A $/progress report for an engine report; the percentage never drops below ``floor``."""
    low, high = next((span for key, span in _PHASE_PERCENT.items() if phase.startswith(key)), (floor, floor))
    share = completed / total if total else 0.0
    message = f"{phase} ({completed:g}/{total:g})" if total else phase
    return types.WorkDoneProgressReport(message=message, percentage=max(floor, int(low + (high - low) * share)))


class ProgressReporter:
    """A :data:`~perfedit.progress.ProgressFn` for a worker thread that sends ``$/progress`` from the
    event loop, once per phase and percentage point (not once per generated token)."""

    def __init__(self, ls: PerfeditServer, token: str | None, loop: asyncio.AbstractEventLoop) -> None:
        self.ls, self.token, self.loop = ls, token, loop
        self._last: tuple[str, int] = ("", 0)  # (phase, percentage) last sent

    def __call__(self, phase: str, completed: float, total: float | None) -> None:
        value = progress_value(phase, completed, total, self._last[1])
        key = (phase, value.percentage or 0)
        if self.token is not None and key != self._last:
            self._last = key
            self.loop.call_soon_threadsafe(self.ls.work_done_progress.report, self.token, value)


async def create_progress(ls: PerfeditServer, title: str) -> str | None:
    """A new work-done progress token, begun and cancellable; None if the client has no progress."""
    if not get_capability(ls.client_capabilities, "window.work_done_progress", False):
        return None
    token = f"perfedit-{uuid.uuid4()}"
    await ls.work_done_progress.create_async(token)
    ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0))
    return token


def end_progress(ls: PerfeditServer, token: str | None) -> None:
    if token is not None:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
        ls.work_done_progress.tokens.pop(token, None)


async def run_job(ls: PerfeditServer, request: Request, settings: Settings) -> Suggestion:
    """The main job in a thread, with progress and cancellation wired to the client."""
    cancel = threading.Event()
    ls.jobs.add(cancel, ("request", ls.protocol.msg_id))
    token = None
    try:
        token = await create_progress(ls, f"perfedit: {request.path.name}")
        ls.jobs.add(cancel, ("token", token))
        report = ProgressReporter(ls, token, asyncio.get_running_loop())
        model = functools.partial(_shared_model, settings)
        return await asyncio.to_thread(suggest_at, request, settings, model, report, cancel.is_set)
    finally:
        ls.jobs.remove(cancel)
        end_progress(ls, token)


async def deliver(ls: PerfeditServer, uri: str, version: int | None, source: str, s: Suggestion) -> dict[str, Any]:
    """Apply ``s`` if the document is still the one it was computed for; say what happened."""
    found = {"speedup": s.winner.comparison.speedup if s.winner.comparison else 1.0, "summary": summary(s), "report": hover_markdown(s)}
    document = ls.workspace.get_text_document(uri)
    if document.version != version or document.source != source:
        message = f"{summary(s)}; not applied: the file changed while perfedit was working. Run the action again."
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
        return {"applied": False, **found, "error": "the document changed"}
    edit = suggestion_edit(ls, uri, version, source, s)
    result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=f"perfedit: faster {s.target.name}"))
    note = "" if result.applied else f"; not applied ({result.failure_reason or 'declined'})"
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summary(s) + note))
    return {"applied": result.applied, **found}


# ---- handlers ----------------------------------------------------------------------------------


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


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[ACTION_KIND]))
async def code_actions(ls: PerfeditServer, params: types.CodeActionParams) -> list[types.CodeAction | types.Command] | None:
    if not kind_requested(params.context.only):
        return None
    document = ls.workspace.get_text_document(params.text_document.uri)
    request, settings = ls.request_for(document, params.range.start.line)
    try:
        request, name, disabled = await asyncio.to_thread(locate_for_action, request, settings)
    except (SourceSyntaxError, TargetNotFound):
        return None
    cached = ls.results.get(document.uri, name, document.version)
    edit = suggestion_edit(ls, document.uri, document.version, request.source, cached) if cached else None
    return [code_action(document, request, name, disabled, edit, ls.client_capabilities)]


@server.command(COMMAND)
async def suggest_command(ls: PerfeditServer, uri: str, line: int, version: int | None) -> dict[str, Any]:
    """``perfedit.suggest [uri, line, version]``: the job for the code action, then delivery."""
    document = ls.workspace.get_text_document(uri)
    if document.version != version:
        return failed(ls, InputError(f"{document.filename} changed since the action was offered; ask again."))
    request, settings = ls.request_for(document, line)
    try:
        suggestion = await run_job(ls, request, settings)
    except PerfeditError as exc:
        return failed(ls, exc)
    ls.results.put(uri, version, suggestion)
    return await deliver(ls, uri, version, request.source, suggestion)


@server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
def progress_cancelled(ls: PerfeditServer, params: types.WorkDoneProgressCancelParams) -> None:
    ls.jobs.cancel(("token", params.token))


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: PerfeditServer, params: types.HoverParams) -> types.Hover | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    suggestion = ls.results.at(document.uri, document.version, params.position.line)
    if suggestion is None:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=hover_markdown(suggestion)))


def serve() -> None:
    """Run the language server on stdin/stdout until the client sends ``exit``."""
    server.start_io()
