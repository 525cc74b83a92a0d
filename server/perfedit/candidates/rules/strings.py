"""Rules of the strings family: text built character by character or piece by piece in Python,
rebuilt by one C-level string operation (``str.translate``, ``str.join``)."""

from __future__ import annotations

import ast

import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import (
    NamingPairRewriter,
    Rewrite,
    Rewriter,
    call,
    names_in,
    pure,
    transform,
)

FAMILY = "strings"

#: Functions a per-character expression may call: pure, and defined on one character.
_CHAR_FUNCTIONS = frozenset({"ord", "chr", "abs", "min", "max", "int", "str", "len"})
#: ``str`` methods a per-character expression may call: pure, and their result a ``str`` or bool.
_STR_METHODS = frozenset(
    {
        "upper", "lower", "swapcase", "casefold", "capitalize", "title",
        "isalpha", "isdigit", "isdecimal", "isnumeric", "isalnum", "isspace", "isupper", "islower",
    }
)  # fmt: skip
#: Those of :data:`_STR_METHODS` whose result is a ``str``.
_STR_RESULT = frozenset({"upper", "lower", "swapcase", "casefold", "capitalize", "title"})
#: Nodes a per-character expression may contain besides calls.
_ALLOWED = (
    cst.Name, cst.Integer, cst.Float, cst.SimpleString, cst.BinaryOperation,
    cst.UnaryOperation, cst.Comparison, cst.ComparisonTarget, cst.BooleanOperation, cst.IfExp,
    cst.Subscript, cst.SubscriptElement, cst.Index, cst.Arg, cst.Attribute,
    cst.BaseBinaryOp, cst.BaseUnaryOp, cst.BaseCompOp, cst.BaseBooleanOp,
    cst.LeftParen, cst.RightParen, cst.Comma, cst.MaybeSentinel,
    cst.BaseParenthesizableWhitespace, cst.Dot,
)  # fmt: skip


def _calls_are_pure(node: cst.CSTNode) -> bool:
    """True if every node of ``node`` is of :data:`_ALLOWED` kinds or a call of
    :data:`_CHAR_FUNCTIONS` / :data:`_STR_METHODS` (attributes only as such methods)."""
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Name):
            ok = func.value in _CHAR_FUNCTIONS
        elif isinstance(func, cst.Attribute):
            ok = func.attr.value in _STR_METHODS and _calls_are_pure(func.value)
        else:
            ok = False
        return ok and all(
            arg.star == "" and arg.keyword is None and _calls_are_pure(arg.value)
            for arg in node.args
        )
    if isinstance(node, cst.Attribute):
        return False  # an attribute read may run code; a method is matched with its call
    if not isinstance(node, _ALLOWED):
        return False
    return all(_calls_are_pure(child) for child in node.children)


def _makes_str(node: cst.BaseExpression) -> bool:
    """True if ``node`` evaluates to a ``str`` whenever it evaluates at all (so that
    ``str.translate`` cannot read it as a code point where ``str.join`` would raise)."""
    if isinstance(node, cst.SimpleString):
        return True
    if isinstance(node, cst.Call):
        func = node.func
        return (isinstance(func, cst.Name) and func.value in ("chr", "str")) or (
            isinstance(func, cst.Attribute) and func.attr.value in _STR_RESULT
        )
    if isinstance(node, cst.IfExp):
        return _makes_str(node.body) and _makes_str(node.orelse)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        return _makes_str(node.left) or _makes_str(node.right)
    return False


def _empty_string(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.SimpleString) and ast.literal_eval(node.value) == ""


class CharacterTranslate(Rewriter):
    """``"".join([E(c) for c in s])`` (or a generator), ``E`` a pure expression of the
    character that gives a ``str`` → ``s.translate({ord(c): E(c) for c in set(s)})``: ``E`` is
    computed once per distinct character and the string is mapped in C."""

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if not (
            isinstance(func, cst.Attribute)
            and func.attr.value == "join"
            and _empty_string(func.value)
            and len(updated.args) == 1
            and isinstance(updated.args[0].value, cst.ListComp | cst.GeneratorExp)
        ):
            return updated
        comprehension = updated.args[0].value
        clause = comprehension.for_in
        element = comprehension.elt
        if not (
            isinstance(clause.target, cst.Name)
            and not clause.ifs
            and clause.inner_for_in is None
            and clause.asynchronous is None
            and pure(clause.iter)
            and not isinstance(clause.iter, cst.SimpleString)
        ):
            return updated
        character = clause.target.value
        if not (
            character in names_in(element) and _makes_str(element) and _calls_are_pure(element)
        ):
            return updated
        text = clause.iter
        table = cst.DictComp(
            key=call("ord", cst.Name(character)),
            value=element,
            for_in=cst.CompFor(target=clause.target, iter=call("set", text)),
        )
        return self._done(
            cst.Call(
                func=cst.Attribute(value=text, attr=cst.Name("translate")), args=[cst.Arg(table)]
            )
        )


class PrependJoin(NamingPairRewriter):
    """``s = ""`` followed by a loop whose body prepends once, ``s = piece + s``, and reads
    ``s`` nowhere else → pieces appended to a list in the loop, then
    ``s = "".join(reversed(pieces))``: each prepend copied the whole string (O(n²) in all)."""

    def _merge(
        self, first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        start = m.SimpleStatementLine(
            body=[m.Assign(targets=[m.AssignTarget(m.Name())], value=m.SimpleString())]
        )
        if not (
            isinstance(second, cst.For | cst.While)
            and second.orelse is None
            and m.matches(first, start)
            and isinstance(second.body, cst.IndentedBlock)
        ):
            return None
        init = first.body[0]  # type: ignore[attr-defined]
        name = init.targets[0].target.value
        prepend = m.SimpleStatementLine(
            body=[
                m.Assign(
                    targets=[m.AssignTarget(m.Name(name))],
                    value=m.BinaryOperation(operator=m.Add(), right=m.Name(name)),
                )
            ]
        )
        body = list(second.body.body)
        found = [i for i, statement in enumerate(body) if m.matches(statement, prepend)]
        if len(found) != 1:
            return None
        line = body[found[0]]
        piece = line.body[0].value.left  # type: ignore[attr-defined]
        rest = [s for i, s in enumerate(body) if i != found[0]]
        heads = [second.iter, second.target] if isinstance(second, cst.For) else [second.test]
        if any(name in names_in(node) for node in (*rest, piece, *heads)):
            return None
        pieces = self._fresh(f"{name}_pieces")
        body[found[0]] = line.with_changes(body=[cst.Expr(call(f"{pieces}.append", piece))])
        joined: cst.BaseExpression = call("''.join", call("reversed", cst.Name(pieces)))
        if not _empty_string(init.value):
            joined = cst.BinaryOperation(left=joined, operator=cst.Add(), right=init.value)
        return [
            first.with_changes(
                body=[cst.Assign([cst.AssignTarget(cst.Name(pieces))], cst.List([]))]
            ),
            second.with_changes(body=second.body.with_changes(body=body)),
            cst.SimpleStatementLine(body=[cst.Assign([cst.AssignTarget(cst.Name(name))], joined)]),
        ]


REWRITES = [
    Rewrite(
        "per-character join → str.translate",
        FAMILY,
        "Python docs: str.translate (a mapping table applied in C)",
        transform(CharacterTranslate),
        r.TRANSLATED,
        ("call:join", "ListComp|GeneratorExp"),
    ),
    Rewrite(
        "string prepend loop → list + join",
        FAMILY,
        "Python docs: performance tips (str.join; strings are immutable)",
        transform(PrependJoin),
        r.PREPEND_JOINED,
        ("seq:Assign>For|seq:Assign>While", "binop:Add"),
    ),
]
