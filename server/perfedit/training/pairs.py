"""Slow→fast pairs for training: keeping the pairs that pass, and rendering each pair as the
exact prompt the model proposer sends at inference (PIE, section 3: fine-tuning on pairs). The
pair file itself is read by :mod:`perfedit.formats.pairs`.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from perfedit.candidates.prompts import fenced, optimize_messages
from perfedit.config import Settings
from perfedit.errors import InputError
from perfedit.formats.pairs import Pair

T = TypeVar("T")

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedTokenizerBase

    from perfedit.job.pipeline import Suggestion

#: Label value that the cross-entropy loss ignores (PyTorch's ``ignore_index`` default).
IGNORE = -100


def passing(pairs: Sequence[Pair], settings: Settings | None = None) -> list[Pair]:
    """The pairs whose slow and fast versions pass their tests (PIE keeps only those).

    A recorded result (``passes``) is trusted. A script pair with a case folder and no record is
    run through the validation harness (both versions; ``settings`` as for a suggestion). A pair
    with neither is kept: the user vouches for it.
    """
    from perfedit.training.rewards import PASSES, RewardGroup, score_inputs

    settings = settings or Settings()
    unknown = [p for p in pairs if p.passes is None and p.kind == "script" and p.tests is not None]
    rewards = score_inputs(
        [RewardGroup(p.slow, p.tests, (p.fast,), settings) for p in unknown if p.tests]
    )
    checked = {id(p): bool(r and r[0] >= PASSES) for p, r in zip(unknown, rewards, strict=True)}
    return [p for p in pairs if checked.get(id(p), p.passes is not False)]


def _problem_id(pair: Any) -> str:
    return pair.problem_id


def round_robin(
    pairs: Sequence[T], count: int, problem: Callable[[T], str] = _problem_id
) -> list[T]:
    """``count`` pairs (0: all) taken round-robin over problems (``problem(pair)``) in problem
    order, so that every problem appears once before any appears twice."""
    by_problem: dict[str, list[T]] = defaultdict(list)
    for pair in pairs:
        by_problem[problem(pair)].append(pair)
    rounds = itertools.zip_longest(*(by_problem[p] for p in sorted(by_problem)))
    ordered = [pair for batch in rounds for pair in batch if pair is not None]
    return ordered[:count] if count else ordered


@dataclass(frozen=True)
class Example:
    """A tokenised ``pair``: ``input_ids`` (T,) is the prompt then the reply; ``labels`` (T,)
    holds the reply's token ids and :data:`IGNORE` over the prompt; ``prompt_tokens`` is the
    prompt's length in tokens."""

    pair: Pair
    input_ids: list[int]
    labels: list[int]
    prompt_tokens: int

    @property
    def reply_tokens(self) -> int:
        """Tokens that carry a label (the reply, end-of-turn token included)."""
        return len(self.input_ids) - self.prompt_tokens


def prompt_ids(code: str, kind: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The token ids the model proposer feeds the model for ``code``: :func:`optimize_messages`
    of the dedented code through the chat template, with the assistant turn opened."""
    messages = optimize_messages(textwrap.dedent(code), kind)
    # return_dict=True: a BatchEncoding, not the str or ids of the template's other modes.
    encoded = cast(
        "BatchEncoding",
        tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        ),
    )
    return list(encoded["input_ids"])


def end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text the chat template puts after an assistant reply, stripped (``<|im_end|>`` for
    Qwen2.5 and SmolLM2); the tokenizer's EOS token if the template adds nothing."""
    messages = [{"role": "user", "content": "x"}]
    # tokenize=False: the rendered text, not the ids or BatchEncoding of the template's other modes.
    opened = cast(
        str, tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    )
    closed = cast(
        str,
        tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": "y"}], tokenize=False
        ),
    )
    if not closed.startswith(opened + "y"):
        raise ValueError(
            "the chat template does not end a conversation with the opened assistant turn"
        )
    return closed[len(opened) + 1 :].strip() or tokenizer.eos_token


def reply_ids(code: str, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The token ids of the reply the model should give for the faster ``code``: one fenced
    ```python block (the demonstrations' format), then the end-of-turn token."""
    return list(
        tokenizer(fenced(code) + end_of_turn(tokenizer), add_special_tokens=False)["input_ids"]
    )


def render(pair: Pair, tokenizer: PreTrainedTokenizerBase) -> Example:
    """``pair`` as one training sequence: the proposer's prompt for ``pair.slow`` (exactly as at
    inference), then the reply holding ``pair.fast``; labels only on the reply's tokens.

    The prompt and the reply are tokenised separately, as at inference, where the prompt comes
    from the chat template and the reply's tokens are generated after it.
    """
    prompt = prompt_ids(pair.slow, pair.kind, tokenizer)
    reply = reply_ids(pair.fast, tokenizer)
    return Example(pair, prompt + reply, [IGNORE] * len(prompt) + reply, len(prompt))


def render_all(
    pairs: Sequence[Pair], tokenizer: PreTrainedTokenizerBase, max_tokens: int, count: int = 0
) -> list[Example]:
    """:func:`render` of every pair at most ``max_tokens`` tokens long; with ``count`` > 0, only
    the ``count`` shortest (by tokens; ties keep file order).

    Raises:
        InputError: no pair is short enough.
    """
    examples = [e for e in (render(p, tokenizer) for p in pairs) if len(e.input_ids) <= max_tokens]
    if not examples:
        raise InputError(f"none of the {len(pairs)} pairs fits in max_tokens={max_tokens} tokens")
    if count:
        examples = sorted(examples, key=lambda e: len(e.input_ids))[:count]
    return examples


def suggestion_record(suggestion: Suggestion) -> dict[str, Any]:
    """An accepted suggestion as one pair-file line (``perfedit suggest --export-pair``): the
    target's code as ``slow``, the winner's replacement as ``fast``; it passed its tests."""
    target, new = suggestion.target, suggestion.new_source
    fast = new[target.start : len(new) - (len(target.source) - target.end)]
    record: dict[str, Any] = {
        "slow": textwrap.dedent(target.code),
        "fast": textwrap.dedent(fast),
        "kind": target.kind,
        "id": f"{target.path.name}:{target.name}",
        "passes": True,
    }
    if suggestion.suite.kind == "cases":
        record["tests"] = str(suggestion.suite.root)
    return record
