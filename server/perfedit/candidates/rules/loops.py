"""Rules of the loops family: comprehensions instead of append loops, direct iteration,
invariant work and attribute lookups hoisted out of loops, ``for`` over ``range`` instead of a
counted ``while``, ``itertools`` instead of hand-written prefix sums and slices."""

from __future__ import annotations

from collections import Counter

import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import (
    EMPTY_LIST,
    LITERAL,
    RANGE_CLAUSE,
    LoopFold,
    NamingPairRewriter,
    PairRewriter,
    Rewrite,
    Rewriter,
    assigned_in,
    call,
    code_of,
    guarded,
    keyword,
    names_in,
    nodes_of,
    only,
    pure,
    transform,
)
from perfedit.candidates.rules.builtins import FlagNoBreak
from perfedit.candidates.rules.hoist import Hoister, changed_in

FAMILY = "loops"


def _index_loop(loop: cst.For) -> tuple[str, str] | None:
    """(index, sequence) for ``for i in range(len(xs))`` without ``else``."""
    header = m.For(
        target=m.Name(),
        iter=m.Call(
            func=m.Name("range"),
            args=[m.Arg(m.Call(func=m.Name("len"), args=[m.Arg(m.Name())]))],
        ),
        orelse=None,
    )
    if not m.matches(loop, header):
        return None
    return loop.target.value, loop.iter.args[0].value.args[0].value.value  # type: ignore[attr-defined]


def _element(sequence: str, index: str) -> m.Subscript:
    return m.Subscript(value=m.Name(sequence), slice=[m.SubscriptElement(m.Index(m.Name(index)))])


def _element_reads(loop: cst.For, sequence: str, index: str) -> int | None:
    """How many times the loop body reads ``sequence[index]``; None when it writes the sequence
    (an element, or a mutating call) or rebinds either name."""
    element = _element(sequence, index)
    if sequence in changed_in(loop.body) or index in assigned_in(loop.body):
        return None
    if m.findall(loop.body, m.AssignTarget(element) | m.AugAssign(target=element) | m.Del(element)):
        return None
    return len(m.findall(loop.body, element))


class _IndexLoop(Rewriter):
    """Base: ``for i in range(len(xs))`` whose body only reads ``xs[i]`` (never writes ``xs``);
    ``direct``: ``i`` is used only as ``xs[i]`` (else it is used otherwise too)."""

    direct = True

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        found = _index_loop(updated)
        if found is None:
            return updated
        index, sequence = found
        reads = _element_reads(updated, sequence, index)
        item = f"{sequence}_item"
        only_reads = reads == len(m.findall(updated.body, m.Name(index)))
        if not reads or only_reads != self.direct or item in names_in(updated.body):
            return updated
        body = m.replace(updated.body, _element(sequence, index), cst.Name(item))
        if self.direct:
            return self._done(
                updated.with_changes(target=cst.Name(item), iter=cst.Name(sequence), body=body)
            )
        pair = cst.Tuple(
            elements=[cst.Element(cst.Name(index)), cst.Element(cst.Name(item))], lpar=[], rpar=[]
        )
        return self._done(
            updated.with_changes(target=pair, iter=call("enumerate", cst.Name(sequence)), body=body)
        )


class RangeLen(_IndexLoop):
    """``for i in range(len(xs)): ... xs[i] ...`` where ``i`` is used only as ``xs[i]`` →
    ``for xs_item in xs: ... xs_item ...``: no index arithmetic or subscripting."""


class RangeLenEnumerate(_IndexLoop):
    """``for i in range(len(xs)): ... xs[i] ... i ...`` → ``for i, xs_item in enumerate(xs):``:
    the element comes with the index instead of a subscript per use (pylint C0200)."""

    direct = False


class _MethodHoist(Hoister):
    """Base: ``obj.method(...)`` in a loop → ``obj_method = obj.method`` before it (the bound
    method stays valid while ``obj`` changes; only rebinding ``obj`` stops the rule)."""

    rebinding_only = True
    methods: frozenset[str] = frozenset()

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        pattern = m.Call(func=m.Attribute(value=m.Name(), attr=m.Name()))
        if m.matches(node, pattern) and node.func.attr.value in self.methods:  # type: ignore[attr-defined]
            owner = node.func.value.value  # type: ignore[attr-defined]
            if self._owner(owner):
                return owner, f"{owner}_{node.func.attr.value}"  # type: ignore[attr-defined]
        return None

    def _owner(self, name: str) -> bool:
        return True

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        return node.func  # type: ignore[attr-defined]

    def _replace(self, node: cst.CSTNode, hoisted: str) -> cst.CSTNode:
        return node.with_changes(func=cst.Name(hoisted))


class HoistAppend(_MethodHoist):
    """``for ...: out.append(x)`` → ``out_append = out.append`` before the loop: one attribute
    lookup instead of one per iteration."""

    methods = frozenset({"append"})


class HoistMethods(_MethodHoist):
    """``.add``, ``.extend``, ``.appendleft``, ``.popleft``, ``.pop``, ``.get`` called in a loop →
    the bound method looked up once before it."""

    methods = frozenset({"add", "extend", "appendleft", "popleft", "pop", "get"})


class HoistModuleFunctions(_MethodHoist):
    """``math.sqrt(x)`` (any function of an imported module) in a loop → ``math_sqrt =
    math.sqrt`` before it: the Python docs' "avoiding dots" tip."""

    def __init__(self) -> None:
        super().__init__()
        self._modules: set[str] = set()

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if isinstance(alias.name, cst.Name):
                self._modules.add(alias.asname.name.value if alias.asname else alias.name.value)  # type: ignore[union-attr]

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        if m.matches(node, m.Call(func=m.Attribute(value=m.Name(), attr=m.Name()))):
            owner = node.func.value.value  # type: ignore[attr-defined]
            if owner in self._modules:
                return owner, f"{owner}_{node.func.attr.value}"  # type: ignore[attr-defined]
        return None


class HoistBuiltinCalls(Hoister):
    """``len(xs)``, ``max(xs)``, ``sorted(xs)``, ``set(xs)``, … of a name the loop never changes,
    evaluated on every iteration (a ``while`` test, a loop body, a comprehension's condition) →
    computed once before the loop: an O(n) call per iteration becomes one."""

    _CALLS = ("len", "max", "min", "sum", "sorted", "set", "frozenset", "list", "tuple")

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        if m.matches(node, m.Call(func=m.Name(), args=[m.Arg(m.Name(), keyword=None, star="")])):
            function = node.func.value  # type: ignore[attr-defined]
            if function in self._CALLS:
                name = node.args[0].value.value  # type: ignore[attr-defined]
                return name, f"{name}_{function}"
        return None

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        return node  # type: ignore[return-value]


_SPELLED = {
    cst.Add: "plus",
    cst.Subtract: "minus",
    cst.Multiply: "times",
    cst.Divide: "over",
    cst.FloorDivide: "floordiv",
    cst.Power: "pow",
}


def _spelled(node: cst.CSTNode) -> str | None:
    """A name for the arithmetic ``node`` (``b - a`` → ``b_minus_a``), or None when it is not
    built of plain names, numbers and the operators of :data:`_SPELLED` alone."""
    if isinstance(node, cst.Name | cst.Integer):
        return node.value
    if isinstance(node, cst.BinaryOperation) and type(node.operator) in _SPELLED:
        left, right = _spelled(node.left), _spelled(node.right)
        if left is None or right is None:
            return None
        return f"{left}_{_SPELLED[type(node.operator)]}_{right}"
    return None


class HoistInvariantArithmetic(Hoister):
    """Arithmetic of names the loop never changes (``max_x - min_x`` in
    ``[(x - min_x) / (max_x - min_x) for x in xs]``), evaluated on every iteration → computed
    once before the loop into a local (``max_x_minus_min_x``): the same operations on the same
    values, once. The largest such expression is hoisted, not its parts."""

    kinds = (cst.BinaryOperation,)

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        spelled = _spelled(node)
        names = names_in(node)
        if spelled is None or not names or len(spelled) > 40:
            return None
        return min(names), spelled if spelled.isidentifier() else f"hoisted_{spelled}"

    def _depends(self, node: cst.CSTNode, name: str) -> set[str]:
        return names_in(node)

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        return node.with_changes(lpar=[], rpar=[])  # type: ignore[return-value]


def _collected(loop: cst.For, grow: m.BaseMatcherNode) -> tuple[cst.CompFor, cst.CSTNode] | None:
    """The comprehension clauses of ``loop`` (nested single-statement ``for``s and ``if``s) and
    the innermost statement, when it matches ``grow``."""
    clauses: list[tuple[cst.BaseAssignTargetExpression, cst.BaseExpression, list[cst.CompIf]]] = []
    node: cst.CSTNode | None = loop
    while isinstance(node, cst.For) and node.orelse is None and node.asynchronous is None:
        statement, condition = guarded(only(node))
        ifs = [cst.CompIf(test=condition)] if condition is not None else []
        clauses.append((node.target, node.iter, ifs))
        node = statement
    if node is None or not m.matches(node, grow):
        return None
    comp: cst.CompFor | None = None
    for target, iterable, ifs in reversed(clauses):
        comp = cst.CompFor(target=target, iter=iterable, ifs=ifs, inner_for_in=comp)
    return comp, node  # type: ignore[return-value]


class _GrowLoop(LoopFold):
    """Base: ``name = <empty>`` + ``for x in xs: [if c:] name.<method>(e)`` (nested loops too)
    → ``name = <comprehension of e>``."""

    method = "append"
    empty: m.BaseMatcherNode = m.List(elements=[])
    comprehension: type[cst.ListComp | cst.SetComp] = cst.ListComp

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        grow = m.Expr(
            m.Call(
                func=m.Attribute(value=m.Name(name), attr=m.Name(self.method)),
                args=[m.Arg(keyword=None, star="")],
            )
        )
        found = _collected(loop, grow)
        if not m.matches(init.value, self.empty) or found is None:
            return None
        comp, statement = found
        element = statement.value.args[0].value  # type: ignore[attr-defined]
        if name in names_in(comp) or name in names_in(element):
            return None
        return self.comprehension(elt=element, for_in=comp)


class AppendLoop(_GrowLoop):
    """``out = []`` + ``for x in xs: [if c:] out.append(e)`` (nested loops too) →
    ``out = [e for x in xs if c]``: the comprehension's specialised bytecode instead of a method
    call per item (ruff PERF401)."""


class AddLoop(_GrowLoop):
    """``s = set()`` + ``for x in xs: [if c:] s.add(e)`` → ``s = {e for x in xs if c}``."""

    method = "add"
    empty = m.Call(func=m.Name("set"), args=[])
    comprehension = cst.SetComp


class DictLoop(LoopFold):
    """``d = {}`` + ``for x in xs: [if c:] d[k] = v`` → ``d = {k: v for x in xs if c}`` (ruff
    PERF403)."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        store = m.Assign(
            targets=[
                m.AssignTarget(
                    m.Subscript(value=m.Name(name), slice=[m.SubscriptElement(m.Index())])
                )
            ]
        )
        found = _collected(loop, store)
        if not m.matches(init.value, m.Dict(elements=[])) or found is None:
            return None
        comp, statement = found
        key = statement.targets[0].target.slice[0].slice.value  # type: ignore[attr-defined]
        value = statement.value  # type: ignore[attr-defined]
        if name in names_in(comp) | names_in(key) | names_in(value):
            return None
        return cst.DictComp(key=key, value=value, for_in=comp)


class ExtendLoop(Rewriter):
    """``for x in xs: out.append(x)`` → ``out.extend(xs)``; ``out.append(e)`` →
    ``out.extend(e for x in xs)``: one call (ruff PERF402)."""

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.BaseStatement:
        append = m.Expr(
            m.Call(
                func=m.Attribute(value=m.Name(), attr=m.Name("append")),
                args=[m.Arg(keyword=None, star="")],
            )
        )
        found = _collected(updated, append)
        if found is None:
            return updated
        comp, statement = found
        owner = statement.value.func.value.value  # type: ignore[attr-defined]
        element = statement.value.args[0].value  # type: ignore[attr-defined]
        if owner in names_in(comp) | names_in(element):
            return updated
        plain = (
            comp.inner_for_in is None and not comp.ifs and code_of(element) == code_of(comp.target)
        )
        items = (
            comp.iter
            if plain and m.matches(comp.target, m.Name())
            else cst.GeneratorExp(elt=element, for_in=comp)
        )
        line = cst.SimpleStatementLine(
            body=[cst.Expr(call(f"{owner}.extend", items))], leading_lines=updated.leading_lines
        )
        return self._done(line)


def _slots(loop: cst.For, name: str) -> list[cst.BaseExpression] | None:
    """The items the loop's body adds to the list ``name`` per iteration, in order: a body of
    ``name.append(e)`` lines, or one ``name.extend([e1, e2, ...])`` (a list or tuple display);
    None for any other body."""

    def method(attr: str) -> m.Call:
        return m.Call(
            func=m.Attribute(value=m.Name(name), attr=m.Name(attr)),
            args=[m.Arg(keyword=None, star="")],
        )

    lines = loop.body.body
    if not all(m.matches(line, m.SimpleStatementLine(body=[m.Expr()])) for line in lines):
        return None
    calls = [line.body[0].value for line in lines]  # type: ignore[union-attr]
    if len(calls) >= 2 and all(m.matches(c, method("append")) for c in calls):
        return [c.args[0].value for c in calls]
    display = m.List() | m.Tuple()
    if len(calls) == 1 and m.matches(calls[0], method("extend")):
        items = calls[0].args[0].value
        if m.matches(items, display) and all(isinstance(e, cst.Element) for e in items.elements):
            return [e.value for e in items.elements]
    return None


class InterleaveSlices(NamingPairRewriter):
    """``out = []`` + ``for x in xs: out.append(x); out.append(c)`` (also ``out.extend([a, b])``
    over ``zip(xs, ys)``) → ``out = [c] * (2 * len(xs))`` + ``out[0::2] = xs``: the list is
    allocated once and each slot filled by one strided slice assignment in C, instead of a
    method call per item (the Python docs: mutable sequence types, ``s[i:j:k] = t``; the
    interleaving loops of ENAMEL's ``intersperse`` and ``sort_even``). Each item added must be
    a loop variable or a value the loop does not change (a name, literal or attribute), and the
    loop variables must not be read after the loop."""

    def visit_Module(self, node: cst.Module) -> bool:
        self.uses = Counter(n.value for n in nodes_of(node, cst.Name))
        return super().visit_Module(node)

    def _sources(self, loop: cst.For) -> dict[str, cst.BaseExpression] | None:
        """Loop variable → the sequence it walks: ``for x in xs`` or ``for a, b in zip(xs, ys)``."""
        if isinstance(loop.target, cst.Name):
            return {loop.target.value: loop.iter}
        names = m.Tuple(elements=[m.ZeroOrMore(m.Element(m.Name()))])
        zipped = m.Call(func=m.Name("zip"), args=[m.ZeroOrMore(m.Arg(keyword=None, star=""))])
        if not (m.matches(loop.target, names) and m.matches(loop.iter, zipped)):
            return None
        targets = [e.value.value for e in loop.target.elements]  # type: ignore[attr-defined]
        sequences = [a.value for a in loop.iter.args]  # type: ignore[attr-defined]
        if len(targets) != len(sequences) or len(set(targets)) != len(targets):
            return None
        return dict(zip(targets, sequences, strict=True))

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        if not (
            m.matches(first, m.SimpleStatementLine(body=[EMPTY_LIST]))
            and isinstance(second, cst.For)
            and second.orelse is None
            and second.asynchronous is None
        ):
            return None
        name = first.body[0].targets[0].target.value  # type: ignore[attr-defined]
        slots, sources = _slots(second, name), self._sources(second)
        if slots is None or sources is None or len(slots) < 2:
            return None
        inside = Counter(n.value for n in nodes_of(second, cst.Name))
        if any(self.uses[v] != inside[v] for v in sources):  # a loop variable read after it
            return None
        changing = assigned_in(second) | {name}
        walked = [s for s in slots if isinstance(s, cst.Name) and s.value in sources]
        others = [s for s in slots if s not in walked]
        fills = {code_of(s) for s in others}
        if not walked or len(fills) > 1:
            return None
        if not all(pure(s) and not names_in(s) & changing for s in others):
            return None
        if any(name in names_in(seq) for seq in sources.values()):
            return None
        return self._filled(name, slots, sources, fills.pop() if fills else "None", first)

    def _filled(
        self,
        name: str,
        slots: list[cst.BaseExpression],
        sources: dict[str, cst.BaseExpression],
        fill: str,
        first: cst.BaseStatement,
    ) -> list[cst.BaseStatement]:
        out, bound = [], {}
        for variable, sequence in sources.items():
            text = code_of(sequence)
            if not isinstance(sequence, cst.Name):
                fresh = self._fresh("items")
                out.append(f"{fresh} = {text}")
                text = fresh
            bound[variable] = text
        k = len(slots)
        if len(bound) == 1:
            (size,) = (f"len({text})" for text in bound.values())
            cut = ""
        else:
            size = self._fresh("size")
            out.append(f"{size} = min({', '.join(f'len({t})' for t in bound.values())})")
            cut = f"[:{size}]"
        out.append(f"{name} = [{fill}] * ({k} * {size})")
        for index, slot in enumerate(slots):
            if isinstance(slot, cst.Name) and slot.value in bound:
                out.append(f"{name}[{index}::{k}] = {bound[slot.value]}{cut}")
        statements: list[cst.BaseStatement] = [cst.parse_statement(line) for line in out]
        statements[0] = statements[0].with_changes(leading_lines=first.leading_lines)  # type: ignore[attr-defined]
        return statements


class ListCast(Rewriter):
    """``for x in list(xs)`` / ``for x in list(range(n))`` → ``for x in xs`` when the loop
    body does not touch what is iterated: no copy (ruff PERF101)."""

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        if not m.matches(
            updated.iter,
            m.Call(func=m.Name("list") | m.Name("tuple"), args=[m.Arg(keyword=None, star="")]),
        ):
            return updated
        inner = updated.iter.args[0].value  # type: ignore[attr-defined]
        if names_in(inner) & (
            names_in(updated.body)
            - {"range", "len", "sorted", "reversed", "enumerate", "zip", "map"}
        ):
            return updated
        return self._done(updated.with_changes(iter=inner))


class ComprehensionCall(Rewriter):
    """``list(e for x in xs)`` → ``[e for x in xs]``, ``set(...)`` → ``{...}``,
    ``dict((k, v) for ...)`` → ``{k: v for ...}``, ``list([...])`` → ``[...]``: no generator
    object resumed per item (flake8-comprehensions C400–C404, C411)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(
            updated,
            m.Call(
                func=m.Name("list") | m.Name("set") | m.Name("dict"),
                args=[m.Arg(m.GeneratorExp() | m.ListComp(), keyword=None, star="")],
            ),
        ):
            return updated
        kind, comp = updated.func.value, updated.args[0].value  # type: ignore[attr-defined]
        if kind == "list":
            return self._done(cst.ListComp(elt=comp.elt, for_in=comp.for_in))  # type: ignore[attr-defined]
        if kind == "set":
            return self._done(cst.SetComp(elt=comp.elt, for_in=comp.for_in))  # type: ignore[attr-defined]
        if m.matches(comp.elt, m.Tuple(elements=[m.Element(), m.Element()])):  # type: ignore[attr-defined]
            key, value = (e.value for e in comp.elt.elements)  # type: ignore[attr-defined]
            return self._done(cst.DictComp(key=key, value=value, for_in=comp.for_in))  # type: ignore[attr-defined]
        return updated


class WhileCounter(PairRewriter):
    """``i = a`` + ``while i < b: ...; i += 1`` (``i`` changed nowhere else, no ``continue``,
    ``i`` unused after the loop) → ``for i in range(a, b):``: the counting runs in C."""

    def __init__(self) -> None:
        super().__init__()
        self._uses: dict[str, int] = {}

    def visit_Module(self, node: cst.Module) -> None:
        for name in nodes_of(node, cst.Name):
            self._uses[name.value] = self._uses.get(name.value, 0) + 1

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        loop = self._loop(first, second)
        return None if loop is None else [first, loop]

    def _loop(self, init: cst.BaseStatement, loop: cst.BaseStatement) -> cst.For | None:
        start = m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])
        if not (m.matches(init, start) and isinstance(loop, cst.While) and loop.orelse is None):
            return None
        i = init.body[0].targets[0].target.value  # type: ignore[attr-defined]
        test = m.Comparison(
            left=m.Name(i),
            comparisons=[m.ComparisonTarget(operator=m.LessThan() | m.LessThanEqual())],
        )
        if not m.matches(loop.test, test) or not isinstance(loop.body, cst.IndentedBlock):
            return None
        stop = loop.test.comparisons[0].comparator  # type: ignore[attr-defined]
        step = m.SimpleStatementLine(
            body=[m.AugAssign(target=m.Name(i), operator=m.AddAssign(), value=m.Integer("1"))]
        )
        *rest, last = loop.body.body
        block = cst.IndentedBlock(body=rest)
        if not rest or not m.matches(last, step) or m.findall(block, m.Continue()):
            return None
        if (
            i in assigned_in(block)
            or names_in(stop) & assigned_in(block)
            or m.findall(
                stop, m.Call(func=m.MatchIfTrue(lambda f: not m.matches(f, m.Name("len"))))
            )
        ):
            return None
        occurrences = len(m.findall(init, m.Name(i))) + len(m.findall(loop, m.Name(i)))
        if self._uses.get(i, 0) != occurrences:
            return None
        if isinstance(loop.test.comparisons[0].operator, cst.LessThanEqual):  # type: ignore[attr-defined]
            stop = cst.BinaryOperation(left=stop, operator=cst.Add(), right=cst.Integer("1"))
        start_value = init.body[0].value  # type: ignore[attr-defined]
        bounds = [stop] if m.matches(start_value, m.Integer("0")) else [start_value, stop]
        return cst.For(
            target=cst.Name(i),
            iter=call("range", *bounds),
            body=block,
            leading_lines=loop.leading_lines,
        )


class PrefixSums(LoopFold):
    """``p = [c]`` + ``for x in xs: p.append(p[-1] + e)`` →
    ``p = list(itertools.accumulate((e for x in xs), initial=c))``: the running sum in C."""

    imports = ("itertools",)

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        if not m.matches(init.value, m.List(elements=[m.Element()])):
            return None
        last = m.Subscript(
            value=m.Name(name),
            slice=[
                m.SubscriptElement(
                    m.Index(m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")))
                )
            ],
        )
        grow = m.Expr(
            m.Call(
                func=m.Attribute(value=m.Name(name), attr=m.Name("append")),
                args=[m.Arg(m.BinaryOperation(left=last, operator=m.Add()))],
            )
        )
        statement = only(loop)
        if not m.matches(statement, grow):  # type: ignore[arg-type]
            return None
        added = statement.value.args[0].value.right  # type: ignore[union-attr]
        if name in names_in(added):
            return None
        items = (
            loop.iter
            if m.matches(loop.target, m.Name()) and code_of(added) == code_of(loop.target)
            else cst.GeneratorExp(
                elt=added,
                for_in=cst.CompFor(target=loop.target, iter=loop.iter),
                lpar=[cst.LeftParen()],
                rpar=[cst.RightParen()],
            )
        )
        return call(
            "list",
            call("itertools.accumulate", items, keyword("initial", init.value.elements[0].value)),  # type: ignore[attr-defined]
        )


class SliceIslice(Rewriter):
    """``list(it)[:k]`` → ``list(itertools.islice(it, k))``: only the first ``k`` items are made."""

    imports = ("itertools",)

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        head = m.Slice(lower=None, upper=m.Integer() | m.Name(), step=None)
        if not m.matches(
            updated,
            m.Subscript(
                value=m.Call(func=m.Name("list"), args=[m.Arg(m.Call(), keyword=None, star="")]),
                slice=[m.SubscriptElement(head)],
            ),
        ):
            return updated
        source = updated.value.args[0].value  # type: ignore[attr-defined]
        return self._done(
            call("list", call("itertools.islice", source, updated.slice[0].slice.upper))  # type: ignore[attr-defined]
        )


class ConstantList(Rewriter):
    """``[0 for _ in range(n)]`` (an immutable literal) → ``[0] * n``: one C-level fill."""

    def leave_ListComp(self, original: cst.ListComp, updated: cst.ListComp) -> cst.BaseExpression:
        if not (m.matches(updated.for_in, RANGE_CLAUSE) and m.matches(updated.elt, LITERAL)):
            return updated
        count = updated.for_in.iter.args[0].value  # type: ignore[attr-defined]
        if not m.matches(count, m.Name() | m.Integer() | m.Call()):
            count = count.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return self._done(
            cst.BinaryOperation(
                left=cst.List(elements=[cst.Element(updated.elt)]),
                operator=cst.Multiply(),
                right=count,
            )
        )


class ListPlusAppend(Rewriter):
    """``xs += [e]`` / ``xs = xs + [e]`` → ``xs.append(e)``: no one-item list built (the second
    form no longer copies ``xs``, which an alias of the old list would notice)."""

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        body = list(updated.body)
        one = m.List(elements=[m.Element()])
        for i, statement in enumerate(body):
            target = value = None
            if m.matches(
                statement, m.AugAssign(target=m.Name(), operator=m.AddAssign(), value=one)
            ):
                target, value = statement.target, statement.value  # type: ignore[attr-defined]
            elif (
                m.matches(
                    statement,
                    m.Assign(
                        targets=[m.AssignTarget(m.Name())],
                        value=m.BinaryOperation(left=m.Name(), operator=m.Add(), right=one),
                    ),
                )
                and statement.targets[0].target.value == statement.value.left.value  # type: ignore[attr-defined]
            ):
                target, value = statement.targets[0].target, statement.value.right  # type: ignore[attr-defined]
            if target is not None:
                body[i] = cst.Expr(
                    call(f"{target.value}.append", value.elements[0].value),  # type: ignore[union-attr]
                    semicolon=statement.semicolon,
                )
                self.changed = True
        return updated.with_changes(body=body)


REWRITES = [
    Rewrite(
        "append loop → list comprehension",
        FAMILY,
        "ruff PERF401; refurb FURB138",
        transform(AppendLoop),
        r.COMPREHENSION_BUILT,
        ("seq:Assign>For", "call:append"),
    ),
    Rewrite(
        "hoist invariant calls",
        FAMILY,
        "Python docs: performance tips (loops)",
        transform(HoistBuiltinCalls),
        r.HOISTED_CALL,
        (
            "loop:call:len|loop:call:max|loop:call:min|loop:call:sum|loop:call:sorted|loop:call:set|loop:call:frozenset|loop:call:list|loop:call:tuple",
        ),
    ),
    Rewrite(
        "hoist invariant arithmetic",
        FAMILY,
        "Python docs: performance tips (loops); loop-invariant code motion",
        transform(HoistInvariantArithmetic),
        r.HOISTED_ARITHMETIC,
        ("BinOp", "For|While|ListComp|SetComp|DictComp|GeneratorExp"),
    ),
    Rewrite(
        "while counter → for range",
        FAMILY,
        "PIE train: counted while loops",
        transform(WhileCounter),
        r.RANGE_LOOP,
        ("seq:Assign>While", "augop:Add"),
    ),
    Rewrite(
        "range(len(x)) → direct iteration",
        FAMILY,
        "pylint C0200",
        transform(RangeLen),
        r.DIRECT_ITERATION,
        ("call:range", "call:len", "For"),
    ),
    Rewrite(
        "range(len(x)) → enumerate",
        FAMILY,
        "pylint C0200",
        transform(RangeLenEnumerate),
        r.DIRECT_ITERATION,
        ("call:range", "call:len", "For"),
    ),
    Rewrite(
        "add loop → set comprehension",
        FAMILY,
        "ruff PERF401 (sets)",
        transform(AddLoop),
        r.COMPREHENSION_BUILT,
        ("seq:Assign>For", "call:add"),
    ),
    Rewrite(
        "dict loop → dict comprehension",
        FAMILY,
        "ruff PERF403",
        transform(DictLoop),
        r.COMPREHENSION_BUILT,
        ("seq:Assign>For", "Dict"),
    ),
    Rewrite(
        "interleaving loop → slice assignment",
        FAMILY,
        "Python docs: mutable sequence types (s[i:j:k] = t)",
        transform(InterleaveSlices),
        r.SLICE_FILLED,
        ("seq:Assign>For", "call:append|call:extend"),
    ),
    Rewrite(
        "append loop → extend",
        FAMILY,
        "ruff PERF402",
        transform(ExtendLoop),
        r.EXTENDED,
        ("For", "call:append"),
    ),
    Rewrite(
        "prefix-sum loop → itertools.accumulate",
        FAMILY,
        "Python docs: itertools.accumulate",
        transform(PrefixSums),
        r.ITERTOOLS,
        ("seq:Assign>For", "call:append", "UnaryOp"),
    ),
    Rewrite(
        "early exit: flag loop → any/all",
        FAMILY,
        "ruff SIM110 (a loop without break)",
        transform(FlagNoBreak),
        r.EARLY_EXIT,
        ("seq:Assign>For",),
    ),
    Rewrite(
        "hoist .append lookup",
        FAMILY,
        "Python docs: performance tips (avoiding dots)",
        transform(HoistAppend),
        r.HOISTED_LOOKUP,
        ("loop:call:append",),
    ),
    Rewrite(
        "hoist method lookups",
        FAMILY,
        "Python docs: performance tips (avoiding dots)",
        transform(HoistMethods),
        r.HOISTED_LOOKUP,
        (
            "loop:call:add|loop:call:extend|loop:call:appendleft|loop:call:popleft|loop:call:pop|loop:call:get",
        ),
    ),
    Rewrite(
        "hoist module function lookups",
        FAMILY,
        "Python docs: performance tips (avoiding dots)",
        transform(HoistModuleFunctions),
        r.HOISTED_LOOKUP,
        ("loop:modcall",),
    ),
    Rewrite(
        "generator in list()/set()/dict() → comprehension",
        FAMILY,
        "flake8-comprehensions C400–C404, C411; refurb FURB137",
        transform(ComprehensionCall),
        r.COMPREHENSION_BUILT,
        ("call:list|call:set|call:dict", "GeneratorExp|ListComp"),
    ),
    Rewrite(
        "unneeded list() around loop iterable",
        FAMILY,
        "ruff PERF101",
        transform(ListCast),
        r.NO_COPY,
        ("For", "call:list|call:tuple"),
    ),
    Rewrite(
        "list(...)[:k] → itertools.islice",
        FAMILY,
        "Python docs: itertools.islice",
        transform(SliceIslice),
        r.ITERTOOLS,
        ("call:list", "Slice"),
    ),
    Rewrite(
        "constant list comprehension → [c] * n",
        FAMILY,
        "PIE train: table initialisation",
        transform(ConstantList),
        r.LITERAL_BUILT,
        ("ListComp", "call:range"),
    ),
    Rewrite(
        "+= [x] → append",
        FAMILY,
        "PIE train: list concatenation in loops",
        transform(ListPlusAppend),
        r.APPENDED,
        ("List", "augop:Add|binop:Add"),
    ),
]
