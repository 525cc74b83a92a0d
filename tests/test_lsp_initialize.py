"""``initialize`` answered before pygls is imported (:mod:`perfedit.lsp.initialize_result`) is
answered exactly as pygls answers it.

* The stored answer is what the live server gives now (a drift test: regenerate it with
  ``make lsp-initialize``).
* The early answer is, byte for byte, the frame the live server (pygls, in this process) writes,
  for real editors' capabilities (pytest-lsp's recordings), for a client that states every one
  of those capabilities as true and as false, and for each way of stating the position
  encodings and the save notifications; requests it cannot vouch for get no early answer.
* The real ``perfedit lsp``, sent ``initialize`` and, before pygls is ready, the next requests:
  the answer is the live server's frame, sent once, and pygls has the client's state (its
  initialization options, its capabilities, the opened document) for the requests after it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from helpers.lsp import SERVER_COMMAND
from perfedit.lsp import initialize_result
from perfedit.lsp.framing import Body, FrameReader
from perfedit.lsp.initialize_result import early_answer, live_frame


def recorded_clients() -> dict[str, dict[str, Any]]:
    """The initialize params (client info and capabilities) that pytest-lsp recorded from real
    editors, by file name."""
    return {
        file.name: json.loads(file.read_text())
        for file in resources.files("pytest_lsp.clients").iterdir()
        if file.name.endswith(".json")
    }


def merged(values: list[Any]) -> Any:
    """The JSON objects ``values`` merged (recursively; a later plain value wins)."""
    if not all(isinstance(value, dict) for value in values):
        return values[-1]
    keys = dict.fromkeys(key for value in values for key in value)
    return {key: merged([value[key] for value in values if key in value]) for key in keys}


def every_boolean(value: Any, to: bool) -> Any:
    """``value`` (JSON) with every boolean in it set to ``to``."""
    if isinstance(value, bool):
        return to
    if isinstance(value, dict):
        return {key: every_boolean(item, to) for key, item in value.items()}
    if isinstance(value, list):
        return [every_boolean(item, to) for item in value]
    return value


#: Capabilities that pygls' answer reads and that no recorded editor states.
UNRECORDED = {
    "notebookDocument": {"synchronization": {"executionSummarySupport": True}},
    "textDocument": {"rename": {"prepareSupport": True}},
    "workspace": {
        "fileOperations": {
            name: True
            for name in (
                "didCreate",
                "willCreate",
                "didRename",
                "willRename",
                "didDelete",
                "willDelete",
            )
        }
    },
}


def stating_everything(to: bool) -> dict[str, Any]:
    """A client that states every capability any recorded editor states, and those of
    :data:`UNRECORDED`, with every boolean ``to``."""
    capabilities = [client["capabilities"] for client in recorded_clients().values()]
    return {"capabilities": every_boolean(merged([*capabilities, UNRECORDED]), to)}


def encodings(*names: str | None) -> dict[str, Any]:
    return {"capabilities": {"general": {"positionEncodings": list(names)}}}


def saving(will_save: bool | None, until: bool | None) -> dict[str, Any]:
    stated = {"willSave": will_save, "willSaveWaitUntil": until}
    synchronization = {key: value for key, value in stated.items() if value is not None}
    return {"capabilities": {"textDocument": {"synchronization": synchronization}}}


CLIENTS: dict[str, dict[str, Any]] = {
    **recorded_clients(),
    "every capability true": stating_everything(True),
    "every capability false": stating_everything(False),
    "no capabilities": {"processId": None, "rootUri": None, "capabilities": {}},
    "the stored answer's": initialize_result.STATED_PARAMS,
    "general null": {"capabilities": {"general": None}},
    "utf-32 first": encodings("utf-32", "utf-8"),
    "an unknown encoding first": encodings("latin1", "utf-8"),
    "only unknown encodings": encodings("latin1"),
    "no encodings": encodings(),
    "encodings null": {"capabilities": {"general": {"positionEncodings": None}}},
    **{
        f"willSave {will_save}, willSaveWaitUntil {until}": saving(will_save, until)
        for will_save in (None, False, True)
        for until in (None, False, True)
    },
    "a workspace and options": {
        "processId": 1234,
        "rootUri": "file:///tmp/project",
        "rootPath": "/tmp/project",
        "workspaceFolders": [{"uri": "file:///tmp/project", "name": "project"}],
        "initializationOptions": {"runs": 7, "candidatesFile": "faster.py"},
        "trace": "verbose",
        "locale": "fr",
        "capabilities": {"workspace": {"configuration": True}},
    },
}


def request(params: Any, msg_id: Any = 1, **fields: Any) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": msg_id, "method": "initialize", "params": params, **fields}
    ).encode()


def test_stored_answer_is_what_the_live_server_answers():
    """Fails when the server's features, pygls or lsprotocol changed since the stored answer was
    generated: run ``make lsp-initialize`` and commit the file."""
    assert initialize_result.generate() == initialize_result.STORED.read_text(encoding="utf-8"), (
        "perfedit/lsp/initialize_result.json is stale: run `make lsp-initialize`"
    )


@pytest.mark.parametrize("msg_id", [1, "e513e2f7"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_early_answer_is_the_frame_pygls_writes(client: str, msg_id: int | str):
    answered = early_answer(request(CLIENTS[client], msg_id))
    assert answered is not None
    assert answered.msg_id == msg_id
    assert answered.frame == live_frame(CLIENTS[client], msg_id)


@pytest.mark.parametrize(
    "body",
    [
        request({"capabilities": {"general": 5}}),  # pygls: invalid params
        request({"capabilities": {"textDocument": 3}}),
        request({"capabilities": {"general": {"positionEncodings": "utf-8"}}}),
        request({"capabilities": {"general": {"positionEncodings": [5, "utf-8"]}}}),
        request({"capabilities": {"textDocument": {"synchronization": {"willSave": "yes"}}}}),
        request({"processId": None}),  # no capabilities
        request({"processId": "x", "capabilities": {}}),
        request(None),
        request({"capabilities": {}}, msg_id=None),
        request({"capabilities": {}}, msg_id=True),
        request({"capabilities": {}}, msg_id=1.5),
        request({"capabilities": {}}, method="shutdown"),
        request({"capabilities": {}}, jsonrpc="1.0"),
        b'{"jsonrpc": "2.0", "id": 1, "method": "initialize"',  # not JSON
        b"[1, 2]",
    ],
)
def test_no_early_answer_to_what_it_cannot_vouch_for(body: bytes):
    """pygls answers these once it is ready: an error, or an answer the early one cannot be sure
    to match."""
    assert early_answer(body) is None


def test_no_early_answer_for_other_pygls_or_lsprotocol_versions(tmp_path: Path):
    stored = json.loads(initialize_result.STORED.read_text(encoding="utf-8"))
    assert early_answer(request(CLIENTS["no capabilities"]), initialize_result.STORED)
    for name in initialize_result.DISTRIBUTIONS:
        other = tmp_path / f"{name}.json"
        other.write_text(
            json.dumps({**stored, "versions": {**stored["versions"], name: "0.0.1"}}),
            encoding="utf-8",
        )
        assert early_answer(request(CLIENTS["no capabilities"]), other) is None


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class Session:
    """``perfedit lsp`` as a process with a minimal client: it keeps what the server writes, raw
    and as messages, and answers the server's requests (``workspace/configuration`` with no
    settings, anything else with null)."""

    def __init__(self, stderr: Path) -> None:
        with stderr.open("wb") as log:
            self.process = subprocess.Popen(
                SERVER_COMMAND,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self.output = b""
        self.messages: list[dict[str, Any]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        frames = FrameReader()
        assert self.process.stdout is not None
        while data := self.process.stdout.read1(65536):
            self.output += data
            for event in frames.feed(data):
                if isinstance(event, Body):
                    message = json.loads(event.data)
                    self.messages.append(message)
                    if "method" in message and "id" in message:
                        self.send({"id": message["id"], "result": self._answer(message)})

    @staticmethod
    def _answer(message: dict[str, Any]) -> Any:
        if message["method"] == "workspace/configuration":
            return [None] * len(message["params"]["items"])
        return None

    def send(self, *messages: dict[str, Any]) -> None:
        """``messages`` in one write."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"".join(map(frame, messages)))
        self.process.stdin.flush()

    def wait_for(
        self, found: Callable[[dict[str, Any]], bool], timeout_s: float = 120
    ) -> dict[str, Any]:
        """The first message received that is ``found``, waiting for it (generous timeouts: a
        loaded 2-core machine)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if matching := [message for message in self.messages if found(message)]:
                return matching[0]
            time.sleep(0.02)
        raise AssertionError(f"nothing matched; last received: {self.messages[-5:]}")

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.reader.join(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            assert pipe is not None
            pipe.close()


def test_real_server_answers_at_once_and_pygls_gets_the_client_state(
    dedupe_project: Path, tmp_path: Path
):
    """Neovim 0.11's capabilities (UTF-8 first, code action literals, configuration), a
    workspace and an unknown setting. The requests after ``initialize`` are sent with it, so they
    arrive before pygls is ready and wait. The code action proves that pygls has the workspace
    (the opened document) and the client's capabilities (a literal CodeAction, not a Command);
    the warning that it has the initialization options."""
    module = dedupe_project / "dedupe.py"
    source = module.read_text(encoding="utf-8")
    line = next(i for i, text in enumerate(source.splitlines()) if "result.append" in text)
    params = {
        **recorded_clients()["neovim_v0.11.0.json"],
        "processId": None,
        "rootUri": dedupe_project.as_uri(),
        "workspaceFolders": [{"uri": dedupe_project.as_uri(), "name": "dedupe"}],
        "initializationOptions": {"runz": 5},
    }
    document = {"uri": module.as_uri(), "languageId": "python", "version": 1, "text": source}
    cursor = {"line": line, "character": 4}
    session = Session(tmp_path / "stderr.txt")
    try:
        session.send(
            {"id": 1, "method": "initialize", "params": params},
            {"method": "initialized", "params": {}},
            {"method": "textDocument/didOpen", "params": {"textDocument": document}},
            {
                "id": 2,
                "method": "textDocument/codeAction",
                "params": {
                    "textDocument": {"uri": module.as_uri()},
                    "range": {"start": cursor, "end": cursor},
                    "context": {"diagnostics": []},
                },
            },
        )
        (action,) = session.wait_for(lambda m: m.get("id") == 2 and "result" in m)["result"]
        assert action["title"] == "Suggest faster version of `unique_in_order`"
        assert action["kind"] == "refactor.rewrite.perfedit"
        warning = session.wait_for(lambda m: m.get("method") == "window/showMessage")
        assert "unknown perfedit setting(s): runz" in warning["params"]["message"]

        session.send({"id": 3, "method": "shutdown"}, {"method": "exit"})
        assert session.process.wait(timeout=60) == 0  # although stdin stays open
        expected = live_frame(params)
        assert session.output.startswith(expected)  # the live server's frame, first ...
        answers = [m for m in session.messages if m.get("id") == 1 and "method" not in m]
        assert answers == [json.loads(expected.partition(b"\r\n\r\n")[2])]  # ... and once
        assert answers[0]["result"]["capabilities"]["positionEncoding"] == "utf-8"
        assert b"answered before pygls was ready" not in (tmp_path / "stderr.txt").read_bytes()
    finally:
        session.close()


def test_server_stops_when_pygls_rejects_what_was_answered(tmp_path: Path):
    """Params whose fault only pygls finds (an unknown ``trace`` value) get the early answer,
    then pygls' error: the server says so on stderr and exits with 1, since the client was told
    something else."""
    session = Session(tmp_path / "stderr.txt")
    try:
        params = {"processId": None, "capabilities": {}, "trace": "bogus"}
        session.send({"id": 1, "method": "initialize", "params": params})
        assert session.process.wait(timeout=60) == 1
        (answer,) = [m for m in session.messages if m.get("id") == 1]
        assert "result" in answer
        stderr = (tmp_path / "stderr.txt").read_text(encoding="utf-8")
        assert "pygls rejects the client's params" in stderr
    finally:
        session.close()
