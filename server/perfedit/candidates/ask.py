"""Every call to a model: builds the chat messages (:mod:`perfedit.candidates.prompts`), asks the
:class:`~perfedit.llm.ChatModel` and reads the reply.

* :func:`faster_versions`: the greedy reply and ``samples`` samples to the few-shot prompt
  (PIE, sections 3.1 and 3.3), the samples spread over distinct strategies and temperatures
  (:func:`sample_plan`), used by the model proposer;
* :func:`refinement_reply` and :func:`refinement_retry`: PerfCodeGen's correctness and
  performance rounds (Peng et al. 2024, section 2), used by refinement;
* :func:`why_faster`: a short reason a validated version is faster (PIE appendix C style).

Code replies end at the closing fence of their block (:data:`CLOSING_FENCE`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from perfedit.candidates.compact import for_prompt
from perfedit.candidates.prompts import (
    ALGORITHM,
    STRATEGIES,
    explain_messages,
    optimize_messages,
    retry_messages,
)

if TYPE_CHECKING:
    from perfedit.candidates.retrieval import Exemplar
    from perfedit.config import Settings
    from perfedit.llm import ChatModel, Messages, Reply, StepFn
    from perfedit.targets import Target
    from perfedit.verify.scaling import Scaling

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


#: The sampling temperatures of the strategy groups run from ``temperature`` times the first to
#: times the second factor (the first group coolest).
TEMPERATURE_SPREAD = (0.75, 1.25)


@dataclass(frozen=True)
class SampleGroup:
    """One call of the model: the prompt with ``strategy`` (None: plain), its greedy reply and
    ``samples`` more sampled at ``temperature`` (``greedy`` False: no greedy reply, 1 +
    ``samples`` sampled); ``seed`` seeds the samples."""

    strategy: str | None
    samples: int
    temperature: float
    seed: int | None
    greedy: bool = True

    @property
    def replies(self) -> int:
        """Replies the group yields: its greedy one and the samples."""
        return 1 + self.samples


def sample_plan(
    samples: int,
    temperature: float,
    seed: int | None,
    strategies: bool = True,
    kind: str = "script",
    first: str | None = None,
) -> list[SampleGroup]:
    """How the greedy reply and ``samples`` samples are drawn (1 + ``samples`` replies in all).

    Without ``strategies``: one group, PIE's greedy + k samples at ``temperature`` (section 3.3).
    With them (SBLLM-style diversity): the plain prompt's greedy reply, then the ``samples`` replies
    spread evenly over the :data:`~perfedit.candidates.prompts.STRATEGIES`, all sampled, the groups'
    temperatures spread over :data:`TEMPERATURE_SPREAD` around ``temperature`` and their seeds apart. A function
    (``kind``) gets no I/O strategy: its callers do the I/O. ``first`` (a strategy's name) moves
    that strategy to the front, ahead of the measured order of :data:`~perfedit.candidates.prompts.STRATEGIES`.
    """
    if not strategies or samples == 0:
        return [SampleGroup(None, samples, temperature, seed)]
    # sorted is stable: the strategies other than ``first`` keep their order
    ordered = sorted(STRATEGIES, key=lambda name: name != first)
    names = [name for name in ordered if kind == "script" or name != "I/O"][:samples]
    share, extra = divmod(samples, len(names))
    low, high = TEMPERATURE_SPREAD
    groups = [SampleGroup(None, 0, temperature, seed)]
    for index, name in enumerate(names):
        fraction = index / (len(names) - 1) if len(names) > 1 else 0.5
        groups.append(
            SampleGroup(
                name,
                share + (index < extra) - 1,
                round(temperature * (low + (high - low) * fraction), 3),
                None if seed is None else seed + 1000 * (index + 1),
                greedy=False,
            )
        )
    return groups


def faster_versions(
    model: ChatModel,
    target: Target,
    settings: Settings,
    should_stop: Callable[[], bool],
    exemplars: Sequence[Exemplar] = (),
    hot_lines: Callable[[], Sequence[tuple[int, float]]] = tuple,
    example_input: str = "",
    scaling: Callable[[], Scaling | None] = lambda: None,
) -> Iterator[tuple[str, Reply]]:
    """``(label, reply)`` for the greedy reply asking for a faster ``target`` ("greedy") and
    ``settings.samples`` more ("sample 3", or "sample 3 (built-ins)" under a strategy), drawn as
    :func:`sample_plan` says (``settings.strategies``, ``temperature``, ``seed``), at most
    ``settings.max_new_tokens`` tokens each, each yielded once complete. ``exemplars`` are the
    prompt's demonstrations (retrieved, PIE section 3.1; empty: the built-in one); ``hot_lines()``
    ((line of the target's code, seconds)) where its tests spend the time, as known when each
    group of replies starts (asked again per group: a script's become known during the job);
    ``example_input`` one of a script's test inputs, shown after its code; ``scaling()`` the
    original's measured scaling, as known when each group starts (known once the baseline has
    run): shown in the prompt, and when it is worse than linear the groups after the greedy one
    start with the algorithm strategy. Raises Cancelled once ``should_stop()`` is true,
    ModelError."""
    code = textwrap.dedent(target.code)
    shown = for_prompt(code, settings.compact_prompt)
    count = 0
    for group in _groups(settings, target.kind, scaling):
        replies = model.replies(
            optimize_messages(
                shown.text,
                target.kind,
                exemplars,
                group.strategy,
                shown.hot_lines(list(hot_lines())),
                example_input,
                scaling(),
            ),
            num_samples=group.samples,
            temperature=group.temperature,
            max_new_tokens=settings.max_new_tokens,
            seed=group.seed,
            should_stop=should_stop,
            stop_strings=[CLOSING_FENCE],
            greedy=group.greedy,
        )
        for reply in replies:
            label = (
                "greedy"
                if count == 0
                else f"sample {count}" + (f" ({group.strategy})" if group.strategy else "")
            )
            count += 1
            yield label, reply


def _groups(
    settings: Settings, kind: str, scaling: Callable[[], Scaling | None]
) -> Iterator[SampleGroup]:
    """The groups of :func:`sample_plan`, the strategies' order settled after the first group
    (the greedy reply): the algorithm strategy first when ``scaling()`` is then known to be
    worse than linear."""

    def plan(first: str | None = None) -> list[SampleGroup]:
        return sample_plan(
            settings.samples, settings.temperature, settings.seed, settings.strategies, kind, first
        )

    greedy, *rest = plan()
    yield greedy
    measured = scaling()
    yield from plan(ALGORITHM)[1:] if measured is not None and measured.superlinear else rest


def prime(model: ChatModel, kind: str) -> None:
    """Ready ``model`` for the next job on a ``kind`` target ("function" or "script"): the
    prompt of :func:`faster_versions` with the built-in demonstration and no code evaluated
    ahead (:meth:`ChatModel.prime`; llama.cpp keeps it on disk), so that the next greedy reply
    starts at the retrieved exemplars, or the target's code without them. The model proposer
    does it before its first reply and ``perfedit model pull`` once for both kinds. Raises
    ModelError."""
    model.prime(prime_messages(kind))


def prime_messages(kind: str) -> Messages:
    """The messages :func:`prime` evaluates for a ``kind`` target: the prompt of
    :func:`faster_versions` with the built-in demonstration and no code."""
    return optimize_messages("", kind)


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


def refinement_reply(
    model: ChatModel,
    messages: Messages,
    *,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> Reply:
    """The greedy reply to the refinement round ``messages`` (:func:`~perfedit.candidates.prompts.fix_messages`,
    :func:`~perfedit.candidates.prompts.optimize_with_test_messages` or a :func:`~perfedit.candidates.prompts.retry_messages`
    continuation), ending at the code block's closing fence. Raises Cancelled, ModelError."""
    return _greedy(model, messages, max_new_tokens, should_stop, [CLOSING_FENCE])


def refinement_retry(
    model: ChatModel,
    messages: Messages,
    reply: str,
    repeated: str,
    *,
    max_new_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> Reply:
    """The greedy reply once more, after ``messages`` of a refinement round and its ``reply``,
    which repeated the earlier candidate ``repeated`` (told so; :func:`~perfedit.candidates.prompts.retry_messages`).
    Raises Cancelled, ModelError."""
    return refinement_reply(
        model,
        retry_messages(messages, reply, repeated),
        max_new_tokens=max_new_tokens,
        should_stop=should_stop,
    )


def why_faster(
    model: ChatModel,
    original: str,
    faster: str,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """The model's short explanation of why ``faster`` beats ``original``: plain prose, its
    first two sentences (small models drift after that); code blocks in the reply are dropped.
    ``on_step(tokens so far, most tokens)`` follows the reply as it is written; ``should_stop``
    is polled after every token. Raises ModelError, Cancelled."""
    reply = model.complete(
        explain_messages(original, faster),
        max_new_tokens=_REASON_TOKENS,
        on_step=on_step,
        should_stop=should_stop,
    )
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
