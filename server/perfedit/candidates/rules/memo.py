"""Rules of the memoisation family: a recursive function that recomputes the same calls gets a
cache (valid only for pure functions of hashable arguments, which validation checks as far as
the tests go)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from perfedit.candidates.rules import reasons as r
from perfedit.candidates.rules.base import Rewrite, Rewriter, transform

FAMILY = "memo"

_CACHED = (
    m.Attribute(attr=m.Name("cache") | m.Name("lru_cache")) | m.Name("cache") | m.Name("lru_cache")
)


class _CacheRecursion(Rewriter):
    """Base: a function that calls itself, has no ``*args``/``**kwargs`` and no cache yet →
    decorated with ``@functools.cache``; ``nested``: functions inside another one (a cache per
    call of the outer function) instead of top-level ones."""

    imports = ("functools",)
    nested = False

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
            m.matches(d.decorator, _CACHED | m.Call(func=_CACHED)) for d in updated.decorators
        )
        plain_params = (
            not isinstance(updated.params.star_arg, cst.Param) and updated.params.star_kwarg is None
        )
        if (self._depth > 0) == self.nested and calls_itself and not decorated and plain_params:
            decorator = cst.Decorator(decorator=cst.parse_expression("functools.cache"))
            return self._done(updated.with_changes(decorators=[*updated.decorators, decorator]))
        return updated


class CacheRecursion(_CacheRecursion):
    """A top-level function that calls itself → decorated with ``@functools.cache`` (valid only
    for pure functions of hashable arguments, which validation checks as far as tests go)."""


class CacheNestedRecursion(_CacheRecursion):
    """A recursive helper defined inside the target (``def solve(): def go(i): ... go(i + 1)``) →
    ``@functools.cache`` on the helper: its cache lives for one call of the outer function."""

    nested = True


class UnboundedCache(Rewriter):
    """``@lru_cache(maxsize=128)`` / ``@lru_cache()`` / ``@lru_cache`` → ``@functools.cache``: a
    bounded cache evicts and recomputes (and pays for the bookkeeping) on a deep recursion."""

    imports = ("functools",)

    def leave_Decorator(self, original: cst.Decorator, updated: cst.Decorator) -> cst.Decorator:
        lru = m.Attribute(attr=m.Name("lru_cache")) | m.Name("lru_cache")
        size = ~m.Name("None")
        bounded = (
            m.Call(func=lru, args=[])
            | m.Call(func=lru, args=[m.Arg(size, keyword=None)])
            | m.Call(func=lru, args=[m.Arg(size, keyword=m.Name("maxsize"))])
        )
        if m.matches(updated.decorator, lru | bounded):
            return self._done(
                updated.with_changes(decorator=cst.parse_expression("functools.cache"))
            )
        return updated


REWRITES = [
    Rewrite(
        "recursion → functools.cache",
        FAMILY,
        "Python docs: functools.cache",
        transform(CacheRecursion),
        r.CACHED,
        ("recursive",),
    ),
    Rewrite(
        "nested recursion → functools.cache",
        FAMILY,
        "Python docs: functools.cache",
        transform(CacheNestedRecursion),
        r.CACHED,
        ("recursive-nested",),
    ),
    Rewrite(
        "bounded lru_cache → functools.cache",
        FAMILY,
        "refurb FURB134, extended to bounded caches",
        transform(UnboundedCache),
        r.UNBOUNDED_CACHE,
        ("name:lru_cache",),
    ),
]
