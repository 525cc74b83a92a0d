"""Rules of the built-ins family: a Python-level loop or expression replaced by a built-in or
standard-library call that does the work in C (sum, min/max, any/all, str methods, pow, math)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import (
    LITERAL,
    BlockRewriter,
    LoopFold,
    NamingPairRewriter,
    PairRewriter,
    Rewrite,
    Rewriter,
    assigned_in,
    call,
    code_of,
    generator,
    guarded,
    keyword,
    names_in,
    nodes_of,
    only,
    pure,
    transform,
)

FAMILY = "builtins"


def _one_arg(name: str) -> m.Call:
    return m.Call(func=m.Name(name), args=[m.Arg(keyword=None, star="")])


class SortedIndex(Rewriter):
    """``sorted(x)[0]`` / ``sorted(x)[-1]`` → ``min(x)`` / ``max(x)``; ``sorted(x, reverse=True)[0]``
    → ``max(x)``; ``sorted(x, key=f)[0]`` → ``min(x, key=f)``: O(n) instead of O(n log n)."""

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        first = m.Index(m.Integer("0"))
        last = m.Index(m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")))
        if not m.matches(
            updated,
            m.Subscript(
                value=m.Call(func=m.Name("sorted")), slice=[m.SubscriptElement(first | last)]
            ),
        ):
            return updated
        args = updated.value.args  # type: ignore[attr-defined]
        index = updated.slice[0].slice
        at_end = m.matches(index, last)
        if m.matches(updated.value, _one_arg("sorted")):
            return self._done(call("max" if at_end else "min", args[0].value))
        reverse = m.Arg(keyword=m.Name("reverse"), value=m.Name("True"))
        key = m.Arg(keyword=m.Name("key"))
        if at_end:
            return updated
        if m.matches(updated.value, m.Call(args=[m.Arg(keyword=None, star=""), reverse])):
            return self._done(call("max", args[0].value))
        if m.matches(updated.value, m.Call(args=[m.Arg(keyword=None, star=""), key])):
            return self._done(
                call("min", args[0].value, args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT))
            )
        return updated


class PowerHalf(Rewriter):
    """``x ** 0.5`` → ``math.sqrt(x)``; ``int(math.sqrt(n))`` → ``math.isqrt(n)`` and
    ``int(math.sqrt(n) + k)`` → ``math.isqrt(n) + k`` (an integer ``k``): one exact integer
    root instead of a float root, an addition and a conversion (equal below 2**52; above, the
    float root may be off by one, which validation catches where it matters)."""

    imports = ("math",)

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if m.matches(updated, m.BinaryOperation(operator=m.Power(), right=m.Float("0.5"))):
            return self._done(call("math.sqrt", updated.left))
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        sqrt = m.Call(func=m.Attribute(value=m.Name("math"), attr=m.Name("sqrt")), args=[m.Arg()])
        if m.matches(updated, m.Call(func=m.Name("int"), args=[m.Arg(sqrt)])):
            return self._done(call("math.isqrt", updated.args[0].value.args[0].value))  # type: ignore[attr-defined]
        shifted = m.BinaryOperation(left=sqrt, operator=m.Add(), right=m.Integer())
        if m.matches(updated, m.Call(func=m.Name("int"), args=[m.Arg(shifted)])):
            total = updated.args[0].value
            root = call("math.isqrt", total.left.args[0].value)  # type: ignore[attr-defined]
            return self._done(total.with_changes(left=root, lpar=[], rpar=[]))
        return updated


def _accumulated(statement: cst.CSTNode | None, name: str) -> cst.BaseExpression | None:
    """The ``e`` of ``name += e`` or ``name = name + e``."""
    if m.matches(statement, m.AugAssign(target=m.Name(name), operator=m.AddAssign())):  # type: ignore[arg-type]
        return statement.value  # type: ignore[union-attr]
    plus = m.BinaryOperation(left=m.Name(name), operator=m.Add())
    if m.matches(statement, m.Assign(targets=[m.AssignTarget(m.Name(name))], value=plus)):  # type: ignore[arg-type]
        value = statement.value.right  # type: ignore[union-attr]
        return None if name in names_in(value) else value
    return None


class SumLoop(LoopFold):
    """``total = 0`` + ``for x in xs: total += f(x)`` (or ``total = total + f(x)``, optionally
    under one ``if``) → ``total = sum(f(x) for x in xs)``; ``s = ""`` + ``s += piece`` →
    ``"".join(...)``."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement, condition = guarded(only(loop))
        value = _accumulated(statement, name)
        if value is None:
            return None
        items = generator(value, loop, condition)
        if m.matches(init.value, m.Integer("0") | m.Float("0.0")):
            return call("sum", items)
        if m.matches(init.value, m.SimpleString('""') | m.SimpleString("''")):
            return cst.Call(
                func=cst.Attribute(value=init.value, attr=cst.Name("join")),
                args=[cst.Arg(items.with_changes(lpar=[], rpar=[]))],
            )
        return None


class ProductLoop(LoopFold):
    """``p = 1`` + ``for x in xs: p *= f(x)`` → ``p = math.prod(f(x) for x in xs)``: the
    multiplication loop runs in C, in the same order."""

    imports = ("math",)

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement, condition = guarded(only(loop))
        if not m.matches(init.value, m.Integer("1")) or not m.matches(
            statement,  # type: ignore[arg-type]
            m.AugAssign(target=m.Name(name), operator=m.MultiplyAssign()),
        ):
            return None
        value = statement.value  # type: ignore[union-attr]
        if (
            condition is None
            and m.matches(value, m.Name())
            and m.matches(loop.target, m.Name(value.value))
        ):
            return call("math.prod", loop.iter)
        return call("math.prod", generator(value, loop, condition))


class SplitAccumulators(BlockRewriter):
    """``s = 0`` and ``p = 1`` + ``for x in xs: s += f(x); p *= g(x)`` (every statement of the
    loop an accumulation into a name initialised just before it) → ``s = sum(f(x) for x in xs)``
    and ``p = math.prod(g(x) for x in xs)``: each pass runs in C (``xs`` is iterated once per
    accumulator, so it must be a name or a ``range``)."""

    imports = ("math",)
    _STARTS = {("+=", "0"): "sum", ("+=", "0.0"): "sum", ("*=", "1"): "math.prod"}

    def _rewrite_body(self, body: list[cst.BaseStatement]) -> list[cst.BaseStatement]:
        out: list[cst.BaseStatement] = []
        for statement in body:
            split = self._split(out, statement) if isinstance(statement, cst.For) else None
            if split is None:
                out.append(statement)
                continue
            count, lines = split
            out[len(out) - count :] = lines
            self.changed = True
        return out

    def _split(
        self, before: list[cst.BaseStatement], loop: cst.For
    ) -> tuple[int, list[cst.BaseStatement]] | None:
        if loop.orelse is not None or not isinstance(loop.body, cst.IndentedBlock):
            return None
        if not m.matches(loop.iter, m.Name() | m.Call(func=m.Name("range"))):
            return None
        steps: dict[str, tuple[str, cst.BaseExpression]] = {}
        for line in loop.body.body:
            step = (
                line.body[0]
                if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1
                else None
            )
            if not m.matches(
                step,  # type: ignore[arg-type]
                m.AugAssign(target=m.Name(), operator=m.AddAssign() | m.MultiplyAssign()),
            ):
                return None
            name = step.target.value  # type: ignore[union-attr]
            operator = "+=" if isinstance(step.operator, cst.AddAssign) else "*="  # type: ignore[union-attr]
            if name in steps:
                return None
            steps[name] = (operator, step.value)  # type: ignore[union-attr]
        if len(steps) < 2 or set(steps) & set().union(*(names_in(v) for _, v in steps.values())):
            return None
        inits: dict[str, tuple[cst.SimpleStatementLine, str]] = {}
        for line in reversed(before[-len(steps) :]):
            init = m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])
            if not m.matches(line, init):
                break
            assign = line.body[0]  # type: ignore[attr-defined]
            inits[assign.targets[0].target.value] = (line, code_of(assign.value))  # type: ignore[assignment]
        if set(inits) != set(steps) or names_in(loop.iter) & set(steps):
            return None
        lines: list[cst.BaseStatement] = []
        for line, start in (inits[name] for name in inits):
            name = line.body[0].targets[0].target.value  # type: ignore[attr-defined]
            operator, value = steps[name]
            function = self._STARTS.get((operator, start))
            if function is None:
                return None
            folded = call(function, generator(value, loop))
            lines.append(line.with_changes(body=[line.body[0].with_changes(value=folded)]))
        return len(steps), list(reversed(lines))


class CountLoop(LoopFold):
    """``n = 0`` + ``for x in xs: if x == v: n += 1`` → ``n = xs.count(v)``: the comparison loop
    runs in C (lists, tuples and strings)."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement, condition = guarded(only(loop))
        if not (
            m.matches(init.value, m.Integer("0"))
            and m.matches(loop.target, m.Name())
            and m.matches(
                statement,  # type: ignore[arg-type]
                m.AugAssign(target=m.Name(name), operator=m.AddAssign(), value=m.Integer("1")),
            )
        ):
            return None
        item = loop.target.value  # type: ignore[attr-defined]
        for left, right in ((m.Name(item), m.DoNotCare()), (m.DoNotCare(), m.Name(item))):
            test = m.Comparison(
                left=left, comparisons=[m.ComparisonTarget(operator=m.Equal(), comparator=right)]
            )
            if m.matches(condition, test):  # type: ignore[arg-type]
                other = (
                    condition.comparisons[0].comparator  # type: ignore[union-attr]
                    if m.matches(left, m.Name(item))  # type: ignore[arg-type]
                    else condition.left  # type: ignore[union-attr]
                )
                if pure(other) and item not in names_in(other):
                    return (
                        call(f"{code_of(loop.iter)}.count", other)
                        if m.matches(loop.iter, m.Name() | m.Attribute())
                        else None
                    )
        return None


class _FlagLoop(LoopFold):
    """Base of the flag loops: ``found = False`` + ``for x in xs: if cond: found = True`` →
    ``found = any(cond for x in xs)`` (and the ``True``/``False`` mirror → ``all(not cond ...)``);
    ``breaks``: the loop must end with ``break`` after setting the flag (else it must not)."""

    breaks = True

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement = only(loop)
        for start, flipped, function in (("False", "True", "any"), ("True", "False", "all")):
            sets = m.SimpleStatementLine(
                body=[m.Assign(targets=[m.AssignTarget(m.Name(name))], value=m.Name(flipped))]
            )
            body = [sets, m.SimpleStatementLine(body=[m.Break()])] if self.breaks else [sets]
            pattern = m.If(orelse=None, body=m.IndentedBlock(body=body))
            if m.matches(init.value, m.Name(start)) and m.matches(statement, pattern):  # type: ignore[arg-type]
                return call(function, generator(_negated(statement.test, function == "all"), loop))  # type: ignore[union-attr]
        return None


def _negated(test: cst.BaseExpression, negate: bool) -> cst.BaseExpression:
    if not negate:
        return test
    return cst.UnaryOperation(
        operator=cst.Not(),
        expression=test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
    )


class AnyLoop(_FlagLoop):
    """``found = False`` + ``for x in xs: if cond: found = True; break`` → ``found = any(cond for x in xs)``
    (and the ``True``/``False`` mirror image → ``all(not cond ...)``)."""


class FlagNoBreak(_FlagLoop):
    """``found = False`` + ``for x in xs: if cond: found = True`` (no ``break``: every item is
    tested) → ``found = any(cond for x in xs)``, which stops at the first hit."""

    breaks = False


class MinMaxLoop(LoopFold):
    """``best = init`` + ``for x in xs: if x > best: best = x`` → ``best = max(init, max(xs, default=init))``
    (``<`` gives ``min``)."""

    def _fold(self, init: cst.Assign, loop: cst.For) -> cst.BaseExpression | None:
        name = init.targets[0].target.value  # type: ignore[attr-defined]
        statement = only(loop)
        if not m.matches(loop.target, m.Name()) or not m.matches(statement, m.If(orelse=None)):  # type: ignore[arg-type]
            return None
        item = loop.target.value  # type: ignore[attr-defined]
        update = m.Assign(targets=[m.AssignTarget(m.Name(name))], value=m.Name(item))
        if not m.matches(only(statement), update):  # type: ignore[arg-type]
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
                inner = call(function, loop.iter, keyword("default", init.value))
                return call(function, init.value, inner)
        return None


class _ReturnLoop(PairRewriter):
    """Base of ``for x in xs: if cond: return A`` followed by ``return B`` (A, B the literals
    ``True``/``False``) → one ``return``."""

    def _returned(
        self, loop: cst.For, test: cst.BaseExpression, hit: bool
    ) -> cst.BaseExpression | None:
        raise NotImplementedError

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        final = m.SimpleStatementLine(body=[m.Return(m.Name("True") | m.Name("False"))])
        if not (isinstance(first, cst.For) and first.orelse is None and m.matches(second, final)):
            return None
        after = second.body[0].value.value  # type: ignore[attr-defined]
        hit = "True" if after == "False" else "False"
        early = m.SimpleStatementLine(body=[m.Return(m.Name(hit))])
        inner = only(first)
        if not m.matches(inner, m.If(orelse=None, body=m.IndentedBlock(body=[early]))):  # type: ignore[arg-type]
            return None
        value = self._returned(first, inner.test, hit == "True")  # type: ignore[union-attr]
        if value is None:
            return None
        return [second.with_changes(body=[cst.Return(value)], leading_lines=first.leading_lines)]


class ReturnAny(_ReturnLoop):
    """``for x in xs: if cond: return True`` + ``return False`` → ``return any(cond for x in xs)``
    (``False``/``True`` → ``all(not cond ...)``)."""

    def _returned(
        self, loop: cst.For, test: cst.BaseExpression, hit: bool
    ) -> cst.BaseExpression | None:
        return call("any" if hit else "all", generator(_negated(test, not hit), loop))


def _membership(
    test: cst.BaseExpression, item: str, items: cst.BaseExpression
) -> cst.Comparison | None:
    """``v in items`` for a ``test`` that is ``item == v`` or ``v == item``, ``v`` pure and free
    of ``item``."""
    if not m.matches(test, m.Comparison(comparisons=[m.ComparisonTarget(operator=m.Equal())])):
        return None
    left, right = test.left, test.comparisons[0].comparator  # type: ignore[attr-defined]
    other = (
        right if m.matches(left, m.Name(item)) else left if m.matches(right, m.Name(item)) else None
    )
    if other is None or not pure(other) or item in names_in(other):
        return None
    return cst.Comparison(
        left=other, comparisons=[cst.ComparisonTarget(operator=cst.In(), comparator=items)]
    )


class SearchLoop(_ReturnLoop):
    """``for x in xs: if x == v: return True`` + ``return False`` → ``return v in xs``: the search
    runs in C."""

    def _returned(
        self, loop: cst.For, test: cst.BaseExpression, hit: bool
    ) -> cst.BaseExpression | None:
        if not hit or not m.matches(loop.target, m.Name()):
            return None
        return _membership(test, loop.target.value, loop.iter)  # type: ignore[attr-defined]


class PowMod(Rewriter):
    """``pow(a, b) % m`` / ``a ** b % m`` → ``pow(a, b, m)``: modular exponentiation without the
    huge intermediate power (Python docs: built-in ``pow``)."""

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if not isinstance(updated.operator, cst.Modulo):
            return updated
        left = updated.left
        if m.matches(left, m.BinaryOperation(operator=m.Power())):
            base, exponent = left.left, left.right  # type: ignore[attr-defined]
        elif m.matches(
            left, m.Call(func=m.Name("pow"), args=[m.Arg(keyword=None), m.Arg(keyword=None)])
        ):
            base, exponent = left.args[0].value, left.args[1].value  # type: ignore[attr-defined]
        else:
            return updated
        if m.matches(exponent, m.UnaryOperation(operator=m.Minus()) | m.Float()):
            return updated
        return self._done(call("pow", base, exponent, updated.right))


def _factorial(node: cst.CSTNode) -> cst.BaseExpression | None:
    pattern = m.Call(
        func=m.Attribute(value=m.Name("math"), attr=m.Name("factorial")) | m.Name("factorial"),
        args=[m.Arg(keyword=None)],
    )
    return node.args[0].value if m.matches(node, pattern) else None  # type: ignore[attr-defined]


class FactorialComb(Rewriter):
    """``factorial(n) // (factorial(k) * factorial(n - k))`` (or ``// factorial(k) // factorial(n - k)``)
    → ``math.comb(n, k)``: no huge factorials."""

    imports = ("math",)

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if not isinstance(updated.operator, cst.FloorDivide):
            return updated
        if m.matches(updated.left, m.BinaryOperation(operator=m.FloorDivide())):
            n, k, rest = (
                _factorial(updated.left.left),  # type: ignore[attr-defined]
                _factorial(updated.left.right),  # type: ignore[attr-defined]
                _factorial(updated.right),
            )
        elif m.matches(updated.right, m.BinaryOperation(operator=m.Multiply())):
            n, k, rest = (
                _factorial(updated.left),
                _factorial(updated.right.left),  # type: ignore[attr-defined]
                _factorial(updated.right.right),  # type: ignore[attr-defined]
            )
        else:
            return updated
        if n is None or k is None or rest is None:
            return updated
        for chosen, other in ((k, rest), (rest, k)):
            if code_of(other).replace(" ", "") == f"{code_of(n)}-{code_of(chosen)}".replace(
                " ", ""
            ):
                return self._done(call("math.comb", n, chosen))
        return updated


class EuclidGcd(Rewriter):
    """``while b: a, b = b, a % b`` → ``a, b = math.gcd(a, b), 0`` (non-negative integers)."""

    imports = ("math",)

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.BaseStatement:
        if updated.orelse is not None:
            return updated
        step = only(updated)
        pair = m.Tuple(elements=[m.Element(m.Name()), m.Element(m.Name())])
        if not m.matches(
            step,  # type: ignore[arg-type]
            m.Assign(
                targets=[m.AssignTarget(pair)], value=m.Tuple(elements=[m.Element(), m.Element()])
            ),
        ):
            return updated
        a, b = (e.value.value for e in step.targets[0].target.elements)  # type: ignore[union-attr]
        new = step.value.elements  # type: ignore[union-attr]
        rest = m.BinaryOperation(left=m.Name(a), operator=m.Modulo(), right=m.Name(b))
        if not (m.matches(new[0].value, m.Name(b)) and m.matches(new[1].value, rest)):
            return updated
        tests = [f"{b}", f"{b} != 0", f"{b} > 0", f"0 < {b}"]
        if code_of(updated.test).strip() not in tests:
            return updated
        return self._done(cst.parse_statement(f"{a}, {b} = math.gcd({a}, {b}), 0"))


class DivMod(PairRewriter):
    """``q = a // b`` followed by ``r = a % b`` → ``q, r = divmod(a, b)``: one division."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        pair = self._pair(first, second)
        return None if pair is None else [first.with_changes(body=[pair])]

    @staticmethod
    def _pair(first: cst.BaseStatement, second: cst.BaseStatement) -> cst.Assign | None:
        def parts(
            line: cst.BaseStatement, operator: m.BaseMatcherNode
        ) -> tuple[str, cst.BaseExpression, cst.BaseExpression] | None:
            pattern = m.SimpleStatementLine(
                body=[
                    m.Assign(
                        targets=[m.AssignTarget(m.Name())],
                        value=m.BinaryOperation(operator=operator),  # type: ignore[arg-type]
                    )
                ]
            )
            if not m.matches(line, pattern):
                return None
            assign = line.body[0]  # type: ignore[attr-defined]
            return assign.targets[0].target.value, assign.value.left, assign.value.right

        q, r = parts(first, m.FloorDivide()), parts(second, m.Modulo())
        if q is None or r is None or not (pure(q[1]) and pure(q[2])):
            return None
        if code_of(q[1]) != code_of(r[1]) or code_of(q[2]) != code_of(r[2]):
            return None
        if q[0] in names_in(q[1]) | names_in(q[2]) or q[0] == r[0]:
            return None
        target = cst.Tuple(
            elements=[cst.Element(cst.Name(q[0])), cst.Element(cst.Name(r[0]))], lpar=[], rpar=[]
        )
        return cst.Assign(targets=[cst.AssignTarget(target)], value=call("divmod", q[1], q[2]))


class DivModStep(NamingPairRewriter):
    """A statement that uses ``x % b`` once (and ``x`` nowhere else) followed by ``x //= b`` →
    ``x, rem = divmod(x, b)`` and the statement with ``rem``: one division per step of a digit
    loop instead of two (on large integers each division is O(digits))."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        step = m.SimpleStatementLine(
            body=[
                m.AugAssign(target=m.Name(), operator=m.FloorDivideAssign())
                | m.Assign(
                    targets=[m.AssignTarget(m.Name())],
                    value=m.BinaryOperation(left=m.Name(), operator=m.FloorDivide()),
                )
            ]
        )
        if not (isinstance(first, cst.SimpleStatementLine) and m.matches(second, step)):
            return None
        update = second.body[0]  # type: ignore[attr-defined]
        if isinstance(update, cst.AugAssign):
            number, divisor = update.target.value, update.value  # type: ignore[attr-defined]
        else:
            number, divisor = update.targets[0].target.value, update.value.right
            if update.value.left.value != number:
                return None
        if not pure(divisor) or number in names_in(divisor):
            return None
        modulo = [
            node
            for node in nodes_of(first, cst.BinaryOperation)
            if isinstance(node.operator, cst.Modulo)
            and m.matches(node.left, m.Name(number))
            and code_of(node.right) == code_of(divisor)
        ]
        if len(modulo) != 1 or (assigned_in(first) & (names_in(divisor) | {number})):
            return None
        remainder = self._fresh("remainder")
        replaced = first.deep_replace(modulo[0], cst.Name(remainder))
        if number in names_in(replaced):  # x used outside x % b: it must not change first
            return None
        target = cst.Tuple(
            [cst.Element(cst.Name(number)), cst.Element(cst.Name(remainder))], lpar=[], rpar=[]
        )
        split = cst.Assign([cst.AssignTarget(target)], call("divmod", cst.Name(number), divisor))
        return [second.with_changes(body=[split]), replaced]  # type: ignore[list-item]


class FirstExtremum(PairRewriter):
    """``best = max(f(x) for x in xs)`` followed by ``for s in xs: if f(s) == best: return s``
    → ``return max(xs, key=f)`` (``min`` alike): ``max`` returns the first item with the
    largest key, in one pass."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        extreme = m.SimpleStatementLine(
            body=[
                m.Assign(
                    targets=[m.AssignTarget(m.Name())],
                    value=m.Call(
                        func=m.Name("max") | m.Name("min"),
                        args=[m.Arg(m.GeneratorExp() | m.ListComp(), keyword=None)],
                    ),
                )
            ]
        )
        if not (
            m.matches(first, extreme)
            and isinstance(second, cst.For)
            and second.orelse is None
            and isinstance(second.target, cst.Name)
        ):
            return None
        assign = first.body[0]  # type: ignore[attr-defined]
        best, function = assign.targets[0].target.value, assign.value.func.value
        items = assign.value.args[0].value
        clause = items.for_in
        if not (
            isinstance(clause.target, cst.Name)
            and not clause.ifs
            and clause.inner_for_in is None
            and m.matches(clause.iter, m.Name())
            and code_of(clause.iter) == code_of(second.iter)
        ):
            return None
        item = second.target.value
        test = self._found(only(second), item, best)
        if test is None:
            return None
        key = items.elt.visit(_Rename(clause.target.value, item))
        if code_of(key) != code_of(test) or best in names_in(key):
            return None
        if m.matches(key, m.Call(func=m.Name(), args=[m.Arg(m.Name(item))])):
            key_function: cst.BaseExpression = key.func
        else:
            key_function = cst.Lambda(params=cst.Parameters([cst.Param(cst.Name(item))]), body=key)
        found = call(function, second.iter, keyword("key", key_function))
        return [cst.SimpleStatementLine(body=[cst.Return(found)])]

    @staticmethod
    def _found(
        statement: cst.BaseStatement | cst.BaseSmallStatement | None, item: str, best: str
    ) -> cst.BaseExpression | None:
        """The key side ``f(s)`` of ``if f(s) == best: return s`` (either order), or None."""
        hit = m.SimpleStatementLine(body=[m.Return(m.Name(item))])
        if not m.matches(statement, m.If(orelse=None, body=m.IndentedBlock(body=[hit]))):  # type: ignore[arg-type]
            return None
        test = statement.test  # type: ignore[union-attr]
        if not (
            isinstance(test, cst.Comparison)
            and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Equal)
        ):
            return None
        left, right = test.left, test.comparisons[0].comparator
        if m.matches(right, m.Name(best)):
            return left
        return right if m.matches(left, m.Name(best)) else None


class _Rename(cst.CSTTransformer):
    """Every name ``old`` renamed ``new``."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__()
        self.old, self.new = old, new

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.new) if updated.value == self.old else updated


class OperatorKey(Rewriter):
    """``key=lambda x: x[1]`` → ``key=operator.itemgetter(1)``, ``key=lambda x: x.a`` →
    ``operator.attrgetter("a")``; ``lambda a, b: a + b`` / ``a * b`` → ``operator.add`` /
    ``operator.mul``: a C function instead of a Python call per item."""

    imports = ("operator",)

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        params = updated.params
        if (
            params.star_arg != cst.MaybeSentinel.DEFAULT
            or params.kwonly_params
            or params.star_kwarg
            or params.posonly_params
        ):
            return updated
        names = [p.name.value for p in params.params if p.default is None]
        if len(names) != len(params.params):
            return updated
        body = updated.body
        if len(names) == 1:
            x = names[0]
            index = m.Subscript(
                value=m.Name(x), slice=[m.SubscriptElement(m.Index(m.Integer() | m.SimpleString()))]
            )
            if m.matches(body, index):
                return self._done(call("operator.itemgetter", body.slice[0].slice.value))  # type: ignore[attr-defined]
            if (
                m.matches(body, m.Tuple(elements=[m.ZeroOrMore(m.Element(index))]))
                and body.elements  # type: ignore[attr-defined]
            ):
                keys = [e.value.slice[0].slice.value for e in body.elements]  # type: ignore[attr-defined]
                return self._done(call("operator.itemgetter", *keys))
            if m.matches(body, m.Attribute(value=m.Name(x))):
                return self._done(
                    call("operator.attrgetter", cst.SimpleString(f'"{body.attr.value}"'))  # type: ignore[attr-defined]
                )
        if len(names) == 2:
            a, b = names
            for operator, function in ((m.Add(), "operator.add"), (m.Multiply(), "operator.mul")):
                if m.matches(
                    body, m.BinaryOperation(left=m.Name(a), operator=operator, right=m.Name(b))
                ):
                    return self._done(cst.parse_expression(function))
        return updated


def _lookup_table(function: cst.BaseExpression) -> cst.BaseExpression | None:
    """``table`` for ``lambda x: table[x]`` (``table`` a name or attribute chain without
    ``x``), else None."""
    if not (isinstance(function, cst.Lambda) and _one_plain_parameter(function.params)):
        return None
    item = function.params.params[0].name.value
    body = function.body
    if not m.matches(
        body,
        m.Subscript(
            value=m.Name() | m.Attribute(), slice=[m.SubscriptElement(m.Index(m.Name(item)))]
        ),
    ):
        return None
    table = body.value  # type: ignore[attr-defined]
    return table if pure(table) and item not in names_in(table) else None


class BoundGetitem(Rewriter):
    """``key=lambda x: table[x]`` (of sorted, min, max, ``.sort``) and ``map(lambda x: table[x],
    xs)`` → ``table.__getitem__``; ``[table[x] for x in xs]`` → ``list(map(table.__getitem__,
    xs))`` (``if x`` → ``filter(None, xs)``): the table's own C method is called per item instead
    of a Python function or the comprehension's bytecode (refurb FURB118; the Python docs'
    sorting HOWTO, key functions). The table is read when the rewrite's expression is built,
    not per item: validation catches a table rebound meanwhile."""

    _CONSUMERS = m.Call(
        func=m.Name("sorted")
        | m.Name("min")
        | m.Name("max")
        | m.Name("map")
        | m.Attribute(attr=m.Name("sort"))
    )

    @staticmethod
    def _bound(table: cst.BaseExpression) -> cst.Attribute:
        return cst.Attribute(value=table, attr=cst.Name("__getitem__"))

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(updated, self._CONSUMERS):
            return updated
        is_map = m.matches(updated.func, m.Name("map"))
        args = list(updated.args)
        for index, arg in enumerate(args):
            wanted = (
                (arg.keyword is None and index == 0)
                if is_map
                else arg.keyword is not None and arg.keyword.value == "key"
            )
            table = _lookup_table(arg.value) if wanted else None
            if table is not None:
                args[index] = arg.with_changes(value=self._bound(table))
                return self._done(updated.with_changes(args=args))
        return updated

    def leave_ListComp(self, original: cst.ListComp, updated: cst.ListComp) -> cst.BaseExpression:
        comp = updated.for_in
        if not m.matches(comp, m.CompFor(target=m.Name(), inner_for_in=None, asynchronous=None)):
            return updated
        item = comp.target.value  # type: ignore[attr-defined]
        lookup = cst.Lambda(
            params=cst.Parameters(params=[cst.Param(cst.Name(item))]), body=updated.elt
        )
        table = _lookup_table(lookup)
        if table is None or item in names_in(comp.iter):
            return updated
        if not comp.ifs:
            items = comp.iter
        elif len(comp.ifs) == 1 and m.matches(comp.ifs[0].test, m.Name(item)):
            items = call("filter", cst.Name("None"), comp.iter)
        else:
            return updated
        return self._done(call("list", call("map", self._bound(table), items)))


def _sort_args(node: cst.Call) -> cst.Call | None:
    """``sorted(xs, key=lambda x: -x)`` → ``sorted(xs, reverse=True)``."""
    args = list(node.args)
    for i, arg in enumerate(args):
        if m.matches(arg, m.Arg(keyword=m.Name("key"), value=m.Lambda())):
            lam = arg.value
            params = lam.params.params  # type: ignore[attr-defined]
            if len(params) == 1 and m.matches(
                lam.body,  # type: ignore[attr-defined]
                m.UnaryOperation(operator=m.Minus(), expression=m.Name(params[0].name.value)),
            ):
                if any(m.matches(a, m.Arg(keyword=m.Name("reverse"))) for a in args):
                    return None
                args[i] = keyword("reverse", cst.Name("True")).with_changes(comma=arg.comma)
                return node.with_changes(args=args)
    return None


class NegatedKey(Rewriter):
    """``sorted(xs, key=lambda x: -x)`` / ``xs.sort(key=lambda x: -x)`` → ``reverse=True``: no
    Python call per item, and the same order (both keep equal items in their original order)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if m.matches(updated.func, m.Name("sorted") | m.Attribute(attr=m.Name("sort"))):
            changed = _sort_args(updated)
            if changed is not None:
                return self._done(changed)
        return updated


class ReversedSort(Rewriter):
    """``sorted(xs)[::-1]`` / ``list(reversed(sorted(xs)))`` → ``sorted(xs, reverse=True)``: no
    second pass (equal items keep their original order, which validation checks)."""

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        step = m.Slice(
            lower=None,
            upper=None,
            step=m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")),
        )
        if m.matches(
            updated, m.Subscript(value=_one_arg("sorted"), slice=[m.SubscriptElement(step)])
        ):
            return self._done(
                call("sorted", updated.value.args[0].value, keyword("reverse", cst.Name("True")))  # type: ignore[attr-defined]
            )
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if m.matches(
            updated,
            m.Call(
                func=m.Name("list"),
                args=[m.Arg(m.Call(func=m.Name("reversed"), args=[m.Arg(_one_arg("sorted"))]))],
            ),
        ):
            inner = updated.args[0].value.args[0].value  # type: ignore[attr-defined]
            return self._done(
                call("sorted", inner.args[0].value, keyword("reverse", cst.Name("True")))
            )
        return updated


class SliceStartswith(Rewriter):
    """``s[:3] == "abc"`` → ``s.startswith("abc")``; ``s[-3:] == "abc"`` → ``s.endswith("abc")``:
    no slice copied."""

    def leave_Comparison(
        self, original: cst.Comparison, updated: cst.Comparison
    ) -> cst.BaseExpression:
        if len(updated.comparisons) != 1 or not isinstance(
            updated.comparisons[0].operator, cst.Equal | cst.NotEqual
        ):
            return updated
        literal = updated.comparisons[0].comparator
        if not isinstance(literal, cst.SimpleString) or literal.prefix.lower() not in ("", "u"):
            return updated
        length = len(literal.evaluated_value)
        sliced = updated.left
        if not m.matches(
            sliced,
            m.Subscript(
                value=m.Name() | m.Attribute(), slice=[m.SubscriptElement(m.Slice(step=None))]
            ),
        ):
            return updated
        bounds = sliced.slice[0].slice  # type: ignore[attr-defined]
        if bounds.lower is None and m.matches(bounds.upper, m.Integer(str(length))):
            method = "startswith"
        elif bounds.upper is None and m.matches(
            bounds.lower, m.UnaryOperation(operator=m.Minus(), expression=m.Integer(str(length)))
        ):
            method = "endswith"
        else:
            return updated
        test: cst.BaseExpression = call(f"{code_of(sliced.value)}.{method}", literal)  # type: ignore[attr-defined]
        if isinstance(updated.comparisons[0].operator, cst.NotEqual):
            test = cst.UnaryOperation(operator=cst.Not(), expression=test)
        return self._done(test.with_changes(lpar=updated.lpar, rpar=updated.rpar))


class FindToIn(Rewriter):
    """``s.find(x) != -1`` / ``s.count(x) > 0`` → ``x in s`` (``== -1`` / ``== 0`` → ``not in``):
    stops at the first match and needs no method call."""

    def leave_Comparison(
        self, original: cst.Comparison, updated: cst.Comparison
    ) -> cst.BaseExpression:
        if len(updated.comparisons) != 1:
            return updated
        op, right = updated.comparisons[0].operator, code_of(updated.comparisons[0].comparator)
        method = m.Call(
            func=m.Attribute(value=m.Name() | m.Attribute(), attr=m.Name("find") | m.Name("count")),
            args=[m.Arg(keyword=None)],
        )
        if not m.matches(updated.left, method):
            return updated
        name = updated.left.func.attr.value  # type: ignore[attr-defined]
        kind = type(op).__name__
        found = {
            "find": {
                ("NotEqual", "-1"): True,
                ("GreaterThanEqual", "0"): True,
                ("Equal", "-1"): False,
                ("LessThan", "0"): False,
            },
            "count": {
                ("GreaterThan", "0"): True,
                ("NotEqual", "0"): True,
                ("GreaterThanEqual", "1"): True,
                ("Equal", "0"): False,
            },
        }[name].get((kind, right))
        if found is None:
            return updated
        operator = cst.In() if found else cst.NotIn()
        test = cst.Comparison(
            left=updated.left.args[0].value,  # type: ignore[attr-defined]
            comparisons=[
                cst.ComparisonTarget(operator=operator, comparator=updated.left.func.value)  # type: ignore[attr-defined]
            ],
            lpar=updated.lpar,
            rpar=updated.rpar,
        )
        return self._done(test)


class AnyEqual(Rewriter):
    """``any(x == v for x in xs)`` → ``v in xs``: the comparison loop runs in C."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(
            updated,
            m.Call(
                func=m.Name("any"),
                args=[
                    m.Arg(
                        m.GeneratorExp(for_in=m.CompFor(target=m.Name(), ifs=[], inner_for_in=None))
                    )
                ],
            ),
        ):
            return updated
        gen = updated.args[0].value
        found = _membership(gen.elt, gen.for_in.target.value, gen.for_in.iter)  # type: ignore[attr-defined]
        return updated if found is None else self._done(found)


class ShortCircuit(Rewriter):
    """``any([...])`` / ``all([...])`` → ``any(...)`` / ``all(...)``: stops at the first decisive
    item instead of building the whole list (flake8-comprehensions C419)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if m.matches(
            updated,
            m.Call(func=m.Name("any") | m.Name("all"), args=[m.Arg(m.ListComp(), keyword=None)]),
        ):
            comp = updated.args[0].value
            gen = cst.GeneratorExp(elt=comp.elt, for_in=comp.for_in)  # type: ignore[attr-defined]
            return self._done(call(updated.func.value, gen))  # type: ignore[attr-defined]
        return updated


class RedundantCall(Rewriter):
    """``sorted(list(x))``, ``set(list(x))``, ``list(sorted(x))``, ``list(list(x))``,
    ``tuple(list(x))`` … → one call: no intermediate copy (flake8-comprehensions C413/C414)."""

    _INNER = {
        "sorted": ("list", "tuple"),
        "set": ("list", "tuple", "sorted", "reversed"),
        "list": ("list", "tuple"),
        "tuple": ("list", "tuple"),
        "frozenset": ("list", "tuple", "sorted", "reversed"),
    }

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(
            updated,
            m.Call(func=m.Name(), args=[m.Arg(m.Call(func=m.Name()), keyword=None, star="")]),
        ):
            return updated
        outer, inner = updated.func.value, updated.args[0].value  # type: ignore[attr-defined]
        name = inner.func.value  # type: ignore[attr-defined]
        if outer == "list" and name == "sorted":
            return self._done(inner)
        if name in self._INNER.get(outer, ()) and m.matches(
            inner, m.Call(args=[m.Arg(keyword=None, star="")])
        ):
            return self._done(updated.with_changes(args=[cst.Arg(inner.args[0].value)]))  # type: ignore[attr-defined]
        return updated


def _one_plain_parameter(params: cst.Parameters) -> bool:
    return (
        len(params.params) == 1
        and params.params[0].default is None
        and not isinstance(params.star_arg, cst.Param | cst.ParamStar)
        and not params.kwonly_params
        and params.star_kwarg is None
        and not params.posonly_params
    )


class LambdaMap(Rewriter):
    """``list(map(lambda x: e, xs))`` → ``[e for x in xs]``; ``filter(lambda x: c, xs)`` →
    ``(x for x in xs if c)``: no Python function call per item (flake8-comprehensions C417)."""

    _LAMBDA = m.Lambda(params=m.MatchIfTrue(_one_plain_parameter))
    _MAPPED = m.Call(
        func=m.Name("map") | m.Name("filter"),
        args=[m.Arg(_LAMBDA, keyword=None), m.Arg(keyword=None, star="")],
    )

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if m.matches(updated, self._MAPPED):
            function, items = updated.args[0].value, updated.args[1].value
            item = function.params.params[0].name  # type: ignore[attr-defined]
            keep = updated.func.value == "filter"  # type: ignore[attr-defined]
            ifs = [cst.CompIf(test=function.body)] if keep else []  # type: ignore[attr-defined]
            element = item if keep else function.body  # type: ignore[attr-defined]
            for_in = cst.CompFor(target=item, iter=items, ifs=ifs)
            return self._done(cst.GeneratorExp(elt=element, for_in=for_in))
        wrapped = m.Call(
            func=m.Name("list") | m.Name("set"), args=[m.Arg(self._MAPPED, keyword=None)]
        )
        if m.matches(original, wrapped) and isinstance(updated.args[0].value, cst.GeneratorExp):
            made = updated.args[0].value
            kind = cst.ListComp if updated.func.value == "list" else cst.SetComp  # type: ignore[attr-defined]
            return kind(elt=made.elt, for_in=made.for_in)
        return updated


class IdentityComprehension(Rewriter):
    """``[x for x in xs]`` → ``list(xs)``, ``{x for x in xs}`` → ``set(xs)``, ``sum(x for x in xs)``
    → ``sum(xs)`` (also min, max, any, all, sorted, set, list, tuple): no per-item bytecode
    (flake8-comprehensions C416)."""

    _CALLS = ("sum", "min", "max", "any", "all", "sorted", "set", "list", "tuple", "frozenset")

    @staticmethod
    def _items(node: cst.CSTNode) -> cst.BaseExpression | None:
        pattern = m.CompFor(target=m.Name(), ifs=[], inner_for_in=None, asynchronous=None)
        if not isinstance(node, cst.ListComp | cst.SetComp | cst.GeneratorExp):
            return None
        if m.matches(node.for_in, pattern) and m.matches(
            node.elt,
            m.Name(node.for_in.target.value),  # type: ignore[attr-defined]
        ):
            return node.for_in.iter
        return None

    def leave_ListComp(self, original: cst.ListComp, updated: cst.ListComp) -> cst.BaseExpression:
        items = self._items(updated)
        return self._done(call("list", items)) if items is not None else updated

    def leave_SetComp(self, original: cst.SetComp, updated: cst.SetComp) -> cst.BaseExpression:
        items = self._items(updated)
        return self._done(call("set", items)) if items is not None else updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if m.matches(updated.func, m.Name()) and updated.func.value in self._CALLS and updated.args:  # type: ignore[attr-defined]
            items = self._items(updated.args[0].value) if updated.args[0].keyword is None else None
            if items is not None:
                return self._done(
                    updated.with_changes(
                        args=[updated.args[0].with_changes(value=items), *updated.args[1:]]
                    )
                )
        return updated


class BitCount(Rewriter):
    """``bin(n).count("1")`` → ``n.bit_count()``: no string built (refurb FURB161, Python 3.10+)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        pattern = m.Call(
            func=m.Attribute(
                value=m.Call(func=m.Name("bin"), args=[m.Arg(keyword=None)]), attr=m.Name("count")
            ),
            args=[m.Arg(m.SimpleString('"1"') | m.SimpleString("'1'"))],
        )
        if not m.matches(updated, pattern):
            return updated
        number = updated.func.value.args[0].value  # type: ignore[attr-defined]
        if not m.matches(number, m.Name() | m.Attribute() | m.Call() | m.Subscript()):
            number = number.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return self._done(call(f"{code_of(number)}.bit_count"))


class ReduceBuiltin(Rewriter):
    """``reduce(lambda a, b: a + b, xs)`` / ``reduce(operator.add, xs)`` → ``sum(xs)``; ``*`` /
    ``operator.mul`` → ``math.prod(xs)``; ``reduce(math.gcd, xs)`` → ``math.gcd(*xs)``: the
    fold runs in C (an empty ``xs`` now gives 0, 1 or 0 instead of an error)."""

    imports = ("math",)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not m.matches(
            updated,
            m.Call(
                func=m.Name("reduce")
                | m.Attribute(value=m.Name("functools"), attr=m.Name("reduce")),
                args=[m.Arg(keyword=None), m.Arg(keyword=None, star="")],
            ),
        ):
            return updated
        function, items = updated.args[0].value, updated.args[1].value
        text = code_of(function)
        for operator, name, alias in (
            (m.Add(), "sum", "operator.add"),
            (m.Multiply(), "math.prod", "operator.mul"),
        ):
            if text == alias or (
                isinstance(function, cst.Lambda)
                and len(function.params.params) == 2
                and m.matches(
                    function.body,
                    m.BinaryOperation(
                        left=m.Name(function.params.params[0].name.value),
                        operator=operator,
                        right=m.Name(function.params.params[1].name.value),
                    ),
                )
            ):
                return self._done(call(name, items))
        if text in ("math.gcd", "gcd"):
            return self._done(
                cst.Call(func=cst.parse_expression("math.gcd"), args=[cst.Arg(items, star="*")])
            )
        return updated


class PairMinMax(Rewriter):
    """``max(a, b)`` / ``min(a, b)`` of two names or literals → ``(b if b > a else a)`` /
    ``(b if b < a else a)``: a comparison instead of a built-in call (the same element when equal)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        simple = m.Arg(m.Name() | m.Integer() | m.Float(), keyword=None, star="")
        if not m.matches(
            updated, m.Call(func=m.Name("max") | m.Name("min"), args=[simple, simple])
        ):
            return updated
        a, b = (code_of(arg.value) for arg in updated.args)
        operator = ">" if updated.func.value == "max" else "<"  # type: ignore[attr-defined]
        if a in {"max", "min"} or b in {"max", "min"}:
            return updated
        return self._done(cst.parse_expression(f"({b} if {b} {operator} {a} else {a})"))


class RepeatedEquality(Rewriter):
    """``x == 1 or x == 2 or x == 3`` → ``x in {1, 2, 3}`` (``!=`` with ``and`` → ``not in``):
    one hash lookup instead of a chain of comparisons (ruff PLR1714)."""

    def leave_BooleanOperation(
        self, original: cst.BooleanOperation, updated: cst.BooleanOperation
    ) -> cst.BaseExpression:
        terms: list[cst.BaseExpression] = []
        node: cst.BaseExpression = updated
        kind = type(updated.operator)
        while (
            isinstance(node, cst.BooleanOperation)
            and isinstance(node.operator, kind)
            and not node.lpar
        ):
            terms.insert(0, node.right)
            node = node.left
        terms.insert(0, node)
        compare = m.Equal() if kind is cst.Or else m.NotEqual()
        pattern = m.Comparison(
            left=m.Name(), comparisons=[m.ComparisonTarget(operator=compare, comparator=LITERAL)]
        )
        if len(terms) < 3 or not all(m.matches(t, pattern) and not t.lpar for t in terms):
            return updated
        left = {t.left.value for t in terms}  # type: ignore[attr-defined]
        if len(left) != 1:
            return updated
        values = [t.comparisons[0].comparator for t in terms]  # type: ignore[attr-defined]
        if len({code_of(v) for v in values}) != len(values):
            return updated
        operator = cst.In() if kind is cst.Or else cst.NotIn()
        return self._done(
            cst.Comparison(
                left=terms[0].left,  # type: ignore[attr-defined]
                comparisons=[
                    cst.ComparisonTarget(
                        operator=operator,
                        comparator=cst.Set(elements=[cst.Element(v) for v in values]),
                    )
                ],
                lpar=updated.lpar,
                rpar=updated.rpar,
            )
        )


class StartswithTuple(Rewriter):
    """``s.startswith(a) or s.startswith(b)`` → ``s.startswith((a, b))`` (also ``endswith``):
    one call (flake8-pie PIE810)."""

    def leave_BooleanOperation(
        self, original: cst.BooleanOperation, updated: cst.BooleanOperation
    ) -> cst.BaseExpression:
        if not isinstance(updated.operator, cst.Or):
            return updated
        method = m.Call(
            func=m.Attribute(value=m.Name(), attr=m.Name("startswith") | m.Name("endswith")),
            args=[m.Arg(keyword=None, star="")],
        )
        left, right = updated.left, updated.right
        if not (m.matches(left, method) and m.matches(right, method)):
            return updated
        if code_of(left.func) != code_of(right.func):  # type: ignore[attr-defined]
            return updated
        prefixes = []  # type: ignore[var-annotated]
        for c in (left, right):
            value = c.args[0].value  # type: ignore[attr-defined]
            prefixes += (
                list(value.elements) if isinstance(value, cst.Tuple) else [cst.Element(value)]
            )
        tuple_ = cst.Tuple(
            elements=[e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in prefixes]
        )
        return self._done(
            left.with_changes(args=[cst.Arg(tuple_)], lpar=updated.lpar, rpar=updated.rpar)
        )


class SquareProduct(Rewriter):
    """``x ** 2`` → ``x * x`` for a name ``x``: a multiplication instead of the general power."""

    def leave_BinaryOperation(
        self, original: cst.BinaryOperation, updated: cst.BinaryOperation
    ) -> cst.BaseExpression:
        if m.matches(
            updated, m.BinaryOperation(left=m.Name(), operator=m.Power(), right=m.Integer("2"))
        ):
            name = updated.left
            product = cst.BinaryOperation(left=name, operator=cst.Multiply(), right=name)
            return self._done(product.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]))
        return updated


class DivisionRounding(Rewriter):
    """``math.floor(a / b)`` → ``a // b``; ``math.ceil(a / b)`` → ``-(-a // b)``: integer division,
    no float (and exact for big integers)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        rounding = m.Attribute(value=m.Name("math"), attr=m.Name("floor") | m.Name("ceil"))
        if not m.matches(
            updated,
            m.Call(
                func=rounding, args=[m.Arg(m.BinaryOperation(operator=m.Divide()), keyword=None)]
            ),
        ):
            return updated
        division = updated.args[0].value
        a, b = (
            code_of(side) if m.matches(side, m.Name() | m.Integer()) else f"({code_of(side)})"
            for side in (division.left, division.right)  # type: ignore[attr-defined]
        )
        if updated.func.attr.value == "floor":  # type: ignore[attr-defined]
            return self._done(cst.parse_expression(f"({a} // {b})"))
        return self._done(cst.parse_expression(f"(-(-{a} // {b}))"))


class EmptyLiteral(Rewriter):
    """``list()`` / ``dict()`` / ``tuple()`` → ``[]`` / ``{}`` / ``()``: a literal instead of a
    name lookup and a call (flake8-comprehensions C408)."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        literals = {"list": "[]", "dict": "{}", "tuple": "()"}
        if m.matches(updated, m.Call(func=m.Name(), args=[])) and updated.func.value in literals:  # type: ignore[attr-defined]
            return self._done(cst.parse_expression(literals[updated.func.value]))  # type: ignore[attr-defined]
        return updated


class LastIndex(Rewriter):
    """``xs[len(xs) - 1]`` → ``xs[-1]``: no ``len`` call or subtraction."""

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        if not m.matches(updated.value, m.Name()):
            return updated
        name = updated.value.value  # type: ignore[attr-defined]
        index = m.Index(
            m.BinaryOperation(
                left=m.Call(func=m.Name("len"), args=[m.Arg(m.Name(name))]),
                operator=m.Subtract(),
                right=m.Integer("1"),
            )
        )
        if m.matches(updated, m.Subscript(slice=[m.SubscriptElement(index)])):
            minus_one = cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer("1"))
            return self._done(
                updated.with_changes(slice=[cst.SubscriptElement(cst.Index(minus_one))])
            )
        return updated


REWRITES = [
    Rewrite(
        "accumulation loop → sum/join",
        FAMILY,
        "Python docs: built-in sum; performance tips (str.join)",
        transform(SumLoop),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For",),
    ),
    Rewrite(
        "flag loop → any/all",
        FAMILY,
        "ruff SIM110",
        transform(AnyLoop),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For", "Break"),
    ),
    Rewrite(
        "return loop → in",
        FAMILY,
        "ruff SIM110 (a membership test)",
        transform(SearchLoop),
        r.LOOP_TO_MEMBERSHIP,
        ("seq:For>Return", "op:Eq"),
    ),
    Rewrite(
        "return loop → any/all",
        FAMILY,
        "ruff SIM110/SIM111",
        transform(ReturnAny),
        r.LOOP_TO_BUILTIN,
        ("seq:For>Return",),
    ),
    Rewrite(
        "extremum loop → min/max",
        FAMILY,
        "ruff PLR1730 family (if-stmt-min-max)",
        transform(MinMaxLoop),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For", "If"),
    ),
    Rewrite(
        "max then first match → max(key=)",
        FAMILY,
        "Python docs: built-in max (the first maximal item); refurb FURB118 family",
        transform(FirstExtremum),
        r.FIRST_EXTREMUM,
        ("seq:Assign>For", "call:max|call:min", "op:Eq"),
    ),
    Rewrite(
        "count loop → .count",
        FAMILY,
        "PIE train: counting loops",
        transform(CountLoop),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For", "op:Eq", "augop:Add"),
    ),
    Rewrite(
        "multi-accumulator loop → sum/math.prod",
        FAMILY,
        "Python docs: built-in sum, math.prod; ENAMEL (HumanEval/8)",
        transform(SplitAccumulators),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For", "augop:Add|augop:Mult"),
    ),
    Rewrite(
        "product loop → math.prod",
        FAMILY,
        "Python docs: math.prod",
        transform(ProductLoop),
        r.LOOP_TO_BUILTIN,
        ("seq:Assign>For", "augop:Mult"),
    ),
    Rewrite(
        "sorted index → min/max",
        FAMILY,
        "refurb FURB192",
        transform(SortedIndex),
        r.SORT_TO_PICK,
        ("call:sorted", "Subscript"),
    ),
    Rewrite(
        "power then modulo → pow(a, b, m)",
        FAMILY,
        "Python docs: built-in pow; PIE train",
        transform(PowMod),
        r.MODULAR_POW,
        ("binop:Mod", "binop:Pow|call:pow"),
    ),
    Rewrite(
        "factorial ratio → math.comb",
        FAMILY,
        "Python docs: math.comb",
        transform(FactorialComb),
        r.MATH_CALL,
        ("call:factorial",),
    ),
    Rewrite(
        "Euclid loop → math.gcd",
        FAMILY,
        "Python docs: math.gcd",
        transform(EuclidGcd),
        r.MATH_CALL,
        ("While", "binop:Mod"),
    ),
    Rewrite(
        "x ** 0.5 → math.sqrt",
        FAMILY,
        "Python docs: math.sqrt/isqrt",
        transform(PowerHalf),
        r.SQUARE_ROOT,
        ("binop:Pow|call:sqrt",),
    ),
    Rewrite(
        "any(x == v) → in",
        FAMILY,
        "Python docs: common sequence operations (x in s)",
        transform(AnyEqual),
        r.LOOP_TO_MEMBERSHIP,
        ("call:any", "op:Eq"),
    ),
    Rewrite(
        "any/all of a list → generator",
        FAMILY,
        "flake8-comprehensions C419",
        transform(ShortCircuit),
        r.SHORT_CIRCUIT,
        ("call:any|call:all", "ListComp"),
    ),
    Rewrite(
        "lambda → operator",
        FAMILY,
        "refurb FURB118",
        transform(OperatorKey),
        r.OPERATOR_FUNCTION,
        ("Lambda",),
    ),
    Rewrite(
        "lambda x: table[x] → table.__getitem__",
        FAMILY,
        "refurb FURB118; Python docs: sorting HOWTO (key functions)",
        transform(BoundGetitem),
        r.BOUND_LOOKUP,
        ("Lambda|ListComp", "Subscript"),
    ),
    Rewrite(
        "negated sort key → reverse=True",
        FAMILY,
        "Python docs: sorting HOWTO",
        transform(NegatedKey),
        r.SORT_ARGUMENTS,
        ("Lambda", "call:sorted|call:sort"),
    ),
    Rewrite(
        "reversed sort → reverse=True",
        FAMILY,
        "Python docs: sorting HOWTO",
        transform(ReversedSort),
        r.SORT_ARGUMENTS,
        ("call:sorted",),
    ),
    Rewrite(
        "map/filter lambda → comprehension",
        FAMILY,
        "flake8-comprehensions C417",
        transform(LambdaMap),
        r.COMPREHENSION_BUILT,
        ("Lambda", "call:map|call:filter"),
    ),
    Rewrite(
        "identity comprehension → direct",
        FAMILY,
        "flake8-comprehensions C416",
        transform(IdentityComprehension),
        r.NO_COPY,
        ("ListComp|SetComp|GeneratorExp",),
    ),
    Rewrite(
        "redundant inner call",
        FAMILY,
        "flake8-comprehensions C413/C414",
        transform(RedundantCall),
        r.NO_COPY,
        ("call:list|call:tuple|call:sorted|call:reversed",),
    ),
    Rewrite(
        "reduce → sum/prod/gcd",
        FAMILY,
        "refurb FURB118; Python docs: sum, math.prod",
        transform(ReduceBuiltin),
        r.LOOP_TO_BUILTIN,
        ("call:reduce",),
    ),
    Rewrite(
        "two-argument min/max → conditional",
        FAMILY,
        "PIE train: min/max in inner loops",
        transform(PairMinMax),
        r.CONDITIONAL,
        ("call:min|call:max",),
    ),
    Rewrite(
        "repeated equality → set membership",
        FAMILY,
        "ruff PLR1714; refurb FURB108",
        transform(RepeatedEquality),
        r.MEMBERSHIP_LITERAL,
        ("BoolOp", "op:Eq|op:NotEq"),
    ),
    Rewrite(
        "startswith chain → tuple",
        FAMILY,
        "flake8-pie PIE810; refurb FURB102",
        transform(StartswithTuple),
        r.STRING_METHOD,
        ("BoolOp", "call:startswith|call:endswith"),
    ),
    Rewrite(
        "slice comparison → startswith/endswith",
        FAMILY,
        "Python docs: str.startswith/endswith",
        transform(SliceStartswith),
        r.STRING_METHOD,
        ("Slice", "op:Eq|op:NotEq"),
    ),
    Rewrite(
        "find/count test → in",
        FAMILY,
        "Python docs: str.find (use in for a substring test)",
        transform(FindToIn),
        r.STRING_METHOD,
        ("call:find|call:count",),
    ),
    Rewrite(
        "bin().count → int.bit_count",
        FAMILY,
        "refurb FURB161",
        transform(BitCount),
        r.MATH_CALL,
        ("call:bin",),
    ),
    Rewrite(
        "// and % → divmod",
        FAMILY,
        "PIE train; Python docs: divmod",
        transform(DivMod),
        r.MATH_CALL,
        ("binop:FloorDiv", "binop:Mod"),
    ),
    Rewrite(
        "% then //= → divmod",
        FAMILY,
        "PIE train: digit loops; Python docs: divmod",
        transform(DivModStep),
        r.MATH_CALL,
        ("augop:FloorDiv|binop:FloorDiv", "binop:Mod"),
    ),
    Rewrite(
        "floor/ceil of a division → //",
        FAMILY,
        "PIE train: integer division",
        transform(DivisionRounding),
        r.INTEGER_DIVISION,
        ("call:floor|call:ceil", "binop:Div"),
    ),
    Rewrite(
        "x ** 2 → x * x",
        FAMILY,
        "PIE train: squares",
        transform(SquareProduct),
        r.SQUARED,
        ("binop:Pow",),
    ),
    Rewrite(
        "empty collection call → literal",
        FAMILY,
        "flake8-comprehensions C408; refurb FURB112",
        transform(EmptyLiteral),
        r.LITERAL_BUILT,
        ("call:list|call:dict|call:tuple",),
    ),
    Rewrite(
        "xs[len(xs) - 1] → xs[-1]",
        FAMILY,
        "PIE train: last element",
        transform(LastIndex),
        r.LITERAL_BUILT,
        ("call:len", "binop:Sub"),
    ),
]
