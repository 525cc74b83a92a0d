"""The base of the hoisting rules: work that a loop repeats on every iteration, done once before it.

Python's compiler hoists nothing out of a loop (Python docs, performance tips: "avoiding dots",
local names): a lookup or a call whose inputs the loop never changes costs the same on every
iteration. A :class:`Hoister` finds such nodes in a statement that loops (a ``for``/``while``
or a statement holding a comprehension) and is not itself inside a loop, binds each value to a
new local name just before the statement, and uses the name instead.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst

from perfedit.candidates.rules.base import BlockRewriter, assigned_in, names_in, nodes_of

#: Methods that change their object in place.
MUTATORS = frozenset(
    [
        "append",
        "extend",
        "insert",
        "pop",
        "remove",
        "clear",
        "sort",
        "reverse",
        "add",
        "discard",
        "update",
        "popleft",
        "appendleft",
        "setdefault",
        "popitem",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    ]
)
#: Functions known not to change their arguments.
READERS = frozenset(
    [
        "len",
        "sorted",
        "set",
        "frozenset",
        "list",
        "tuple",
        "dict",
        "sum",
        "min",
        "max",
        "any",
        "all",
        "enumerate",
        "zip",
        "range",
        "str",
        "int",
        "float",
        "bool",
        "print",
        "map",
        "filter",
        "reversed",
        "iter",
        "abs",
        "repr",
        "hash",
        "isinstance",
        "type",
        "round",
    ]
)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


def changed_in(node: cst.CSTNode) -> set[str]:
    """Names that ``node`` rebinds, or whose object it may change: assignment targets, a
    mutating method called on the name, a subscript or attribute of it assigned or deleted, the
    name passed to a call that is not a known reader."""
    names = set(assigned_in(node))
    for found in nodes_of(node, cst.Call, cst.AssignTarget, cst.AugAssign, cst.Del):
        if isinstance(found, cst.Call):
            func = found.func
            if (
                isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name)
                and func.attr.value in MUTATORS
            ):
                names.add(func.value.value)
            if not isinstance(func, cst.Name) or func.value not in READERS:
                names |= {a.value.value for a in found.args if isinstance(a.value, cst.Name)}
            continue
        target = found.target  # type: ignore[attr-defined]
        while isinstance(target, cst.Subscript | cst.Attribute):
            target = target.value
        if isinstance(target, cst.Name) and target is not found.target:  # type: ignore[attr-defined]
            names.add(target.value)
    return names


def repeated_parts(statement: cst.CSTNode) -> list[cst.CSTNode]:
    """The parts of ``statement`` evaluated once per iteration of a loop: a ``for``'s body, a
    ``while``'s test and body, a comprehension's element, conditions and inner iterables."""
    parts: list[cst.CSTNode] = []
    if isinstance(statement, cst.For):
        parts.append(statement.body)
    elif isinstance(statement, cst.While):
        parts += [statement.test, statement.body]
    for comprehension in nodes_of(statement, *_COMPREHENSIONS):
        if isinstance(comprehension, cst.DictComp):
            parts += [comprehension.key, comprehension.value]
        else:
            parts.append(comprehension.elt)  # type: ignore[attr-defined]
        inner: cst.CompFor | None = comprehension.for_in
        while inner is not None:
            parts += list(inner.ifs)
            if inner is not comprehension.for_in:
                parts.append(inner.iter)
            inner = inner.inner_for_in
    return parts


class Hoister(BlockRewriter):
    """Base of the hoisting rules. :meth:`_found` picks the nodes to hoist; :meth:`_value` is the
    expression computed once and :meth:`_replace` the node that uses it. ``rebinding_only``:
    the hoisted value stays valid while the object changes (a bound method), so only rebinding
    the name stops the rule."""

    rebinding_only = False
    #: The node types :meth:`_found` may accept.
    kinds: tuple[type[cst.CSTNode], ...] = (cst.Call,)

    def __init__(self) -> None:
        super().__init__()
        self._loops = 0
        self._taken: set[str] = set()

    def _found(self, node: cst.CSTNode) -> tuple[str, str] | None:
        """(the name the value depends on, the new local's name) when ``node`` is to be hoisted."""
        raise NotImplementedError

    def _depends(self, node: cst.CSTNode, name: str) -> set[str]:
        """The names whose change stops ``node`` from being hoisted (``name``, from :meth:`_found`)."""
        return {name}

    def _value(self, node: cst.CSTNode) -> cst.BaseExpression:
        raise NotImplementedError

    def _replace(self, node: cst.CSTNode, hoisted: str) -> cst.CSTNode:
        return cst.Name(hoisted)

    def visit_Module(self, node: cst.Module) -> None:
        self._taken = names_in(node)

    def visit_For(self, node: cst.For) -> None:
        self._loops += 1

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        self._loops -= 1
        return updated

    def visit_While(self, node: cst.While) -> None:
        self._loops += 1

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.While:
        self._loops -= 1
        return updated

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        if self._loops:
            return body
        out: list[cst.BaseStatement] = []
        for statement in body:
            out += self._hoist(statement)
        return out

    def _hoist(self, statement: cst.BaseStatement) -> list[cst.BaseStatement]:
        if not isinstance(statement, cst.For | cst.While) and not nodes_of(
            statement, *_COMPREHENSIONS
        ):
            return [statement]
        found = [
            (node, hit)
            for part in repeated_parts(statement)
            for node in nodes_of(part, *self.kinds)
            if (hit := self._found(node)) is not None
        ]
        if not found:
            return [statement]
        changed = assigned_in(statement) if self.rebinding_only else changed_in(statement)
        plan: dict[str, cst.CSTNode] = {}  # new local → a node whose value it takes
        for node, (name, hoisted) in found:
            if not self._depends(node, name) & changed and hoisted not in self._taken | changed:
                plan.setdefault(hoisted, node)
        for hoisted, node in list(plan.items()):  # the largest expression, not its parts too
            if any(
                other is not node and node in nodes_of(other, type(node)) for other in plan.values()
            ):
                del plan[hoisted]
        if not plan:
            return [statement]
        targets = {node: hoisted for node, (_, hoisted) in found if hoisted in plan}
        rewritten = statement.visit(_Swap(targets, self._replace))
        self.changed = True
        self._taken |= set(plan)
        lines = [
            cst.SimpleStatementLine(
                body=[cst.Assign([cst.AssignTarget(cst.Name(name))], self._value(node))]
            )
            for name, node in sorted(plan.items())
        ]
        if isinstance(rewritten, cst.SimpleStatementLine | cst.BaseCompoundStatement):
            lines[0] = lines[0].with_changes(leading_lines=rewritten.leading_lines)
            rewritten = rewritten.with_changes(leading_lines=[])
        return [*lines, rewritten]  # type: ignore[list-item]


class _Swap(cst.CSTTransformer):
    """Replaces each node of ``targets`` by ``replace(node, its hoisted name)``."""

    def __init__(
        self, targets: dict[cst.CSTNode, str], replace: Callable[[cst.CSTNode, str], cst.CSTNode]
    ) -> None:
        super().__init__()
        self.targets, self.replace = targets, replace

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel | cst.FlattenSentinel[cst.CSTNode]:
        hoisted = self.targets.get(original_node)
        return updated_node if hoisted is None else self.replace(updated_node, hoisted)
