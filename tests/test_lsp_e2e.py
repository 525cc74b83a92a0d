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
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pygls.workspace import PositionCodec, TextDocument
from pytest_lsp import LanguageClient

from helpers.lsp import (
    JOB_TIMEOUT_S,
    SERVER,
    hover_at,
    line_of,
    open_project,
    wait_until,
)
from perfedit.candidates.model import fit_to_target
from perfedit.config import EditorSettings
from perfedit.deliver import diffs
from perfedit.errors import ConfigError, ModelMissing
from perfedit.llm import modelstore
from perfedit.lsp import convert, jobs
from perfedit.lsp.state import EditorOptions
from perfedit.progress import Phase
from perfedit.targets import find

UNTESTED = """

def count_items(items):
    return len(items)
"""

FASTER = '''def unique_in_order(items):
    """Return the distinct items of ``items`` in order → dict keys keep insertion order (é, 🚀)."""
    return list(dict.fromkeys(items))
'''


@pytest.fixture
def project(dedupe_project: Path) -> Path:
    """The dedupe copy with an untested function first, then the target, with 🐢 on its last line."""
    module = dedupe_project / "dedupe.py"
    head, target = module.read_text(encoding="utf-8").split("\n\n\ndef unique_in_order", 1)
    source = head + UNTESTED + "\n\ndef unique_in_order" + target.rstrip("\n") + "  # 🐢 slow"
    module.write_text(source, encoding="utf-8")
    (dedupe_project / "faster_versions.py").write_text(FASTER, encoding="utf-8")
    return dedupe_project


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def applied(client: LanguageClient) -> list[types.ApplyWorkspaceEditParams]:
    """The ``workspace/applyEdit`` requests the server sends; the client accepts each one."""
    received: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        received.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return received


async def code_actions(
    client: LanguageClient,
    document: types.TextDocumentItem,
    line: int,
    only: list[str] | None = None,
):
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


#: Five timed runs, no model explanation, the faster version from the stub proposer.
STUB_OPTIONS: dict[str, Any] = {"runs": 5, "explain": False, "candidatesFile": "faster_versions.py"}


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


def execute(client: LanguageClient, action: types.CodeAction, msg_id: str | None = None):
    assert action.command is not None
    params = types.ExecuteCommandParams(
        command=action.command.command, arguments=action.command.arguments
    )
    return asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id)
    )


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


async def test_suggest_applies_faster_version_with_progress_and_hover(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """executeCommand reports progress, sends one versioned, annotated edit whose UTF-16 positions
    turn the file into the faster version, shows a summary, and the hover explains it."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is True and result["speedup"] > 1.1
    kinds = progress_kinds(client)
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    (reports,) = client.progress_reports.values()
    percentages = [r.percentage for r in reports if r.kind != "end"]
    assert percentages == sorted(percentages)  # the bar never goes back
    (request,) = applied
    (change,) = request.edit.document_changes
    assert change.text_document.uri == document.uri and change.text_document.version == 1
    assert all(edit.annotation_id == "perfedit" for edit in change.edits)
    annotation = request.edit.change_annotations["perfedit"]
    assert annotation.needs_confirmation is True and "faster" in annotation.description
    new_text = apply(document, change.edits)
    assert new_text != document.text
    assert new_text == expected_source(document)
    compile(new_text, "dedupe.py", "exec")
    (summary,) = [m for m in client.messages if m.type == types.MessageType.Info]
    assert "perfedit: unique_in_order is" in summary.message and "faster" in summary.message
    assert result["summary"] == summary.message

    hover = await hover_at(client, document, line_of(document, "result.append"))
    assert (
        hover is not None and "faster" in hover.contents.value and "```diff" in hover.contents.value
    )
    assert result["report"] == hover.contents.value  # for the client's "show last result"
    assert await hover_at(client, document, 0) is None
    (again,) = await code_actions(client, document, line_of(document, "result.append"))
    assert (
        again.command is None and again.edit == request.edit
    )  # cached for this version: no second job


async def test_hover_follows_the_applied_edit(
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """Once the editor applies the edit (didChange to the suggested text), the hover is on the new
    function; after didClose it is gone."""
    document = await open_project(client, project, **STUB_OPTIONS)
    (action,) = await code_actions(client, document, line_of(document, "result.append"))
    await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)
    (request,) = applied
    new_text = apply(document, request.edit.document_changes[0].edits)

    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=document.uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )
    new_document = types.TextDocumentItem(
        uri=document.uri, language_id="python", version=2, text=new_text
    )
    hover = await hover_at(client, new_document, line_of(new_document, "dict.fromkeys"))
    assert hover is not None and "dict.fromkeys" in hover.contents.value
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
    client: LanguageClient, project: Path, applied: list[types.ApplyWorkspaceEditParams]
):
    """Neovim 0.11 prefers UTF-8 positions and has neither documentChanges nor disabled actions:
    the edit comes as plain ``changes`` in UTF-8 units; the untested function's action is enabled."""
    document = await open_project(client, project, editor="neovim@v0.11", **STUB_OPTIONS)
    (untested,) = await code_actions(client, document, line_of(document, "return len(items)"))
    assert untested.disabled is None and untested.command is not None
    (action,) = await code_actions(client, document, line_of(document, "result.append"))

    result = await asyncio.wait_for(execute(client, action), JOB_TIMEOUT_S)

    assert result["applied"] is True
    (request,) = applied
    assert request.edit.document_changes is None
    assert apply(document, request.edit.changes[document.uri], "utf-8") == expected_source(document)


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
    """With SmolLM2-135M generating (no stub), the whole job runs and ends in an applied edit, or in
    a shown 'no faster version' / 'no usable code' message — never in an error."""
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
    edits = convert.text_edits(diffs.line_edits(old, new), old, codec, annotated=True)
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


def test_progress_percentages_only_move_forward_and_never_freeze():
    """Streaming order (model candidates validated while generation goes on, a faster one found):
    the percentage never goes back; a silent phase still moves with time, never past its end."""
    bar = convert.ProgressBar(budget_s=60.0, now_s=0.0)
    reports = [
        (Phase.LOADING_MODEL, 0, None, ""),
        (Phase.BASELINE, 0, None, ""),
        (Phase.RULES, 1, 2, ""),
        (Phase.VALIDATING, 0, 2, "rule 1"),
        (Phase.GENERATING, 1, 3, ""),
        (Phase.VALIDATING, 0, None, "greedy"),
        (Phase.FOUND, 0, None, "3.2× faster (validated)"),
        (Phase.GENERATING, 3, 3, ""),
        (Phase.REFINING, 0, 1, ""),
        (Phase.MINIMISING, 0, None, ""),
        (Phase.EXPLAINING, 0, None, ""),
    ]
    seen = [
        bar.report(*report, now_s=float(second)).percentage for second, report in enumerate(reports)
    ]
    assert seen == sorted(seen) and seen[-1] >= Phase.EXPLAINING.start_percent
    assert {phase for phase, *_ in reports} == set(Phase)
    assert (
        seen[5] == seen[4] and bar.value(5.0).message == "explaining"
    )  # an earlier phase: message only
    later = [bar.value(float(second)).percentage or 0 for second in (11, 12, 20, 60, 10_000)]
    assert (
        later == sorted(later) and later[0] < later[-1] == 99
    )  # moving on its own, stopping at 99
    generating = convert.ProgressBar(budget_s=60.0, now_s=0.0)
    generating.report(Phase.GENERATING, 0, 9, "", now_s=0.0)
    ticks = [generating.value(float(second)).percentage or 0 for second in range(0, 40, 4)]
    assert ticks == sorted(ticks) and len(set(ticks)) == len(
        ticks
    )  # a slow first candidate: the bar moves
    assert ticks[-1] < Phase.GENERATING.start_percent + Phase.GENERATING.share_percent


async def test_deliver_refuses_a_result_for_an_older_version():
    """The version check alone (no subprocess): the document moved from version 1 to 2."""
    document = TextDocument("file:///d.py", "x = 1\n", version=2)
    shown: list[types.ShowMessageParams] = []
    comparison = SimpleNamespace(speedup=3.0, ci95=(2.5, 3.5))
    winner = SimpleNamespace(
        comparison=comparison, tests_passed=2, differential=None, label="stub 1"
    )
    suggestion = SimpleNamespace(
        winner=winner,
        target=SimpleNamespace(name="f"),
        facts=["3.0x faster"],
        reason="",
        diff="-x\n+y\n",
    )
    server = SimpleNamespace(
        workspace=SimpleNamespace(get_text_document=lambda uri: document),
        window_show_message=shown.append,
    )

    result = await jobs.deliver(
        server, document.uri, 1, "x = 1\n", suggestion, needs_confirmation=True
    )  # type: ignore[arg-type]

    assert result == {
        "applied": False,
        "speedup": 3.0,
        "error": "the document changed",
        "summary": "perfedit: f is 3.0x faster (95% CI 2.5x–3.5x), 2 tests pass",
        "report": "**perfedit: a faster `f`** (stub 1)\n\n- 3.0x faster\n\n```diff\n-x\n+y\n```",
    }
    (message,) = shown
    assert message.type == types.MessageType.Warning and "3.0x faster" in message.message
