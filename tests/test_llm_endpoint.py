"""The OpenAI-compatible endpoint backend against real servers on 127.0.0.1: llama.cpp's own
server running SmolLM2-135M, a port where nothing listens, and an HTTP server that answers
garbage. Then the CLI end to end with an endpoint that is down."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import openai
import pytest

from perfedit.errors import Cancelled, ModelError
from perfedit.llm import modelstore
from perfedit.llm.endpoint import EndpointModel
from perfedit.llm.llamacpp import Engine

MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    """llama.cpp's own server (xllamacpp, as perfedit's engine process runs it) on
    SmolLM2-135M's GGUF, on 127.0.0.1; yields its base URL."""
    engine = Engine(
        {"model": str(modelstore.resolve_gguf("smollm2-135m")), "threads": 1, "context": 2048}
    )
    yield engine.start()
    engine.stop()


@pytest.mark.model
def test_replies_from_a_real_server(llama_server):
    model = EndpointModel.connect(llama_server, "smollm")
    steps: list[int] = []
    replies = list(
        model.replies(
            MESSAGES, num_samples=1, max_new_tokens=24, seed=0, on_step=lambda s, n: steps.append(s)
        )
    )
    assert len(replies) == 2 and all(r.text and 0 < r.tokens <= 24 for r in replies)
    assert steps and max(steps) <= 24
    assert model.complete(MESSAGES, max_new_tokens=8)  # the greedy reply alone


@pytest.mark.model
def test_cancelling_stops_the_stream(llama_server):
    model = EndpointModel.connect(llama_server, "smollm")
    with pytest.raises(Cancelled):
        list(model.replies(MESSAGES, num_samples=1, max_new_tokens=64, should_stop=lambda: True))


def test_endpoint_down_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match="no OpenAI-compatible server answered at"):
        EndpointModel.connect(url, "any")


class _Garbage(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"<html>not an API</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def garbage_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_endpoint_answering_garbage_is_a_clear_error(garbage_server):
    client = openai.OpenAI(base_url=garbage_server, api_key="x", max_retries=0)
    model = EndpointModel(client, url=garbage_server, name="any", load_seconds=0)
    with pytest.raises(ModelError, match="OpenAI-compatible"):
        list(model.replies(MESSAGES, num_samples=0, max_new_tokens=8))


def test_cli_with_endpoint_down_exits_3_and_changes_nothing(dedupe_project: Path):
    pyproject = dedupe_project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "rules = false\n")  # so the job needs the model
    before = {p: p.read_text() for p in dedupe_project.rglob("*.py")}
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfedit",
            "suggest",
            "dedupe.py",
            "--function",
            "unique_in_order",
            "--endpoint",
            url,
            "--model",
            "any",
            "--runs",
            "5",
        ],
        cwd=dedupe_project,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 3, result.stderr
    assert (
        "no OpenAI-compatible server answered at" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert {p: p.read_text() for p in dedupe_project.rglob("*.py")} == before
