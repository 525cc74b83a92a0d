"""Every prompt perfedit sends to a model, written for this project.

* :func:`optimize_messages`: PIE-style few-shot prompting (PIE, section 3.1 "few-shot
  prompting"): slow→fast demonstrations as earlier chat turns, then the target. The built-in
  demonstrations were written for perfedit; retrieval (PIE section 3.1 "dynamic retrieval",
  :mod:`perfedit.candidates.retrieval`) adds the nearest pairs of a pair file and of the cookbook
  (:mod:`perfedit.candidates.cookbook`) after them. One of
  :data:`STRATEGIES` may be added to the request (SBLLM-style diverse optimisation directions).
* :func:`explain_messages`: PIE appendix C style: given the original and the faster version,
  say in a few sentences why the new one is faster.
* :func:`fix_messages` and :func:`optimize_with_test_messages`: PerfCodeGen's execution-feedback
  rounds (Peng et al. 2024, section 2), used by :mod:`perfedit.candidates.refine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfedit.candidates.retrieval import Exemplar
    from perfedit.verify.scaling import Scaling

SYSTEM = (
    "You are an expert Python performance engineer. You rewrite code to run faster while "
    "keeping exactly the same behaviour: same inputs, same outputs, same exceptions. "
    "Reply with the complete rewritten code in one ```python block and nothing else."
)

_DEMO_FUNCTION_SLOW = """\
def count_common(a, b):
    total = 0
    for x in a:
        if x in b:
            total += 1
    return total
"""

_DEMO_FUNCTION_FAST = """\
def count_common(a, b):
    b = set(b)
    return sum(1 for x in a if x in b)
"""

_DEMO_SCRIPT_SLOW = """\
n = int(input())
values = []
for _ in range(n):
    values.append(int(input()))
out = ""
for v in sorted(values):
    out += str(v * v) + "\\n"
print(out, end="")
"""

_DEMO_SCRIPT_FAST = """\
import sys

data = sys.stdin.buffer.read().split()
n = int(data[0])
values = sorted(map(int, data[1 : n + 1]))
sys.stdout.write("".join(f"{v * v}\\n" for v in values))
"""


def fenced(code: str) -> str:
    """``code`` in a python code fence: the form of every code block in the prompts and replies."""
    return f"```python\n{code.rstrip()}\n```"


def _ask(code: str, kind: str) -> str:
    what = "function" if kind == "function" else "program (it reads stdin and writes stdout)"
    keep = (
        "Keep its name and signature."
        if kind == "function"
        else "Keep its input and output format."
    )
    return f"Make this Python {what} faster. {keep}\n\n{fenced(code)}"


#: Distinct optimisation directions, one per group of samples (name → instruction): four
#: strategies, after SBLLM's (Gao et al. 2024) search over distinct optimisation methods.
#: In the order of their measured yield, since the time budget usually ends a job after 4–7
#: replies and so cuts the last groups short: over five 1.5B runs (three on PIE val, two on
#: ENAMEL dev; docs/results.md, "Strategy order"), built-ins gave 7 faster candidates in 179
#: samples, repeated work 2 in 110, I/O 1 in 63 and algorithm none in 227. A target whose
#: measured time grows faster than linear gets :data:`ALGORITHM` first
#: (:func:`perfedit.candidates.ask.sample_plan`).
ALGORITHM = "algorithm"
STRATEGIES: dict[str, str] = {
    "built-ins": "Replace Python-level loops with built-in functions and C-implemented library calls "
    "(sum, min, max, sorted, any, all, str.join, collections, itertools, math).",
    "repeated work": "Avoid repeated work: hoist invariant computations out of loops, cache results, "
    "and do not rebuild or rescan the same data.",
    "I/O": "Make input and output fast: read all input at once (sys.stdin.buffer.read), write the output once, "
    "and drop imports that are not needed.",
    ALGORITHM: "Use a better algorithm or data structure (for example a set or dict for membership tests, "
    "sorting once, a heap, prefix sums) so that the work grows more slowly with the input.",
}


def optimize_messages(
    code: str,
    kind: str,
    exemplars: Sequence[Exemplar] = (),
    strategy: str | None = None,
    hot_lines: Sequence[tuple[int, float]] = (),
    example_input: str = "",
    scaling: Scaling | None = None,
) -> list[dict[str, str]]:
    """Chat messages asking for a faster version of ``code`` (``kind``: "function" or "script").

    The demonstrations are the built-in one of the same kind, then ``exemplars`` (retrieved
    slow→fast pairs, PIE section 3.1 dynamic retrieval): the built-in one first, so that every
    prompt of a kind begins the same and a model primed with it (:func:`perfedit.candidates.ask.prime`)
    starts at the retrieved pairs. ``strategy``
    (a key of :data:`STRATEGIES`) adds that direction to the request. ``hot_lines`` ((line of
    ``code``, seconds) from the profiled test run) show where the tests spend the time (SOAP /
    PerfCodeGen-style execution feedback). ``example_input`` (a script's: one of its test
    inputs, as :func:`perfedit.candidates.model.prompt_input` cuts it) follows the code, so that
    the model keeps the input format it parses. ``scaling`` (the original's measured growth
    with its input size, :mod:`perfedit.verify.scaling`) follows the hot lines; when it is worse than
    linear the request asks for a lower-complexity algorithm.
    """
    demos = [
        (_DEMO_FUNCTION_SLOW, _DEMO_FUNCTION_FAST, kind)
        if kind == "function"
        else (_DEMO_SCRIPT_SLOW, _DEMO_SCRIPT_FAST, kind),
        *((e.slow, e.fast, e.kind) for e in exemplars),
    ]
    messages = [{"role": "system", "content": SYSTEM}]
    for slow, fast, demo_kind in demos:
        messages += [
            {"role": "user", "content": _ask(slow.rstrip(), demo_kind)},
            {"role": "assistant", "content": fenced(fast)},
        ]
    ask = (
        _ask(code, kind)
        + _input_text(example_input)
        + _hot_lines_text(code, hot_lines, "the tests")
        + _scaling_text(scaling)
    )
    if strategy is not None:
        ask = f"{ask}\n\nStrategy: {STRATEGIES[strategy]}"
    return [*messages, {"role": "user", "content": ask}]


def explain_messages(original: str, faster: str) -> list[dict[str, str]]:
    """Chat messages asking why ``faster`` runs faster than ``original`` (PIE appendix C style)."""
    return [
        {
            "role": "system",
            "content": "You are an expert Python performance engineer who explains optimisations briefly and precisely.",
        },
        {
            "role": "user",
            "content": (
                "The second version below was measured to be faster than the first and passes the same tests.\n\n"
                f"Original:\n{fenced(original)}\n\nFaster version:\n{fenced(faster)}\n\n"
                "In at most two sentences of plain prose (no code), explain which change makes it faster "
                "and why (algorithmic complexity, fewer interpreter operations, faster I/O, built-ins)."
            ),
        },
    ]


def fix_messages(code: str, kind: str, test: str, error: str) -> list[dict[str, str]]:
    """PerfCodeGen's correctness round (Peng et al. 2024, section 2): the failing candidate, one
    failing test and its error; reflect and plan, then write the corrected code."""
    what = "function" if kind == "function" else "program"
    return [
        {
            "role": "system",
            "content": SYSTEM.replace(" and nothing else", " after a short reflection"),
        },
        {
            "role": "user",
            "content": (
                f"This faster version of a Python {what} fails a test.\n\n{fenced(code)}\n\n"
                f"Test:\n{test}\n\nError:\n{error}\n\n"
                "First reflect in two or three sentences on what went wrong and how to fix it while "
                "keeping the code fast. Then write the corrected complete code in one ```python block."
            ),
        },
    ]


def _scaling_text(scaling: Scaling | None) -> str:
    if scaling is None:
        return ""
    advice = (
        " That is worse than linear: first look for an algorithm or data structure of lower "
        "complexity, so that the time grows more slowly with the input."
        if scaling.superlinear
        else ""
    )
    return f"\n\nMeasured scaling: {scaling.describe()}.{advice}"


def _input_text(example_input: str) -> str:
    return (
        f"\n\nOne of its test inputs:\n```\n{example_input.rstrip()}\n```" if example_input else ""
    )


def _hot_lines_text(
    code: str, hot_lines: Sequence[tuple[int, float]], where: str = "that test"
) -> str:
    lines = code.splitlines()
    shown = [
        f"line {number} ({seconds * 1e3:.2f} ms): {lines[number - 1].strip()}"
        for number, seconds in sorted(hot_lines, key=lambda item: -item[1])[:5]
        if 0 < number <= len(lines)
    ]
    return (
        f"\n\nWhere the time goes on {where} (line of the code above, time spent):\n"
        + "\n".join(shown)
        if shown
        else ""
    )


def optimize_with_test_messages(
    code: str, kind: str, test: str, seconds: float, hot_lines: Sequence[tuple[int, float]] = ()
) -> list[dict[str, str]]:
    """PerfCodeGen's performance round (section 2): a correct candidate and its most expensive
    test (trimmed-mean time), asking for a version that is faster on inputs like it. With
    ``hot_lines`` ((line number in ``code``, seconds) from a profile of that test; SOAP-style
    execution-profile feedback) the five hottest lines are shown too."""
    what = "function" if kind == "function" else "program"
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                f"This Python {what} is correct.\n\n{fenced(code)}\n\n"
                f"Its most expensive test takes {seconds * 1e3:.2f} ms:\n{test}{_hot_lines_text(code, hot_lines)}\n\n"
                "Rewrite it to run faster on inputs like this one, keeping exactly the same behaviour. "
                f"Reply with the complete code in one ```python block."
            ),
        },
    ]


def retry_messages(
    messages: list[dict[str, str]], reply: str, repeated: str
) -> list[dict[str, str]]:
    """``messages`` of a refinement round whose ``reply`` repeated the earlier candidate
    ``repeated`` (its label), continued with that fact and a request for a version that differs."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": (
                f"That is the same code as an earlier candidate ({repeated}), which was already tested. "
                "Write a different version that changes how the work is done, in one ```python block."
            ),
        },
    ]
