"""The language server end to end: the real ``perfedit lsp`` over stdio, driven by pytest-lsp.

The server works on a copy of ``examples/dedupe`` whose ``unique_in_order`` is the target. The
stub proposer (``candidatesFile``) supplies a known faster version, so no model is needed except in
the test marked ``model``. The copy's last line holds an astral character (🐢, two UTF-16 code
units) before its end and no newline, so the edit's end column differs between code points and
UTF-16: a missing conversion would leave the last letter behind.

At the bottom, unit tests of the server's type conversions (no subprocess).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pygls.uris import to_fs_path
from pygls.workspace import PositionCodec, TextDocument
from pytest_lsp import LanguageClient, client_capabilities

from helpers.lsp import (
    JOB_TIMEOUT_S,
    SERVER,
    code_actions,
    execute,
    hover_at,
    line_of,
    open_project,
    wait_until,
)
from helpers.programs import FAITHFUL
from perfedit.candidates.model import fit_to_target
from perfedit.config import EditorSettings
from perfedit.deliver import diffs
from perfedit.errors import ConfigError, ModelMissing
from perfedit.llm import modelstore
from perfedit.lsp import convert, jobs
from perfedit.lsp.state import EditorOptions
from perfedit.targets import find

UNTESTED = """

def count_items(items):
    return len(items)
"""

#: A faster version that behaves as the original on every input (unhashable items included),
#: with a docstring of non-ASCII characters, one of them astral.
FASTER = FAITHFUL.replace(
    "def unique_in_order(items):\n",
    'def unique_in_order(items):\n    """Return the distinct items of ``items`` in order → dict keys '
    'keep insertion order (é, 🚀)."""\n',
)


@pytest.fixture
def project(dedupe_project: Path) -> Path:
    """The dedupe copy with an untested function first, then the target, with 🐢 on its last line."""
    module = dedupe_project / "dedupe.py"
    head, target = module.read_text(encoding="utf-8").split("\n\n\ndef unique_in_order", 1)
    source = head + UNTESTED + "\n\ndef unique_in_order" + target.rstrip("\n") + "  # 🐢 slow"
    module.write_text(source, encoding="utf-8")
    (dedupe_project / "faster_versions.py").write_text(FASTER, encoding="utf-8")
    (dedupe_project / "unsafe_versions.py").write_text(UNSAFE, encoding="utf-8")
    return dedupe_project


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@dataclass
class Decisions:
    """The ``window/showMessageRequest`` questions the server asked (``asked``), answered in turn
    with the titles in ``answers`` (none left: the message is closed)."""

    answers: list[str] = field(default_factory=list)
    asked: list[types.ShowMessageRequestParams] = field(default_factory=list)

    def titles(self, index: int = 0) -> list[str]:
        return [action.title for action in self.asked[index].actions or []]


@pytest.fixture
def decisions(client: LanguageClient) -> Decisions:
    decisions = Decisions()

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        decisions.asked.append(params)
        return (
            types.MessageActionItem(title=decisions.answers.pop(0)) if decisions.answers else None
        )

    return decisions


@pytest.fixture
def applied(client: LanguageClient, decisions: Decisions) -> list[types.ApplyWorkspaceEditParams]:
    """The ``workspace/applyEdit`` requests the server sends; the client accepts each one (and
    answers the server's questions with :class:`Decisions`)."""
    received: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        received.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return received


#: Five timed runs, no model explanation, the faster version from the stub proposer.
STUB_OPTIONS: dict[str, Any] = {"runs": 5, "explain": False, "candidatesFile": "faster_versions.py"}

#: A faster version that raises TypeError on unhashable items, which the original accepts (the
#: set-twin rule's rewrite): differential testing finds it on a widened input.
UNSAFE = '''def unique_in_order(items):
    """Return the distinct items of ``items`` in the order they first appear."""
    result = []
    seen = set()
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result
'''

#: The stub proposer with UNSAFE as its only candidate.
UNSAFE_OPTIONS: dict[str, Any] = {**STUB_OPTIONS, "candidatesFile": "unsafe_versions.py"}


def expected_source(document: types.TextDocumentItem) -> str:
    """What the file must read after the edit: the target's lines replaced by FASTER."""
    target = find(Path(document.uri), document.text, function="unique_in_order")
    code = fit_to_target(FASTER, target)
    assert code is not None
    return target.replace(code)


def apply(
    document: types.TextDocumentItem, edits: list[types.TextEdit], encoding: str = "utf-16"
) -> str:
    """Apply TextEdits (positions in ``encoding`` units) the way pygls applies changes."""
    text = TextDocument(
        document.uri,
        document.text,
        version=document.version,
        position_codec=PositionCodec(encoding),
    )
    for edit in sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    ):
        text.apply_change(
            types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)
        )
    return text.source


def progress_kinds(client: LanguageClient) -> list[str]:
    (reports,) = client.progress_reports.values()
    return [report.kind for report in reports]


def begun(client: LanguageClient) -> bool:
    return any(r.kind == "begin" for reports in client.progress_reports.values() for r in reports)


async def test_code_action_offered_disabled_and_filtered(client: LanguageClient, project: Path):
    """One action inside a tested function; disabled with the reason in an untested one; none for
    another kind or outside any function of a file that is not a script."""
    document = await open_project(client, project, **STUB_OPTIONS)

    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    assert action.title == "Suggest faster version of `unique_in_order`"
    assert action.kind == "refactor.rewrite.perfedit"
    assert action.disabled is None
    assert action.command is not None and action.command.command == "perfedit.suggest"
    assert list(action.command.arguments) == [document.uri, line_of(document, "result.append"), 1]

    untested = await exact_action(client, document, line_of(document, "return len(items)"))
    assert untested.title == "Suggest faster version of `count_items`"
    assert untested.disabled is not None and "count_items" in untested.disabled.reason

    assert not await code_actions(
        client, document, line_of(document, "result.append"), only=["quickfix"]
    )
    assert await code_actions(
        client, document, line_of(document, "result.append"), only=["refactor.rewrite"]
    )
    assert not await code_actions(client, document, 0)  # the module docstring


async def exact_action(
    client: LanguageClient, document: types.TextDocumentItem, line: int
) -> types.CodeAction:
    """The action at ``line`` once the server has looked it up: a code action answers at once, with
    a guess (enabled, named from the indentation) while the first lookup of a place still runs
    (in a helper process that starts then: seconds on a loaded machine, hence 120 s at most)."""
    deadline = asyncio.get_running_loop().time() + 120
    while True:
        (action,) = await code_actions(client, document, line)
        if action.disabled is not None or asyncio.get_running_loop().time() > deadline:
            return action
        await asyncio.sleep(0.1)


async def test_no_action_on_tests_or_files_not_open(client: LanguageClient, project: Path):
    """Test files, test functions and files the editor has not opened get no action."""
    await open_project(client, project, **STUB_OPTIONS)
    test_file = project / "tests" / "test_dedupe.py"
    closed = types.TextDocumentItem(
        uri=test_file.as_uri(), language_id="python", version=1, text=test_file.read_text()
    )
    line = line_of(closed, "unique_in_order(")
    assert not await code_actions(client, closed, line)  # never opened
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=closed))
    assert not await code_actions(client, closed, line)  # a test file
    helper = project / "check_helpers.py"
    helper.write_text("def test_helper():\n    assert True\n")
    opened = types.TextDocumentItem(
        uri=helper.as_uri(), language_id="python", version=1, text=helper.read_text()
    )
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=opened))
    assert not await code_actions(client, opened, 1)  # a test function outside a test file


async def test_code_action_on_a_large_file_answers_at_once(client: LanguageClient, project: Path):
    """A 20,000-line file: the action comes back without waiting for the parse (it took 32 s when
    the file was parsed with libcst on every request). The bound is generous (5 s: a loaded CI
    machine; the goal of 100 ms is measured by bench/code_action.py)."""
    big = project / "big.py"
    big.write_text(
        "\n".join(f"def f{i}(x):\n    y = x + {i}\n    return y * 2\n" for i in range(5000)),
        encoding="utf-8",
    )
    document = await open_project(client, project, "big.py", **STUB_OPTIONS)
    line = line_of(document, "y = x + 4321")
    started = asyncio.get_running_loop().time()
    (action,) = await code_actions(client, document, line)
    assert asyncio.get_running_loop().time() - started < 5
    assert action.title == "Suggest faster version of `f4321`"
    exact = await exact_action(
        client, document, line
    )  # untested: disabled, once the lookup is done
    assert exact.disabled is not None and "f4321" in exact.disabled.reason


async def test_action_from_an_older_version_is_refused(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """A command whose version is not the document's (the file changed after the action was
    offered) starts no job: a warning, no progress, no edit."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    assert action.command is not None
    stale = types.CodeAction(
        title=action.title,
        command=types.Command(
            title=action.title,
            command=action.command.command,
            arguments=[document.uri, line_of(document, "result.append"), 0],
        ),
    )

    result = await asyncio.wait_for(execute(client, stale), 30)

    assert result["applied"] is False and "changed since the action was offered" in result["error"]
    assert applied == [] and client.progress_reports == {}
    assert any(
        m.type == types.MessageType.Warning and "ask again" in m.message for m in client.messages
    )


async def test_code_action_for_a_script_anywhere_in_it(
    client: LanguageClient, script_project: Path
):
    """A file that reads stdin is a script: the action is offered on any line, named after the file."""
    document = await open_project(client, script_project, "seen_before.py")
    # Outside any function there is no guess to answer with while the first lookup runs (in a
    # helper process that is still starting on a loaded machine): ask until it has answered.
    deadline = asyncio.get_running_loop().time() + 120
    while not (actions := await code_actions(client, document, line_of(document, "seen = []"))):
        assert asyncio.get_running_loop().time() < deadline, "no action for the script"
        await asyncio.sleep(0.1)
    (action,) = actions
    assert action.title == "Suggest faster version of `seen_before`" and action.disabled is None


async def test_suggest_asks_then_previews_the_edit_with_its_headline_and_hovers_it(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """executeCommand reports progress named after the function, asks with the headline (Apply,
    Show diff, Details, Discard); "Show diff" sends one versioned edit whose change annotation
    carries the headline and the cautions and needs confirmation, whose UTF-16 positions turn the
    file into the faster version; a final message, and a short hover with a link to the full
    report."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    decisions.answers.append("Show diff")

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is True and result["speedup"] > 1.1 and result["unsafe"] is False
    kinds = progress_kinds(client)
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    (reports,) = client.progress_reports.values()
    assert reports[0].title == "perfedit: speeding up unique_in_order"
    percentages = [r.percentage for r in reports if r.kind != "end"]
    assert percentages == sorted(percentages)  # the bar never goes back
    (question,) = decisions.asked
    assert decisions.titles() == ["Apply", "Show diff", "Details", "Discard"]
    assert question.type == types.MessageType.Info
    assert re.match(
        r"perfedit: unique_in_order \d+\.\d× faster · 2 tests pass\. ", question.message
    )
    (request,) = applied
    (change,) = request.edit.document_changes
    assert change.text_document.uri == document.uri and change.text_document.version == 1
    assert all(edit.annotation_id == "perfedit" for edit in change.edits)
    annotation = request.edit.change_annotations["perfedit"]
    assert annotation.needs_confirmation is True
    assert re.fullmatch(r"unique_in_order: \d+\.\d× faster · 2 tests pass", annotation.label)
    assert (
        "Few tests cover it" in annotation.description
    )  # 2 tests: differential testing is the evidence
    new_text = apply(document, change.edits)
    assert new_text != document.text
    assert new_text == expected_source(document)
    compile(new_text, "dedupe.py", "exec")
    (summary,) = [m for m in client.messages if m.type == types.MessageType.Info]
    assert summary.message == f"{result['summary']}: applied."

    hover = await hover_at(client, document, line_of(document, "result.append"))
    assert hover is not None
    text = hover.contents.value
    assert text.startswith("**perfedit suggests a faster `unique_in_order`**: ")
    assert "(s)" not in text and len(text.splitlines()) <= convert.HOVER_LINES
    (link,) = re.findall(r"\[Full report\]\((file://[^)]+)\)", text)
    report = Path(to_fs_path(link)).read_text(encoding="utf-8")
    assert report == result["report"]  # for the client's "show last result"
    assert "## Measurements" in report and "Yuen's" in report and "```diff" in report
    assert re.search(r"load average \d+\.\d over the last minute", report)
    assert await hover_at(client, document, 0) is None
    (again,) = await code_actions(client, document, line_of(document, "result.append"))
    assert again.title.startswith("Apply faster version of `unique_in_order` (")
    assert (
        again.command is None and again.edit == request.edit
    )  # cached for this version: no second job


async def test_an_unsafe_suggestion_is_marked_and_always_previewed(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """A faster version that raises on inputs the original accepts is unsafe: even with
    needsConfirmation off the server asks (a warning naming the difference, no plain Apply),
    "Details" shows the full report and asks again, and the edit needs confirmation."""
    document = await open_project(client, project, **UNSAFE_OPTIONS, needsConfirmation=False)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    decisions.answers += ["Details", "Show diff"]

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["unsafe"] is True and result["applied"] is True
    first, second = decisions.asked
    assert decisions.titles() == ["Show diff", "Details", "Discard"]
    assert first.type == types.MessageType.Warning and first.message == second.message
    assert "behaves differently. Differs from the original on unique_in_order(" in first.message
    assert "unhashable" in first.message
    (shown,) = client.shown_documents
    assert Path(to_fs_path(shown.uri)).read_text(encoding="utf-8") == result["report"]
    assert "## Before you apply" in result["report"]
    (change,) = applied[0].edit.document_changes
    assert all(edit.annotation_id == "perfedit.unsafe" for edit in change.edits)
    annotation = applied[0].edit.change_annotations["perfedit.unsafe"]
    assert annotation.needs_confirmation is True
    assert annotation.label.endswith(" · behaves differently")
    assert "unhashable" in annotation.description


async def test_a_safe_suggestion_applies_at_once_when_confirmation_is_off(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """needsConfirmation off and nothing behaves differently: no question, the edit applies
    directly; afterwards the hover says it was applied and the code lens offers to profile again."""
    document = await open_project(client, project, **STUB_OPTIONS, needsConfirmation=False)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is True and decisions.asked == []
    (request,) = applied
    assert request.edit.change_annotations["perfedit"].needs_confirmation is False
    new_document = applied_in_editor(client, document, request)
    hover = await hover_at(client, new_document, line_of(new_document, "dict.fromkeys"))
    assert hover is not None
    assert hover.contents.value.startswith("**perfedit: faster `unique_in_order` applied**: ")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=document.uri))
    )
    (lens,) = lenses or []
    assert lens.command is not None and lens.command.command == "perfedit.profile"
    assert re.fullmatch(r"Faster version applied \(\d+\.\d×\) — Profile again", lens.command.title)


def applied_in_editor(
    client: LanguageClient,
    document: types.TextDocumentItem,
    request: types.ApplyWorkspaceEditParams,
) -> types.TextDocumentItem:
    """Send the edit back as the editor does once it applied it (didChange to version 2)."""
    new_text = apply(document, request.edit.document_changes[0].edits)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=document.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )
    return types.TextDocumentItem(uri=document.uri, language_id="python", version=2, text=new_text)


async def test_hover_follows_the_applied_edit(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """Once the editor applies the edit (didChange to the suggested text), the hover is on the new
    function; after didClose it is gone."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    decisions.answers.append("Apply")
    await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)
    (request,) = applied

    new_document = applied_in_editor(client, document, request)
    hover = await hover_at(client, new_document, line_of(new_document, "dict.fromkeys"))
    assert hover is not None and "unique_in_order` applied" in hover.contents.value
    assert await hover_at(client, new_document, line_of(new_document, "return len(items)")) is None
    (action,) = await code_actions(client, new_document, line_of(new_document, "dict.fromkeys"))
    assert action.edit is None and action.command is not None  # the cached edit was for version 1

    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=document.uri)
        )
    )
    assert await hover_at(client, new_document, line_of(new_document, "dict.fromkeys")) is None


async def test_neovim_gets_plain_edits_in_utf8(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """Neovim 0.11 prefers UTF-8 positions and has neither documentChanges, change annotations
    nor disabled actions: it is asked with Apply (no diff to show), and the edit comes as plain
    ``changes`` in UTF-8 units; the untested function's action is enabled."""
    document = await open_project(client, project, editor="neovim@v0.11", **STUB_OPTIONS)
    (untested,) = await code_actions(client, document, line_of(document, "return len(items)"))
    assert untested.disabled is None and untested.command is not None
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    decisions.answers.append("Apply")

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is True
    assert decisions.titles() == ["Apply", "Details", "Discard"]
    (request,) = applied
    assert request.edit.document_changes is None
    assert apply(document, request.edit.changes[document.uri], "utf-8") == expected_source(document)


async def test_neovim_is_asked_before_an_unsafe_edit_and_may_discard_it(
    client: LanguageClient,
    project: Path,
    applied: list[types.ApplyWorkspaceEditParams],
    decisions: Decisions,
):
    """Without a preview, an unsafe suggestion is offered as "Apply anyway" beside the
    difference; "Discard" applies nothing, and the code action then offers the edit, named as
    behaving differently."""
    document = await open_project(client, project, editor="neovim@v0.11", **UNSAFE_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    decisions.answers.append("Discard")

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is False and applied == []
    assert decisions.titles() == ["Apply anyway", "Details", "Discard"]
    assert any("discarded" in m.message for m in client.messages)
    (again,) = await code_actions(client, document, line_of(document, "result.append"))
    assert again.title.endswith("· behaves differently)") and again.edit is not None


async def test_a_client_that_can_neither_ask_nor_preview_gets_no_unsafe_edit(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """No message actions, no change annotations: an unsafe suggestion is held (a warning says
    why and how to apply it), never applied unasked."""
    capabilities = client_capabilities("neovim@v0.11")
    capabilities.window.show_message = None
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=project.as_uri(),
            initialization_options=UNSAFE_OPTIONS,
        )
    )
    path = project / "dedupe.py"
    document = types.TextDocumentItem(
        uri=path.as_uri(), language_id="python", version=1, text=path.read_text(encoding="utf-8")
    )
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=document))
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is False and result["unsafe"] is True and applied == []
    (warning,) = [m for m in client.messages if m.type == types.MessageType.Warning]
    assert (
        "behaves differently" in warning.message
        and "choose the code action again" in warning.message
    )


async def test_not_applied_when_document_changed_during_job(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """An edit made while the job runs wins: no applyEdit, a warning says why."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    running = execute(client, action)
    await wait_until(lambda: begun(client))
    end = types.Position(line=0, character=0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=document.uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=end, end=end), text="# edited\n"
                )
            ],
        )
    )
    result = await asyncio.wait_for(running, JOB_TIMEOUT_S)

    assert result["applied"] is False and result["error"] == "the document changed"
    assert applied == []
    assert any(
        m.type == types.MessageType.Warning and "file changed" in m.message for m in client.messages
    )


@pytest.mark.parametrize("how", ["progress", "request"])
async def test_cancel_stops_job_without_edit(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams], how: str
):
    """window/workDoneProgress/cancel or $/cancelRequest, sent once the progress begins, stops the
    job: progress ends, 'cancelled' is shown and nothing is applied."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    running = execute(client, action, msg_id="suggest-1")
    await wait_until(lambda: begun(client))
    if how == "progress":
        (token,) = client.progress_reports
        client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(running, JOB_TIMEOUT_S)
        assert result["cancelled"] is True and result["applied"] is False
    else:
        client.cancel_request(types.CancelParams(id="suggest-1"))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(running, JOB_TIMEOUT_S)
    await wait_until(lambda: any("cancelled" in m.message for m in client.messages))
    await wait_until(lambda: progress_kinds(client)[-1] == "end")
    assert applied == []


@pytest.mark.parametrize(
    ("options", "configuration", "warning"),
    [
        ({"runz": 5}, None, "unknown perfedit setting(s): runz"),
        ({}, {"runs": 1}, "runs must be >= 5"),
    ],
)
async def test_invalid_settings_are_shown_and_ignored(
    client: LanguageClient,
    project: Path,
    options: dict[str, Any],
    configuration: dict[str, Any] | None,
    warning: str,
):
    """A bad initializationOptions or workspace/configuration value is shown as a warning; the
    server goes on with the project's settings."""
    if configuration is not None:
        client.set_configuration(configuration, section="perfedit")
    document = await open_project(client, project, **options)

    await wait_until(
        lambda: any(
            m.type == types.MessageType.Warning and warning in m.message for m in client.messages
        ),
        30,
    )
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    assert action.command is not None


@pytest.mark.model
async def test_real_model_job_completes_with_a_shown_outcome(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """With SmolLM2-135M generating (no stub), the whole job runs and ends in an applied edit, a
    shown result the user did not apply, or a shown 'no faster version' / 'no usable code'
    message — never in an error."""
    try:
        modelstore.resolve("smollm2-135m")
    except ModelMissing as exc:
        pytest.skip(str(exc))
    document = await open_project(
        client, project, model="smollm2-135m", samples=1, maxNewTokens=64, runs=5
    )
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    result = await asyncio.wait_for(execute(client, action), 2 * JOB_TIMEOUT_S)

    assert result.get("cancelled") is not True
    outcomes = [m.message for m in client.messages]
    print("result:", result, "messages:", outcomes)
    if result["applied"]:
        assert len(applied) == 1 and any("faster" in m for m in outcomes)
    elif result.get("speedup"):  # found, and the test client's answer to the question kept it out
        assert applied == [] and any("× faster" in m for m in outcomes), outcomes
    else:
        assert applied == []
        assert any("no faster version" in m or "usable code" in m for m in outcomes), outcomes
    assert progress_kinds(client)[0] == "begin" and progress_kinds(client)[-1] == "end"


# ---- unit tests of the server's conversions --------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_text_edits_round_trip_in_every_position_encoding(encoding: str):
    """Edits in code points, converted to the client's units, rebuild the new text exactly."""
    old = "def f():\n    s = 'é'\n    return s  # 🐢 slow"
    new = "def f():\n    '''→ 🚀'''\n    return 'é'  # 🐇"
    codec = PositionCodec(encoding)
    edits = convert.text_edits(diffs.line_edits(old, new), old, codec, convert.ANNOTATION_ID)
    document = TextDocument("file:///f.py", old, position_codec=codec)
    for edit in reversed(edits):
        document.apply_change(
            types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text)
        )
    assert document.source == new
    if encoding != "utf-32":
        assert edits[-1].range.end.character > len("    return s  # 🐢 slow")


@pytest.mark.parametrize(
    ("only", "offered"),
    [
        (None, True),
        (["refactor"], True),
        (["refactor.rewrite"], True),
        (["refactor.rewrite.perfedit"], True),
        (["quickfix"], False),
        (["refactor.re"], False),
        (["refactor.rewrite.perfedit.more"], False),
        (["quickfix", "refactor"], True),
    ],
)
def test_kind_requested_matches_hierarchical_prefixes(only: list[str] | None, offered: bool):
    assert convert.kind_requested(only) is offered


def test_editor_options_split_lsp_keys_skip_client_keys_and_reject_unknown_settings():
    """camelCase keys: Settings fields by their names, the editor-only ones apart."""
    options = EditorOptions.from_json(
        {"runs": 5, "budgetSeconds": 30, "candidatesFile": "c.py", "needsConfirmation": False}
    )
    assert options == EditorOptions(
        settings={"runs": 5, "budget_s": 30},
        editor=EditorSettings(candidates_file="c.py", needs_confirmation=False),
    )
    client_only = {"python": "/v/bin/python", "path": "perfedit", "trace": {"server": "off"}}
    assert EditorOptions.from_json(client_only) == EditorOptions()
    for wrong in ({"runz": 5}, {"runs": "five"}, {"budget_s": 30}, {"needsConfirmation": "yes"}):
        with pytest.raises(ConfigError):
            EditorOptions.from_json(wrong)


async def test_deliver_refuses_a_result_for_an_older_version():
    """The version check alone (no subprocess): the document moved from version 1 to 2."""
    document = TextDocument("file:///d.py", "x = 1\n", version=2)
    shown: list[types.ShowMessageParams] = []
    suggestion = SimpleNamespace(
        winner=SimpleNamespace(comparison=SimpleNamespace(speedup=3.0)),
        target=SimpleNamespace(name="f"),
        headline="3.0× faster · 2 tests pass",
        unsafe=False,
    )
    server = SimpleNamespace(
        workspace=SimpleNamespace(get_text_document=lambda uri: document),
        window_show_message=shown.append,
        client_capabilities=client_capabilities("visual-studio-code"),
    )

    result = await jobs.deliver(
        server, document.uri, 1, "x = 1\n", suggestion, False, "file:///r.md", "# report"
    )  # type: ignore[arg-type]

    assert result == {
        "applied": False,
        "speedup": 3.0,
        "error": "the document changed",
        "summary": "perfedit: f 3.0× faster · 2 tests pass",
        "unsafe": False,
        "report": "# report",
    }
    (message,) = shown
    assert message.type == types.MessageType.Warning
    assert message.message == (
        "perfedit: f 3.0× faster · 2 tests pass: not applied: the file changed while perfedit "
        "was working; run the action again."
    )


@pytest.mark.parametrize(
    ("unsafe", "confirm", "editor", "how"),
    [
        (False, False, "visual-studio-code", "apply"),
        (False, True, "visual-studio-code", "ask"),
        (True, False, "visual-studio-code", "ask"),
        (True, False, "neovim@v0.11", "ask"),
        (False, True, "no messages", "preview"),
        (True, False, "no messages", "preview"),
        (False, True, "bare", "apply"),
        (True, True, "bare", "hold"),
    ],
)
def test_delivery_never_applies_an_unsafe_edit_unasked(
    unsafe: bool, confirm: bool, editor: str, how: str
):
    """ "no messages": VS Code without message actions; "bare": no message actions, no change
    annotations."""
    capabilities = client_capabilities(
        "neovim@v0.11" if editor == "bare" else editor.replace("no messages", "visual-studio-code")
    )
    if editor in ("no messages", "bare"):
        capabilities.window.show_message = None
    assert convert.delivery(unsafe, confirm, capabilities) == how
