"""The model proposer: best-of-k sampling from a local code model (PIE, section 3.3).

One batched generation yields the greedy reply and ``samples`` replies at ``temperature``;
code is extracted from each reply and fitted to the target's span.
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import TYPE_CHECKING

from perfedit.config import Settings
from perfedit.progress import CancelFn, ProgressFn
from perfedit.prompts import optimize_messages
from perfedit.proposers import Candidate
from perfedit.targets import Target

if TYPE_CHECKING:
    from perfedit.llm import Generation, LocalModel

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


class ModelProposer:
    """Greedy plus ``settings.samples`` samples from ``model`` in one batch (PIE Best@k)."""

    def __init__(self, model: LocalModel, settings: Settings) -> None:
        self.model = model
        self.settings = settings
        self.last_generation: Generation | None = None

    def propose(self, target: Target, progress: ProgressFn, cancel: CancelFn) -> list[Candidate]:
        """One candidate per reply of one batched generation (:meth:`Candidate.unusable` for a
        reply without code that fits the target).

        Raises Cancelled if ``cancel()`` turns true during generation.
        """
        generation = self.model.generate(
            optimize_messages(textwrap.dedent(target.code), target.kind),
            num_samples=self.settings.samples,
            temperature=self.settings.temperature,
            max_new_tokens=self.settings.max_new_tokens,
            seed=self.settings.seed,
            should_stop=cancel,
            on_step=lambda step, total: progress("generating", step, total),
            stop_strings=[CLOSING_FENCE],
        )
        self.last_generation = generation
        candidates = []
        for index, reply in enumerate(generation.texts):
            label = "greedy" if index == 0 else f"sample {index}"
            code = next((c for c in map(lambda b: fit_to_target(b, target), extract_code(reply)) if c), None)
            candidates.append(Candidate(label, code, target.replace(code)) if code else Candidate.unusable(label))
        return candidates
