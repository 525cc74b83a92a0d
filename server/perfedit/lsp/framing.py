"""The stdio transport of ``perfedit lsp``: base-protocol framing that never goes deaf.

pygls' own read loop trusts every ``Content-Length``: one that is too long swallows the next
messages while it waits for bytes that never come, one that is not a number makes it read the
body as a header and lose the next frame, and a body that is not JSON, or a request whose params
do not fit their type, is logged and never answered. This loop reads the same frames
(``Content-Length: N\\r\\n`` headers, an empty line, N bytes of JSON) and hands each message to
the pygls protocol as pygls does, but:

* a frame that cannot be parsed is answered with JSON-RPC error -32700 (id null), and reading
  resyncs on the next ``Content-Length:`` header wherever it is in the stream: after a body
  declared too short (the rest is skipped), or inside one declared too long (a new header
  arriving within what should have been the body ends that body there, and a body holding one
  JSON value followed by more bytes gives those bytes back to the stream);
* a request whose params do not fit their type is answered with -32602 and its id, a request
  that is not a JSON-RPC message with -32600;
* end of input, or ``exit``, stops the loop (pygls handles ``exit`` and stops the server).

:class:`FrameReader` is the framing alone (bytes in, events out), so it is tested on byte
strings; :func:`serve_stdio` runs it with a pygls server on stdin/stdout.

The module imports only the standard library: ``perfedit lsp`` reads its first frame with it, and
may answer it (:class:`Answered`), before pygls is imported (:mod:`perfedit.lsp.start`).
:func:`serve_stdio` then goes on with the same reader and the events it already read.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, BinaryIO

from perfedit.errors import EarlyAnswerMismatch

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

logger = logging.getLogger(__name__)

_HEADER = re.compile(rb"Content-Length:[ \t]*([^\r\n]*)\r?\n", re.IGNORECASE)
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
#: The largest body accepted (bytes); a bigger declared length is a framing error.
MAX_BODY_BYTES = 64 * 1024 * 1024
_DECODER = json.JSONDecoder()


class ErrorCode(IntEnum):
    """The JSON-RPC error codes this transport answers with (as lsprotocol's ``ErrorCodes``)."""

    ParseError = -32700
    InvalidRequest = -32600
    InvalidParams = -32602
    InternalError = -32603


@dataclass(frozen=True)
class Body:
    """The bytes of one complete frame's body (not parsed yet)."""

    data: bytes


@dataclass(frozen=True)
class FramingError:
    """A frame that could not be read; ``reason`` says why (for the log and the -32700 reply)."""

    reason: str


@dataclass(frozen=True)
class Answered:
    """A request answered before pygls was ready: its id and the exact frame sent in reply."""

    msg_id: int | str
    frame: bytes


class FrameReader:
    """LSP base-protocol framing over a byte stream that may be corrupt: :meth:`feed` bytes as
    they arrive, get back each complete :class:`Body` and each :class:`FramingError`, in order."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> Iterator[Body | FramingError]:
        """Add ``data`` and yield every event it completes."""
        self._buffer += data
        while event := self._next():
            yield event

    def _next(self) -> Body | FramingError | None:
        header = _HEADER.search(self._buffer)
        if header is None:
            self._buffer = self._buffer[-64:]  # no header yet: keep only what may be one's start
            return None
        if skipped := self._buffer[: header.start()].strip():
            logger.warning("LSP framing: %d bytes outside any frame skipped", len(skipped))
        self._buffer = self._buffer[header.start() :]
        header = _HEADER.match(self._buffer)
        assert header is not None
        end = _END_OF_HEADERS.search(self._buffer, header.start())
        if end is None:
            return None  # the headers are not complete yet
        value = header.group(1).strip()
        if not value.isdigit() or int(value) > MAX_BODY_BYTES:
            self._buffer = self._buffer[end.end() :]
            return FramingError(
                f"Content-Length {value.decode(errors='replace')!r} is not a valid length"
            )
        length, start = int(value), end.end()
        following = _HEADER.search(self._buffer, start, start + length)
        if following is not None:  # a new frame starts inside this body: it was declared too long
            body, self._buffer = (
                self._buffer[start : following.start()],
                self._buffer[following.start() :],
            )
            return Body(body)
        if len(self._buffer) - start < length:
            return None
        body, self._buffer = self._buffer[start : start + length], self._buffer[start + length :]
        body, rest = _split_after_json(body)
        self._buffer = rest + self._buffer
        return Body(body)


def _split_after_json(body: bytes) -> tuple[bytes, bytes]:
    """``body`` cut after its first complete JSON value when more non-blank bytes follow it (a
    length declared a little too long took the start of the next frame), else ``(body, b"")``."""
    try:
        text = body.decode()
        _, end = _DECODER.raw_decode(text)
    except ValueError:
        return body, b""
    rest = text[end:]
    return (text[:end].encode(), rest.encode()) if rest.strip() else (body, b"")


def read_events(stdin: io.RawIOBase, frames: FrameReader) -> list[Body | FramingError]:
    """Read ``stdin`` until ``frames`` completes at least one event; every event the bytes read
    complete, in order (``[]`` at the end of input)."""
    while data := stdin.read(65536):
        if events := list(frames.feed(data)):
            return events
    return []


def stdin_unbuffered() -> io.FileIO:
    """Standard input without Python's buffer (the file descriptor stays open): a thread blocked
    reading it holds no lock, so the interpreter can exit meanwhile (a thread blocked in
    ``sys.stdin.buffer`` makes it abort at exit)."""
    return io.FileIO(sys.stdin.fileno(), "rb", closefd=False)


def frame(message: dict[str, Any]) -> bytes:
    """``message`` framed the way pygls writes it: ``json.dumps`` with its defaults (ASCII only,
    so the length in characters is the length in bytes) under ``Content-Length`` and
    ``Content-Type`` headers."""
    body = json.dumps(message)
    return (
        f"Content-Length: {len(body)}\r\n"
        f"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{body}"
    ).encode()


def _error_frame(msg_id: Any, code: ErrorCode, message: str) -> bytes:
    return frame({"jsonrpc": "2.0", "id": msg_id, "error": {"code": int(code), "message": message}})


def response_id(data: bytes) -> int | str | None:
    """The id of the response that the frame ``data`` carries, or None when it carries no
    response (a request or a notification)."""
    message = json.loads(data.partition(b"\r\n\r\n")[2])
    is_response = "method" not in message and ("result" in message or "error" in message)
    return message.get("id") if is_response else None


def handle_body(server: LanguageServer, body: bytes) -> bytes | None:
    """Parse one frame body and hand it to ``server``'s protocol, as pygls' read loop does;
    returns the error frame to send when it cannot be handled (-32700 not JSON, -32600 not a
    JSON-RPC message, -32602 params of the wrong type), else None."""
    # Imported here, not above: ``server`` has imported pygls by now, and the start reads the
    # first frame with this module before it has (perfedit.lsp.start).
    from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

    try:
        plain = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error_frame(None, ErrorCode.ParseError, f"Parse error: {exc}")
    if not isinstance(plain, dict) or plain.get("jsonrpc") != "2.0":
        msg_id = plain.get("id") if isinstance(plain, dict) else None
        return _error_frame(
            msg_id, ErrorCode.InvalidRequest, "Invalid Request: not a JSON-RPC 2.0 message"
        )
    is_request = "id" in plain and "method" in plain
    try:
        message = json.loads(body, object_hook=server.protocol.structure_message)
    except JsonRpcInvalidParams:
        if is_request:
            return _error_frame(
                plain["id"], ErrorCode.InvalidParams, f"Invalid params for {plain['method']}"
            )
        logger.warning("notification %s with invalid params ignored", plain.get("method"))
        return None
    except (
        JsonRpcException
    ) as exc:  # pygls wraps any other structuring failure as an internal error
        logger.warning("message could not be read: %s", exc)
        return (
            _error_frame(
                plain.get("id"), ErrorCode.InternalError, "Internal error reading the message"
            )
            if is_request
            else None
        )
    server.protocol.handle_message(message)
    return None


class _StdoutWriter:
    """pygls' writer on stdout. Of a request already :class:`Answered`, pygls' own answer is not
    sent again: it is kept in :attr:`mismatch` when it is not the very frame the client has."""

    def __init__(self, stdout: BinaryIO, answered: Answered | None) -> None:
        self._stdout = stdout
        self._answered = answered
        self.mismatch: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._answered is not None and response_id(data) == self._answered.msg_id:
            if data != self._answered.frame:
                self.mismatch = data
            self._answered = None
            return
        self._stdout.write(data)
        self._stdout.flush()

    def close(self) -> None:
        self._stdout.close()


def serve_stdio(
    server: LanguageServer,
    stdin: io.RawIOBase,
    stdout: BinaryIO,
    *,
    frames: FrameReader,
    events: Iterable[Body | FramingError],
    answered: Answered | None,
) -> int:
    """Run ``server`` on ``stdin``/``stdout`` with :class:`FrameReader` framing until end of input
    or ``exit``; returns the exit code (pygls' for ``exit``: 0 after ``shutdown``, else 1; 0 at
    the end of input) when the server has shut down.

    The start read from stdin before the server was ready: it passes its reader (``frames``, with
    the bytes it holds), the ``events`` it read and not handled yet, which go first, and the
    request it ``answered`` already, whose answer from pygls must be the same frame: otherwise
    EarlyAnswerMismatch is raised, after the server has shut down.

    Standard input is read by a daemon thread, so ``exit`` ends the process even while the
    client keeps the pipe open (``stdin`` must then be unbuffered: :func:`stdin_unbuffered`)."""
    import asyncio  # here, not above: the start reads its first frame before asyncio is imported

    writer = _StdoutWriter(stdout, answered)
    server.protocol.set_writer(writer)

    def handle(found: Iterable[Body | FramingError]) -> None:
        for event in found:
            if isinstance(event, FramingError):
                logger.warning("LSP framing error: %s; resyncing on the next header", event.reason)
                writer.write(
                    _error_frame(None, ErrorCode.ParseError, f"Parse error: {event.reason}")
                )
            elif reply := handle_body(server, event.data):
                writer.write(reply)
            if writer.mismatch is not None:
                assert answered is not None
                raise EarlyAnswerMismatch(
                    f"initialize was answered before pygls was ready with {answered.frame!r}, "
                    f"but pygls answers {writer.mismatch!r}: pygls rejects the client's params, "
                    "or perfedit/lsp/initialize_result.json is stale (make lsp-initialize)"
                )

    async def loop() -> None:
        running = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()

        def read() -> None:
            while data := stdin.read(65536):
                running.call_soon_threadsafe(chunks.put_nowait, data)
            running.call_soon_threadsafe(chunks.put_nowait, b"")

        threading.Thread(target=read, name="perfedit-lsp-stdin", daemon=True).start()
        handle(events)
        while data := await chunks.get():
            handle(frames.feed(data))

    code = 0
    try:
        asyncio.run(loop())
    except BrokenPipeError:
        logger.error("the client closed the connection; shutting down")
    except KeyboardInterrupt:
        pass
    except SystemExit as exc:  # pygls handled exit
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        server.shutdown()
    return code
