"""An OpenAI-compatible server as the model (Ollama, LM Studio, a llama.cpp server, vLLM).

The user names the server's base URL (``endpoint``, e.g. ``http://127.0.0.1:11434/v1``) and its
model name (``model``). The target's code and tests' feedback are sent to that URL: on
127.0.0.1 nothing leaves the machine; with a remote URL, code leaves it, as the user chose.
Requests go through the official ``openai`` client, one streamed chat completion per reply.
The API key is read from ``PERFEDIT_API_KEY`` (else ``OPENAI_API_KEY``; local servers need none).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from perfedit.errors import Cancelled, ModelError, ModelMissing
from perfedit.llm.base import ChatModel, Messages, Reply, StepFn

#: Seconds to wait for the server to connect and answer one request.
TIMEOUT_S = 120.0


def _failure(url: str, error: Exception) -> ModelError:
    """The error a user sees when the endpoint at ``url`` failed with ``error``."""
    import openai

    if isinstance(error, openai.APIConnectionError):
        return ModelError(
            f"no OpenAI-compatible server answered at {url} ({error.__class__.__name__}); start it "
            "(e.g. `ollama serve`, `python -m llama_cpp.server --model FILE`) or fix the endpoint setting."
        )
    if isinstance(error, openai.NotFoundError):
        return ModelMissing(f"the server at {url} does not know that model ({error}); check the model name.")
    if isinstance(error, openai.APIStatusError):
        return ModelError(f"the server at {url} answered HTTP {error.status_code}: {error.message}")
    return ModelError(
        f"the server at {url} did not answer like an OpenAI-compatible API ({error.__class__.__name__}: {error}); "
        "check that the endpoint URL ends in /v1."
    )


class EndpointModel(ChatModel):
    """Chat replies from an OpenAI-compatible server's ``/chat/completions``, streamed."""

    backend = "endpoint"

    def __init__(self, client: Any, *, url: str, name: str, load_seconds: float) -> None:
        self.client = client  # openai.OpenAI
        self.url = url
        self.name = name
        self.load_seconds = load_seconds

    @classmethod
    def connect(cls, url: str, model: str) -> EndpointModel:
        """A client for ``model`` at ``url``, checked by listing the server's models.

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
        return cls(client, url=url, name=model, load_seconds=time.perf_counter() - start)

    def replies(
        self,
        messages: Messages,
        *,
        num_samples: int = 8,
        temperature: float = 0.7,
        max_new_tokens: int = 512,
        seed: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_step: StepFn | None = None,
        stop_strings: list[str] | None = None,
    ) -> Iterator[Reply]:
        """:meth:`ChatModel.replies`, one streamed request per reply (servers differ in their
        support of ``n``). Token counts come from the server's usage report when it sends one,
        else from the number of streamed chunks.

        Raises:
            Cancelled: ``should_stop()`` turned true.
            ModelError: the server failed or answered garbage.
        """
        base_seed = random.randrange(2**31) if seed is None else seed
        for index in range(1 + num_samples):
            start = time.perf_counter()
            pieces: list[str] = []
            usage = None
            chunks = 0
            try:
                stream = self.client.chat.completions.create(
                    model=self.name,
                    messages=messages,
                    temperature=0.0 if index == 0 else temperature,
                    max_tokens=max_new_tokens,
                    seed=base_seed + index,
                    stop=stop_strings or None,
                    stream=True,
                )
                for chunk in stream:
                    if should_stop is not None and should_stop():
                        stream.close()
                        raise Cancelled("Generation was cancelled.")
                    chunks += 1
                    usage = getattr(chunk, "usage", None) or usage
                    if chunk.choices:
                        pieces.append(chunk.choices[0].delta.content or "")
                        if on_step is not None:
                            on_step(min(len(pieces), max_new_tokens), max_new_tokens)
                if not chunks:  # a 200 answer without a single server-sent event
                    raise ValueError("the answer held no chat completion chunk")
            except Cancelled:
                raise
            except Exception as error:
                raise _failure(self.url, error) from error
            tokens = usage.completion_tokens if usage is not None else sum(1 for p in pieces if p)
            yield Reply("".join(pieces), tokens, time.perf_counter() - start)
