"""Every prompt perfedit sends to a model, written for this project.

* :func:`optimize_messages`: PIE-style few-shot prompting (PIE, section 3.1 "few-shot
  prompting"): slow→fast demonstrations as earlier chat turns, then the target. The
  demonstrations were written for perfedit; none is taken from a dataset.
* :func:`explain_messages`: PIE appendix C style: given the original and the faster version,
  say in a few sentences why the new one is faster.
* :func:`fix_messages` and :func:`optimize_with_test_messages`: PerfCodeGen's execution-feedback
  rounds (Peng et al. 2024, section 2), used by :mod:`perfedit.refine`.
"""

from __future__ import annotations

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


def optimize_messages(code: str, kind: str) -> list[dict[str, str]]:
    """Chat messages asking for a faster version of ``code`` (``kind``: "function" or "script"),
    with one demonstration of the same kind."""
    slow, fast = (
        (_DEMO_FUNCTION_SLOW, _DEMO_FUNCTION_FAST)
        if kind == "function"
        else (_DEMO_SCRIPT_SLOW, _DEMO_SCRIPT_FAST)
    )
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _ask(slow, kind)},
        {"role": "assistant", "content": fenced(fast)},
        {"role": "user", "content": _ask(code, kind)},
    ]


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


def optimize_with_test_messages(
    code: str, kind: str, test: str, seconds: float
) -> list[dict[str, str]]:
    """PerfCodeGen's performance round (section 2): a correct candidate and its most expensive
    test (trimmed-mean time), asking for a version that is faster on inputs like it."""
    what = "function" if kind == "function" else "program"
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                f"This Python {what} is correct.\n\n{fenced(code)}\n\n"
                f"Its most expensive test takes {seconds * 1e3:.2f} ms:\n{test}\n\n"
                "Rewrite it to run faster on inputs like this one, keeping exactly the same behaviour. "
                f"Reply with the complete code in one ```python block."
            ),
        },
    ]
