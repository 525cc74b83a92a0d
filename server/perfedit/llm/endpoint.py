"""An OpenAI-compatible server as the model (Ollama, LM Studio, a llama.cpp server, vLLM).

The user names the server's base URL (``endpoint``, e.g. ``http://127.0.0.1:11434/v1``) and its
model name (``model``). The target's code and tests' feedback are sent to that URL: on
127.0.0.1 nothing leaves the machine; with a remote URL, code leaves it, as the user chose.
Requests go through the official ``openai`` client, one streamed chat completion per reply.
The API key is read from ``PERFEDIT_API_KEY`` (else ``OPENAI_API_KEY``; local servers need none).
"""

from __future__ import annotations

import os
import time
from typing import Any

from perfedit.errors import Cancelled, ModelError, ModelMissing
from perfedit.llm.base import ChatModel, Draw, Messages, Reply

#: Seconds to wait for the server to connect and answer one request.
TIMEOUT_S = 120.0


def _failure(url: str, error: Exception) -> ModelError:
    """The error a user sees when the endpoint at ``url`` failed with ``error``."""
    import openai

    if isinstance(error, openai.APIConnectionError):
        return ModelError(
            f"no OpenAI-compatible server answered at {url} ({error.__class__.__name__}); start it "
            "(e.g. `ollama serve`, `llama-server -m FILE`) or fix the endpoint setting."
        )
    if isinstance(error, openai.NotFoundError):
        return ModelMissing(
            f"the server at {url} does not know that model ({error}); check the model name."
        )
    if isinstance(error, openai.APIStatusError):
        return ModelError(f"the server at {url} answered HTTP {error.status_code}: {error.message}")
    return ModelError(
        f"the server at {url} did not answer like an OpenAI-compatible API ({error.__class__.__name__}: {error}); "
        "check that the endpoint URL ends in /v1."
    )


class EndpointModel(ChatModel):
    """Chat replies from an OpenAI-compatible server's ``/chat/completions``, streamed."""

    backend = "endpoint"

    def __init__(
        self,
        client: Any,
        *,
        url: str,
        name: str,
        load_seconds: float,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.client = client  # openai.OpenAI
        self.url = url
        self.name = name
        self.load_seconds = load_seconds
        self.extra_body = extra_body  # fields added to each request's JSON (server-specific)

    @classmethod
    def connect(
        cls, url: str, model: str, *, extra_body: dict[str, Any] | None = None
    ) -> EndpointModel:
        """A client for ``model`` at ``url``, checked by listing the server's models;
        ``extra_body`` is added to each request's JSON.

        Raises:
            ModelError: the server does not answer, or not like an OpenAI-compatible API.
        """
        import openai

        start = time.perf_counter()
        key = os.environ.get("PERFEDIT_API_KEY") or os.environ.get("OPENAI_API_KEY") or "not-needed"
        client = openai.OpenAI(base_url=url, api_key=key, timeout=TIMEOUT_S, max_retries=0)
        try:
            client.models.list()
        except Exception as error:  # the client raises many kinds; each becomes one clear message
            raise _failure(url, error) from error
        return cls(
            client,
            url=url,
            name=model,
            load_seconds=time.perf_counter() - start,
            extra_body=extra_body,
        )

    def reply(self, messages: Messages, draw: Draw) -> Reply:
        """:meth:`ChatModel.reply` as one streamed ``/chat/completions`` request (one per reply:
        servers differ in their support of ``n``). Tokens come from the server's usage report when
        it sends one, else from the number of streamed chunks.

        Raises:
            Cancelled: ``draw`` says stop.
            ModelError: the server failed or answered garbage.
        """
        start = time.perf_counter()
        pieces: list[str] = []
        usage = None
        chunks = 0
        try:
            stream = self.client.chat.completions.create(
                model=self.name,
                messages=messages,
                temperature=draw.temperature,
                max_tokens=draw.max_new_tokens,
                seed=draw.seed,
                stop=draw.stop_strings or None,
                stream=True,
                extra_body=self.extra_body,
            )
            for chunk in stream:
                if draw.cancelled():
                    stream.close()
                    raise Cancelled("Generation was cancelled.")
                chunks += 1
                usage = getattr(chunk, "usage", None) or usage
                if chunk.choices:
                    pieces.append(chunk.choices[0].delta.content or "")
                    draw.step(len(pieces))
            if not chunks:  # a 200 answer without a single server-sent event
                raise ValueError("the answer held no chat completion chunk")
        except Cancelled:
            raise
        except Exception as error:
            raise _failure(self.url, error) from error
        tokens = usage.completion_tokens if usage is not None else sum(1 for p in pieces if p)
        return Reply("".join(pieces), tokens, time.perf_counter() - start)
