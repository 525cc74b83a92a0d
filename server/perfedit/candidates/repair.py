"""Argument-copy repair: a candidate that changes an argument the original leaves alone, made to
work on a copy of it (a deterministic libcst rewrite, no model).

A small model often has the right idea and breaks only the caller's data: it sorts its input in
place (``numbers.sort()`` to compare neighbours) where the original only read it, and
differential testing rejects it ("leaves argument 1 as [...] where the original leaves [...]").
The job then derives one repaired candidate from it (:func:`argument_repair`), labelled after
its parent ("sample 2, argument copied") and validated like any other, right after it:

* each ``p.sort(...)`` → ``p = sorted(p, ...)`` and ``p.reverse()`` → ``p = p[::-1]``, when these
  statements, in the function's own body, are the only in-place changes of the parameter ``p``;
* else ``p = p.copy()`` (``p = list(p)`` when ``p``'s type hint is an abstract collection,
  ``Sequence``, ``Iterable``…, which need not have ``copy``) as the body's first statement,
  after the docstring.

Which parameter: differential testing names the changed argument's index as data
(:attr:`perfedit.verify.validate.Verdict.mutated_argument`); a candidate that failed a test
instead is repaired for each parameter it changes in place and the original, at the same
position, does not (read from both syntax trees: a call of a changing method such as ``sort``
or ``append`` on it, an assignment to an item or attribute of it, ``del`` of an item, ``+=``;
a parameter that is also rebound is left alone, as its changes may be of a local value).
A repair is never repaired again. A shallow copy does not undo changes to the items of an
argument, and a value without ``copy`` fails its tests: validation decides, as for any
candidate.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import libcst as cst

from perfedit.candidates.model import fit_to_target
from perfedit.candidates.rules.hoist import MUTATORS
from perfedit.targets import REPAIR, Candidate, Target

if TYPE_CHECKING:
    from perfedit.verify.validate import Verdict

#: What a repaired candidate's label adds to its parent's.
LABEL_SUFFIX = ", argument copied"
#: Type hints of collections that need not have ``copy``: their parameter is copied with ``list``.
ABSTRACT_HINTS = frozenset(
    {"Sequence", "MutableSequence", "Iterable", "Collection", "Reversible", "Iterator"}
)
#: The parameters of a method's object, which :func:`changed_parameters` never counts.
OBJECT_PARAMETERS = frozenset({"self", "cls"})
#: The in-place calls rewritten to a new value: ``p.sort(...)``, ``p.reverse()``.
REBINDABLE = frozenset({"sort", "reverse"})


def _name_of(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None


def _targets(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The single targets of an assignment target (tuples and lists unpacked)."""
    if isinstance(node, cst.Tuple | cst.List):
        return [t for element in node.elements for t in _targets(element.value)]
    if isinstance(node, cst.StarredElement):
        return _targets(node.value)
    return [node]


class _Changes(cst.CSTVisitor):
    """The in-place changes of the names ``names`` in a function's body (visit the body only):
    ``rebindable`` holds the statements ``p.sort(...)`` / ``p.reverse()`` of the function's own
    scope, by name; ``other`` counts every other change; ``rebound`` the names also bound."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = set(names)
        self.rebindable: dict[str, list[cst.SimpleStatementLine]] = {}
        self.other: dict[str, int] = {}
        self.rebound: set[str] = set()
        self._depth = 0  # nested functions, lambdas and classes
        self._settled: set[int] = set()  # ids of calls counted as rebindable

    def _nest(self, node: cst.CSTNode) -> None:
        self._depth += 1

    def _unnest(self, node: cst.CSTNode) -> None:
        self._depth -= 1

    visit_FunctionDef = visit_Lambda = visit_ClassDef = _nest
    leave_FunctionDef = leave_Lambda = leave_ClassDef = _unnest  # type: ignore[assignment]

    def _watched(self, node: cst.BaseExpression) -> str | None:
        """The watched name that ``node`` is, if it is one."""
        name = _name_of(node)
        return name if name in self.names else None

    def _count(self, name: str | None) -> None:
        if name is not None:
            self.other[name] = self.other.get(name, 0) + 1

    def _changed(self, node: cst.BaseExpression) -> None:
        """``node`` (an assignment or ``del`` target) changes or rebinds a watched name."""
        for target in _targets(node):
            if (name := self._watched(target)) is not None:
                self.rebound.add(name)
            elif isinstance(target, cst.Subscript | cst.Attribute):
                self._count(self._watched(target.value))

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if self._depth or len(node.body) != 1 or not isinstance(node.body[0], cst.Expr):
            return
        call = node.body[0].value
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        name = self._watched(call.func.value)
        method = call.func.attr.value
        if name is not None and method in REBINDABLE and (method == "sort" or not call.args):
            self.rebindable.setdefault(name, []).append(node)
            self._settled.add(id(call))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (
            id(node) not in self._settled
            and isinstance(func, cst.Attribute)
            and func.attr.value in MUTATORS
        ):
            self._count(self._watched(func.value))

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._changed(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._changed(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._changed(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._changed(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        for target in _targets(node.target):
            if isinstance(target, cst.Subscript | cst.Attribute):
                self._changed(target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if (name := self._watched(node.target)) is not None:  # list += changes the list
            self._count(name)
        else:
            self._changed(node.target)

    def changed(self, name: str) -> bool:
        """True if ``name`` is changed in place anywhere in the body."""
        return bool(self.rebindable.get(name) or self.other.get(name))


def _function(module: cst.Module, name: str) -> cst.FunctionDef | None:
    return next(
        (n for n in module.body if isinstance(n, cst.FunctionDef) and n.name.value == name), None
    )


def _positional(function: cst.FunctionDef) -> list[cst.Param]:
    return [*function.params.posonly_params, *function.params.params]


def _changes(function: cst.FunctionDef, names: Sequence[str]) -> _Changes:
    found = _Changes(names)
    function.body.visit(found)
    return found


def changed_parameters(code: str, name: str) -> list[bool]:
    """For each positional parameter of the top-level function ``name`` in ``code``: whether
    the function changes it in place and never rebinds it (see the module docstring; a method's
    ``self`` or ``cls`` never counts: changing its object is a method's business); empty
    when ``code`` does not parse or has no such function."""
    try:
        function = _function(cst.parse_module(code), name)
    except cst.ParserSyntaxError:
        return []
    if function is None:
        return []
    names = [param.name.value for param in _positional(function)]
    found = _changes(function, names)
    return [
        found.changed(param) and param not in found.rebound and param not in OBJECT_PARAMETERS
        for param in names
    ]


class _Copying(cst.CSTTransformer):
    """Rewrites ``function`` (the top-level definition itself): its ``rebindable`` statements
    replaced by rebindings, ``copies`` inserted after the docstring."""

    def __init__(
        self,
        function: cst.FunctionDef,
        rebindable: dict[int, cst.BaseSmallStatement],
        copies: list[cst.SimpleStatementLine],
    ) -> None:
        self.function, self.rebindable, self.copies = function, rebindable, copies

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        new = self.rebindable.get(id(original))
        return updated.with_changes(body=[new]) if new is not None else updated

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original is not self.function or not self.copies:
            return updated
        body = updated.body
        lines: list[cst.BaseStatement] = []
        if isinstance(body, cst.IndentedBlock):
            lines = list(body.body)
        elif isinstance(body, cst.SimpleStatementSuite):  # def f(p): p.sort(); return p
            lines = [
                cst.SimpleStatementLine(
                    body=[statement.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)]
                )
                for statement in body.body
            ]
        first = lines[0] if lines else None
        docstring = (
            isinstance(first, cst.SimpleStatementLine)
            and isinstance(first.body[0], cst.Expr)
            and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
        )
        at = 1 if docstring else 0
        block = (
            body.with_changes(body=[*lines[:at], *self.copies, *lines[at:]])
            if isinstance(body, cst.IndentedBlock)
            else cst.IndentedBlock(body=[*self.copies, *lines])
        )
        return updated.with_changes(body=block)


def _rebinding(call: cst.Call, name: str) -> cst.BaseSmallStatement:
    """``p = sorted(p, ...)`` for the call ``p.sort(...)``, ``p = p[::-1]`` for ``p.reverse()``."""
    value: cst.BaseExpression = cst.parse_expression(f"{name}[::-1]")
    if isinstance(call.func, cst.Attribute) and call.func.attr.value == "sort":
        args = [arg.with_changes(comma=cst.MaybeSentinel.DEFAULT) for arg in call.args]
        value = cst.Call(func=cst.Name("sorted"), args=[cst.Arg(cst.Name(name)), *args])
    return cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)


def _call_of(line: cst.SimpleStatementLine) -> cst.Call:
    """The call of a rebindable statement line (see :class:`_Changes`)."""
    statement = line.body[0]
    assert isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call)
    return statement.value


def _copy_line(param: cst.Param) -> cst.SimpleStatementLine:
    name = param.name.value
    hint = param.annotation.annotation if param.annotation is not None else None
    while isinstance(hint, cst.Subscript):  # Sequence[int] → Sequence
        hint = hint.value
    hinted = (
        hint.attr.value if isinstance(hint, cst.Attribute) else _name_of(hint) if hint else None
    )
    copy = f"list({name})" if hinted in ABSTRACT_HINTS else f"{name}.copy()"
    line = cst.parse_statement(f"{name} = {copy}\n")
    assert isinstance(line, cst.SimpleStatementLine)
    return line


def repaired(code: str, name: str, positions: Sequence[int]) -> str | None:
    """``code`` with the top-level function ``name`` made to leave its positional parameters at
    ``positions`` (0-based) unchanged (see the module docstring), or None when there is none of
    them to repair or ``code`` does not parse."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError:
        return None
    function = _function(module, name)
    params = _positional(function) if function is not None else []
    chosen = [params[i] for i in sorted(set(positions)) if 0 <= i < len(params)]
    if function is None or not chosen:
        return None
    found = _changes(function, [param.name.value for param in chosen])
    rebindable: dict[int, cst.BaseSmallStatement] = {}
    copies: list[cst.SimpleStatementLine] = []
    for param in chosen:
        param_name = param.name.value
        lines = found.rebindable.get(param_name, [])
        if lines and not found.other.get(param_name):
            rebindable.update({id(line): _rebinding(_call_of(line), param_name) for line in lines})
        else:
            copies.append(_copy_line(param))
    return module.visit(_Copying(function, rebindable, copies)).code


def argument_repair(target: Target, candidate: Candidate, verdict: Verdict) -> Candidate | None:
    """The repaired candidate of ``candidate`` (a function's; ``verdict`` its rejection) that
    leaves alone the argument it changed where the original did not (see the module
    docstring), labelled ``"<label>, argument copied"``; None when the rejection was not about
    such a change (the verdict names no changed argument, and on a failed test the candidate
    changes no parameter that the original leaves alone), for a script, for a repair, or when
    the repair cannot be made."""
    if (
        target.kind != "function"
        or candidate.origin == REPAIR
        or not candidate.usable
        or verdict.verdict != "rejected"
    ):
        return None
    name = target.name.rsplit(".", 1)[-1]
    code = textwrap.dedent(candidate.code)
    if verdict.mutated_argument is not None:
        positions = [verdict.mutated_argument]
    elif verdict.failed_test and verdict.differential is None:  # a test failed
        original = changed_parameters(textwrap.dedent(target.code), name)
        positions = [
            index
            for index, changed in enumerate(changed_parameters(code, name))
            if changed and index < len(original) and not original[index]
        ]
    else:
        return None
    new = repaired(code, name, positions)
    fitted = fit_to_target(new, target) if new is not None else None
    if fitted is None:
        return None
    return Candidate(candidate.label + LABEL_SUFFIX, fitted, target.replace(fitted), origin=REPAIR)
