"""The server and its handlers: each converts LSP types (:mod:`perfedit.lsp.convert`) and calls
the engine (:mod:`perfedit.job.pipeline`, :mod:`perfedit.testsource.profiling`), the job runner
(:mod:`perfedit.lsp.jobs`) or the server's state (:mod:`perfedit.lsp.state`).

Tests run only when the user asks: the ``perfedit.suggest`` job, the ``perfedit.profile``
command, or opening/saving a file with the ``profileOn`` setting. Hot functions of a profile
made in this session get a code lens and a hover."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCMessage
from pygls.uris import to_fs_path
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
from perfedit.lsp.convert import ACTION_KIND, COMMAND, PROFILE_COMMAND
from perfedit.lsp.framing import Answered, Body, FrameReader, FramingError, serve_stdio
from perfedit.lsp.state import ActionTargets, EditorOptions, Jobs, Profiles, Reports, ResultCache

if TYPE_CHECKING:
    from perfedit.candidates import Proposer
    from perfedit.job.locate import Request
    from perfedit.testsource.profiling import HotSpot, Profile

CONFIG_SECTION = "perfedit"


class PerfeditProtocol(LanguageServerProtocol):
    """pygls' protocol that also passes ``$/cancelRequest`` to the running jobs: pygls cancels the
    request's future, which cannot stop a job's worker thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs = Jobs()

    def handle_message(self, message: RPCMessage) -> None:
        if getattr(message, "method", None) == types.CANCEL_REQUEST:
            request_id = message.params.id  # type: ignore[union-attr]
            self.jobs.cancel(request_id)
            if request_id not in self._request_futures:
                return  # answered already (editors cancel hovers and code actions as the cursor moves): nothing to log
        super().handle_message(message)


class PerfeditServer(LanguageServer):
    """The server and its state: editor options, running jobs, cached results."""

    protocol: PerfeditProtocol

    def __init__(self) -> None:
        super().__init__("perfedit", __version__, protocol_cls=PerfeditProtocol)
        self.init_options: Any = None
        self.options = EditorOptions()
        self.results = ResultCache()
        self.reports = Reports()
        self.action_targets = ActionTargets()
        self.profiles = Profiles()
        self.configured = asyncio.Event()  # set once the editor's settings were first read
        self._warned: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning, message=f"perfedit: {message}"
                )
            )

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
            section = (
                await self.workspace_configuration_async(types.ConfigurationParams(items=[item]))
            )[0]
        self.set_options(self.init_options, section)
        self.configured.set()

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
        from perfedit.job.locate import Request

        path = Path(document.path)
        return Request(path, document.source, line=line), self.settings_for(path)

    def project_of(self, uri: str | None) -> tuple[Path, Path | None]:
        """The project root of ``uri`` (a file or folder; None: the workspace's root folder) and
        the tests to run there (the ``tests`` setting, relative to the file's folder), or None
        for pytest's discovery. Raises InputError when there is no folder to profile."""
        where = to_fs_path(uri) if uri else self.workspace.root_path
        if not where:
            raise InputError(
                "no folder is open: open the project's folder, or run perfedit.profile with a file's URI."
            )
        path = Path(where).resolve()
        tests = self.settings_for(path).tests
        return config.find_project_root(path), (
            (path if path.is_dir() else path.parent) / tests if tests else None
        )

    async def profile(self, uri: str | None, request_id: object = None) -> Profile:
        """The profile of the project of ``uri`` (:meth:`project_of`), joining a run already going
        on there; code lenses are refreshed once it is kept. Raises PerfeditError."""
        root, tests = self.project_of(uri)
        workload = self.settings_for(root).workload
        profile = await self.profiles.run(
            root,
            lambda: asyncio.ensure_future(
                jobs.profile(self, self.protocol.jobs, root, tests, request_id, workload)
            ),
        )
        if get_capability(self.client_capabilities, "workspace.code_lens.refresh_support", False):
            self.workspace_code_lens_refresh(None)
        return profile

    def profile_in_background(self, uri: str) -> None:
        """Profile the project of ``uri`` for the ``profileOn`` setting; a failure is a message."""

        async def run() -> None:
            try:
                await self.profile(uri)
            except NoTestsFound as exc:
                self.warn_once(str(exc))
            except PerfeditError as exc:
                jobs.failed(self, exc)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def stub_for(self, path: Path) -> list[Proposer] | None:
        """With ``candidatesFile``: its stub proposer (the file relative to ``path``'s project
        root; absolute stays absolute), instead of the rules, the model and refinement."""
        from perfedit.candidates.stub import stub_proposer

        candidates = self.options.editor.candidates_file
        return [stub_proposer(config.find_project_root(path) / candidates)] if candidates else None


server = PerfeditServer()

#: How long a code action waits for its target and tests before answering with a guess (the
#: lookup runs in a helper process; a 20,000-line file's first parse takes about a second, and
#: the answer is kept for the next request), seconds: the answer comes within about 100 ms.
ACTION_WAIT_S = 0.05


@server.feature(types.INITIALIZE)
def initialize(ls: PerfeditServer, params: types.InitializeParams) -> None:
    ls.init_options = params.initialization_options


@server.feature(types.INITIALIZED)
async def initialized(ls: PerfeditServer, params: types.InitializedParams) -> None:
    ls.action_targets.warm_up()
    await ls.pull_configuration()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def configuration_changed(
    ls: PerfeditServer, params: types.DidChangeConfigurationParams
) -> None:
    await ls.pull_configuration()


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def document_changed(ls: PerfeditServer, params: types.DidChangeTextDocumentParams) -> None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    ls.results.document_changed(document.uri, document.version, document.source)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def document_opened(ls: PerfeditServer, params: types.DidOpenTextDocumentParams) -> None:
    await ls.configured.wait()
    if (
        ls.options.editor.profile_on in ("open", "save")
        and params.text_document.language_id == "python"
    ):
        root, _ = ls.project_of(params.text_document.uri)
        if ls.profiles.get(root) is None:  # once per project and session: saving profiles again
            ls.profile_in_background(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def document_saved(ls: PerfeditServer, params: types.DidSaveTextDocumentParams) -> None:
    if ls.options.editor.profile_on == "save" and params.text_document.uri.endswith(".py"):
        ls.profile_in_background(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def document_closed(ls: PerfeditServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.results.forget(params.text_document.uri)
    ls.action_targets.forget(params.text_document.uri)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[ACTION_KIND])
)
async def code_actions(
    ls: PerfeditServer, params: types.CodeActionParams
) -> list[types.CodeAction | types.Command] | None:
    if not convert.kind_requested(params.context.only):
        return None
    from perfedit.formats.suites import is_test_file
    from perfedit.targets import def_above

    if params.text_document.uri not in ls.workspace.text_documents:
        return None  # only files open in the editor
    document = ls.workspace.get_text_document(params.text_document.uri)
    if is_test_file(Path(document.path)):
        return None
    line = params.range.start.line
    guess = def_above(document.source, line)  # instant; the lookup confirms it
    request, settings = ls.request_for(document, line)
    lookup = ls.action_targets.lookup(document.uri, document.version, guess, request, settings)
    try:
        name, disabled = await asyncio.wait_for(asyncio.shield(lookup), ACTION_WAIT_S)
    except TimeoutError:  # still parsing a large file: answer with the guess now, exactly next time
        if guess is None:
            return None
        name, disabled = guess, None
    except (SourceSyntaxError, TargetNotFound):
        return None
    if name.rsplit(".", 1)[-1].startswith("test"):
        return None
    cached = ls.results.get(document.uri, name, document.version)
    edit = (
        convert.workspace_edit(
            document.uri,
            document.version,
            cached,
            document.source,
            ls.workspace.position_codec,
            ls.client_capabilities,
            ls.options.editor.needs_confirmation,
        )
        if cached is not None
        else None
    )
    return [
        convert.code_action(
            document.uri,
            request.line,
            document.version,
            name,
            disabled,
            (cached, edit) if cached is not None and edit is not None else None,
            ls.client_capabilities,
        )
    ]


async def target_name(ls: PerfeditServer, document: TextDocument, line: int) -> str:
    """The name of the target at ``line`` (as the code action found it), for the progress title;
    the function the indentation suggests, or the file's name, if the lookup fails."""
    from perfedit.targets import def_above

    guess = def_above(document.source, line)
    request, settings = ls.request_for(document, line)
    try:
        name, _ = await ls.action_targets.lookup(
            document.uri, document.version, guess, request, settings
        )
    except (SourceSyntaxError, TargetNotFound):
        return guess or Path(document.path).name
    return name


@server.command(COMMAND)
async def suggest_command(
    ls: PerfeditServer, uri: str, line: int, version: int | None
) -> dict[str, Any]:
    """``perfedit.suggest [uri, line, version]``: the job for the code action, then delivery."""
    document = ls.workspace.get_text_document(uri)
    if document.version != version:
        return jobs.failed(
            ls, InputError(f"{document.filename} changed since the action was offered; ask again.")
        )
    request, settings = ls.request_for(document, line)
    name = await target_name(ls, document, line)
    try:
        suggestion = await jobs.run(
            ls, ls.protocol.jobs, request, settings, name, ls.stub_for(request.path)
        )
    except PerfeditError as exc:
        return jobs.failed(ls, exc)
    report = convert.report_markdown(suggestion, document.path)
    report_uri = ls.reports.write(request.path, suggestion.target.name, report)
    ls.results.put(uri, version, suggestion, report_uri)
    return await jobs.deliver(
        ls,
        uri,
        version,
        request.source,
        suggestion,
        ls.options.editor.needs_confirmation,
        report_uri,
        report,
    )


@server.command(PROFILE_COMMAND)
async def profile_command(ls: PerfeditServer, *args: Any) -> dict[str, Any]:
    """``perfedit.profile [uri]``: profile the tests of the project of ``uri`` (a file or folder;
    default: the workspace's root folder), then show code lenses and hovers on its hot functions."""
    from perfedit.testsource.profiling import hot_functions

    await ls.configured.wait()  # the editor's settings (tests, workload) are read first
    try:
        profile = await ls.profile(
            args[0] if args and isinstance(args[0], str) else None, ls.protocol.msg_id
        )
    except PerfeditError as exc:
        return jobs.failed(ls, exc)
    hot = hot_functions(profile)
    ls.window_show_message(
        types.ShowMessageParams(
            type=types.MessageType.Info, message=convert.profile_summary(profile, hot)
        )
    )
    return convert.profiled(profile, hot)


def hot_spots(ls: PerfeditServer, document: TextDocument) -> tuple[Profile | None, list[HotSpot]]:
    """This session's profile of ``document``'s project (or None) and the hot functions of its
    current text."""
    from perfedit.formats.suites import is_test_file
    from perfedit.testsource.profiling import hot_spots

    path = Path(document.path).resolve()
    profile = ls.profiles.containing(path)
    return profile, (
        [] if profile is None or is_test_file(path) else hot_spots(profile, path, document.source)
    )


@server.feature(types.TEXT_DOCUMENT_CODE_LENS)
def code_lenses(ls: PerfeditServer, params: types.CodeLensParams) -> list[types.CodeLens] | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    applied = [f for f in ls.results.in_version(document.uri, document.version) if f.applied]
    done = {f.first_line for f in applied}
    profile, spots = hot_spots(ls, document)
    lenses = [convert.applied_lens(document.uri, f.first_line, f.suggestion) for f in applied]
    if profile:
        lenses += [
            convert.code_lens(
                document.uri,
                document.version,
                s.first,
                profile.share(s.function),
                convert.time_of(profile),
            )
            for s in spots
            if s.first not in done
        ]
    return lenses or None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: PerfeditServer, params: types.HoverParams) -> types.Hover | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    line = params.position.line
    found = ls.results.at(document.uri, document.version, line)
    parts = (
        [convert.hover_markdown(found.suggestion, found.applied, found.report_uri)] if found else []
    )
    profile, spots = hot_spots(ls, document)
    around = [s for s in spots if s.first <= line <= s.last]
    if profile and around:
        spot = min(around, key=lambda s: s.last - s.first)  # the innermost
        parts.append(convert.profile_markdown(profile, spot.function, spot.name))
    return convert.hover(*parts) if parts else None


def serve(
    stdin: io.RawIOBase,
    stdout: BinaryIO,
    *,
    frames: FrameReader,
    events: Iterable[Body | FramingError],
    answered: Answered | None,
) -> int:
    """Run the language server on ``stdin``/``stdout`` until the client sends ``exit`` or closes
    the input, going on from what the start read (:func:`perfedit.lsp.start.serve`), with
    framing that answers malformed frames and resyncs (:func:`perfedit.lsp.framing.serve_stdio`);
    returns the exit code."""
    try:
        return serve_stdio(server, stdin, stdout, frames=frames, events=events, answered=answered)
    finally:
        server.action_targets.close()
