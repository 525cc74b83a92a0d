"""A stand-in for perfedit.llm.engine_host that misbehaves on purpose, for the containment tests.

``python tests/fake_engine.py MODE '<settings JSON>'`` serves an OpenAI-compatible API on
127.0.0.1 whose ``/v1/models`` answers, and then, by MODE:

* ``crash``: the first chat completion dereferences a null pointer (a real SIGSEGV);
* ``crash-at-load``: faults before it reports an address (a crash while loading the model);
* ``hang``: a chat completion never answers;
* ``empty``: a chat completion answers 200 with an empty body.

Like the real engine it ends when its parent goes (stdin at end of file).
"""

from __future__ import annotations

import ctypes
import http.server
import json
import sys
import threading
import time


def segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


class Handler(http.server.BaseHTTPRequestHandler):
    mode = ""

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "crash":
            segfault()
        if self.mode == "hang":
            time.sleep(3600)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    mode = sys.argv[1]
    if mode == "crash-at-load":
        segfault()
    Handler.mode = mode
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"address": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
