"""Running the main job and the profiled test run for the language server: in a thread, off the
event loop, with work-done progress, cancellation, and delivery of the result with
``workspace/applyEdit``.

Cancellation: the job polls a :class:`threading.Event`, set by pygls' own signals — the
cancellation future pygls keeps for the progress token (``window/workDoneProgress/cancel``) and,
for ``$/cancelRequest``, :class:`perfedit.lsp.server.PerfeditProtocol` through :class:`Jobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from perfedit.errors import Cancelled, PerfeditError
from perfedit.lsp import convert
from perfedit.lsp.state import Jobs
from perfedit.progress import Phase, no_progress

if TYPE_CHECKING:
    from perfedit.candidates import Proposer
    from perfedit.config import Settings
    from perfedit.job.locate import Request
    from perfedit.job.pipeline import Suggestion
    from perfedit.testsource.profiling import Profile

#: How often a silent job's progress is sent again, so that the bar keeps moving, seconds.
TICK_S = 1.0


class ProgressReporter:
    """A :class:`~perfedit.progress.ProgressFn` for the job's thread that sends ``$/progress``
    from the event loop (:class:`convert.ProgressBar` values), once per message and percentage
    point (not once per generated token); :meth:`tick` sends the bar's value again when it moved."""

    def __init__(
        self, ls: LanguageServer, token: str, budget_s: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.ls, self.token, self.loop = ls, token, loop
        self.bar = convert.ProgressBar(budget_s, time.monotonic())
        self._last: tuple[str | None, int | None] = ("", 0)  # (message, percentage) last sent
        self._lock = threading.Lock()  # reports come from the job's threads, ticks from the loop

    def __call__(
        self, phase: Phase, completed: float = 0, total: float | None = None, detail: str = ""
    ) -> None:
        with self._lock:
            self._send(self.bar.report(phase, completed, total, detail, time.monotonic()))

    def tick(self) -> None:
        with self._lock:
            self._send(self.bar.value(time.monotonic()))

    def _send(self, value: types.WorkDoneProgressReport) -> None:
        if (value.message, value.percentage) != self._last:
            self._last = (value.message, value.percentage)
            self.loop.call_soon_threadsafe(self.ls.work_done_progress.report, self.token, value)


@contextlib.asynccontextmanager
async def work_done_progress(
    ls: LanguageServer, title: str, budget_s: float, cancel: threading.Event
) -> AsyncIterator[ProgressReporter | None]:
    """Server-initiated work-done progress, begun, cancellable (setting ``cancel``), kept moving
    every :data:`TICK_S` and ended on exit; None (and no progress) if the client has none."""
    if not get_capability(ls.client_capabilities, "window.work_done_progress", False):
        yield None
        return
    token = f"perfedit-{uuid.uuid4()}"
    await ls.work_done_progress.create_async(token)
    ls.work_done_progress.tokens[token].add_done_callback(
        lambda _: cancel.set()
    )  # cancelled by the client
    ls.work_done_progress.begin(
        token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
    )
    reporter = ProgressReporter(ls, token, budget_s, asyncio.get_running_loop())

    async def keep_moving() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            reporter.tick()

    ticking = asyncio.create_task(keep_moving())
    try:
        yield reporter
    finally:
        ticking.cancel()
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd())
        ls.work_done_progress.tokens.pop(token, None)


async def run(
    ls: LanguageServer,
    jobs: Jobs,
    request: Request,
    settings: Settings,
    name: str,
    proposers: list[Proposer] | None = None,
) -> Suggestion:
    """:func:`perfedit.job.pipeline.suggest` in a thread, with progress titled after the target
    ``name`` and cancellation wired to the client (the current request's ``$/cancelRequest``
    through ``jobs``). ``proposers`` replace the default ones (and refinement), as the
    ``candidatesFile`` setting does."""
    from perfedit.candidates.model import model_provider
    from perfedit.job import pipeline

    cancel = threading.Event()
    request_id = ls.protocol.msg_id
    jobs.add(request_id, cancel)
    try:
        async with work_done_progress(
            ls, f"perfedit: speeding up {name}", settings.budget_s, cancel
        ) as reporter:
            model = model_provider(settings)
            suggest = functools.partial(
                pipeline.suggest, proposers=proposers, refiners=[] if proposers else None
            )
            suggestion = await asyncio.to_thread(
                suggest, request, settings, model, reporter or no_progress, cancel.is_set
            )
    finally:
        jobs.remove(request_id)
    return suggestion


async def profile(
    ls: LanguageServer,
    jobs: Jobs,
    root: Path,
    tests: Path | None,
    request_id: object = None,
    workload: str | None = None,
) -> Profile:
    """:func:`perfedit.testsource.profiling.profile_tests` of project ``root`` in a thread (from
    the cache when the project is unchanged), or
    :func:`perfedit.testsource.workload.profile_workload` of the ``workload`` command if given,
    with work-done progress; cancellable from the progress and, for the request ``request_id``
    (None: started by a notification), by ``$/cancelRequest``."""
    from perfedit.testsource import profiling
    from perfedit.testsource import workload as workloads

    cancel = threading.Event()
    if request_id is not None:
        jobs.add(request_id, cancel)
    try:
        async with work_done_progress(
            ls,
            f"perfedit: profiling {'the workload' if workload else 'the tests'} of {root.name}",
            profiling.TIMEOUT_S,
            cancel,
        ) as reporter:
            if reporter is not None:
                what = f"the workload `{workload}`" if workload else "the tests"
                message = f"running {what} once, profiled, in the sandbox (cached while the project is unchanged)"
                ls.work_done_progress.report(
                    reporter.token, types.WorkDoneProgressReport(message=message)
                )
            run = (
                functools.partial(workloads.profile_workload, root, workload, cancel=cancel.is_set)
                if workload
                else functools.partial(profiling.profile_tests, root, tests, cancel=cancel.is_set)
            )
            return await asyncio.to_thread(run)
    finally:
        if request_id is not None:
            jobs.remove(request_id)


def failed(ls: LanguageServer, exc: PerfeditError) -> dict[str, Any]:
    """Show ``exc`` (the candidates' reasons go to the log) and return the command's result."""
    message, log = convert.failure_message(exc)
    if log is not None:
        ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=log))
    ls.window_show_message(types.ShowMessageParams(type=convert.severity(exc), message=message))
    return {"applied": False, "error": str(exc), "cancelled": isinstance(exc, Cancelled)}


async def deliver(
    ls: LanguageServer,
    uri: str,
    version: int | None,
    source: str,
    s: Suggestion,
    wants_confirmation: bool,
    report_uri: str,
    report: str,
) -> dict[str, Any]:
    """Offer ``s`` for the document it was computed for (:func:`convert.delivery`): apply it,
    ask first (:func:`decide`), preview it or hold it; an unsafe suggestion is never applied
    without the user's acceptance. Nothing is applied once the document changed. Shows the
    outcome and returns the command's result (``report``: the full report, whose file is
    ``report_uri``)."""
    how = convert.delivery(s.unsafe, wants_confirmation, ls.client_capabilities)
    if how == "ask" and not changed(ls, uri, version, source):
        choice = await decide(ls, s, report_uri, report)
        if choice is None or choice == convert.DISCARD:
            return shown(
                ls,
                s,
                report,
                False,
                "discarded (the code action offers it again until the file changes)",
            )
        how = "preview" if choice == convert.SHOW_DIFF else "apply"
    if changed(ls, uri, version, source):
        message = "not applied: the file changed while perfedit was working; run the action again"
        return {
            **shown(ls, s, report, False, message, types.MessageType.Warning),
            "error": "the document changed",
        }
    if how == "hold":
        message = "not applied: it behaves differently from the original (see the hover); choose the code action again to apply it"
        return shown(ls, s, report, False, message, types.MessageType.Warning)
    edit = convert.workspace_edit(
        uri,
        version,
        s,
        source,
        ls.workspace.position_codec,
        ls.client_capabilities,
        how == "preview",
    )
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=f"perfedit: faster {s.target.name}")
    )
    outcome = (
        "applied" if result.applied else f"not applied ({result.failure_reason or 'declined'})"
    )
    return shown(ls, s, report, result.applied, outcome)


def changed(ls: LanguageServer, uri: str, version: int | None, source: str) -> bool:
    """True if the document is no longer the one the result was computed for."""
    document = ls.workspace.get_text_document(uri)
    return document.version != version or document.source != source


def shown(
    ls: LanguageServer,
    s: Suggestion,
    report: str,
    applied: bool,
    outcome: str,
    severity: types.MessageType = types.MessageType.Info,
) -> dict[str, Any]:
    """Show the final message (the headline and ``outcome``) and return the command's result."""
    message = convert.outcome_message(s, outcome)
    ls.window_show_message(types.ShowMessageParams(type=severity, message=message))
    return {"applied": applied, **convert.found(s, report)}


#: How often the decision message is asked again after "Details" before it counts as declined.
MAX_DETAILS = 3


async def decide(ls: LanguageServer, s: Suggestion, report_uri: str, report: str) -> str | None:
    """Ask with ``window/showMessageRequest`` (:func:`convert.decision_message`, actions
    :func:`convert.decision_actions`) and return the chosen action's title (None: closed).
    "Details" shows the full report (``window/showDocument`` of ``report_uri`` where the client
    has it, else the report as a message) and asks again."""
    actions = [
        types.MessageActionItem(title=title)
        for title in convert.decision_actions(s.unsafe, ls.client_capabilities)
    ]
    question = types.ShowMessageRequestParams(
        type=types.MessageType.Warning if s.unsafe else types.MessageType.Info,
        message=convert.decision_message(s),
        actions=actions,
    )
    for _ in range(MAX_DETAILS + 1):
        choice = await ls.window_show_message_request_async(question)
        if choice is None or choice.title != convert.DETAILS:
            return choice.title if choice else None
        if get_capability(ls.client_capabilities, "window.show_document.support", False):
            await ls.window_show_document_async(
                types.ShowDocumentParams(uri=report_uri, take_focus=True)
            )
        else:
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Info, message=report)
            )
    return None
