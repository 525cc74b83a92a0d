"""The rule-based proposer: deterministic rewrites of common Python performance anti-patterns.

Each rule is a libcst transformation (formatting and comments outside the rewritten node are
kept) that may or may not apply to the target; each one that applies yields a candidate, and so
does their combination. They need no model and take milliseconds, but they are only candidates:
several are not equivalent in every case (``input`` on ``sys.stdin.readline``, ``eval`` → ``int``,
``functools.cache``, ``math.isqrt``, ``set`` for ``list`` membership), so every one goes through
the same validation as a model's.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import autoflake
import libcst as cst
import libcst.matchers as m
from libcst.metadata import ParentNodeProvider

from perfedit.candidates import Feedback
from perfedit.candidates.model import fit_to_target
from perfedit.progress import CancelFn, Phase, ProgressFn
from perfedit.targets import Candidate, Target

_Node = TypeVar("_Node", bound=cst.CSTNode)

_LITERAL = (
    m.Integer() | m.Float() | m.SimpleString() | m.Name("None") | m.Name("True") | m.Name("False")
)

_EMPTY_LIST = m.Assign(targets=[m.AssignTarget(m.Name())], value=m.List(elements=[]))


def _call(name: str, *args: cst.BaseExpression) -> cst.Call:
    if len(args) == 1 and isinstance(args[0], cst.GeneratorExp):  # f(x for x in xs), not f((...))
        args = (args[0].with_changes(lpar=[], rpar=[]),)
    return cst.Call(func=cst.parse_expression(name), args=[cst.Arg(a) for a in args])


def _generator(
    element: cst.BaseExpression, loop: cst.For, condition: cst.BaseExpression | None = None
) -> cst.GeneratorExp:
    ifs = [cst.CompIf(test=condition)] if condition is not None else []
    return cst.GeneratorExp(
        elt=element, for_in=cst.CompFor(target=loop.target, iter=loop.iter, ifs=ifs)
    )


class _Rewriter(cst.CSTTransformer):
    """Base: records whether the rule changed anything and which modules it needs imported."""

    imports: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.changed = False

    def _done(self, node: _Node) -> _Node:
        self.changed = True
        return node


class SetMembership(_Rewriter):
    """``x in [1, 2, 3]`` → ``x in {1, 2, 3}``: hashing instead of a linear scan."""

    def leave_ComparisonTarget(
        self, original: cst.ComparisonTarget, updated: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        if m.matches(
            updated,
            m.ComparisonTarget(operator=m.In() | m.NotIn(), comparator=m.List() | m.Tuple()),
        ):
            elements = updated.comparator.elements  # type: ignore[attr-defined]
            if elements and all(m.matches(e.value, _LITERAL) for e in elements):
                return self._done(updated.with_changes(comparator=cst.Set(elements=elements)))
        return updated


class SortedIndex(_Rewriter):
    """``sorted(x)[0]`` / ``sorted(x)[-1]`` → ``min(x)`` / ``max(x)``: O(n) instead of O(n log n)."""

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        call = m.Call(func=m.Name("sorted"), args=[m.Arg(keyword=None, star="")])
        if m.matches(
            updated, m.Subscript(value=call, slice=[m.SubscriptElement(m.Index(m.Integer("0")))])
        ):
            return self._done(_call("min", updated.value.args[0].value))  # type: ignore[attr-defined]
        last = m.Index(m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")))
        if m.matches(updated, m.Subscript(value=call, slice=[m.SubscriptElement(last)])):
            return self._done(_call("max", updated.value.args[0].value))  # type: ignore[attr-defined]
        return updated


class EvalInput(_Rewriter):
    """``eval(input())`` → ``int(input())``: no compile step (valid only for integer input)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if m.matches(
            updated,
            m.Call(func=m.Name("eval"), args=[m.Arg(m.Call(func=m.Name("input"), args=[]))]),
        ):
            return self._done(updated.with_changes(func=cst.Name("int")))
        return updated


class PowerHalf(_Rewriter):
    """``x ** 0.5`` → ``math.sqrt(x)``; ``int(math.sqrt(n))`` → ``math.isqrt(n)``."""

    imports = ("math",)

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if m.matches(updated, m.BinaryOperation(operator=m.Power(), right=m.Float("0.5"))):
            return self._done(_call("math.sqrt", updated.left))
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        sqrt = m.Call(func=m.Attribute(value=m.Name("math"), attr=m.Name("sqrt")), args=[m.Arg()])
        if m.matches(updated, m.Call(func=m.Name("int"), args=[m.Arg(sqrt)])):
            return self._done(_call("math.isqrt", updated.args[0].value.args[0].value))  # type: ignore[attr-defined]
        return updated


class PopFront(_Rewriter):
    """``q.pop(0)`` / ``q.insert(0, x)`` on a list built in the target → ``collections.deque``
    with ``popleft``/``appendleft``: O(1) instead of O(n)."""

    imports = ("collections",)

    def __init__(self) -> None:
        super().__init__()
        self.queues: set[str] = set()

    def visit_Module(self, node: cst.Module) -> None:
        front = m.Call(
            func=m.Attribute(value=m.Name(), attr=m.Name("pop")), args=[m.Arg(m.Integer("0"))]
        )
        insert = m.Call(
            func=m.Attribute(value=m.Name(), attr=m.Name("insert")),
            args=[m.Arg(m.Integer("0")), m.Arg()],
        )
        self.queues = {call.func.value.value for call in m.findall(node, front | insert)}  # type: ignore[attr-defined]

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
        if m.matches(
            updated,
            m.Call(
                func=m.Attribute(value=m.Name(), attr=m.Name("pop")), args=[m.Arg(m.Integer("0"))]
            ),
        ):
            return self._done(
                updated.with_changes(
                    func=updated.func.with_changes(attr=cst.Name("popleft")), args=[]
                )
            )
        if m.matches(
            updated,
            m.Call(
                func=m.Attribute(value=m.Name(), attr=m.Name("insert")),
                args=[m.Arg(m.Integer("0")), m.Arg()],
            ),
        ):
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
            return updated.with_changes(value=_call("collections.deque", updated.value))
        return updated


class _BlockRewriter(_Rewriter):
    """Base of rules that rewrite a sequence of statements (a block or the module body)."""

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        raise NotImplementedError

    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        return updated.with_changes(body=self._rewrite_body(list(updated.body)))

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        return updated.with_changes(body=self._rewrite_body(list(updated.body)))


class _LoopFold(_BlockRewriter):
    """Base of rules that fold ``name = init`` followed by a ``for`` loop into one expression."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        raise NotImplementedError

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for statement in body:
            previous = out[-1] if out else None
            if (
                isinstance(statement, cst.For)
                and statement.orelse is None
                and previous is not None
                and m.matches(
                    previous,
                    m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])]),
                )
            ):
                init = previous.body[0]  # type: ignore[attr-defined]
                folded = self._fold(init, statement)
                if folded is not None:
                    out[-1] = previous.with_changes(body=[init.with_changes(value=folded)])
                    self.changed = True
                    continue
            out.append(statement)
        return out

    @staticmethod
    def _only(loop: cst.For) -> cst.BaseStatement | cst.BaseSmallStatement | None:
        """The loop body's single statement (unwrapping a one-statement simple line)."""
        body = loop.body.body if isinstance(loop.body, cst.IndentedBlock) else []
        if len(body) != 1:
            return None
        statement = body[0]
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            return statement.body[0]
        return statement


class SumLoop(_LoopFold):
    """``total = 0`` + ``for x in xs: total += f(x)`` (optionally under one ``if``) →
    ``total = sum(f(x) for x in xs)``; ``s = ""`` + ``s += piece`` → ``"".join(...)``."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        add = m.AugAssign(target=m.Name(name), operator=m.AddAssign())
        statement, condition = self._only(loop), None
        if statement is not None and m.matches(statement, m.If(orelse=None)):
            condition = statement.test  # type: ignore[union-attr]
            inner = statement.body.body  # type: ignore[union-attr]
            statement = (
                inner[0].body[0]
                if len(inner) == 1
                and isinstance(inner[0], cst.SimpleStatementLine)
                and len(inner[0].body) == 1
                else None
            )
        if statement is None or not m.matches(statement, add):
            return None
        items = _generator(statement.value, loop, condition)  # type: ignore[union-attr]
        if m.matches(init.value, m.Integer("0") | m.Float("0.0")):
            return _call("sum", items)
        if m.matches(init.value, m.SimpleString('""') | m.SimpleString("''")):
            return cst.Call(
                func=cst.Attribute(value=init.value, attr=cst.Name("join")),
                args=[cst.Arg(items.with_changes(lpar=[], rpar=[]))],
            )
        return None


class AnyLoop(_LoopFold):
    """``found = False`` + ``for x in xs: if cond: found = True; break`` → ``found = any(cond for x in xs)``
    (and the ``True``/``False`` mirror image → ``all(not cond ...)``)."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement = self._only(loop)
        for start, flipped, function in (("False", "True", "any"), ("True", "False", "all")):
            sets = m.SimpleStatementLine(
                body=[m.Assign(targets=[m.AssignTarget(m.Name(name))], value=m.Name(flipped))]
            )
            pattern = m.If(
                orelse=None,
                body=m.IndentedBlock(body=[sets, m.SimpleStatementLine(body=[m.Break()])]),
            )
            if (
                m.matches(init.value, m.Name(start))
                and statement is not None
                and m.matches(statement, pattern)
            ):
                test = statement.test  # type: ignore[union-attr]
                if function == "all":
                    test = cst.UnaryOperation(
                        operator=cst.Not(),
                        expression=test.with_changes(
                            lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
                        ),
                    )
                return _call(function, _generator(test, loop))
        return None


class MinMaxLoop(_LoopFold):
    """``best = init`` + ``for x in xs: if x > best: best = x`` → ``best = max(init, max(xs, default=init))``
    (``<`` gives ``min``)."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement = self._only(loop)
        if (
            not m.matches(loop.target, m.Name())
            or statement is None
            or not m.matches(statement, m.If(orelse=None))
        ):
            return None
        item = loop.target.value  # type: ignore[attr-defined]
        update = m.IndentedBlock(
            body=[
                m.SimpleStatementLine(
                    body=[m.Assign(targets=[m.AssignTarget(m.Name(name))], value=m.Name(item))]
                )
            ]
        )
        if not m.matches(statement.body, update):  # type: ignore[union-attr]
            return None
        for left, operator, right, function in (
            (item, m.GreaterThan(), name, "max"),
            (name, m.LessThan(), item, "max"),
            (item, m.LessThan(), name, "min"),
            (name, m.GreaterThan(), item, "min"),
        ):
            test = m.Comparison(
                left=m.Name(left),
                comparisons=[m.ComparisonTarget(operator=operator, comparator=m.Name(right))],
            )
            if m.matches(statement.test, test):  # type: ignore[union-attr]
                inner = cst.Call(
                    func=cst.Name(function),
                    args=[
                        cst.Arg(loop.iter),
                        cst.Arg(
                            init.value,
                            keyword=cst.Name("default"),
                            equal=cst.AssignEqual(
                                cst.SimpleWhitespace(""), cst.SimpleWhitespace("")
                            ),
                        ),
                    ],
                )
                return _call(function, init.value, inner)
        return None


class RangeLen(_Rewriter):
    """``for i in range(len(xs)): ... xs[i] ...`` where ``i`` is used only as ``xs[i]`` →
    ``for xs_item in xs: ... xs_item ...``: no index arithmetic or subscripting."""

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        header = m.For(
            target=m.Name(),
            iter=m.Call(
                func=m.Name("range"),
                args=[m.Arg(m.Call(func=m.Name("len"), args=[m.Arg(m.Name())]))],
            ),
        )
        if not m.matches(updated, header) or updated.orelse is not None:
            return updated
        index = updated.target.value  # type: ignore[attr-defined]
        sequence = updated.iter.args[0].value.args[0].value.value  # type: ignore[attr-defined]
        element = m.Subscript(
            value=m.Name(sequence), slice=[m.SubscriptElement(m.Index(m.Name(index)))]
        )
        uses = m.findall(updated.body, m.Name(index))
        subscripts = m.findall(updated.body, element)
        assigned = m.findall(
            updated.body, m.AssignTarget(element) | m.AugAssign(target=element) | m.Del(element)
        )
        if not subscripts or assigned or len(uses) != len(subscripts):
            return updated
        item = f"{sequence}_item"
        body = m.replace(updated.body, element, cst.Name(item))
        return self._done(
            updated.with_changes(target=cst.Name(item), iter=cst.Name(sequence), body=body)
        )


class HoistAppend(_BlockRewriter):
    """``for ...: out.append(x)`` → ``out_append = out.append`` before the loop: one attribute
    lookup instead of one per iteration."""

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        append = m.Call(func=m.Attribute(value=m.Name(), attr=m.Name("append")))
        for statement in body:
            if isinstance(statement, cst.For | cst.While):
                names = sorted({c.func.value.value for c in m.findall(statement.body, append)})  # type: ignore[attr-defined]
                for name in names:
                    method = m.Attribute(value=m.Name(name), attr=m.Name("append"))
                    statement = m.replace(statement, method, cst.Name(f"{name}_append"))  # type: ignore[assignment]
                    out.append(cst.parse_statement(f"{name}_append = {name}.append"))
                    self.changed = True
            out.append(statement)
        return out


class CacheRecursion(_Rewriter):
    """A top-level function that calls itself → decorated with ``@functools.cache`` (valid only
    for pure functions of hashable arguments, which validation checks as far as tests go)."""

    imports = ("functools",)

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._depth += 1

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        self._depth -= 1
        calls_itself = m.findall(updated.body, m.Call(func=m.Name(updated.name.value)))
        decorated = any(
            m.matches(
                d.decorator,
                m.Attribute(attr=m.Name("cache") | m.Name("lru_cache")) | m.Name("cache"),
            )
            for d in updated.decorators
        )
        plain_params = (
            not isinstance(updated.params.star_arg, cst.Param) and updated.params.star_kwarg is None
        )
        if self._depth == 0 and calls_itself and not decorated and plain_params:
            decorator = cst.Decorator(decorator=cst.parse_expression("functools.cache"))
            return self._done(updated.with_changes(decorators=[*updated.decorators, decorator]))
        return updated


def _set_twin(code: str, kind: str) -> str | None:
    """A list that starts empty, only grows by ``.append(x)`` and is tested with ``in`` (the
    "seen" pattern) → a set beside it, ``NAME_set``, kept in step by ``.add(x)`` and used for the
    tests: O(1) membership instead of a scan of the list. The list stays for every other use
    (returned, iterated, ``len``), so its order is kept. Elements must be hashable, which
    validation checks."""
    wrapper = cst.MetadataWrapper(cst.parse_module(code))
    parents = wrapper.resolve(ParentNodeProvider)
    module = wrapper.module
    taken = {n.value for n in m.findall(module, m.Name()) if isinstance(n, cst.Name)}
    lists = {
        a.targets[0].target.value  # type: ignore[attr-defined]
        for a in m.findall(module, _EMPTY_LIST)
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
            if not m.matches(grandparent, _EMPTY_LIST):
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
            and m.matches(grandparent, m.Call(args=[m.Arg(_LITERAL | m.Name(), keyword=None)]))
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
                self.after[init] = cst.Assign([cst.AssignTarget(cst.Name(twin))], _call("set"))
            for append in plan.appends:
                value = append.value.args[0].value  # type: ignore[attr-defined]
                add = _call(f"{twin}.add", value)
                self.after[append] = cst.Expr(add)
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


def _stdin_readline(code: str, kind: str) -> str | None:
    """Scripts calling ``input()`` more than once → ``input`` bound to buffered ``sys.stdin.readline``."""
    module = cst.parse_module(code)
    if kind != "script" or len(m.findall(module, m.Call(func=m.Name("input"), args=[]))) < 2:
        return None
    prelude = cst.parse_module(
        'import sys\n\ninput = lambda: sys.stdin.readline().rstrip("\\r\\n")\n'
    ).body
    return module.with_changes(body=[*prelude, *module.body]).code


def _unused_imports(code: str, kind: str) -> str | None:
    """Unused imports removed (autoflake): each costs its module's import time on every run."""
    fixed = autoflake.fix_code(code, remove_all_unused_imports=True)
    return fixed if fixed != code else None


def _add_imports(module: cst.Module, names: tuple[str, ...]) -> cst.Module:
    """``import name`` lines at the top of ``module`` (a script, or a function that
    :func:`~perfedit.candidates.model.fit_to_target` then keeps them above)."""
    statements = [cst.parse_statement(f"import {name}") for name in names]
    return module.with_changes(body=[*statements, *module.body])


def _transform(rewriter: type[_Rewriter]) -> Callable[[str, str], str | None]:
    def rule(code: str, kind: str) -> str | None:
        instance = rewriter()
        module = cst.parse_module(code).visit(instance)
        if not instance.changed:
            return None
        return _add_imports(module, instance.imports).code if instance.imports else module.code

    rule.__doc__ = rewriter.__doc__
    return rule


#: name -> rule(code, kind) -> rewritten code or None; ``code`` is a dedented function or a script.
RULES: dict[str, Callable[[str, str], str | None]] = {
    "set membership": _transform(SetMembership),
    "sorted index → min/max": _transform(SortedIndex),
    "eval(input()) → int": _transform(EvalInput),
    "x ** 0.5 → math.sqrt": _transform(PowerHalf),
    "list front ops → deque": _transform(PopFront),
    "accumulation loop → sum/join": _transform(SumLoop),
    "flag loop → any/all": _transform(AnyLoop),
    "extremum loop → min/max": _transform(MinMaxLoop),
    "range(len(x)) → direct iteration": _transform(RangeLen),
    "list membership → set twin": _set_twin,  # before the hoist, which hides the .append calls
    "hoist .append lookup": _transform(HoistAppend),
    "recursion → functools.cache": _transform(CacheRecursion),
    "buffered stdin": _stdin_readline,
    "unused imports": _unused_imports,
}


def propose_rules(
    target: Target, feedback: Feedback, progress: ProgressFn, cancel: CancelFn
) -> list[Candidate]:
    """The rule :data:`~perfedit.candidates.Proposer`: one candidate per rule that applies
    (labelled ``rule: NAME``), plus ``rules combined`` with every applicable rule; deterministic,
    no model, ``feedback`` unused."""
    original = textwrap.dedent(target.code)
    candidates, combined = [], original
    for index, (name, rule) in enumerate(RULES.items()):
        progress(Phase.RULES, index, len(RULES))
        rewritten = rule(original, target.kind)
        if rewritten is None:
            continue
        code = fit_to_target(rewritten, target)
        if code is not None:
            candidates.append(Candidate(f"rule: {name}", code, target.replace(code)))
        combined = rule(combined, target.kind) or combined
    code = fit_to_target(combined, target) if len(candidates) > 1 else None
    if code is not None:
        candidates.append(Candidate("rules combined", code, target.replace(code)))
    return candidates
