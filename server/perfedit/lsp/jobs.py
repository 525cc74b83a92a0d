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
    proposers: list[Proposer] | None = None,
) -> Suggestion:
    """:func:`perfedit.job.pipeline.suggest` in a thread, with progress and cancellation wired to the
    client (the current request's ``$/cancelRequest`` through ``jobs``). ``proposers`` replace the
    default ones (and refinement), as the ``candidatesFile`` setting does."""
    from perfedit.candidates.model import model_provider
    from perfedit.job import pipeline

    cancel = threading.Event()
    request_id = ls.protocol.msg_id
    jobs.add(request_id, cancel)
    try:
        async with work_done_progress(
            ls, f"perfedit: {request.path.name}", settings.budget_s, cancel
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
    ls: LanguageServer, jobs: Jobs, root: Path, tests: Path | None, request_id: object = None
) -> Profile:
    """:func:`perfedit.testsource.profiling.profile_tests` of project ``root`` in a thread (from the cache when
    the project is unchanged), with work-done progress; cancellable from the progress and, for
    the request ``request_id`` (None: started by a notification), by ``$/cancelRequest``."""
    from perfedit.testsource import profiling

    cancel = threading.Event()
    if request_id is not None:
        jobs.add(request_id, cancel)
    try:
        async with work_done_progress(
            ls, f"perfedit: profiling the tests of {root.name}", profiling.TIMEOUT_S, cancel
        ) as reporter:
            if reporter is not None:
                message = "running the tests once, profiled, in the sandbox (cached while the project is unchanged)"
                ls.work_done_progress.report(
                    reporter.token, types.WorkDoneProgressReport(message=message)
                )
            run = functools.partial(profiling.profile_tests, root, tests, cancel=cancel.is_set)
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
    needs_confirmation: bool,
) -> dict[str, Any]:
    """Apply ``s`` if the document is still the one it was computed for; say what happened."""
    document = ls.workspace.get_text_document(uri)
    if document.version != version or document.source != source:
        message = f"{convert.summary(s)}; not applied: the file changed while perfedit was working. Run the action again."
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        )
        return {"applied": False, **convert.found(s), "error": "the document changed"}
    edit = convert.workspace_edit(
        uri,
        version,
        s,
        source,
        ls.workspace.position_codec,
        ls.client_capabilities,
        needs_confirmation,
    )
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label=f"perfedit: faster {s.target.name}")
    )
    note = "" if result.applied else f"; not applied ({result.failure_reason or 'declined'})"
    ls.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Info, message=convert.summary(s) + note)
    )
    return {"applied": result.applied, **convert.found(s)}
