"""What the language server remembers between messages: the editor's options, the running jobs
(to cancel them), the latest results (for hover, code lenses and code actions) and their full
reports, and the test profiles made in this session (for code lenses and hover). Event loop
only."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfedit import config

if TYPE_CHECKING:
    from perfedit.config import Settings
    from perfedit.job.locate import Request
    from perfedit.job.pipeline import Suggestion
    from perfedit.testsource.profiling import Profile


@dataclass(frozen=True, kw_only=True)
class EditorOptions:
    """What the editor sends: Settings values by field name (laid over ``[tool.perfedit]``) and
    the editor-only settings."""

    settings: dict[str, Any] = field(default_factory=dict)
    editor: config.EditorSettings = field(default_factory=config.EditorSettings)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> EditorOptions:
        """Options from ``initializationOptions`` / ``workspace/configuration`` (keys spelled by
        :func:`perfedit.config.editor_key`); raises ConfigError."""
        settings, editor = config.from_editor(value)
        return cls(settings=settings, editor=editor)


class ActionTargets:
    """Per open document version and place (the function the cursor appears to be in, or the
    module level): the code action's target name and why the action is disabled (or None),
    computed once and kept until the document changes, so a slow first parse of a large file,
    or the tests' discovery, is not repeated for every line.

    The lookups run in one helper process (:func:`perfedit.job.locate.action_target`), not in a
    thread: parsing a 20,000-line file holds the interpreter lock for about a second, which would
    stall the event loop and every other request with it. The process starts with the first
    lookup and keeps its parses (:func:`perfedit.targets.function_spans` is cached)."""

    def __init__(self) -> None:
        self._lookups: dict[
            tuple[str, int | None, str | None], asyncio.Future[tuple[str, str | None]]
        ] = {}
        self._pool: ProcessPoolExecutor | None = None

    def warm_up(self) -> None:
        """Start the helper process and import the lookup's modules there and here, so the first
        code action does not wait for them (a fraction of a second each on a loaded machine)."""
        loop = asyncio.get_running_loop()
        loop.run_in_executor(
            None, importlib.import_module, "perfedit.job.locate"
        )  # here, in a thread
        # and there: by exec, whose result (None) pickles, where a module does not
        loop.run_in_executor(self._helper(), exec, "import perfedit.job.locate")

    def _helper(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    def lookup(
        self, uri: str, version: int | None, place: str | None, request: Request, settings: Settings
    ) -> asyncio.Future[tuple[str, str | None]]:
        """The (possibly still running) lookup for ``place`` in this version of ``uri``, started
        for ``request`` if there is none; lookups of other versions are dropped."""
        from perfedit.job.locate import action_target

        key = (uri, version, place)
        if key not in self._lookups:
            self.forget(uri, keep=version)
            loop = asyncio.get_running_loop()
            self._lookups[key] = loop.run_in_executor(
                self._helper(), action_target, request, settings
            )
        return self._lookups[key]

    def forget(self, uri: str, keep: int | None = None) -> None:
        """Drop the lookups of ``uri`` (but those of version ``keep``)."""
        for key in [key for key in self._lookups if key[0] == uri and key[1] != keep]:
            del self._lookups[key]

    def close(self) -> None:
        """Stop the helper process (lookups still running are abandoned)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class Jobs:
    """Cancel events of running jobs, found by the id of their ``workspace/executeCommand`` request."""

    def __init__(self) -> None:
        self._events: dict[object, threading.Event] = {}

    def add(self, request_id: object, event: threading.Event) -> None:
        self._events[request_id] = event

    def remove(self, request_id: object) -> None:
        self._events.pop(request_id, None)

    def cancel(self, request_id: object) -> None:
        if request_id in self._events:
            self._events[request_id].set()


@dataclass
class _Result:
    suggestion: Suggestion
    version: int | None  # the document version the suggestion was computed for
    spans: dict[int | None, tuple[int, int]]  # version -> the target's 0-based lines [start, end)
    report_uri: str  # the full report's file


@dataclass(frozen=True)
class Found:
    """A result as it stands in one version of its document: ``applied`` once the document reads
    as the suggested file; ``first_line`` (0-based) where the target starts there."""

    suggestion: Suggestion
    applied: bool
    first_line: int
    report_uri: str


class ResultCache:
    """The latest suggestion per (document uri, target name), for hover, code lenses and code
    actions.

    A result holds for the version it was computed for, and for any later version whose text is
    exactly the suggested file (the edit was applied), where the target spans the new lines.
    """

    def __init__(self) -> None:
        self._results: dict[tuple[str, str], _Result] = {}

    def put(self, uri: str, version: int | None, suggestion: Suggestion, report_uri: str) -> None:
        span = (suggestion.target.start_line, suggestion.target.end_line)
        self._results[(uri, suggestion.target.name)] = _Result(
            suggestion, version, {version: span}, report_uri
        )

    def get(self, uri: str, name: str, version: int | None) -> Suggestion | None:
        """The suggestion computed for exactly this version of the document, if any."""
        result = self._results.get((uri, name))
        return result.suggestion if result and result.version == version else None

    def in_version(self, uri: str, version: int | None) -> list[Found]:
        """The results that hold in this version of the document."""
        return [
            Found(result.suggestion, version != result.version, span[0], result.report_uri)
            for (result_uri, _), result in self._results.items()
            if result_uri == uri and (span := result.spans.get(version))
        ]

    def at(self, uri: str, version: int | None, line: int) -> Found | None:
        """The result whose target contains ``line`` in this version of the document."""
        for (result_uri, _), result in self._results.items():
            span = result.spans.get(version) if result_uri == uri else None
            if span and span[0] <= line < span[1]:
                return Found(
                    result.suggestion, version != result.version, span[0], result.report_uri
                )
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


class Reports:
    """The full reports of this session's results, as Markdown files in a folder of their own
    (removed when the server exits), so that an editor opens one as a document: rendered by
    VS Code's Markdown preview, read as text by any other."""

    def __init__(self) -> None:
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def write(self, path: Path, name: str, markdown: str) -> str:
        """Write the report of target ``name`` of the file ``path``; returns its file URI."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="perfedit-reports-")
        report = Path(self._folder.name) / f"perfedit-{path.stem}-{name}.md"
        report.write_text(markdown, encoding="utf-8")
        return report.as_uri()


class Profiles:
    """The latest profile of each project root made in this session (on the user's request or by
    the ``profileOn`` setting; a profile cached by an earlier session is not shown until then),
    and the profiled run going on per root, so that a second request joins it."""

    def __init__(self) -> None:
        self._profiles: dict[Path, Profile] = {}
        self._running: dict[Path, asyncio.Future[Profile]] = {}

    def get(self, root: Path) -> Profile | None:
        return self._profiles.get(root)

    def containing(self, path: Path) -> Profile | None:
        """The profile of the deepest profiled project root above ``path``, or None."""
        roots = [root for root in self._profiles if path.is_relative_to(root)]
        return self._profiles[max(roots, key=lambda root: len(root.parts))] if roots else None

    def run(
        self, root: Path, start: Callable[[], asyncio.Future[Profile]]
    ) -> asyncio.Future[Profile]:
        """The profiled run of ``root`` going on, or a new one from ``start()``; its profile is
        kept once it ends."""
        if root not in self._running:
            future = self._running[root] = start()

            def finished(done: asyncio.Future[Profile]) -> None:
                self._running.pop(root, None)
                if not done.cancelled() and done.exception() is None:
                    self._profiles[root] = done.result()

            future.add_done_callback(finished)
        return self._running[root]
