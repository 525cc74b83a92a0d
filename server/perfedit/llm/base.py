"""What every inference backend offers: chat replies, one at a time, with progress and cancelling.

:meth:`ChatModel.replies` yields the greedy reply first and then ``num_samples`` sampled ones,
each as soon as it is complete (PIE's greedy + best-of-k, section 3.3). A streaming backend
implements :meth:`ChatModel.reply` (one reply, decoded as a :class:`Draw` says); a batching one
overrides :meth:`ChatModel.replies`. :meth:`ChatModel.generate` and :meth:`ChatModel.complete`
are built on them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: ``on_step(step, max_new_tokens)``: called as tokens of the current reply are generated.
StepFn = Callable[[int, int], None]

#: Chat turns: ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``.
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Reply:
    """One reply: its text, the tokens generated for it and the wall time they took (seconds)."""

    text: str
    tokens: int
    seconds: float


@dataclass(frozen=True)
class Draw:
    """How to decode one reply: ``temperature`` 0 is greedy; ``seed`` seeds the sampler; the reply
    ends at ``max_new_tokens`` tokens or once it contains one of ``stop_strings``;
    ``should_stop`` is polled after every token, ``on_step(tokens so far, max_new_tokens)`` called."""

    temperature: float
    max_new_tokens: int
    seed: int
    stop_strings: list[str]
    should_stop: Callable[[], bool] | None = None
    on_step: StepFn | None = None

    def cancelled(self) -> bool:
        """True once the caller asked to stop."""
        return self.should_stop is not None and self.should_stop()

    def step(self, tokens: int) -> None:
        """Report ``tokens`` generated so far."""
        if self.on_step is not None:
            self.on_step(min(tokens, self.max_new_tokens), self.max_new_tokens)


@dataclass(frozen=True)
class Generation:
    """The replies of one :meth:`ChatModel.generate` call."""

    texts: list[str]  # texts[0] is the greedy reply, then the samples
    new_tokens: int  # tokens generated over all replies, up to each reply's end
    seconds: float  # wall time of the whole call

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second of wall time, over all replies."""
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class ChatModel:
    """A chat model behind some backend; subclasses implement :meth:`replies`.

    ``name`` is what the user asked for (alias, path or endpoint model), ``backend`` the backend's
    name ("llama.cpp", "transformers", "endpoint") and ``load_seconds`` the wall time of loading.
    """

    name: str
    backend: str
    load_seconds: float

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
        greedy: bool = True,
    ) -> Iterator[Reply]:
        """The greedy reply to ``messages``, then ``num_samples`` replies sampled at
        ``temperature`` (seeds ``seed``, ``seed + 1``, …; None: random), each yielded once complete.
        With ``greedy`` False the first reply is sampled too (1 + ``num_samples`` samples).

        A reply ends at ``max_new_tokens`` tokens, at end of sequence, or once it contains one of
        ``stop_strings`` (e.g. a closing code fence). ``should_stop`` is polled after every token.

        Raises:
            Cancelled: ``should_stop()`` returned True.
            ModelError: the backend failed (an endpoint that is down or answers garbage).
        """
        base_seed = random.randrange(2**31) if seed is None else seed
        for index in range(1 + num_samples):
            draw = Draw(
                0.0 if index == 0 and greedy else temperature,
                max_new_tokens,
                base_seed + index,
                stop_strings or [],
                should_stop,
                on_step,
            )
            yield self.reply(messages, draw)

    def reply(self, messages: Messages, draw: Draw) -> Reply:
        """One reply to ``messages``, decoded as ``draw`` says. Raises as :meth:`replies`."""
        raise NotImplementedError

    def prime(self, messages: Messages) -> None:
        """Evaluate ``messages`` ahead of a request that begins as they do, so that the request
        need not evaluate the shared beginning again (a backend that keeps its context between
        replies); here, where nothing is kept, it does nothing. Raises ModelError."""

    def generate(self, messages: Messages, **options) -> Generation:
        """All of :meth:`replies` (same options), collected. Raises as :meth:`replies`."""
        start = time.perf_counter()
        replies = list(self.replies(messages, **options))
        return Generation(
            texts=[r.text for r in replies],
            new_tokens=sum(r.tokens for r in replies),
            seconds=time.perf_counter() - start,
        )

    def complete(self, messages: Messages, *, max_new_tokens: int = 256, **options) -> str:
        """The greedy reply to ``messages`` (at most ``max_new_tokens`` tokens; ``options`` as
        :meth:`replies`'). Raises as :meth:`replies`."""
        return next(
            iter(self.replies(messages, num_samples=0, max_new_tokens=max_new_tokens, **options))
        ).text
