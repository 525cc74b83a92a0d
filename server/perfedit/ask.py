"""Every call to a model: builds the chat messages (:mod:`perfedit.prompts`), asks the
:class:`~perfedit.llm.ChatModel` and reads the reply.

* :func:`faster_versions`: the greedy reply and ``samples`` samples to the few-shot prompt
  (PIE, sections 3.1 and 3.3), used by the model proposer;
* :func:`fixed_version` and :func:`faster_on_test`: PerfCodeGen's correctness and performance
  rounds (Peng et al. 2024, section 2), used by refinement;
* :func:`why_faster`: a short reason a validated version is faster (PIE appendix C style).

Code replies end at the closing fence of their block (:data:`CLOSING_FENCE`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from perfedit.prompts import (
    explain_messages,
    fix_messages,
    optimize_messages,
    optimize_with_test_messages,
)

if TYPE_CHECKING:
    from perfedit.config import Settings
    from perfedit.llm import ChatModel, Messages, Reply
    from perfedit.targets import Target

#: ``model()``: the (cached, lazily loaded) model; raises ModelMissing when it is not here.
ModelProvider = Callable[[], "ChatModel"]

#: A row's reply is complete once its code block closes (an opening fence has a language tag).
CLOSING_FENCE = "\n```\n"
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_MAX_REASON_SENTENCES = 2
_REASON_TOKENS = 120
_LIST_MARKER = re.compile(r"(^|:)\s*\d+\.$")


def extract_code(reply: str) -> list[str]:
    """Code blocks in a model reply, in order: fenced blocks (an unterminated last fence counts,
    as generation may stop mid-block), else the whole reply."""
    blocks = [block for block in _FENCE.findall(reply) if block.strip()]
    return blocks or [reply]


def faster_versions(
    model: ChatModel, target: Target, settings: Settings, should_stop: Callable[[], bool]
) -> Iterator[Reply]:
    """The greedy reply asking for a faster ``target``, then ``settings.samples`` replies sampled
    at ``settings.temperature`` (at most ``settings.max_new_tokens`` tokens each), each yielded
    once complete. Raises Cancelled once ``should_stop()`` is true, ModelError."""
    return model.replies(
        optimize_messages(textwrap.dedent(target.code), target.kind),
        num_samples=settings.samples,
        temperature=settings.temperature,
        max_new_tokens=settings.max_new_tokens,
        seed=settings.seed,
        should_stop=should_stop,
        stop_strings=[CLOSING_FENCE],
    )


def _greedy(
    model: ChatModel,
    messages: Messages,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None,
    stop_strings: list[str],
) -> Reply:
    return next(
        iter(
            model.replies(
                messages,
                num_samples=0,
                max_new_tokens=max_new_tokens,
                should_stop=should_stop,
                stop_strings=stop_strings,
            )
        )
    )


def fixed_version(
    model: ChatModel,
    code: str,
    kind: str,
    test: str,
    error: str,
    *,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> Reply:
    """The greedy reply to PerfCodeGen's correctness round: ``code`` (a "function" or "script"
    ``kind``) failed ``test`` with ``error``. Raises Cancelled, ModelError."""
    return _greedy(
        model, fix_messages(code, kind, test, error), max_new_tokens, should_stop, [CLOSING_FENCE]
    )


def faster_on_test(
    model: ChatModel,
    code: str,
    kind: str,
    test: str,
    seconds: float,
    *,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> Reply:
    """The greedy reply to PerfCodeGen's performance round: correct ``code`` and its most
    expensive ``test`` (trimmed-mean time ``seconds``). Raises Cancelled, ModelError."""
    return _greedy(
        model,
        optimize_with_test_messages(code, kind, test, seconds),
        max_new_tokens,
        should_stop,
        [CLOSING_FENCE],
    )


def why_faster(model: ChatModel, original: str, faster: str) -> str:
    """The model's short explanation of why ``faster`` beats ``original``: plain prose, its
    first two sentences (small models drift after that); code blocks in the reply are dropped.
    Raises ModelError."""
    reply = model.complete(explain_messages(original, faster), max_new_tokens=_REASON_TOKENS)
    for block in extract_code(reply):
        if block != reply:
            reply = reply.replace(block, "")
    text = " ".join(re.sub(r"```(?:python)?|\*\*|__|`|#+ ", "", reply).split())
    sentences = [
        sentence
        for sentence in re.split(r"(?<=[.!?])\s+", text)
        if not _LIST_MARKER.search(sentence)  # "Here is why: 1." introduces a list: skip it
    ]
    return " ".join(sentences[:_MAX_REASON_SENTENCES])
