"""The answer to ``initialize``, stored so that ``perfedit lsp`` sends it before pygls is imported.

``initialize_result.json`` beside this module holds the InitializeResult that pygls gives for this
server (:data:`perfedit.lsp.server.server`) to the client of :data:`STATED_PARAMS`, and the pygls
and lsprotocol versions that gave it. :func:`early_answer` makes of it the very frame pygls would
write in reply to an ``initialize`` request. pygls' answer depends on the client's capabilities
in two places for this server's features (the tests compare with pygls for real editors'
capabilities and for a client that states every capability there is):

* ``positionEncoding``: the first of the client's ``general.positionEncodings`` that pygls
  supports, else UTF-16;
* ``textDocumentSync.willSave`` and ``willSaveWaitUntil``: the client's value of the same name
  under ``textDocument.synchronization`` *and* whether the server handles the notification:
  absent when the client states nothing, false when it states false, the server's own value
  (the stored one) when it states true.

A request it cannot vouch for gets None, and pygls answers it once imported: not a well-formed
``initialize`` request, those capabilities in a shape it cannot read, or other pygls or
lsprotocol versions installed than the stored answer's.

This module imports only the standard library. ``python -m perfedit.lsp.initialize_result``
(``make lsp-initialize``) writes the file from the live server, ``--check`` only says whether it
would change; tests/test_lsp_initialize.py fails when it has drifted.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from perfedit.lsp.framing import Answered, frame, handle_body, response_id

#: The stored answer.
STORED = Path(__file__).with_name("initialize_result.json")
#: The distributions whose code makes the answer (each installs the package of the same name).
DISTRIBUTIONS = ("pygls", "lsprotocol")
#: The position encodings pygls supports, and its default.
ENCODINGS, DEFAULT_ENCODING = ("utf-8", "utf-16", "utf-32"), "utf-16"
#: The ``textDocumentSync`` options that pygls answers with only when the client states them.
SAVE_OPTIONS = ("willSave", "willSaveWaitUntil")
#: The initialize params the stored answer is for: a client that states the save notifications
#: (so that the answer has the server's value for them) and no position encodings.
STATED_PARAMS: dict[str, Any] = {
    "processId": None,
    "rootUri": None,
    "capabilities": {"textDocument": {"synchronization": dict.fromkeys(SAVE_OPTIONS, True)}},
}


def early_answer(body: bytes, stored: Path = STORED) -> Answered | None:
    """The frame pygls would write in reply to the message ``body``, made from the ``stored``
    answer, or None when ``body`` is not an initialize request that answer can be fitted to."""
    request = _initialize_request(body)
    if request is None:
        return None
    saved = json.loads(stored.read_text(encoding="utf-8"))
    if not installed(saved["versions"]):
        return None
    try:
        result = fit(saved["result"], request["params"]["capabilities"])
    except TypeError:  # capabilities that pygls reads are not of their type: pygls will say
        return None
    return Answered(request["id"], frame({"id": request["id"], "jsonrpc": "2.0", "result": result}))


def _initialize_request(body: bytes) -> dict[str, Any] | None:
    """``body`` parsed, when it is a JSON-RPC ``initialize`` request with an integer or string id
    and params holding a capabilities object and an integer or null process id; else None."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and message.get("method") == "initialize"
        and (_is_int(message.get("id")) or isinstance(message.get("id"), str))
    ):
        return None
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("capabilities"), dict):
        return None
    process_id = params.get("processId")
    return message if process_id is None or _is_int(process_id) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def fit(result: dict[str, Any], capabilities: dict[str, Any]) -> dict[str, Any]:
    """``result``, pygls' answer to :data:`STATED_PARAMS`, changed (in place) into its answer to
    a client with ``capabilities`` (JSON); raises TypeError when those it reads are not of
    their type."""
    encodings = _stated(capabilities, "general.positionEncodings", list)
    if not all(isinstance(encoding, str) for encoding in encodings or ()):
        raise TypeError("general.positionEncodings holds a value that is not a string")
    result["capabilities"]["positionEncoding"] = next(
        (encoding for encoding in encodings or () if encoding in ENCODINGS), DEFAULT_ENCODING
    )
    sync = result["capabilities"]["textDocumentSync"]
    for option in SAVE_OPTIONS:
        stated = _stated(capabilities, f"textDocument.synchronization.{option}", bool)
        if stated is None:
            del sync[option]
        elif not stated:
            sync[option] = False
    return result


def _stated(capabilities: dict[str, Any], path: str, kind: type) -> Any:
    """The client's value at the dotted ``path`` of its ``capabilities``, or None where it states
    none; raises TypeError when it or an object on the way is not of its type (``kind``)."""
    value: Any = capabilities
    for key in path.split("."):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise TypeError(f"{path}: {value!r} is not an object")
        value = value.get(key)
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{path}: {value!r} is not a {kind.__name__}")
    return value


def installed(versions: dict[str, str]) -> bool:
    """Whether the packages imported here are these ``versions`` of :data:`DISTRIBUTIONS`: each
    package's folder has beside it the ``NAME-VERSION.dist-info`` folder of its installation. An
    installation laid out otherwise (an editable one) counts as another version. Looking costs
    far less than importing importlib.metadata."""
    for name in DISTRIBUTIONS:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            return False
        site = Path(spec.origin).parent.parent
        if not (site / f"{name}-{versions.get(name)}.dist-info").is_dir():
            return False
    return True


def live_frame(params: object, msg_id: int | str = 1) -> bytes:
    """The frame the server writes in reply to an initialize request with ``params`` when pygls
    handles it: the live server (:data:`perfedit.lsp.server.server`) in this process, left
    initialized for that client."""
    from perfedit.lsp.server import server

    written: list[bytes] = []

    class Collect:
        """pygls' writer, into ``written``."""

        def write(self, data: bytes) -> None:
            written.append(data)

        def close(self) -> None:
            pass

    server.protocol.set_writer(Collect())
    body = {"jsonrpc": "2.0", "id": msg_id, "method": "initialize", "params": params}
    if reply := handle_body(server, json.dumps(body).encode()):
        return reply
    (answer,) = (data for data in written if response_id(data) == msg_id)
    return answer


def generate() -> str:
    """The text of :data:`STORED`: the live server's answer to :data:`STATED_PARAMS` and the
    versions of :data:`DISTRIBUTIONS` installed."""
    from importlib.metadata import version

    answer = json.loads(live_frame(STATED_PARAMS).partition(b"\r\n\r\n")[2])
    stored = {
        "generated by": "python -m perfedit.lsp.initialize_result (make lsp-initialize)",
        "versions": {name: version(name) for name in DISTRIBUTIONS},
        "result": answer["result"],
    }
    return json.dumps(stored, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m perfedit.lsp.initialize_result [--check]``; returns the exit code."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m perfedit.lsp.initialize_result", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file would change"
    )
    args = parser.parse_args(argv)
    wanted = generate()
    stale = not STORED.exists() or STORED.read_text(encoding="utf-8") != wanted
    if stale and not args.check:
        STORED.write_text(wanted, encoding="utf-8")
    verb = "out of date" if args.check else "rewritten"
    print(f"{verb}: {STORED}" if stale else f"up to date: {STORED}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
