"""The language server never goes deaf: malformed frames and bodies are answered and skipped.

Unit tests of :class:`perfedit.lsp.framing.FrameReader` on byte strings (every split of the
stream), then the real ``perfedit lsp`` as a process fed a few hundred malformed frames and bodies
by a seeded generator, after which a normal request must be answered and ``exit`` must exit.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time

import pytest

from helpers.lsp import SERVER_COMMAND
from perfedit.lsp.framing import Body, FrameReader, FramingError

SHUTDOWN = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "shutdown"})


def frame(body: str, length: int | str | None = None) -> bytes:
    data = body.encode()
    return f"Content-Length: {len(data) if length is None else length}\r\n\r\n".encode() + data


def events(stream: bytes, chunk: int) -> list[Body | FramingError]:
    reader = FrameReader()
    return [
        event
        for start in range(0, len(stream), chunk)
        for event in reader.feed(stream[start : start + chunk])
    ]


def bodies(found: list[Body | FramingError]) -> list[bytes]:
    return [event.data for event in found if isinstance(event, Body)]


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
@pytest.mark.parametrize(
    "bad",
    [
        frame(SHUTDOWN, 10),  # too short: the rest of the body is skipped
        frame(SHUTDOWN, 500),  # too long: ends where the next header starts
        frame(SHUTDOWN, len(SHUTDOWN) + 6),  # a little too long: takes the next header's start
        frame(SHUTDOWN, "abc"),  # not a number
        frame(SHUTDOWN, "-5"),
        b"garbage without any header\r\n",
        b"Content-Length: 99999999999\r\n\r\n",  # beyond the limit
    ],
)
def test_a_valid_frame_after_a_bad_one_is_read(bad: bytes, chunk: int):
    found = events(bad + frame(SHUTDOWN), chunk)
    assert bodies(found)[-1] == SHUTDOWN.encode()


def test_framing_errors_are_reported_not_swallowed():
    found = events(frame(SHUTDOWN, "abc") + frame(SHUTDOWN), 1 << 16)
    assert isinstance(found[0], FramingError) and "'abc'" in found[0].reason


def test_back_to_back_frames_split_anywhere():
    stream = frame(SHUTDOWN) + frame('{"jsonrpc": "2.0", "method": "exit"}') + frame(SHUTDOWN)
    for chunk in range(1, len(stream) + 1):
        assert len(bodies(events(stream, chunk))) == 3


class Server:
    """``perfedit lsp`` as a process; its replies are read in a thread and kept by id."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            SERVER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.replies: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        reader = FrameReader()
        assert self.process.stdout is not None
        while data := self.process.stdout.read1(65536):
            self.replies += [
                json.loads(event.data) for event in reader.feed(data) if isinstance(event, Body)
            ]

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def reply_to(self, msg_id: object, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := [
                r for r in self.replies if r.get("id") == msg_id and ("result" in r or "error" in r)
            ]:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no reply to {msg_id!r}; replies: {self.replies[-5:]}")


def request(msg_id: object, method: str, params: object = None) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})


def malformed(rng: random.Random) -> bytes:
    """One malformed frame or body of a random kind."""
    hover = request(
        rng.randrange(10**6, 10**7), "textDocument/hover", {"textDocument": 5, "position": "x"}
    )
    kind = rng.randrange(7)
    if kind == 0:
        return frame(hover, rng.randrange(0, len(hover)))  # too short
    if kind == 1:
        return frame(hover, len(hover) + rng.randrange(1, 50))  # too long
    if kind == 2:
        return frame(hover, rng.choice(["abc", "-1", "", "1e3", "0x10"]))  # not a length
    if kind == 3:
        return frame("{not json" + "x" * rng.randrange(20))  # not JSON
    if kind == 4:
        return frame(json.dumps([1, 2, 3]))  # JSON, not JSON-RPC
    if kind == 5:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))  # noise
    return frame(hover)  # params of the wrong type


def test_server_answers_after_hundreds_of_malformed_frames():
    """Parse errors get -32700, wrong params -32602, and the server still answers afterwards; an
    ``exit`` ends it. Timeouts are generous (60 s per reply: a loaded 2-core CI machine)."""
    server = Server()
    try:
        server.send(
            frame(
                request(0, "initialize", {"processId": None, "rootUri": None, "capabilities": {}})
            )
        )
        assert "capabilities" in server.reply_to(0)["result"]
        server.send(frame(json.dumps({"jsonrpc": "2.0", "method": "initialized", "params": {}})))

        server.send(frame("{not json"))
        server.send(frame(request(7, "textDocument/hover", {"textDocument": 5, "position": "x"})))
        assert server.reply_to(7)["error"]["code"] == -32602
        assert any(r.get("error", {}).get("code") == -32700 for r in server.replies)

        rng = random.Random(13)
        for _ in range(300):
            server.send(malformed(rng))
        server.send(frame(request(999, "shutdown")))
        assert server.reply_to(999)["result"] is None

        server.send(frame(json.dumps({"jsonrpc": "2.0", "method": "exit"})))
        assert server.process.wait(timeout=60) is not None  # exits although stdin stays open
    finally:
        server.process.kill()
        server.process.wait()
        server.reader.join(timeout=10)  # ends at the end of the server's output
        for pipe in (server.process.stdin, server.process.stdout):
            assert pipe is not None
            pipe.close()
