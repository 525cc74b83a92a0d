"""What every rule of the catalogue is made of: the :class:`Rewrite` entry, the libcst
transformer bases and the small syntax builders the families share.

A rule is a function ``apply(code, kind)`` → the rewritten code, or None when it does not apply;
``code`` is the target's dedented code (a function's definition, or a whole script) and ``kind``
the target's ("function" or "script"). Most are a libcst transformer wrapped by
:func:`transform`, which keeps formatting and comments outside the rewritten node.
"""

from __future__ import annotations

import ast
import functools
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules.reasons import Reason, in_loop

_Node = TypeVar("_Node", bound=cst.CSTNode)
_log = logging.getLogger(__name__)

#: ``apply(code, kind)`` → rewritten code, or None when the rule does not apply.
Apply = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class Rewrite:
    """One entry of the catalogue: the rewrite's ``name`` (its label is ``rule: NAME``), its
    ``family`` (builtins, structures, loops, memo, scripts), its ``source`` (the lint rule or
    document it comes from: "ruff PERF401; refurb FURB138", "refurb FURB118", "Python docs: performance tips",
    "PIE train"), the rule ``apply`` and the :class:`~perfedit.candidates.rules.reasons.Reason`
    that explains the change it makes. ``needs``: :func:`features` the code must have for the
    rule to be tried at all, each one of several alternatives joined by ``|`` (a cheap test on
    the standard library's syntax tree that spares most rules a libcst walk)."""

    name: str
    family: str
    source: str
    apply: Apply
    reason: Reason
    needs: tuple[str, ...] = ()

    def __call__(self, code: str, kind: str) -> str | None:
        """The rewritten ``code``, or None when the rule does not apply to it (or the code does
        not parse: a rule never raises on bad input)."""
        found = features(code)
        if found is None or not all(
            any(alternative in found for alternative in need.split("|")) for need in self.needs
        ):
            return None
        try:
            return self.apply(code, kind)
        except (cst.ParserSyntaxError, RecursionError):
            return None
        except Exception:  # a rule's bug costs its candidate, never the job
            _log.warning("rule %r failed on this code; skipped", self.name, exc_info=True)
            return None


def _called_name(node: ast.Call) -> str:
    func = node.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


@functools.lru_cache(maxsize=8)
def features(code: str) -> frozenset[str] | None:
    """What ``code`` contains, as strings a :class:`Rewrite` can require, from one walk of the
    standard library's syntax tree (None when it does not parse): node types (``"For"``,
    ``"ListComp"``), ``"call:NAME"`` for functions and methods called, ``"op:In"`` for comparison
    operators, ``"binop:Pow"``/``"augop:Add"`` for arithmetic, ``"import:NAME"``, ``"name:NAME"``
    for names used, ``"seq:Assign>For"`` for consecutive statements of a block, ``"loop:..."``
    for calls and comparisons evaluated once per iteration of a loop or comprehension,
    ``"loop:modcall"`` for a call of an imported module's function there, ``"recursive"`` /
    ``"recursive-nested"`` for a top-level / nested function that calls itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # ``1if x else 2`` and the like
            tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    found: set[str] = set()
    modules = set()
    for node in ast.walk(tree):
        found.add(type(node).__name__)
        if isinstance(node, ast.Call):
            found.add(f"call:{_called_name(node)}")
        elif isinstance(node, ast.Compare):
            found.update(f"op:{type(op).__name__}" for op in node.ops)
        elif isinstance(node, ast.BinOp):
            found.add(f"binop:{type(node.op).__name__}")
        elif isinstance(node, ast.AugAssign):
            found.add(f"augop:{type(node.op).__name__}")
        elif isinstance(node, ast.Name):
            found.add(f"name:{node.id}")
        elif isinstance(node, ast.Attribute):
            found.add(f"name:{node.attr}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.add(f"import:{alias.name}")
                modules.add(alias.asname or alias.name)
        for field_name in ("body", "orelse", "finalbody"):
            block = getattr(node, field_name, None)
            if isinstance(block, list):
                found.update(
                    f"seq:{type(a).__name__}>{type(b).__name__}"
                    for a, b in zip(block, block[1:], strict=False)
                )
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == node.name
            for n in ast.walk(node)
        ):
            found.add("recursive" if node in tree.body else "recursive-nested")
    for node in in_loop(tree):
        if isinstance(node, ast.Call):
            found.add(f"loop:call:{_called_name(node)}")
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                found.add("loop:modcall")
        elif isinstance(node, ast.Compare):
            found.update(f"loop:op:{type(op).__name__}" for op in node.ops)
    return frozenset(found)


@functools.lru_cache(maxsize=8)
def parse(code: str) -> cst.Module:
    """``code`` parsed by libcst, shared by the rules tried on it (the tree is immutable).
    Raises libcst.ParserSyntaxError."""
    return cst.parse_module(code)


LITERAL = (
    m.Integer() | m.Float() | m.SimpleString() | m.Name("None") | m.Name("True") | m.Name("False")
)
EMPTY_LIST = m.Assign(targets=[m.AssignTarget(m.Name())], value=m.List(elements=[]))
#: The clause ``for name in range(n)`` of a comprehension, alone.
RANGE_CLAUSE = m.CompFor(
    target=m.Name(),
    iter=m.Call(func=m.Name("range"), args=[m.Arg(keyword=None, star="")]),
    ifs=[],
    inner_for_in=None,
)
NO_SPACE = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))


def call(name: str, *args: cst.BaseExpression | cst.Arg) -> cst.Call:
    """``name(args...)``; ``name`` may be dotted. A lone generator argument loses its parentheses."""
    if len(args) == 1 and isinstance(args[0], cst.GeneratorExp):  # f(x for x in xs), not f((...))
        args = (args[0].with_changes(lpar=[], rpar=[]),)
    return cst.Call(
        func=cst.parse_expression(name),
        args=[a if isinstance(a, cst.Arg) else cst.Arg(a) for a in args],
    )


def keyword(name: str, value: cst.BaseExpression) -> cst.Arg:
    """The argument ``name=value``."""
    return cst.Arg(value, keyword=cst.Name(name), equal=NO_SPACE)


def generator(
    element: cst.BaseExpression, loop: cst.For, condition: cst.BaseExpression | None = None
) -> cst.GeneratorExp:
    """``(element for <loop's target> in <loop's iterable> [if condition])``."""
    ifs = [cst.CompIf(test=condition)] if condition is not None else []
    return cst.GeneratorExp(
        elt=element, for_in=cst.CompFor(target=loop.target, iter=loop.iter, ifs=ifs)
    )


def code_of(node: cst.CSTNode) -> str:
    """The source text of ``node`` alone."""
    return cst.Module(body=[]).code_for_node(node)


class _Collector(cst.CSTVisitor):
    def __init__(self, kinds: tuple[type[cst.CSTNode], ...]) -> None:
        super().__init__()
        self.kinds, self.found = kinds, []  # type: ignore[var-annotated]

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self.kinds):
            self.found.append(node)
        return True


def nodes_of(node: cst.CSTNode, *kinds: type[_Node]) -> list[_Node]:
    """The nodes of the given types in ``node`` (itself included), in tree order: a plain walk,
    many times faster than a matcher search."""
    collector = _Collector(kinds)
    node.visit(collector)
    return collector.found


def names_in(node: cst.CSTNode) -> set[str]:
    """Every plain name that occurs in ``node``."""
    return {n.value for n in nodes_of(node, cst.Name)}


_BINDERS = (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr)


def assigned_in(node: cst.CSTNode) -> set[str]:
    """Names bound in ``node``: assignment, augmented-assignment and loop targets, ``del``."""
    bound: set[str] = set()
    for binder in nodes_of(node, *_BINDERS, cst.Del):
        target = binder.target  # type: ignore[attr-defined]
        if isinstance(target, cst.Name):
            bound.add(target.value)
        elif not isinstance(target, cst.Subscript | cst.Attribute):
            bound |= {n.value for n in nodes_of(target, cst.Name)}
    return bound


def pure(node: cst.CSTNode) -> bool:
    """True if ``node`` is built of names, literals, attributes, subscripts, tuples and
    operators only (no call): evaluating it twice or moving it has no effect of its own."""
    if m.matches(node, LITERAL | m.Name()):
        return True
    if isinstance(node, cst.Attribute):
        return pure(node.value)
    if isinstance(node, cst.BinaryOperation):
        return pure(node.left) and pure(node.right)
    if isinstance(node, cst.UnaryOperation):
        return pure(node.expression)
    if isinstance(node, cst.Subscript):
        return pure(node.value) and all(
            isinstance(e.slice, cst.Index) and pure(e.slice.value) for e in node.slice
        )
    if isinstance(node, cst.Tuple):
        return all(pure(e.value) for e in node.elements)
    return False


class Rewriter(cst.CSTTransformer):
    """Base: records whether the rule changed anything and which modules it needs imported."""

    imports: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.changed = False

    def _done(self, node: _Node) -> _Node:
        self.changed = True
        return node


class BlockRewriter(Rewriter):
    """Base of rules that rewrite a sequence of statements (a block or the module body)."""

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        raise NotImplementedError

    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        return updated.with_changes(body=self._rewrite_body(list(updated.body)))

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._rewrite_body(list(updated.body)))


def only(loop: cst.For | cst.While | cst.If) -> cst.BaseStatement | cst.BaseSmallStatement | None:
    """The block's single statement (unwrapping a one-statement simple line), or None."""
    body = loop.body.body
    if len(body) != 1:
        return None
    statement = body[0]
    if isinstance(statement, cst.SimpleStatementLine | cst.SimpleStatementSuite):
        return statement.body[0] if len(statement.body) == 1 else None
    return statement


def guarded(
    statement: cst.BaseStatement | cst.BaseSmallStatement | None,
) -> tuple[cst.BaseStatement | cst.BaseSmallStatement | None, cst.BaseExpression | None]:
    """``statement`` unwrapped from an ``if`` without ``else`` around a single statement:
    (the inner statement, the condition); (statement, None) when it is not such an ``if``."""
    if statement is not None and m.matches(statement, m.If(orelse=None)):
        return only(statement), statement.test  # type: ignore[union-attr,arg-type]
    return statement, None


class PairRewriter(BlockRewriter):
    """Base of rules that rewrite two consecutive statements of a block together
    (:meth:`_merge`), scanning left to right, a merged result taking part in the next pair."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        """The statements that replace ``first`` and ``second``, or None to keep both."""
        raise NotImplementedError

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for statement in body:
            merged = self._merge(out[-1], statement) if out else None
            if merged is None:
                out.append(statement)
            else:
                out[-1:] = merged
                self.changed = True
        return out


class NamingPairRewriter(PairRewriter):
    """A :class:`PairRewriter` whose rewrite binds new names, each one the module does not use."""

    def visit_Module(self, node: cst.Module) -> bool:
        self.taken = names_in(node)
        return True

    def _fresh(self, name: str) -> str:
        """``name``, else ``name_2``, ``name_3``, … the first the module does not use yet."""
        chosen, index = name, 1
        while chosen in self.taken:
            index += 1
            chosen = f"{name}_{index}"
        self.taken.add(chosen)
        return chosen


class LoopFold(PairRewriter):
    """Base of rules that fold ``name = init`` followed by a ``for`` loop into one expression."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        raise NotImplementedError

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        start = m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])
        if not (
            isinstance(second, cst.For)
            and second.orelse is None
            and second.asynchronous is None
            and m.matches(first, start)
        ):
            return None
        init = first.body[0]  # type: ignore[attr-defined]
        folded = self._fold(init, second)
        if folded is None:
            return None
        return [first.with_changes(body=[init.with_changes(value=folded)])]


def add_imports(module: cst.Module, names: tuple[str, ...]) -> cst.Module:
    """``import name`` lines at the top of ``module`` (a script, or a function that
    :func:`~perfedit.candidates.model.fit_to_target` then keeps them above)."""
    statements = [cst.parse_statement(f"import {name}") for name in names]
    return module.with_changes(body=[*statements, *module.body])


def transform(rewriter: type[Rewriter], *, scripts_only: bool = False) -> Apply:
    """The rule that applies a fresh ``rewriter`` to the code, adding the imports it needs;
    ``scripts_only``: it applies to scripts only."""

    def rule(code: str, kind: str) -> str | None:
        if scripts_only and kind != "script":
            return None
        instance = rewriter()
        module = parse(code).visit(instance)
        if not instance.changed:
            return None
        return add_imports(module, instance.imports).code if instance.imports else module.code

    rule.__doc__ = rewriter.__doc__
    return rule
