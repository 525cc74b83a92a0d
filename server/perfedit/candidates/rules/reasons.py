"""Why a rewrite is faster, told from the diff: the constructs of the vocabulary and the reasons.

A :class:`Construct` is a thing code uses that a sentence can name ("set", "deque", "cache"): a
prose pattern and a test of a syntax-tree node. A :class:`Reason` is one kind of change between
two versions of a target (``list membership → set membership``) with the sentence that explains
it; it names the constructs whose use it changes. Every entry of the rule catalogue
(:data:`perfedit.candidates.rules.CATALOGUE`) holds its reason, and :mod:`perfedit.deliver.explain` reads
them from there, for rule and model candidates alike, so that a rewrite has one name and one
table entry.
"""

from __future__ import annotations

import ast
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Construct:
    """A construct of the vocabulary: ``name``, the regular expression ``pattern`` naming it in
    prose, and ``uses(node)``, whether a syntax-tree node uses it."""

    name: str
    pattern: str
    uses: Callable[[ast.AST], bool]


def parse(code: str) -> ast.Module | None:
    """The syntax tree of ``code`` (dedented), or None when it does not parse."""
    try:
        return ast.parse(textwrap.dedent(code))
    except SyntaxError:
        return None


def called(node: ast.AST, *names: str) -> bool:
    """True if ``node`` calls a function or method named one of ``names`` (``f()`` or ``x.f()``)."""
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


BUILTINS = ("sum", "min", "max", "any", "all", "sorted", "map", "filter", "zip", "enumerate")

SET = Construct(
    "set",
    r"\bsets?\b",
    lambda n: isinstance(n, ast.Set | ast.SetComp) or called(n, "set", "frozenset"),
)
DICT = Construct(
    "dict",
    r"\bdict(ionary|ionaries|s)?\b|\bfromkeys\b|\bcounter\b",
    lambda n: (
        isinstance(n, ast.Dict | ast.DictComp)
        or called(
            n, "dict", "fromkeys", "Counter", "defaultdict", "OrderedDict", "setdefault", "get"
        )
    ),
)
LIST = Construct(
    "list", r"\blists?\b", lambda n: isinstance(n, ast.List | ast.ListComp) or called(n, "list")
)
JOIN = Construct("join", r"\bjoin\b", lambda n: called(n, "join"))
CONCATENATION = Construct(
    "concatenation",
    r"concatenat",
    lambda n: isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add),
)
BUILTIN = Construct(
    "built-in",
    r"\bbuilt-?ins?\b|\b(sum|min|max|any|all|map|filter)\(?\)?\b",
    lambda n: called(n, *BUILTINS),
)
SORT = Construct("sort", r"\bsort(s|ed|ing)?\b", lambda n: called(n, "sorted", "sort"))
DEQUE = Construct("deque", r"\bdeque\b", lambda n: called(n, "deque", "popleft", "appendleft"))
CACHE = Construct(
    "cache",
    r"\bcach(e|es|ed|ing)\b|\bmemoi[sz]",
    lambda n: (
        called(n, "cache", "lru_cache")
        or (isinstance(n, ast.Attribute) and n.attr in ("cache", "lru_cache"))
    ),
)
STDIN = Construct(
    "stdin",
    r"\bstdin\b|\bbuffer(ed)?\b|\bsys\.stdin\b",
    lambda n: isinstance(n, ast.Attribute) and n.attr == "stdin",
)
IMPORT = Construct(
    "import", r"\bimports?\b|\bimported\b", lambda n: isinstance(n, ast.Import | ast.ImportFrom)
)
COMPREHENSION = Construct(
    "comprehension",
    r"comprehension|\bgenerator\b",
    lambda n: isinstance(n, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp),
)
SQRT = Construct("sqrt", r"\bsqrt\b|square root", lambda n: called(n, "sqrt", "isqrt"))
BISECT = Construct(
    "binary search",
    r"binary search|\bbisect",
    lambda n: called(n, "bisect", "bisect_left", "bisect_right", "insort"),
)
HEAP = Construct(
    "heap",
    r"\bheaps?\b|\bheapq\b|priority queue",
    lambda n: called(n, "heappush", "heappop", "heapify", "nlargest", "nsmallest"),
)


def in_loop(tree: ast.AST) -> list[ast.AST]:
    """Nodes of ``tree`` evaluated once per iteration: inside a for/while loop's body or a
    while loop's test, or a comprehension's element and conditions."""
    inside: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For | ast.While | ast.AsyncFor):
            for child in node.body:
                inside += ast.walk(child)
            if isinstance(node, ast.While):
                inside += ast.walk(node.test)
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
            kind = _kind(node.value)
            if kind in ("set", "dict", "list"):
                kinds[node.targets[0].id] = kind
    return kinds


def _kind(node: ast.AST) -> str:
    return (
        "set"
        if SET.uses(node)
        else "dict"
        if DICT.uses(node)
        else "list"
        if LIST.uses(node) or isinstance(node, ast.Tuple)
        else "other"
    )


def _membership(tree: ast.AST, nodes: list[ast.AST] | None = None) -> Counter[str]:
    """Membership tests (``in``/``not in``) of ``tree`` (or of ``nodes``) by the container kind
    tested: "list", "set", "dict" or "other"."""
    bound = _bound(tree)
    found: Counter[str] = Counter()
    for node in ast.walk(tree) if nodes is None else nodes:
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    found[
                        bound.get(right.id, "other")
                        if isinstance(right, ast.Name)
                        else _kind(right)
                    ] += 1
    return found


def _count(nodes: list[ast.AST], test: Callable[[ast.AST], bool]) -> int:
    return sum(1 for node in nodes if test(node))


def _names_called(nodes: list[ast.AST], names: tuple[str, ...]) -> Counter[str]:
    return Counter(
        n.func.id if isinstance(n.func, ast.Name) else n.func.attr  # type: ignore[attr-defined]
        for n in nodes
        if called(n, *names)
    )


def _is_range_len(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and called(node, "range")
        and bool(node.args)
        and called(node.args[0], "len")
    )


def _imported(nodes: list[ast.AST]) -> set[str]:
    return {a.name for n in nodes if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}


class Diff:
    """Two parsed versions of a target's code, ``old`` and ``new``, with the analyses the reasons
    share (each computed once)."""

    def __init__(self, old: ast.Module, new: ast.Module) -> None:
        self.old, self.new = old, new

    @cached_property
    def old_nodes(self) -> list[ast.AST]:
        return list(ast.walk(self.old))

    @cached_property
    def new_nodes(self) -> list[ast.AST]:
        return list(ast.walk(self.new))

    @cached_property
    def old_loop(self) -> list[ast.AST]:
        return in_loop(self.old)

    @cached_property
    def new_loop(self) -> list[ast.AST]:
        return in_loop(self.new)

    @cached_property
    def old_members(self) -> Counter[str]:
        return _membership(self.old)

    @cached_property
    def new_members(self) -> Counter[str]:
        return _membership(self.new)

    def gained(self, test: Callable[[ast.AST], bool]) -> bool:
        """True if more nodes of ``new`` than of ``old`` pass ``test``."""
        return _count(self.new_nodes, test) > _count(self.old_nodes, test)

    def lost(self, test: Callable[[ast.AST], bool]) -> bool:
        """True if fewer nodes of ``new`` than of ``old`` pass ``test``."""
        return _count(self.new_nodes, test) < _count(self.old_nodes, test)

    def loops(self, tree: ast.AST) -> int:
        nodes = self.old_nodes if tree is self.old else self.new_nodes
        return _count(nodes, lambda n: isinstance(n, ast.For | ast.While))


@dataclass(frozen=True)
class Reason:
    """Why one kind of change is faster: ``explain(diff)`` is the sentence for a :class:`Diff`
    that shows the change (with the complexity before and after when it is clear from the code),
    else None; ``constructs`` are those whose use the change alters (the vocabulary that
    :func:`perfedit.deliver.explain.agrees` checks a model's sentence against)."""

    explain: Callable[[Diff], str | None]
    constructs: tuple[Construct, ...]


def when(sentence: str, test: Callable[[Diff], bool]) -> Callable[[Diff], str | None]:
    """``explain`` for a :class:`Reason` whose sentence is fixed: ``sentence`` when ``test(diff)``."""
    return lambda diff: sentence if test(diff) else None


def gains_call(*names: str) -> Callable[[Diff], bool]:
    """A test for :func:`when`: the new version calls one of ``names`` more often."""
    return lambda diff: diff.gained(lambda n: called(n, *names))


def _hashed_membership(diff: Diff) -> str | None:
    old, new = diff.old_members, diff.new_members
    if not (old["list"] > new["list"] and new["set"] + new["dict"] > old["set"] + old["dict"]):
        return None
    kind = "set" if new["set"] > old["set"] else "dict"
    quadratic = (
        " Done once per item of a loop, that makes the pass O(n) instead of O(n²)."
        if _membership(diff.old, diff.old_loop)["list"]
        else ""
    )
    return f"Membership tests now look up a {kind} (a hash lookup, O(1) on average) instead of scanning a list (O(n)).{quadratic}"


MEMBERSHIP = Reason(_hashed_membership, (SET, DICT, LIST))

HOISTED_SET = Reason(
    when(
        "The collection is turned into a set once before the loop, so each membership test is a hash lookup (O(1) on average) instead of a scan (O(n)).",
        lambda d: d.new_members["set"] > d.old_members["set"],
    ),
    (SET, LIST),
)


def _deduplicated(diff: Diff) -> str | None:
    gained = _names_called(diff.new_nodes, ("fromkeys", "set")) - _names_called(
        diff.old_nodes, ("fromkeys", "set")
    )
    if _hashed_membership(diff) is not None:
        return None  # told as membership
    if not (
        diff.old_members["list"] > diff.new_members["list"]
        and _membership(diff.old, diff.old_loop)["list"]
        and gained
    ):
        return None
    name = "dict.fromkeys" if _names_called(diff.new_nodes, ("fromkeys",)) else "set"
    return (
        f"Duplicates are dropped by {name} in one C-level pass with hashing (O(n)) instead of "
        "testing each item against a growing list (O(n²))."
    )


DEDUPLICATION = Reason(_deduplicated, (DICT, SET, LIST))


def _joined(diff: Diff) -> bool:
    return _count(diff.old_loop, CONCATENATION.uses) > _count(
        diff.new_loop, CONCATENATION.uses
    ) and diff.gained(JOIN.uses)


JOINED = Reason(
    when(
        "The text is built once with str.join instead of by += in a loop, which can copy the growing string on every step (O(n²) in the worst case, O(n) with join).",
        _joined,
    ),
    (JOIN, CONCATENATION),
)


def _subscripted_sort(nodes: list[ast.AST]) -> bool:
    return any(isinstance(n, ast.Subscript) and SORT.uses(n.value) for n in nodes)


SORT_TO_PICK = Reason(
    when(
        "min/max find the element in one pass (O(n)) instead of sorting everything first (O(n log n)).",
        lambda d: (
            _subscripted_sort(d.old_nodes)
            and not _subscripted_sort(d.new_nodes)
            and not d.gained(HEAP.uses)
        ),
    ),
    (SORT, BUILTIN),
)
DEQUE_ENDS = Reason(
    when(
        "collections.deque adds and removes at the front in O(1); list.pop(0)/insert(0, x) shift every element (O(n)).",
        lambda d: d.gained(DEQUE.uses),
    ),
    (DEQUE, LIST),
)
CACHED = Reason(
    when(
        "Results are cached, so each argument is computed once instead of again on every recursive call (exponential → linear for a recursion like Fibonacci's).",
        lambda d: d.gained(CACHE.uses),
    ),
    (CACHE,),
)


def _loop_to_builtin(diff: Diff) -> str | None:
    names = (*BUILTINS, "count", "prod")
    gained = sorted(
        (_names_called(diff.new_nodes, names) - _names_called(diff.old_nodes, names)).keys()
    )
    if not (diff.loops(diff.old) > diff.loops(diff.new) and gained):
        return None
    names = ", ".join(f"{n}()" for n in gained)  # type: ignore[assignment]
    return (
        f"A Python-level loop is replaced by {names}, which loop(s) in C with no per-item bytecode."
    )


LOOP_TO_BUILTIN = Reason(_loop_to_builtin, (BUILTIN,))
BUFFERED_INPUT = Reason(
    when(
        "Input is read through buffered sys.stdin instead of one input() call per line.",
        lambda d: d.gained(STDIN.uses) and bool(_names_called(d.old_nodes, ("input",))),
    ),
    (STDIN,),
)


def _imports_dropped(diff: Diff) -> str | None:
    dropped = sorted(_imported(diff.old_nodes) - _imported(diff.new_nodes))
    if not dropped:
        return None
    return f"The unneeded import of {', '.join(dropped)} is gone: each import costs its module's loading time on every run."


IMPORTS_DROPPED = Reason(_imports_dropped, (IMPORT,))
SQUARE_ROOT = Reason(
    when(
        "math.sqrt/isqrt compute the root in one C call instead of a general power operation.",
        lambda d: d.gained(SQRT.uses),
    ),
    (SQRT,),
)
NO_EVAL = Reason(
    when(
        "The input is parsed with int() instead of eval(), which compiles and runs it as code.",
        lambda d: (
            bool(_names_called(d.old_nodes, ("eval",)))
            and not _names_called(d.new_nodes, ("eval",))
        ),
    ),
    (),
)


def _bound_method(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.targets[0], ast.Name)
    )


HOISTED_LOOKUP = Reason(
    when(
        "A method or module attribute is looked up once before the loop instead of on every iteration.",
        lambda d: d.gained(_bound_method),
    ),
    (),
)
DIRECT_ITERATION = Reason(
    when(
        "The loop iterates over the items directly instead of indexing by position.",
        lambda d: d.lost(_is_range_len),
    ),
    (),
)
COMPREHENSION_BUILT = Reason(
    when(
        "The collection is built by a comprehension, which runs its loop with specialised bytecode and no method lookup per item.",
        lambda d: d.gained(COMPREHENSION.uses) and d.loops(d.old) > d.loops(d.new),
    ),
    (COMPREHENSION, LIST),
)


def _calls(*names: str) -> Callable[[ast.AST], bool]:
    return lambda n: called(n, *names)


COUNTED = Reason(
    when(
        "collections.Counter counts every item in one C-level pass (O(n)) instead of a count or a branch per item (O(n) per count: O(n²) in a loop).",
        gains_call("Counter"),
    ),
    (DICT,),
)
DICT_GET = Reason(
    when(
        "One dict lookup (get/setdefault) replaces a membership test followed by indexing.",
        gains_call("get", "setdefault"),
    ),
    (DICT,),
)
HEAPED = Reason(
    when(
        "heapq.nsmallest/nlargest keep only k items on a heap (O(n log k)) instead of sorting everything (O(n log n)).",
        lambda d: d.gained(HEAP.uses),
    ),
    (HEAP, SORT),
)
BISECTED = Reason(
    when(
        "bisect.insort finds the place by binary search (O(log n)) and inserts once instead of sorting the whole list again after each append.",
        lambda d: d.gained(BISECT.uses),
    ),
    (BISECT, SORT),
)
NO_VIEW = Reason(
    when(
        "The dict is iterated or tested directly, without a view object, a tuple per item or a second lookup per key.",
        lambda d: (
            d.lost(_calls("keys"))
            or d.lost(_calls("items"))
            or (d.gained(_calls("items")) and d.lost(lambda n: isinstance(n, ast.Subscript)))
        ),
    ),
    (DICT,),
)
LOOP_TO_MEMBERSHIP = Reason(
    when(
        "The search is one `in` test, which compares in C, instead of a Python-level loop over the items.",
        lambda d: sum(d.new_members.values()) > sum(d.old_members.values()),
    ),
    (BUILTIN,),
)
MODULAR_POW = Reason(
    when(
        "Three-argument pow reduces modulo m at every step (fast modular exponentiation) instead of computing the huge power first.",
        lambda d: d.gained(lambda n: called(n, "pow") and len(n.args) == 3),  # type: ignore[attr-defined]
    ),
    (),
)
MATH_CALL = Reason(
    when(
        "One C function (math.comb, math.gcd, int.bit_count or divmod) replaces arithmetic done step by step in Python.",
        gains_call("comb", "gcd", "bit_count", "divmod"),
    ),
    (),
)


def _any_of_list(node: ast.AST) -> bool:
    return called(node, "any", "all") and isinstance(node.args[0], ast.ListComp)  # type: ignore[attr-defined]


SHORT_CIRCUIT = Reason(
    when(
        "any()/all() now stop at the first decisive item instead of building the whole list first.",
        lambda d: d.lost(_any_of_list),
    ),
    (BUILTIN, LIST, COMPREHENSION),
)
OPERATOR_FUNCTION = Reason(
    when(
        "A C function from the operator module replaces a lambda, so no Python function is called per item.",
        lambda d: (
            d.lost(lambda n: isinstance(n, ast.Lambda))
            and d.gained(
                lambda n: (
                    isinstance(n, ast.Attribute)
                    and isinstance(n.value, ast.Name)
                    and n.value.id == "operator"
                )
            )
        ),
    ),
    (),
)


def _getitem(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "__getitem__"


def _slice_store(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.slice, ast.Slice)
    )


BOUND_LOOKUP = Reason(
    when(
        "The table's own __getitem__, a C method, looks up each item instead of a lambda or a comprehension's bytecode, so no Python-level step runs per item.",
        lambda d: d.gained(_getitem),
    ),
    (DICT, COMPREHENSION),
)
SLICE_FILLED = Reason(
    when(
        "The list is allocated once at its final size and filled by strided slice assignments (one C-level copy per slot) instead of one or two method calls per item in a Python loop.",
        lambda d: d.gained(_slice_store) and d.loops(d.new) < d.loops(d.old),
    ),
    (LIST,),
)


def _reverse_keyword(node: ast.AST) -> bool:
    return isinstance(node, ast.keyword) and node.arg == "reverse"


SORT_ARGUMENTS = Reason(
    when(
        "Sorting with reverse=True replaces a negated key or a second pass that reversed the result.",
        lambda d: d.gained(_reverse_keyword),
    ),
    (SORT,),
)


def _copies(node: ast.AST) -> bool:
    return called(node, "list", "tuple", "sorted") or COMPREHENSION.uses(node)


NO_COPY = Reason(
    when(
        "An intermediate copy of the items is gone: the data is passed on directly instead of first being copied into a new collection.",
        lambda d: d.lost(_copies),
    ),
    (LIST,),
)
CONDITIONAL = Reason(
    when(
        "A conditional expression compares the two values directly instead of calling min()/max() each time.",
        lambda d: d.lost(_calls("min", "max")) and d.gained(lambda n: isinstance(n, ast.IfExp)),
    ),
    (BUILTIN,),
)
MEMBERSHIP_LITERAL = Reason(
    when(
        "One set membership test (a hash lookup) replaces a chain of == comparisons.",
        lambda d: (
            d.lost(lambda n: isinstance(n, ast.BoolOp))
            and d.new_members["set"] > d.old_members["set"]
        ),
    ),
    (SET,),
)
STRING_METHOD = Reason(
    when(
        "A single string method call or `in` test replaces a slice copy, a chain of calls or a search for the position.",
        lambda d: (
            d.gained(_calls("startswith", "endswith"))
            or d.lost(_calls("find", "count", "startswith", "endswith"))
        ),
    ),
    (),
)
INTEGER_DIVISION = Reason(
    when(
        "Integer division (//) replaces a float division and math.floor/ceil: no float conversion, and exact for large integers.",
        lambda d: d.lost(_calls("floor", "ceil")),
    ),
    (),
)
SQUARED = Reason(
    when(
        "x * x replaces x ** 2: one multiplication instead of the general power routine.",
        lambda d: d.lost(lambda n: isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)),
    ),
    (),
)
LITERAL_BUILT = Reason(
    when(
        "A literal (or [c] * n, or a negative index) replaces a call or a per-item loop that built the same value.",
        lambda d: (
            d.lost(_calls("list", "dict", "tuple", "len"))
            or d.lost(lambda n: isinstance(n, ast.ListComp))
        ),
    ),
    (LIST,),
)


def _hoistable(node: ast.AST) -> bool:
    return called(node, "len", "max", "min", "sum", "sorted", "set", "frozenset", "list", "tuple")


HOISTED_CALL = Reason(
    when(
        "A call whose result the loop never changes (len, max, sorted, set, …) now runs once before the loop instead of on every iteration.",
        lambda d: _count(d.new_loop, _hoistable) < _count(d.old_loop, _hoistable),
    ),
    (BUILTIN,),
)
RANGE_LOOP = Reason(
    when(
        "A for loop over range() replaces the while loop's compare-and-increment, which ran as Python bytecode on every iteration.",
        lambda d: d.lost(lambda n: isinstance(n, ast.While)) and d.gained(_calls("range")),
    ),
    (),
)
EXTENDED = Reason(
    when(
        "list.extend adds all items in one call instead of one append call per item.",
        gains_call("extend"),
    ),
    (),
)
ITERTOOLS = Reason(
    when(
        "itertools does the iteration in C (a running total with accumulate, the first k items with islice) instead of a Python loop or a full list.",
        gains_call("accumulate", "islice"),
    ),
    (),
)
EARLY_EXIT = Reason(
    when(
        "any()/all() stop at the first item that decides the answer, where the loop went on testing every item.",
        lambda d: d.loops(d.old) > d.loops(d.new) and d.gained(_calls("any", "all")),
    ),
    (BUILTIN,),
)
APPENDED = Reason(
    when(
        "list.append adds the item in place instead of building a one-item list (and, for xs = xs + [x], copying xs).",
        gains_call("append"),
    ),
    (LIST,),
)
LOCAL_NAMES = Reason(
    when(
        "The module-level code runs inside a function, where its variables are fast local names instead of dictionary lookups of globals.",
        lambda d: d.gained(lambda n: isinstance(n, ast.FunctionDef) and n.name == "main"),
    ),
    (),
)
ONE_WRITE = Reason(
    when(
        "All lines are written by one sys.stdout.write call instead of one print call per line.",
        lambda d: d.gained(_calls("write")),
    ),
    (),
)
UNBOUNDED_CACHE = Reason(
    when(
        "The cache is unbounded (functools.cache): no result is evicted and computed again, and no LRU bookkeeping is done.",
        lambda d: d.lost(
            lambda n: isinstance(n, ast.Name | ast.Attribute) and "lru_cache" in ast.dump(n)
        ),
    ),
    (CACHE,),
)
TRANSLATED = Reason(
    when(
        "str.translate maps the whole string in one C-level pass, with the replacement computed once per distinct character, instead of a Python expression evaluated for every character.",
        gains_call("translate"),
    ),
    (JOIN,),
)
PREPEND_JOINED = Reason(
    when(
        "The pieces are collected in a list and joined once, instead of prepended to the string on every step, which copied the whole string each time (O(n²) in all, O(n) with join).",
        lambda d: d.gained(_calls("reversed")) and d.gained(JOIN.uses),
    ),
    (JOIN, CONCATENATION),
)
FIRST_EXTREMUM = Reason(
    when(
        "max/min with key= return the first item with the largest/smallest key in one C-level pass, instead of finding the extreme key and then searching for the first item that has it (two passes, the key computed twice per item).",
        lambda d: d.gained(
            lambda n: called(n, "max", "min") and any(k.arg == "key" for k in n.keywords)  # type: ignore[attr-defined]
        ),
    ),
    (BUILTIN,),
)
HOISTED_ARITHMETIC = Reason(
    when(
        "Arithmetic on values the loop never changes is computed once before the loop instead of on every iteration.",
        lambda d: (
            _count(d.new_loop, lambda n: isinstance(n, ast.BinOp))
            < _count(d.old_loop, lambda n: isinstance(n, ast.BinOp))
        ),
    ),
    (),
)
