"""The model proposer: best-of-k sampling from a code model (PIE, section 3.3).

The greedy reply and ``samples`` replies at ``temperature``, each turned into a candidate as soon
as the backend has it complete (code extracted from the reply and fitted to the target's span),
so that the pipeline validates one while the next is generated.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from perfedit.config import Settings
from perfedit.progress import CancelFn, Phase, ProgressFn
from perfedit.prompts import optimize_messages
from perfedit.proposers import Candidate
from perfedit.targets import Target

if TYPE_CHECKING:
    from perfedit.llm import ChatModel

#: A row's reply is complete once its code block closes (an opening fence has a language tag).
CLOSING_FENCE = "\n```\n"
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_code(reply: str) -> list[str]:
    """Code blocks in a model reply, in order: fenced blocks (an unterminated last fence counts,
    as generation may stop mid-block), else the whole reply."""
    blocks = [block for block in _FENCE.findall(reply) if block.strip()]
    return blocks or [reply]


def _indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def fit_to_target(code: str, target: Target) -> str | None:
    """``code`` turned into a replacement for ``target``'s span, or None if it cannot be one.

    A script must parse. For a function, ``code`` must define a function of the target's name;
    the definition is re-indented to the target's indentation, and for a top-level target the
    block's top-level imports are kept above it (the span may grow new imports, nothing else).
    """
    code = textwrap.dedent(code).strip("\n") + "\n"
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if target.kind == "script":
        return code
    name = target.name.rsplit(".", 1)[-1]
    definition = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None
    )
    if definition is None:
        return None
    lines = code.splitlines(keepends=True)
    first = min([definition.lineno] + [d.lineno for d in definition.decorator_list])
    function = "".join(lines[first - 1 : definition.end_lineno])
    indent = _indentation(target.code.splitlines()[0]) if target.code else ""
    if indent:
        return textwrap.indent(function, indent)
    imports = "".join(
        "".join(lines[n.lineno - 1 : n.end_lineno]) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
    )
    return f"{imports}\n\n{function}" if imports else function


def to_candidate(reply: str, target: Target, label: str) -> Candidate:
    """The first code block of ``reply`` that fits ``target``, as a candidate labelled ``label``
    (:meth:`Candidate.unusable` when none fits)."""
    code = next((c for c in (fit_to_target(block, target) for block in extract_code(reply)) if c), None)
    return Candidate(label, code, target.replace(code)) if code else Candidate.unusable(label)


class ModelProposer:
    """Greedy plus ``settings.samples`` samples from ``model`` (PIE Best@k), streamed."""

    def __init__(self, model: ChatModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.generated_tokens = 0  # over every reply so far

    def stream(self, target: Target, progress: ProgressFn, cancel: CancelFn) -> Iterator[Candidate]:
        """One candidate per reply, yielded as soon as the reply is complete (the greedy one
        first). Raises Cancelled if ``cancel()`` turns true during generation."""
        total = 1 + self.settings.samples
        replies = self.model.replies(
            optimize_messages(textwrap.dedent(target.code), target.kind),
            num_samples=self.settings.samples,
            temperature=self.settings.temperature,
            max_new_tokens=self.settings.max_new_tokens,
            seed=self.settings.seed,
            should_stop=cancel,
            stop_strings=[CLOSING_FENCE],
        )
        progress(Phase.GENERATING, 0, total)
        for index, reply in enumerate(replies):
            self.generated_tokens += reply.tokens
            progress(Phase.GENERATING, index + 1, total)
            yield to_candidate(reply.text, target, "greedy" if index == 0 else f"sample {index}")

    def propose(self, target: Target, progress: ProgressFn, cancel: CancelFn) -> list[Candidate]:
        """All of :meth:`stream` (:meth:`Candidate.unusable` for a reply without code that fits
        the target). Raises Cancelled."""
        return list(self.stream(target, progress, cancel))
