"""Explanations: the measured facts about a suggestion, and the reason it is faster.

The reason is grounded in the diff (:func:`grounded_reason`): rules over the syntax trees name
the construct that changed (:func:`changes`), and the model-written sentence
(:func:`perfedit.candidates.ask.why_faster`, PIE appendix C style) is kept only when it agrees with them.

The facts are computed, never generated: speedup with its 95% CI and p-value, the tests run,
whether (and on how many inputs) differential testing checked it, peak memory before and
after, lines changed, and the verdict's notes (what the tests cannot tell).
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from perfedit.formats.suites import TestSuite
from perfedit.verify.differential import DifferentialCheck
from perfedit.verify.validate import Baseline, Verdict


def _mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def timed_quantity(suite: TestSuite) -> str:
    """What a run's time measures for ``suite``'s kind of tests."""
    if suite.kind == "cases":
        return "CPU time of the program, interpreter start-up excluded"
    if suite.kind == "differential":
        return "time of one call on each differential testing input, import excluded"
    return "time per test call, pytest start-up excluded"


def differential_fact(check: DifferentialCheck) -> str:
    """The sentence that marks a suggestion checked by differential testing (lower confidence
    when the tests are thin)."""
    widened = f", {check.widened} of kinds your tests do not use" if check.widened else ""
    return (
        f"Checked by differential testing on {check.inputs} inputs ({check.recorded} recorded from your tests, "
        f"{check.generated} generated{widened}): same return values, exceptions and argument changes as the original"
        + (
            "; lower confidence than a full test suite — add tests to be sure."
            if check.thin
            else "."
        )
    )


def facts(
    verdict: Verdict,
    baseline: Baseline,
    suite: TestSuite,
    changed_lines: int | None = None,
    changed_lines_before: int | None = None,
) -> list[str]:
    """The measured facts of a verdict against ``baseline``, one sentence each (times in ms,
    memory in MiB): the one rendering the CLI and the language server show. The speedup only
    for a timed verdict; the diff size only when ``changed_lines`` is given
    (``changed_lines_before``: its size before minimisation); the verdict's notes last."""
    c = verdict.comparison
    timed = []
    if c is not None:
        speedup = (
            f"{c.speedup:.2f}x faster"
            if verdict.verdict == "faster"
            else f"Speedup {c.speedup:.2f}x"
        )
        timed = [
            f"{speedup} (95% CI {c.ci95[0]:.2f}x–{c.ci95[1]:.2f}x, one-sided Yuen's trimmed-mean test "
            f"p={c.p_value:.2g} against alpha {c.alpha:.2g}, {c.runs} timed runs per side): "
            f"{c.baseline_s * 1e3:.3f} ms → {c.candidate_s * 1e3:.3f} ms per run ({timed_quantity(suite)})."
        ]
    passed = "all " if verdict.tests_passed == verdict.tests_total else ""
    candidate_rss = _mib(verdict.peak_rss_bytes) if verdict.peak_rss_bytes else "not measured"
    diff = (
        []
        if changed_lines is None
        else [
            f"{changed_lines} line(s) changed"
            + (
                f" (minimised from {changed_lines_before}: the rest was not needed for the speedup)."
                if changed_lines_before not in (None, changed_lines)
                else "."
            )
        ]
    )
    return [
        *timed,
        *(
            [
                f"Passes {passed}{verdict.tests_passed} of {verdict.tests_total} tests ({suite.describe()})."
            ]
            if suite.size
            else []
        ),
        *([differential_fact(verdict.differential)] if verdict.differential else []),
        f"Peak memory {_mib(baseline.peak_rss_bytes)} → {candidate_rss}.",
        *diff,
        *verdict.notes,
    ]


def summary(name: str, verdict: Verdict) -> str:
    """One line for a faster ``verdict`` of the target ``name``: speedup with its 95% CI, the
    tests passed and whether differential testing checked it (for notifications)."""
    c = verdict.comparison
    assert c is not None, "a faster verdict is always timed"
    low, high = c.ci95
    checked = verdict.differential
    evidence = f"{verdict.tests_passed} tests pass"
    if checked:
        evidence += f", checked by differential testing on {checked.inputs} inputs"
    return (
        f"perfedit: {name} is {c.speedup:.1f}x faster (95% CI {low:.1f}x–{high:.1f}x), {evidence}"
    )


# --- The reason, grounded in the diff -----------------------------------------------------------
# A small model's "why" is often false (both README examples got "sets are implemented as hash
# tables, which are generally faster than dictionaries"). The reason shown is therefore built from
# what the diff changed (rules over the two syntax trees, below), and the model's sentence is kept
# only when it agrees with that: it names a construct whose use changed and none absent from the code.


@dataclass(frozen=True)
class Change:
    """One construct the faster version changed: ``name`` ("list membership → set membership")
    and the ``sentence`` that explains it (with the complexity before and after when it is clear
    from the code)."""

    name: str
    sentence: str


_BUILTINS = ("sum", "min", "max", "any", "all", "sorted", "map", "filter", "zip", "enumerate")

#: Construct → (pattern naming it in prose, test of whether a syntax-tree node uses it).
_CONSTRUCTS: dict[str, tuple[str, Callable[[ast.AST], bool]]] = {}


def _called(node: ast.AST, *names: str) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )
    return name in names


def _construct(
    name: str, pattern: str
) -> Callable[[Callable[[ast.AST], bool]], Callable[[ast.AST], bool]]:
    def register(test: Callable[[ast.AST], bool]) -> Callable[[ast.AST], bool]:
        _CONSTRUCTS[name] = (pattern, test)
        return test

    return register


@_construct("set", r"\bsets?\b")
def _is_set(node: ast.AST) -> bool:
    return isinstance(node, ast.Set | ast.SetComp) or _called(node, "set", "frozenset")


@_construct("dict", r"\bdict(ionary|ionaries|s)?\b|\bfromkeys\b|\bcounter\b")
def _is_dict(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict | ast.DictComp) or _called(
        node, "dict", "fromkeys", "Counter", "defaultdict", "OrderedDict"
    )


@_construct("list", r"\blists?\b")
def _is_list(node: ast.AST) -> bool:
    return isinstance(node, ast.List | ast.ListComp) or _called(node, "list")


@_construct("join", r"\bjoin\b")
def _is_join(node: ast.AST) -> bool:
    return _called(node, "join")


@_construct("concatenation", r"concatenat")
def _is_concatenation(node: ast.AST) -> bool:
    return isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add)


@_construct("built-in", r"\bbuilt-?ins?\b|\b(sum|min|max|any|all|map|filter)\(?\)?\b")
def _is_builtin(node: ast.AST) -> bool:
    return _called(node, *_BUILTINS)


@_construct("sort", r"\bsort(s|ed|ing)?\b")
def _is_sort(node: ast.AST) -> bool:
    return _called(node, "sorted", "sort")


@_construct("deque", r"\bdeque\b")
def _is_deque(node: ast.AST) -> bool:
    return _called(node, "deque", "popleft", "appendleft")


@_construct("cache", r"\bcach(e|es|ed|ing)\b|\bmemoi[sz]")
def _is_cache(node: ast.AST) -> bool:
    return _called(node, "cache", "lru_cache") or (
        isinstance(node, ast.Attribute) and node.attr in ("cache", "lru_cache")
    )


@_construct("stdin", r"\bstdin\b|\bbuffer(ed)?\b|\bsys\.stdin\b")
def _is_stdin(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "stdin"


@_construct("import", r"\bimports?\b|\bimported\b")
def _is_import(node: ast.AST) -> bool:
    return isinstance(node, ast.Import | ast.ImportFrom)


@_construct("comprehension", r"comprehension|\bgenerator\b")
def _is_comprehension(node: ast.AST) -> bool:
    return isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp)


@_construct("sqrt", r"\bsqrt\b|square root")
def _is_sqrt(node: ast.AST) -> bool:
    return _called(node, "sqrt", "isqrt")


@_construct("binary search", r"binary search|\bbisect")
def _is_bisect(node: ast.AST) -> bool:
    return _called(node, "bisect", "bisect_left", "bisect_right", "insort")


@_construct("heap", r"\bheaps?\b|\bheapq\b|priority queue")
def _is_heap(node: ast.AST) -> bool:
    return _called(node, "heappush", "heappop", "heapify", "nlargest", "nsmallest")


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None


def construct_counts(code: str) -> Counter[str]:
    """How many syntax-tree nodes of ``code`` use each construct of the vocabulary (set, dict,
    list, join, concatenation, built-in, sort, deque, cache, stdin, import, comprehension, ...)."""
    tree = _parse(code)
    counts: Counter[str] = Counter()
    for node in ast.walk(tree) if tree else ():
        counts.update(name for name, (_, test) in _CONSTRUCTS.items() if test(node))
    return counts


def _in_loop(tree: ast.AST) -> list[ast.AST]:
    """Nodes inside a for/while loop or a comprehension of ``tree``."""
    inside: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.While | ast.AsyncFor):
            for child in node.body:
                inside += ast.walk(child)
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            inside += ast.walk(node.elt if not isinstance(node, ast.DictComp) else node.key)
            inside += [n for g in node.generators for cond in g.ifs for n in ast.walk(cond)]
    return inside


def _bound(tree: ast.AST) -> dict[str, str]:
    """Name → "list" / "set" / "dict" for names assigned such a container in ``tree`` (last wins)."""
    kinds: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            value = node.value
            kind = (
                "set"
                if _is_set(value)
                else "dict"
                if _is_dict(value)
                else "list"
                if _is_list(value)
                else None
            )
            if kind:
                kinds[node.targets[0].id] = kind
    return kinds


def _membership(tree: ast.AST, nodes: list[ast.AST] | None = None) -> Counter[str]:
    """Membership tests (``in``/``not in``) of ``tree`` (or of ``nodes``) by the container kind
    tested: "list", "set", "dict" or "other"."""
    bound = _bound(tree)
    found: Counter[str] = Counter()
    for node in ast.walk(tree) if nodes is None else nodes:
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if isinstance(right, ast.Name):
                        found[bound.get(right.id, "other")] += 1
                    else:
                        found[
                            "set"
                            if _is_set(right)
                            else "dict"
                            if _is_dict(right)
                            else "list"
                            if isinstance(right, ast.List | ast.Tuple)
                            else "other"
                        ] += 1
    return found


def _count(
    tree: ast.AST, test: Callable[[ast.AST], bool], nodes: list[ast.AST] | None = None
) -> int:
    return sum(1 for node in (ast.walk(tree) if nodes is None else nodes) if test(node))


def _loops(tree: ast.AST) -> int:
    return _count(tree, lambda n: isinstance(n, ast.For | ast.While))


def _names_called(tree: ast.AST, names: tuple[str, ...]) -> Counter[str]:
    return Counter(
        n.func.id if isinstance(n.func, ast.Name) else n.func.attr  # type: ignore[attr-defined]
        for n in ast.walk(tree)
        if _called(n, *names)
    )


def _is_range_len(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and _called(node, "range")
        and bool(node.args)
        and _called(node.args[0], "len")
    )


def changes(original: str, faster: str) -> list[Change]:
    """The constructs ``faster`` changed relative to ``original`` (two versions of the target's
    code), by rules over their syntax trees, most important first: list → set/dict membership,
    de-duplication by dict/set, concatenation → join, loop → built-ins, sort → min/max, list
    front operations → deque, caching, buffered stdin, removed imports, math.sqrt/isqrt, hoisted
    method lookups and direct iteration. Empty when neither parses or no rule applies."""
    old, new = _parse(original), _parse(faster)
    if old is None or new is None:
        return []
    return _structure_changes(old, new) + _call_changes(old, new)


def _structure_changes(old: ast.Module, new: ast.Module) -> list[Change]:
    """The data structures and algorithms that changed: membership, de-duplication,
    concatenation, sorting, deque, caching."""
    found: list[Change] = []
    old_loop, new_loop = _in_loop(old), _in_loop(new)
    old_members, new_members = _membership(old), _membership(new)
    list_scans_in_loop = _membership(old, old_loop)["list"]
    hashed_gain = (new_members["set"] + new_members["dict"]) - (
        old_members["set"] + old_members["dict"]
    )
    if old_members["list"] > new_members["list"] and hashed_gain > 0:
        kind = "set" if new_members["set"] > old_members["set"] else "dict"
        quadratic = (
            " Done once per item of a loop, that makes the pass O(n) instead of O(n²)."
            if list_scans_in_loop
            else ""
        )
        found.append(
            Change(
                f"list membership → {kind} membership",
                f"Membership tests now look up a {kind} (a hash lookup, O(1) on average) instead of scanning a list (O(n)).{quadratic}",
            )
        )
    elif (
        old_members["list"] > new_members["list"]
        and list_scans_in_loop
        and (_names_called(new, ("fromkeys", "set")) - _names_called(old, ("fromkeys", "set")))
    ):
        called = "dict.fromkeys" if _names_called(new, ("fromkeys",)) else "set"
        found.append(
            Change(
                f"list membership loop → {called}",
                f"Duplicates are dropped by {called} in one C-level pass with hashing (O(n)) instead of "
                "testing each item against a growing list (O(n²)).",
            )
        )
    old_concat = _count(old, _is_concatenation, old_loop)
    if old_concat > _count(new, _is_concatenation, new_loop) and _count(new, _is_join) > _count(
        old, _is_join
    ):
        found.append(
            Change(
                "repeated concatenation → str.join",
                "The text is built once with str.join instead of by += in a loop, which can copy the growing string on every step (O(n²) in the worst case, O(n) with join).",
            )
        )
    if (
        _names_called(old, ("sorted",))
        and any(isinstance(n, ast.Subscript) and _is_sort(n.value) for n in ast.walk(old))
        and not any(isinstance(n, ast.Subscript) and _is_sort(n.value) for n in ast.walk(new))
    ):
        found.append(
            Change(
                "sort to take one element → min/max",
                "min/max find the element in one pass (O(n)) instead of sorting everything first (O(n log n)).",
            )
        )
    if _count(new, _is_deque) > _count(old, _is_deque):
        found.append(
            Change(
                "list front operations → deque",
                "collections.deque adds and removes at the front in O(1); list.pop(0)/insert(0, x) shift every element (O(n)).",
            )
        )
    if _count(new, _is_cache) > _count(old, _is_cache):
        found.append(
            Change(
                "recursion → cached recursion",
                "Results are cached, so each argument is computed once instead of again on every recursive call (exponential → linear for a recursion like Fibonacci's).",
            )
        )
    return found


def _call_changes(old: ast.Module, new: ast.Module) -> list[Change]:
    """The calls and statements that changed: built-ins for loops, stdin, imports, sqrt, eval,
    hoisted lookups, direct iteration."""
    found: list[Change] = []
    gained_builtins = sorted((_names_called(new, _BUILTINS) - _names_called(old, _BUILTINS)).keys())
    if _loops(old) > _loops(new) and gained_builtins:
        names = ", ".join(f"{n}()" for n in gained_builtins)
        found.append(
            Change(
                "loop → built-in",
                f"A Python-level loop is replaced by {names}, which loop(s) in C with no per-item bytecode.",
            )
        )
    if _count(new, _is_stdin) > _count(old, _is_stdin) and _names_called(old, ("input",)):
        found.append(
            Change(
                "input() → sys.stdin",
                "Input is read through buffered sys.stdin instead of one input() call per line.",
            )
        )
    old_imports = {
        a.name for n in ast.walk(old) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names
    }
    new_imports = {
        a.name for n in ast.walk(new) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names
    }
    if dropped := sorted(old_imports - new_imports):
        found.append(
            Change(
                "import removed",
                f"The unneeded import of {', '.join(dropped)} is gone: each import costs its module's loading time on every run.",
            )
        )
    if _count(new, _is_sqrt) > _count(old, _is_sqrt):
        found.append(
            Change(
                "power → math.sqrt/isqrt",
                "math.sqrt/isqrt compute the root in one C call instead of a general power operation.",
            )
        )
    if _names_called(old, ("eval",)) and not _names_called(new, ("eval",)):
        found.append(
            Change(
                "eval → int",
                "The input is parsed with int() instead of eval(), which compiles and runs it as code.",
            )
        )
    hoisted = [
        n
        for n in ast.walk(new)
        if isinstance(n, ast.Assign)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "append"
    ]
    if hoisted and not any(
        isinstance(n, ast.Assign)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "append"
        for n in ast.walk(old)
    ):
        found.append(
            Change(
                "hoisted method lookup",
                "The .append method is looked up once before the loop instead of on every iteration.",
            )
        )
    if _count(old, _is_range_len) > _count(new, _is_range_len):
        found.append(
            Change(
                "index loop → direct iteration",
                "The loop iterates over the items directly instead of indexing by position.",
            )
        )
    return found


def mentioned(sentence: str) -> set[str]:
    """The constructs of the vocabulary that ``sentence`` names."""
    return {
        name
        for name, (pattern, _) in _CONSTRUCTS.items()
        if re.search(pattern, sentence, re.IGNORECASE)
    }


def agrees(sentence: str, original: str, faster: str) -> bool:
    """True if ``sentence`` (the model's reason) agrees with the diff: it names at least one
    construct whose use changed between ``original`` and ``faster``, and none that neither
    version uses."""
    named = mentioned(sentence)
    before, after = construct_counts(original), construct_counts(faster)
    used = {name for name in _CONSTRUCTS if before[name] or after[name]}
    changed = {name for name in _CONSTRUCTS if before[name] != after[name]}
    return bool(named & changed) and named <= used


def grounded_reason(original: str, faster: str, model_reason: str = "") -> str:
    """Why ``faster`` beats ``original`` (the target's code before and after, minimised diff),
    grounded in the diff (PIE appendix C asks the model, which a small model gets
    wrong): ``model_reason`` when it :func:`agrees` with the diff, else the sentences of
    :func:`changes` (at most two), else "" when no rule names the change and the model's
    sentence does not agree."""
    if model_reason and agrees(model_reason, original, faster):
        return model_reason
    return " ".join(change.sentence for change in changes(original, faster)[:2])


def hot_line_sentence(
    original: str, faster: str, hot_lines: Sequence[tuple[int, float]], kind: str
) -> str:
    """The sentence naming the line whose time fell: the hottest of ``hot_lines`` ((line of
    ``original``, 1-based; seconds) from the profiled test run, or a script's profiled slowest
    case) when the change rewrote it, else "" (the profile says nothing about this change).
    ``kind``: the target's, "function" or "script". SOAP-style profile feedback, in the reason."""
    if not hot_lines:
        return ""
    line, seconds = max(hot_lines, key=lambda item: item[1])
    old_lines = original.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=faster.splitlines(), autojunk=False)
    rewritten = {
        number + 1
        for tag, start, end, _, _ in matcher.get_opcodes()
        if tag != "equal"
        for number in range(start, end)
    }
    if line not in rewritten or not 0 < line <= len(old_lines):
        return ""
    return (
        f"The change rewrote the hottest line in the profiled tests, line {line} of the "
        f"{'function' if kind == 'function' else 'program'} "
        f"(`{old_lines[line - 1].strip()}`, {seconds * 1e3:.2f} ms)."
    )
