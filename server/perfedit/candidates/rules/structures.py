"""Rules of the data-structures family: hashing instead of scanning (sets, dicts, Counter),
deque ends, heapq and bisect instead of sorting again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.metadata import ParentNodeProvider

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import (
    EMPTY_LIST,
    LITERAL,
    LoopFold,
    PairRewriter,
    Rewrite,
    Rewriter,
    assigned_in,
    call,
    code_of,
    names_in,
    nodes_of,
    only,
    parse,
    pure,
    transform,
)
from perfedit.candidates.rules.hoist import Hoister

FAMILY = "structures"


class SetMembership(Rewriter):
    """``x in [1, 2, 3]`` → ``x in {1, 2, 3}``: hashing instead of a linear scan."""

    def leave_ComparisonTarget(
        self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        if m.matches(
            updated,
            m.ComparisonTarget(operator=m.In() | m.NotIn(), comparator=m.List() | m.Tuple()),
        ):
            elements = updated.comparator.elements  # type: ignore[attr-defined]
            if elements and all(m.matches(e.value, LITERAL) for e in elements):
                return self._done(updated.with_changes(comparator=cst.Set(elements=elements)))
        return updated


class PopFront(Rewriter):
    """``q.pop(0)`` / ``q.insert(0, x)`` on a list built in the target → ``collections.deque``
    with ``popleft``/``appendleft``: O(1) instead of O(n)."""

    imports = ("collections",)
    _FRONT = m.Call(
        func=m.Attribute(value=m.Name(), attr=m.Name("pop")), args=[m.Arg(m.Integer("0"))]
    )
    _INSERT = m.Call(
        func=m.Attribute(value=m.Name(), attr=m.Name("insert")),
        args=[m.Arg(m.Integer("0")), m.Arg()],
    )

    def __init__(self) -> None:
        super().__init__()
        self.queues: set[str] = set()

    def visit_Module(self, node: cst.Module) -> None:
        self.queues = {
            call.func.value.value  # type: ignore[attr-defined]
            for call in m.findall(node, self._FRONT | self._INSERT)
        }

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if m.matches(updated, self._FRONT):
            return self._done(
                updated.with_changes(
                    func=updated.func.with_changes(attr=cst.Name("popleft")), args=[]
                )
            )
        if m.matches(updated, self._INSERT):
            func = updated.func.with_changes(attr=cst.Name("appendleft"))
            return self._done(
                updated.with_changes(
                    func=func, args=[updated.args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
                )
            )
        return updated

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        names = {t.target.value for t in updated.targets if isinstance(t.target, cst.Name)}
        if names & self.queues and m.matches(updated.value, m.List() | m.Call(func=m.Name("list"))):
            return updated.with_changes(value=call("collections.deque", updated.value))
        return updated


def _set_twin(code: str, kind: str) -> str | None:
    """A list that starts empty, only grows by ``.append(x)`` and is tested with ``in`` (the
    "seen" pattern) → a set beside it, ``NAME_set``, kept in step by ``.add(x)`` and used for the
    tests: O(1) membership instead of a scan of the list. The list stays for every other use
    (returned, iterated, ``len``), so its order is kept. Elements must be hashable, which
    validation checks."""
    wrapper = cst.MetadataWrapper(parse(code))
    parents = wrapper.resolve(ParentNodeProvider)
    module = wrapper.module
    taken = names_in(module)
    lists = {
        a.targets[0].target.value  # type: ignore[attr-defined]
        for a in m.findall(module, EMPTY_LIST)
    }
    plans = [
        plan
        for name in sorted(lists)
        if f"{name}_set" not in taken and (plan := _twin_plan(module, parents, name))
    ]
    if not plans:
        return None
    return module.visit(_TwinWriter(plans)).code


@dataclass
class _TwinPlan:
    """Where :func:`_set_twin` changes the code for one list ``name`` (nodes of the parsed module)."""

    name: str
    inits: list[cst.Assign]  # ``name = []``: ``name_set = set()`` goes after each
    appends: list[cst.Expr]  # ``name.append(x)``: ``name_set.add(x)`` goes after each
    tests: list[cst.ComparisonTarget]  # ``in name`` / ``not in name`` → ``in name_set``


def _twin_plan(
    module: cst.Module, parents: Mapping[cst.CSTNode, cst.CSTNode], name: str
) -> _TwinPlan | None:
    """The plan for ``name``, or None unless every use of it is one the twin keeps true."""
    plan = _TwinPlan(name, [], [], [])
    for node in m.findall(module, m.Name(name)):
        parent = parents[node]
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            continue  # ``obj.name``: another variable
        if isinstance(parent, cst.Arg) and parent.keyword is node:
            continue  # ``f(name=...)``
        grandparent = parents[parent]
        if isinstance(parent, cst.AssignTarget) and isinstance(grandparent, cst.Assign):
            if not m.matches(grandparent, EMPTY_LIST):
                return None  # rebound
            plan.inits.append(grandparent)
        elif isinstance(parent, cst.ComparisonTarget) and isinstance(
            parent.operator, cst.In | cst.NotIn
        ):
            plan.tests.append(parent)
        elif (
            isinstance(parent, cst.Attribute)
            and parent.attr.value == "append"
            and isinstance(grandparent, cst.Call)
            and grandparent.func is parent
            and m.matches(grandparent, m.Call(args=[m.Arg(LITERAL | m.Name(), keyword=None)]))
            and isinstance(statement := parents[grandparent], cst.Expr)
        ):
            plan.appends.append(statement)
        elif not (
            isinstance(parent, cst.Return)
            or isinstance(parent, cst.For | cst.CompFor)
            and parent.iter is node
            or m.matches(grandparent, m.Call(func=m.Name("len"), args=[m.Arg()]))
        ):
            return None  # mutated, aliased, passed on or rebound: the twin could go stale
    return plan if plan.inits and plan.appends and plan.tests else None


class _TwinWriter(cst.CSTTransformer):
    """Applies :class:`_TwinPlan` s: inserts the set's creation and ``.add`` calls after the
    list's, each on a line of its own where the list's was, and points the tests at the set."""

    def __init__(self, plans: list[_TwinPlan]) -> None:
        super().__init__()
        self.after: dict[cst.CSTNode, cst.BaseSmallStatement] = {}
        self.tests: dict[cst.CSTNode, str] = {}
        for plan in plans:
            twin = f"{plan.name}_set"
            for init in plan.inits:
                self.after[init] = cst.Assign([cst.AssignTarget(cst.Name(twin))], call("set"))
            for append in plan.appends:
                value = append.value.args[0].value  # type: ignore[attr-defined]
                self.after[append] = cst.Expr(call(f"{twin}.add", value))
            self.tests.update((test, twin) for test in plan.tests)

    def leave_ComparisonTarget(
        self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        twin = self.tests.get(original)
        return updated.with_changes(comparator=cst.Name(twin)) if twin else updated

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        extra = [self.after[s] for s in original.body if s in self.after]
        if not extra:
            return updated
        if len(original.body) == 1:  # a line of its own
            return cst.FlattenSentinel([updated, cst.SimpleStatementLine(body=extra)])
        return updated.with_changes(body=self._interleave(original.body, updated.body))

    def leave_SimpleStatementSuite(
        self, original: cst.SimpleStatementSuite, updated: cst.SimpleStatementSuite
    ) -> cst.SimpleStatementSuite:
        return updated.with_changes(body=self._interleave(original.body, updated.body))

    def _interleave(
        self,
        original: Sequence[cst.BaseSmallStatement],
        updated: Sequence[cst.BaseSmallStatement],
    ) -> list[cst.BaseSmallStatement]:
        body: list[cst.BaseSmallStatement] = []
        for before, after in zip(original, updated, strict=True):
            body.append(after.with_changes(semicolon=cst.MaybeSentinel.DEFAULT))
            if before in self.after:
                body.append(self.after[before])
        return body


class InvariantMembership(Hoister):
    """``x in xs`` inside a loop, ``xs`` not changed by it → ``xs_set = set(xs)`` once before the
    loop and ``x in xs_set``: O(1) per test instead of O(n) (a string tests substrings, a set
    characters: validation tells)."""

    kinds = (cst.ComparisonTarget,)
    _HASHED = (
        m.Set()
        | m.SetComp()
        | m.Dict()
        | m.DictComp()
        | m.SimpleString()
        | m.Call(func=m.Name("set") | m.Name("frozenset") | m.Name("dict"))
        | m.Call(func=m.Name("Counter") | m.Name("defaultdict") | m.Attribute())
    )

    def visit_Module(self, node: cst.Module) -> None:
        super().visit_Module(node)
        self._hashed = {  # a set, a dict or a string already, or a call's unknown result
            target.target.value
            for assign in nodes_of(node, cst.Assign)
            if m.matches(assign.value, self._HASHED)
            for target in assign.targets
            if isinstance(target.target, cst.Name)
        }

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        if m.matches(node, m.ComparisonTarget(operator=m.In() | m.NotIn(), comparator=m.Name())):
            name = node.comparator.value  # type: ignore[attr-defined]
            return None if name in self._hashed else (name, f"{name}_set")
        return None

    def _replace(self, node: cst.CSTNode, hoisted: str) -> cst.CSTNode:
        return node.with_changes(comparator=cst.Name(hoisted))

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        return call("set", node.comparator)  # type: ignore[attr-defined]


class CountToCounter(Hoister):
    """``xs.count(x)`` inside a loop or comprehension, ``xs`` not changed by it →
    ``xs_counts = collections.Counter(xs)`` once before it and ``xs_counts[x]``: one O(n) pass
    instead of one per item (O(n²) → O(n))."""

    imports = ("collections",)
    _COUNT = m.Call(
        func=m.Attribute(value=m.Name(), attr=m.Name("count")), args=[m.Arg(keyword=None)]
    )

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        if m.matches(node, self._COUNT):
            name = node.func.value.value  # type: ignore[attr-defined]
            return name, f"{name}_counts"
        return None

    def _replace(self, node: cst.CSTNode, hoisted: str) -> cst.CSTNode:
        index = node.args[0].value  # type: ignore[attr-defined]
        return cst.Subscript(
            value=cst.Name(hoisted), slice=[cst.SubscriptElement(cst.Index(index))]
        )

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        return call("collections.Counter", node.func.value)  # type: ignore[attr-defined]


class DedupeLoop(LoopFold):
    """``out = []`` + ``for x in xs: if x not in out: out.append(x)`` →
    ``out = list(dict.fromkeys(xs))``: one hashing pass, first occurrences in order (O(n²) → O(n))."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        if not m.matches(init.value, m.List(elements=[])) or not m.matches(loop.target, m.Name()):
            return None
        item = loop.target.value  # type: ignore[attr-defined]
        append = m.SimpleStatementLine(
            body=[
                m.Expr(
                    m.Call(
                        func=m.Attribute(value=m.Name(name), attr=m.Name("append")),
                        args=[m.Arg(m.Name(item))],
                    )
                )
            ]
        )
        test = m.Comparison(
            left=m.Name(item),
            comparisons=[m.ComparisonTarget(operator=m.NotIn(), comparator=m.Name(name))],
        )
        if not m.matches(
            only(loop),  # type: ignore[arg-type]
            m.If(test=test, body=m.IndentedBlock(body=[append]), orelse=None),
        ):
            return None
        return call("list", call("dict.fromkeys", loop.iter))


def _counting(
    statement: cst.CSTNode, name: str | None = None
) -> tuple[str, cst.BaseExpression] | None:
    """(dict, key) for ``if k in d: d[k] += 1 else: d[k] = 1`` (either branch order); ``name``:
    the dict must be that name."""
    d = m.Name(name) if name else m.Name()
    key = m.SaveMatchedNode(m.DoNotCare(), "key")
    test = m.Comparison(left=key, comparisons=[m.ComparisonTarget(operator=m.In(), comparator=d)])
    if not m.matches(statement, m.If(test=test, orelse=m.Else())):
        return None
    captured = m.extract(statement.test, test)  # type: ignore[attr-defined]
    if captured is None or not pure(captured["key"]):  # type: ignore[arg-type]
        return None
    dict_name = statement.test.comparisons[0].comparator.value  # type: ignore[attr-defined]
    element = m.Subscript(
        value=m.Name(dict_name),
        slice=[
            m.SubscriptElement(
                m.Index(m.MatchIfTrue(lambda n: code_of(n) == code_of(captured["key"])))  # type: ignore[arg-type]
            )
        ],
    )
    plus = m.AugAssign(target=element, operator=m.AddAssign(), value=m.Integer("1"))
    first = m.Assign(targets=[m.AssignTarget(element)], value=m.Integer("1"))
    if m.matches(only(statement), plus) and m.matches(only(statement.orelse), first):  # type: ignore[arg-type,attr-defined]
        return dict_name, captured["key"]  # type: ignore[return-value]
    return None


class CounterLoop(LoopFold):
    """``d = {}`` + ``for x in xs: if k in d: d[k] += 1 else: d[k] = 1`` →
    ``d = dict(collections.Counter(k for x in xs))``: the counting runs in C."""

    imports = ("collections",)

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement = only(loop)
        if not m.matches(init.value, m.Dict(elements=[])) or statement is None:
            return None
        found = _counting(statement, name)
        if found is None:
            return None
        key = found[1]
        items = (
            loop.iter
            if m.matches(key, m.Name()) and m.matches(loop.target, m.Name(key.value))  # type: ignore[attr-defined]
            else cst.GeneratorExp(elt=key, for_in=cst.CompFor(target=loop.target, iter=loop.iter))
        )
        return call("dict", call("collections.Counter", items))


class CountingGet(Rewriter):
    """``if k in d: d[k] += 1 else: d[k] = 1`` → ``d[k] = d.get(k, 0) + 1``: one statement,
    no branch."""

    def leave_If(self, original: cst.If, updated: cst.If) -> cst.BaseStatement:
        found = _counting(updated)
        if found is None:
            return updated
        d, key = found
        return self._done(
            cst.parse_statement(f"{d}[{code_of(key)}] = {d}.get({code_of(key)}, 0) + 1")
        )


class SetDefault(PairRewriter):
    """``if k not in d: d[k] = []`` followed by ``d[k].append(v)`` → ``d.setdefault(k, []).append(v)``
    (any method; ``[]``, ``set()`` or ``{}``); followed by ``d[k] += v`` with a number →
    ``d[k] = d.get(k, 0) + v``: one lookup instead of three."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        merged = self._guarded(first, second)
        return None if merged is None else [merged]

    @staticmethod
    def _guarded(guard: cst.BaseStatement, use: cst.BaseStatement) -> cst.BaseStatement | None:
        test = m.Comparison(
            comparisons=[m.ComparisonTarget(operator=m.NotIn(), comparator=m.Name())]
        )
        if not m.matches(guard, m.If(test=test, orelse=None)):
            return None
        key = guard.test.left  # type: ignore[attr-defined]
        d = guard.test.comparisons[0].comparator.value  # type: ignore[attr-defined]
        element = f"{d}[{code_of(key)}]"
        init = only(guard)  # type: ignore[arg-type]
        if not pure(key) or not m.matches(init, m.Assign(targets=[m.AssignTarget()])):  # type: ignore[arg-type]
            return None
        if code_of(init.targets[0].target) != element:  # type: ignore[union-attr]
            return None
        value = code_of(init.value)  # type: ignore[union-attr]
        used = (
            use.body[0] if isinstance(use, cst.SimpleStatementLine) and len(use.body) == 1 else None
        )
        if value in ("[]", "set()", "{}") and m.matches(
            used,  # type: ignore[arg-type]
            m.Expr(m.Call(func=m.Attribute(value=m.Subscript()))),
        ):
            method = used.value.func  # type: ignore[union-attr]
            if code_of(method.value) == element:
                rest = code_of(used.value)[len(element) :]  # type: ignore[union-attr]
                return cst.parse_statement(f"{d}.setdefault({code_of(key)}, {value}){rest}")
        if (
            m.matches(init.value, m.Integer() | m.Float())  # type: ignore[union-attr]
            and m.matches(used, m.AugAssign(operator=m.AddAssign()))  # type: ignore[arg-type]
            and code_of(used.target) == element  # type: ignore[union-attr]
        ):
            addend = code_of(used.value)  # type: ignore[union-attr]
            return cst.parse_statement(f"{element} = {d}.get({code_of(key)}, {value}) + ({addend})")
        return None


class DictGet(Rewriter):
    """``d[k] if k in d else v`` → ``d.get(k, v)``; ``if k in d: x = d[k] else: x = v`` →
    ``x = d.get(k, v)``: one hash lookup instead of two."""

    @staticmethod
    def _get(
        test: cst.BaseExpression, found: cst.BaseExpression, default: cst.BaseExpression
    ) -> cst.Call | None:
        pattern = m.Comparison(
            comparisons=[m.ComparisonTarget(operator=m.In(), comparator=m.Name())]
        )
        if not m.matches(test, pattern) or not pure(test.left) or not pure(default):  # type: ignore[attr-defined]
            return None
        d = test.comparisons[0].comparator.value  # type: ignore[attr-defined]
        if code_of(found) != f"{d}[{code_of(test.left)}]":  # type: ignore[attr-defined]
            return None
        return call(f"{d}.get", test.left, default)  # type: ignore[attr-defined]

    def leave_IfExp(self, original: cst.IfExp, updated: cst.IfExp) -> cst.BaseExpression:
        got = self._get(updated.test, updated.body, updated.orelse)
        return self._done(got) if got is not None else updated

    def leave_If(self, original: cst.If, updated: cst.If) -> cst.BaseStatement:
        assign = m.Assign(targets=[m.AssignTarget(m.Name())])
        body, orelse = (
            only(updated),
            only(updated.orelse) if isinstance(updated.orelse, cst.Else) else None,  # type: ignore[arg-type]
        )
        if not (m.matches(body, assign) and m.matches(orelse, assign)):  # type: ignore[arg-type]
            return updated
        if code_of(body.targets[0].target) != code_of(orelse.targets[0].target):  # type: ignore[union-attr]
            return updated
        got = self._get(updated.test, body.value, orelse.value)  # type: ignore[union-attr]
        if got is None:
            return updated
        line = cst.SimpleStatementLine(body=[body.with_changes(value=got)])  # type: ignore[list-item,union-attr]
        return self._done(line)


class KeysView(Rewriter):
    """``for k in d.keys()`` / ``k in d.keys()`` / ``list(d.keys())`` → ``d``: no view object,
    and the ``in`` test hashes directly."""

    _KEYS = m.Call(func=m.Attribute(attr=m.Name("keys")), args=[])

    def _plain(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        return self._done(node.func.value) if m.matches(node, self._KEYS) else None  # type: ignore[attr-defined]

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        plain = self._plain(updated.iter)
        return updated.with_changes(iter=plain) if plain is not None else updated

    def leave_CompFor(self, original: cst.CompFor, updated: cst.CompFor) -> cst.CompFor:
        plain = self._plain(updated.iter)
        return updated.with_changes(iter=plain) if plain is not None else updated

    def leave_ComparisonTarget(
        self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        if not isinstance(updated.operator, cst.In | cst.NotIn):
            return updated
        plain = self._plain(updated.comparator)
        return updated.with_changes(comparator=plain) if plain is not None else updated


class ItemsHalf(Rewriter):
    """``for k, _ in d.items()`` → ``for k in d``; ``for _, v in d.items()`` →
    ``for v in d.values()``: no tuple per item (ruff PERF102)."""

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        items = m.Call(func=m.Attribute(attr=m.Name("items")), args=[])
        pair = m.Tuple(elements=[m.Element(m.Name()), m.Element(m.Name())])
        if not (m.matches(updated.iter, items) and m.matches(updated.target, pair)):
            return updated
        key, value = (e.value.value for e in updated.target.elements)  # type: ignore[attr-defined]
        d = updated.iter.func.value  # type: ignore[attr-defined]
        used = names_in(updated.body)
        if value == "_" and "_" not in used:
            return self._done(updated.with_changes(target=cst.Name(key), iter=d))
        if key == "_" and "_" not in used:
            return self._done(
                updated.with_changes(target=cst.Name(value), iter=call(f"{code_of(d)}.values"))
            )
        return updated


class KeyLookupItems(Rewriter):
    """``for k in d: ... d[k] ...`` (``d[k]`` only read) → ``for k, d_value in d.items()``: the
    value comes with the key instead of a second lookup (pylint C0206)."""

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        if not (m.matches(updated.target, m.Name()) and m.matches(updated.iter, m.Name())):
            return updated
        key, d = updated.target.value, updated.iter.value  # type: ignore[attr-defined]
        element = m.Subscript(value=m.Name(d), slice=[m.SubscriptElement(m.Index(m.Name(key)))])
        value = f"{d}_value"
        written = m.findall(
            updated.body, m.AssignTarget(element) | m.AugAssign(target=element) | m.Del(element)
        )
        if not m.findall(updated.body, element) or written or value in names_in(updated.body):
            return updated
        if key in assigned_in(updated.body):
            return updated
        pair = cst.Tuple(
            elements=[cst.Element(cst.Name(key)), cst.Element(cst.Name(value))], lpar=[], rpar=[]
        )
        body = m.replace(updated.body, element, cst.Name(value))
        return self._done(updated.with_changes(target=pair, iter=call(f"{d}.items"), body=body))


class SortedSlice(Rewriter):
    """``sorted(xs)[:k]`` → ``heapq.nsmallest(k, xs)``; ``sorted(xs, reverse=True)[:k]`` →
    ``heapq.nlargest(k, xs)``: O(n log k) instead of O(n log n), the same list (documented
    equivalent, ``key`` kept)."""

    imports = ("heapq",)

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        head = m.Subscript(
            value=m.Call(func=m.Name("sorted")),
            slice=[m.SubscriptElement(m.Slice(lower=None, upper=m.DoNotCare(), step=None))],
        )
        if not m.matches(updated, head) or updated.slice[0].slice.upper is None:  # type: ignore[attr-defined]
            return updated
        args = updated.value.args  # type: ignore[attr-defined]
        positional = [a for a in args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a for a in args if a.keyword is not None}
        if (
            len(positional) != 1
            or len(args) != 1 + len(keywords)
            or set(keywords) - {"key", "reverse"}
        ):
            return updated
        reverse = keywords.get("reverse")
        if reverse is not None and not m.matches(reverse.value, m.Name("True")):
            return updated
        function = "heapq.nlargest" if reverse is not None else "heapq.nsmallest"
        extra = (
            [keywords["key"].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
            if "key" in keywords
            else []
        )
        count = updated.slice[0].slice.upper  # type: ignore[attr-defined]
        return self._done(call(function, count, positional[0].value, *extra))


class InsortAfterSort(PairRewriter):
    """``xs.append(v)`` followed by ``xs.sort()`` → ``bisect.insort(xs, v)``: O(log n) search and
    one shift instead of a sort per insertion (the same list when ``xs`` was sorted)."""

    imports = ("bisect",)
    _APPEND = m.SimpleStatementLine(
        body=[
            m.Expr(
                m.Call(
                    func=m.Attribute(value=m.Name(), attr=m.Name("append")),
                    args=[m.Arg(keyword=None)],
                )
            )
        ]
    )
    _SORT = m.SimpleStatementLine(
        body=[m.Expr(m.Call(func=m.Attribute(value=m.Name(), attr=m.Name("sort")), args=[]))]
    )

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        if not (m.matches(first, self._APPEND) and m.matches(second, self._SORT)):
            return None
        added = first.body[0].value  # type: ignore[attr-defined]
        name = added.func.value.value
        if second.body[0].value.func.value.value != name:  # type: ignore[attr-defined]
            return None
        insort = call("bisect.insort", cst.Name(name), added.args[0].value)
        return [first.with_changes(body=[cst.Expr(insort)])]


REWRITES = [
    Rewrite(
        "dedupe loop → dict.fromkeys",
        FAMILY,
        "PIE train: the seen-list idiom",
        transform(DedupeLoop),
        r.DEDUPLICATION,
        ("seq:Assign>For", "op:NotIn", "call:append"),
    ),
    Rewrite(
        "list membership → set twin",
        FAMILY,
        "PIE train: the seen-list idiom",
        _set_twin,
        r.MEMBERSHIP,
        ("call:append", "op:In|op:NotIn"),
    ),
    Rewrite(
        "invariant membership in loop → set",
        FAMILY,
        "Python docs: TimeComplexity (x in s: O(n) for a list, O(1) for a set)",
        transform(InvariantMembership),
        r.HOISTED_SET,
        ("loop:op:In|loop:op:NotIn",),
    ),
    Rewrite(
        "repeated .count → Counter",
        FAMILY,
        "Python docs: collections.Counter",
        transform(CountToCounter),
        r.COUNTED,
        ("loop:call:count",),
    ),
    Rewrite(
        "set membership",
        FAMILY,
        "ruff PLR6201",
        transform(SetMembership),
        r.MEMBERSHIP,
        ("op:In|op:NotIn", "List|Tuple"),
    ),
    Rewrite(
        "list front ops → deque",
        FAMILY,
        "Python docs: tutorial 5.1.2, using lists as queues",
        transform(PopFront),
        r.DEQUE_ENDS,
        ("call:pop|call:insert",),
    ),
    Rewrite(
        "counting loop → Counter",
        FAMILY,
        "Python docs: collections.Counter",
        transform(CounterLoop),
        r.COUNTED,
        ("seq:Assign>For", "augop:Add", "op:In"),
    ),
    Rewrite(
        "counting branch → dict.get",
        FAMILY,
        "ruff SIM401",
        transform(CountingGet),
        r.DICT_GET,
        ("op:In", "augop:Add"),
    ),
    Rewrite(
        "guarded init → setdefault/get",
        FAMILY,
        "Python docs: dict.setdefault",
        transform(SetDefault),
        r.DICT_GET,
        ("op:NotIn",),
    ),
    Rewrite(
        "membership then index → dict.get",
        FAMILY,
        "ruff SIM401",
        transform(DictGet),
        r.DICT_GET,
        ("op:In", "Subscript"),
    ),
    Rewrite(
        "sorted slice → heapq",
        FAMILY,
        "Python docs: heapq.nsmallest",
        transform(SortedSlice),
        r.HEAPED,
        ("call:sorted", "Slice"),
    ),
    Rewrite(
        "append + sort → bisect.insort",
        FAMILY,
        "Python docs: bisect.insort",
        transform(InsortAfterSort),
        r.BISECTED,
        ("call:sort", "call:append"),
    ),
    Rewrite(
        "dict.keys() → dict",
        FAMILY,
        "ruff SIM118; refurb FURB130",
        transform(KeysView),
        r.NO_VIEW,
        ("call:keys",),
    ),
    Rewrite(
        "half of dict.items() → keys/values",
        FAMILY,
        "ruff PERF102; refurb FURB135",
        transform(ItemsHalf),
        r.NO_VIEW,
        ("call:items",),
    ),
    Rewrite(
        "key loop with lookups → dict.items()",
        FAMILY,
        "pylint C0206",
        transform(KeyLookupItems),
        r.NO_VIEW,
        ("For", "Subscript"),
    ),
]
