"""Hot functions in the editor, end to end: the real ``perfedit lsp`` over stdio (pytest-lsp).

``perfedit.profile`` runs the project's tests once, profiled (with work-done progress), and the
hot functions then get a code lens ("NN% of test time — Suggest faster version", running
``perfedit.suggest`` there) and a hover with their share and hot lines; nothing is shown before
the user asks (``profileOn`` "never"), ``profileOn`` "open" profiles when a file is opened, and a
project without tests gets a message, not an error. At the bottom, unit tests of the engine's
side (which functions are hot, and where they are in the current text), no subprocess.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from helpers.lsp import JOB_TIMEOUT_S, SERVER, hover_at, line_of, open_project, wait_until
from perfedit.testsource import profiling
from perfedit.testsource.profiling import (
    FunctionProfile,
    HotLine,
    Profile,
    hot_functions,
    hot_spots,
    target_name,
)

LENS_TITLE = re.compile(r"^\d+% of test time — Suggest faster version$")


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient):
    lsp_client.refreshed = 0  # workspace/codeLens/refresh requests received

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params: None) -> None:
        lsp_client.refreshed += 1

    yield
    await lsp_client.shutdown_session()


async def lenses(client: LanguageClient, document: types.TextDocumentItem) -> list[types.CodeLens]:
    found = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=document.uri))
    )
    return found or []


def profile_command(client: LanguageClient, *arguments: str):
    params = types.ExecuteCommandParams(command="perfedit.profile", arguments=list(arguments))
    return asyncio.wait_for(client.workspace_execute_command_async(params), JOB_TIMEOUT_S)


async def test_profile_command_gives_code_lenses_and_hover(
    client: LanguageClient, dedupe_project: Path
):
    """No lens before the user asks; after ``perfedit.profile`` (with progress) the hot function has
    a lens running the suggestion for it, and its hover gives its share and hot lines."""
    document = await open_project(client, dedupe_project)
    assert await lenses(client, document) == []

    result = await profile_command(client, document.uri)

    assert result["tests"] == 2 and result["failed_tests"] == []
    (hot,) = result["hot"]
    assert (
        hot["function"] == "unique_in_order"
        and hot["file"] == "dedupe.py"
        and 0.05 <= hot["share"] <= 1
    )
    (reports,) = client.progress_reports.values()
    assert reports[0].kind == "begin" and reports[0].cancellable and reports[-1].kind == "end"
    assert any("profiled" in m.message for m in client.messages if m.type == types.MessageType.Info)
    await wait_until(lambda: client.refreshed == 1)  # VS Code asks for the lenses again

    (lens,) = await lenses(client, document)
    def_line = line_of(document, "def unique_in_order")
    assert lens.range.start.line == def_line
    assert lens.command is not None and LENS_TITLE.match(lens.command.title), lens.command
    assert lens.command.title.startswith(f"{round(hot['share'] * 100)}%")
    assert lens.command.command == "perfedit.suggest" and list(lens.command.arguments) == [
        document.uri,
        def_line,
        1,
    ]

    hover = await hover_at(client, document, line_of(document, "result.append"))
    assert hover is not None
    assert (
        f"{round(hot['share'] * 100)}% of test time" in hover.contents.value
        and "Hot lines: line" in hover.contents.value
    )
    assert await hover_at(client, document, 0) is None


async def test_profile_command_with_a_workload(client: LanguageClient, dedupe_project: Path):
    """With the ``workload`` setting, ``perfedit.profile`` profiles that command instead of the
    tests, and the lens and hover give the share of the workload's time."""
    (dedupe_project / "work.py").write_text(
        "from dedupe import unique_in_order\n\nunique_in_order([i % 700 for i in range(3000)])\n"
    )
    document = await open_project(client, dedupe_project, workload="python work.py")

    result = await profile_command(client, document.uri)

    assert result["workload"] == "python work.py" and result["tests"] == 0, result
    assert [hot["function"] for hot in result["hot"]] == ["unique_in_order"]
    await wait_until(lambda: client.refreshed == 1)
    (lens,) = await lenses(client, document)
    assert lens.command is not None
    assert re.match(r"^\d+% of workload time — Suggest faster version$", lens.command.title)
    hover = await hover_at(client, document, line_of(document, "result.append"))
    assert hover is not None and "of workload time" in hover.contents.value
    assert "the workload `python work.py` calls it 1 time" in hover.contents.value


async def test_profile_on_open(client: LanguageClient, dedupe_project: Path):
    """With ``profileOn`` "open", opening a file profiles its project and the lens appears."""
    document = await open_project(client, dedupe_project, profileOn="open")
    found: list[types.CodeLens] = []

    async def poll() -> None:
        while not found:
            found.extend(await lenses(client, document))
            await asyncio.sleep(0.2)

    await asyncio.wait_for(poll(), JOB_TIMEOUT_S)
    assert LENS_TITLE.match(found[0].command.title)


async def test_project_without_tests_gets_a_message(client: LanguageClient, tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    document = await open_project(client, tmp_path, file="m.py")

    result = await profile_command(client)  # no argument: the workspace's folder

    assert "pytest found no tests" in result["error"] and result["cancelled"] is False
    await wait_until(lambda: any("pytest found no tests" in m.message for m in client.messages))
    (message,) = [m for m in client.messages if "pytest found no tests" in m.message]
    assert message.type == types.MessageType.Warning
    assert await lenses(client, document) == []


async def test_cancelling_the_profiled_run(client: LanguageClient, tmp_path: Path):
    """window/workDoneProgress/cancel stops a long profiled run at once: the command says it was
    cancelled and nothing is kept (no lens)."""
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (tmp_path / "m.py").write_text("import time\n\n\ndef slow():\n    time.sleep(120)\n")
    (tmp_path / "test_m.py").write_text("import m\n\n\ndef test_slow():\n    m.slow()\n")
    document = await open_project(client, tmp_path, file="m.py")

    running = asyncio.ensure_future(profile_command(client, document.uri))
    await wait_until(
        lambda: any(
            r.kind == "begin" for reports in client.progress_reports.values() for r in reports
        )
    )
    (token,) = client.progress_reports
    await asyncio.sleep(1)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(running, 30)

    assert result["cancelled"] is True and "cancelled" in result["error"]
    assert client.progress_reports[token][-1].kind == "end"
    assert await lenses(client, document) == []


# ---- the engine's side, no subprocess ------------------------------------------------------

SOURCE = """\
import functools


def cold():
    return 1


@functools.cache
def hot(n):
    return sum(i for i in range(n))


class Box:
    def method(self):
        def inner():
            return 2
        return inner()
"""


def _profile(root: Path) -> Profile:
    def f(function: str, line: int, own_s: float) -> FunctionProfile:
        return FunctionProfile(
            "pkg/m.py", function, line, own_s, own_s, 1, ("t::a",), (HotLine(line + 1, own_s),)
        )

    functions = (
        f("hot", 8, 0.5),
        f("hot.<locals>.<genexpr>", 10, 0.3),
        f("Box.method.<locals>.inner", 15, 0.15),
        f("cold", 4, 0.01),
        f("<module>", 1, 0.04),
    )
    return Profile(root, None, (profiling.TestRun("t::a", "passed", 1.0),), functions, 1.0, "key")


def test_target_names_of_code_objects():
    assert target_name("Box.method.<locals>.inner") == "Box.method.inner"
    assert target_name("hot") == "hot" and target_name("hot.<locals>.<genexpr>") == "hot"
    assert target_name("<module>") is None


def test_hot_functions_are_named_and_above_the_share(tmp_path: Path):
    """A generator expression's time counts towards its function; module code and functions
    under 5% of the test time are not hot."""
    profile = _profile(tmp_path)
    hot = hot_functions(profile)
    assert [(f.function, round(f.own_s, 2), f.line) for f in hot] == [
        ("hot", 0.8, 8),
        ("Box.method.inner", 0.15, 15),
    ]
    assert hot_functions(profile, "other.py") == []


def test_hot_spots_follow_the_current_text(tmp_path: Path):
    """Found by name in the text as it is now: lines added above move them; a renamed function
    and a file that does not parse give none."""
    profile = _profile(tmp_path)
    path = tmp_path / "pkg" / "m.py"
    spots = {s.name: (s.first, s.last) for s in hot_spots(profile, path, SOURCE)}
    assert spots == {"hot": (7, 9), "Box.method.inner": (14, 15)}
    moved = {
        s.name: s.first
        for s in hot_spots(
            profile, path, "# new\n# lines\n" + SOURCE.replace("def hot", "def warm")
        )
    }
    assert moved == {"Box.method.inner": 16}
    assert hot_spots(profile, path, "def (:\n") == []
    assert hot_spots(profile, tmp_path.parent / "elsewhere.py", SOURCE) == []
