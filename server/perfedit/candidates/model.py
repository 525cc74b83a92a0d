"""The model proposer: best-of-k sampling from a code model (PIE, section 3.3).

The greedy reply and ``samples`` replies (:func:`perfedit.candidates.ask.faster_versions`: spread over
distinct strategies and temperatures unless ``strategies`` is off), with the nearest slow→fast
pairs of ``settings.exemplars`` as the prompt's demonstrations when it is set (PIE section 3.1
dynamic retrieval, :mod:`perfedit.candidates.retrieval`), each turned into a candidate as soon as the backend has it complete (code extracted from the
reply and fitted to the target's span), so that the pipeline validates one while the next is
generated.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from perfedit.candidates import Feedback, Proposer, ask
from perfedit.candidates.ask import ModelProvider, extract_code
from perfedit.candidates.compact import restore_docstring
from perfedit.candidates.cookbook import cookbook_index
from perfedit.candidates.fixes import FIXED, fix_prompt
from perfedit.candidates.imports import missing_imports, with_imports
from perfedit.candidates.retrieval import Exemplar, interleaved, pair_index, problems_in
from perfedit.config import Settings
from perfedit.progress import CancelFn, Phase, ProgressFn
from perfedit.targets import FIX, MODEL, Candidate, Target
from perfedit.verify.scaling import Scaling

if TYPE_CHECKING:
    from perfedit.llm import ChatModel


def _indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def fit_to_target(code: str, target: Target) -> str | None:
    """``code`` turned into a replacement for ``target``'s span, or None if it cannot be one.

    A script must parse. For a function, ``code`` must define a function of the target's name;
    it gets the target's docstring back when it has none (:func:`~perfedit.candidates.compact.restore_docstring`:
    compact prompts leave it out); the definition is re-indented to the target's indentation, and for a top-level target the
    block's top-level imports are kept above it, less those the file already makes above the
    target (the span may grow new imports, nothing else).
    """
    code = textwrap.dedent(code).strip("\n") + "\n"
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if target.kind == "script":
        return code
    name = target.name.rsplit(".", 1)[-1]
    code = restore_docstring(code, textwrap.dedent(target.code), name)
    tree = ast.parse(code)
    definition = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name
        ),
        None,
    )
    if definition is None:
        return None
    lines = code.splitlines(keepends=True)
    first = min([definition.lineno] + [d.lineno for d in definition.decorator_list])
    function = "".join(lines[first - 1 : definition.end_lineno])
    indent = _indentation(target.code.splitlines()[0]) if target.code else ""
    if indent:
        return textwrap.indent(function, indent)
    present = _imports_above(target)
    imports = "".join(
        "".join(lines[n.lineno - 1 : n.end_lineno])
        for n in tree.body
        if isinstance(n, ast.Import | ast.ImportFrom) and ast.dump(n) not in present
    )
    return f"{imports}\n\n{function}" if imports else function


def _imports_above(target: Target) -> set[str]:
    """The top-level imports of the file above ``target`` (as :func:`ast.dump` texts): a
    candidate that repeats one needs no second copy."""
    try:
        tree = ast.parse(target.source[: target.start])
    except SyntaxError:
        return set()
    return {ast.dump(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)}


def to_candidate(
    reply: str, target: Target, label: str, tokens: int = 0, origin: str = MODEL
) -> Candidate:
    """The first code block of ``reply`` that fits ``target``, as a candidate labelled ``label``
    (:meth:`Candidate.unusable` when none fits); ``tokens`` were generated for the reply,
    ``origin`` is the candidate's (:attr:`Candidate.origin`).

    A script or top-level function that uses a module or a well-known member of one without
    importing it (:func:`perfedit.candidates.imports.missing_imports`) gets the import, and its label says
    so ("sample 2 (+ import sys)"): a forgotten import line is a small model's commonest way to
    fail every test."""
    code = next(
        (c for c in (fit_to_target(block, target) for block in extract_code(reply)) if c), None
    )
    if not code:
        return Candidate.unusable(label, tokens, origin)
    if not _indentation(code) and (missing := missing_imports(target.replace(code))):
        code = with_imports(code, missing)
        label = f"{label} (+ {'; '.join(missing)})"
    return Candidate(label, code, target.replace(code), tokens, origin)


def exemplars_for(target: Target, settings: Settings) -> list[Exemplar]:
    """The ``settings.exemplars_k`` demonstrations for ``target``'s prompt, of its kind and
    nearest to its code by BM25 (PIE section 3.1 dynamic retrieval), from two sources taken in
    turn: the pair file ``settings.exemplars`` (when set; never a pair of the target's own
    problem, a problem id among its path's folders, nor the target itself) and the cookbook
    (:mod:`perfedit.candidates.cookbook`, with ``settings.cookbook``). None when both are off or empty.
    A relative pair file is taken from the target's project root (the CLI passes an absolute
    one). A source whose file is missing or corrupt is skipped, with one warning."""
    k = settings.exemplars_k
    code = textwrap.dedent(target.code)
    found: list[list[Exemplar]] = []
    if settings.exemplars and k:
        path = Path(settings.exemplars).expanduser()
        if not path.is_absolute():  # from [tool.perfedit]: relative to the target's project
            from perfedit.config import find_project_root

            path = find_project_root(target.path.resolve()) / path
        index = pair_index(path)
        if index is not None:
            found.append(
                index.nearest(code, k, kind=target.kind, exclude_problems=problems_in(target.path))
            )
    if settings.cookbook and k and (cookbook := cookbook_index()) is not None:
        found.append(cookbook.nearest(code, k, kind=target.kind))
    return interleaved(found)[:k]


#: How much of a test input a prompt shows: lines, and characters per line ("…" marks a cut).
INPUT_LINES, INPUT_LINE_CHARS = 8, 120


def prompt_input(target: Target, feedback: Feedback, settings: Settings) -> str:
    """The shortest stdin of the suite's cases (``feedback.suite``), at most
    :data:`INPUT_LINES` lines of :data:`INPUT_LINE_CHARS` characters, for a script's prompt:
    a small model that sees an input keeps the format it parses (without, most PIE samples
    that failed misread it: "not enough values to unpack", "invalid literal for int()").
    Empty for a function, without cases, or with ``settings.input_example`` off."""
    suite = feedback.suite
    if target.kind != "script" or not settings.input_example or suite is None or not suite.cases:
        return ""
    lines = min((case.stdin for case in suite.cases), key=len).splitlines()
    shown = [
        line if len(line) <= INPUT_LINE_CHARS else f"{line[:INPUT_LINE_CHARS]}…"
        for line in lines[:INPUT_LINES]
    ]
    return "\n".join(shown + (["…"] if len(lines) > INPUT_LINES else []))


def prompt_hot_lines(
    feedback: Feedback, settings: Settings
) -> Callable[[], list[tuple[int, float]]]:
    """The target's hot lines for a prompt, ``(line in its code, seconds)``, hottest first, as
    known when the prompt is written (SOAP, Huang et al. 2024, "EffiLearner"; PerfCodeGen, Peng
    et al. 2024, section 2): none with ``settings.profile_feedback`` off; inside a job, the job's
    (``feedback.target_hot_lines``) once known, never waited for — a function's are known at
    once, a script's once its baseline has run and the original was profiled on its slowest
    case, so the replies asked for before that (the greedy one, as a rule) go without; none
    outside a job."""

    def known() -> list[tuple[int, float]]:
        hot = feedback.target_hot_lines
        if not settings.profile_feedback or hot is None or not hot.done():
            return []
        return hot.result()

    return known


def prompt_scaling(feedback: Feedback, settings: Settings) -> Callable[[], Scaling | None]:
    """The original's measured scaling for a prompt (:mod:`perfedit.verify.scaling`), as known when the
    prompt is written: inside a job, the job's (``feedback.target_scaling``) once its baseline
    has run, never waited for; None with ``settings.scaling_feedback`` off or outside a job."""

    def known() -> Scaling | None:
        measured = feedback.target_scaling
        if not settings.scaling_feedback or measured is None or not measured.done():
            return None
        return measured.result()

    return known


def shared_model(settings: Settings) -> ChatModel:
    """The model that ``settings`` names (``model``, ``backend``, ``endpoint``), loaded on first
    use and kept for the life of the process (:func:`perfedit.llm.shared`): every front end, a
    scan's jobs and a Ray node's model host get it here. The backend is imported only then, so
    the language server starts fast. Raises ConfigError, ModelMissing, ModelError."""
    from perfedit.llm import shared

    return shared(settings.model, backend=settings.backend, endpoint=settings.endpoint)


def model_provider(settings: Settings) -> ModelProvider:
    """:func:`shared_model` of ``settings`` as a job's model: nothing is loaded until it is
    called (a job whose rules win, or that fails first, never loads it); picklable."""
    return functools.partial(shared_model, settings)


def model_proposer(model: ModelProvider, settings: Settings) -> Proposer:
    """The :data:`~perfedit.candidates.Proposer` of greedy plus ``settings.samples`` samples from
    ``model()`` (PIE Best@k; the samples over distinct strategies, :func:`perfedit.candidates.ask.sample_plan`),
    with retrieved exemplars (:func:`exemplars_for`), the target's hot lines
    (:func:`prompt_hot_lines`, as known when each group's prompt is written), its measured
    scaling (:func:`prompt_scaling`; worse than linear: the algorithm strategy first) and, for a script,
    one of its test inputs (:func:`prompt_input`, with ``settings.input_example``), loaded on first use: one
    candidate per reply, yielded as soon as the reply is complete (the greedy one first;
    :meth:`Candidate.unusable` for a reply without code that fits the target). Between two
    replies it writes the fixes the job has asked for since (:func:`fixes_asked`), so a fix is
    the reply after the failure is known, before the remaining samples. Raises
    ModelMissing, ModelError, Cancelled."""

    def propose(
        target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
    ) -> Iterator[Candidate]:
        exemplars = exemplars_for(target, settings)
        progress(Phase.LOADING_MODEL)
        total = 1 + settings.samples
        chat = model()
        ask.prime(chat, target.kind)  # the prompt's shared beginning, before the exemplars
        replies = ask.faster_versions(
            chat,
            target,
            settings,
            cancel,
            exemplars,
            prompt_hot_lines(feedback, settings),
            prompt_input(target, feedback, settings),
            prompt_scaling(feedback, settings),
        )
        progress(Phase.GENERATING, 0, total)
        for index, (label, reply) in enumerate(replies):
            progress(Phase.GENERATING, index + 1, total)
            yield to_candidate(reply.text, target, label, reply.tokens)
            yield from fixes_asked(chat, target, feedback, settings, cancel)

    return propose


def fixes_asked(
    chat: ChatModel, target: Target, feedback: Feedback, settings: Settings, cancel: CancelFn
) -> Iterator[Candidate]:
    """The fixes of the failed candidates that the validating side has asked for since the last
    reply (``feedback.fixes``; :mod:`perfedit.candidates.fixes`): for each, ``chat``'s greedy
    reply of at most ``settings.max_new_tokens`` tokens to the correctness round's prompt,
    labelled ``"<label> → fixed"``. None outside a job's stream. Raises Cancelled once
    ``cancel()`` is true while the model writes, ModelError."""
    if feedback.fixes is None or feedback.suite is None:
        return
    for candidate, verdict in feedback.fixes.take():
        reply = ask.refinement_reply(
            chat,
            fix_prompt(target, feedback.suite, candidate, verdict),
            max_new_tokens=settings.max_new_tokens,
            should_stop=cancel,
        )
        label = f"{candidate.label}{FIXED}"
        yield to_candidate(reply.text, target, label, reply.tokens, FIX)
