"""Retrieved exemplars: the slow→fast pairs most similar to the code being optimised, for the
prompt (PIE, Shypula et al. 2024, section 3.1 "dynamic retrieval-based few-shot prompting").

PIE retrieves the k training pairs whose slow program is nearest to the input and shows them as
demonstrations. We rank the pairs of a pair file (PIE's ``train.jsonl``, or the project's own
mined pairs in the same format, :mod:`perfedit.training.pairs`) by BM25 over code tokens
(identifiers, keywords, operators and literals from Python's own :mod:`tokenize`; strings and
comments dropped), with the ``bm25s`` library: sparse-matrix BM25 on numpy and scipy (already
dependencies), maintained, saves and loads its index as plain arrays. An embedding model would need
weights that this project cannot assume are present offline; BM25 over code tokens is what
PIE's retrieval amounts to for near-duplicate-rich competitive programs.

The index is built once per pair file and cached under :func:`perfedit.llm.modelstore.cache_root`
(``exemplars/<key>/``), keyed by the file's resolved path and modification time. Exemplars never
come from the program being optimised: a pair of an excluded problem (its problem id) or whose slow
or fast version is nearly the query itself is skipped.
"""

from __future__ import annotations

import builtins
import difflib
import functools
import hashlib
import io
import json
import keyword
import logging
import tokenize
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from perfedit.errors import InputError

log = logging.getLogger(__name__)

#: Bump when the token rule or the cache layout changes, so old caches are not read.
INDEX_VERSION = 1
#: Pairs longer than this (slow plus fast, characters; about a thousand tokens) are never shown:
#: two of them must fit the model's context beside the target and the reply.
MAX_PAIR_CHARS = 3000
#: Token similarity (difflib ratio over code tokens) at or above which a pair is "the same program".
NEAR_IDENTICAL = 0.9
_SKIPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
    tokenize.STRING,
}
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Exemplar:
    """One slow→fast demonstration; ``kind`` is "script" or "function"."""

    slow: str
    fast: str
    kind: str = "script"
    problem_id: str = ""
    id: str = ""


def _raw_tokens(code: str) -> list[str]:
    """Python tokens of ``code`` without comments, strings and layout; whitespace-split when
    the code does not tokenise."""
    try:
        return [
            t.string
            for t in tokenize.generate_tokens(io.StringIO(code).readline)
            if t.type not in _SKIPPED
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code.split()


def code_tokens(code: str) -> list[str]:
    """The BM25 terms of ``code``: Python tokens without comments, strings and layout; names are
    also split at underscores (``read_input`` → ``read_input``, ``read``, ``input``). Falls back
    to whitespace splitting when the code does not tokenise."""
    terms = []
    for token in _raw_tokens(code):
        terms.append(token)
        if token.isidentifier() and not keyword.iskeyword(token) and "_" in token.strip("_"):
            terms += [part for part in token.split("_") if part]
    return terms


#: Names that :func:`shape_tokens` keeps: the standard library modules of the cookbook's idioms.
KNOWN_MODULES = frozenset(
    {"math", "sys", "heapq", "bisect", "collections", "itertools", "functools", "operator", "re"}
)


def shape_tokens(code: str) -> list[str]:
    """BM25 terms for the shape of ``code`` rather than its vocabulary: its tokens
    (:func:`_raw_tokens`) with the code's own names written ``_`` (built-ins, keywords,
    attribute names and :data:`KNOWN_MODULES` kept: ``for _ in range ( len ( _ ) )``), and
    every pair of neighbouring tokens as one more term (``in range``, ``] +``, ``return True``).
    For short idiom demonstrations, whose names say nothing of the target's, the loop and
    operator pattern is what is shared."""
    raw = _raw_tokens(code)
    shaped = [
        token
        if not token.isidentifier()
        or keyword.iskeyword(token)
        or token in _BUILTINS
        or token in KNOWN_MODULES
        or (index > 0 and raw[index - 1] == ".")
        else "_"
        for index, token in enumerate(raw)
    ]
    return shaped + [f"{a} {b}" for a, b in zip(shaped, shaped[1:], strict=False)]


def near_identical(a: Sequence[str], b: Sequence[str]) -> bool:
    """True if token lists ``a`` and ``b`` are nearly the same program (difflib ratio ≥
    :data:`NEAR_IDENTICAL`)."""
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return (
        matcher.real_quick_ratio() >= NEAR_IDENTICAL
        and matcher.quick_ratio() >= NEAR_IDENTICAL
        and matcher.ratio() >= NEAR_IDENTICAL
    )


class ExemplarIndex:
    """A BM25 index (``bm25s``) over the slow versions of ``exemplars``, their terms made by
    ``terms`` (:func:`code_tokens`, or :func:`shape_tokens`)."""

    def __init__(
        self,
        exemplars: Sequence[Exemplar],
        retriever: object,
        terms: Callable[[str], list[str]] = code_tokens,
    ) -> None:
        self.exemplars = list(exemplars)
        self._retriever = retriever
        self._terms = terms

    @classmethod
    def build(
        cls, exemplars: Sequence[Exemplar], terms: Callable[[str], list[str]] = code_tokens
    ) -> ExemplarIndex:
        """Index ``exemplars`` by ``terms`` of their slow versions."""
        import bm25s

        retriever = bm25s.BM25()
        retriever.index([terms(e.slow) or ["<empty>"] for e in exemplars], show_progress=False)
        return cls(exemplars, retriever, terms)

    def save(self, folder: Path) -> None:
        """Write the index and its exemplars to ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self._retriever.save(str(folder / "bm25"), show_progress=False)  # type: ignore[attr-defined]
        (folder / "exemplars.json").write_text(
            json.dumps([asdict(e) for e in self.exemplars]), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> ExemplarIndex:
        """The index :meth:`save` wrote to ``folder``."""
        import bm25s

        exemplars = [
            Exemplar(**row)
            for row in json.loads((folder / "exemplars.json").read_text(encoding="utf-8"))
        ]
        return cls(exemplars, bm25s.BM25.load(str(folder / "bm25"), show_progress=False))

    def nearest(
        self, code: str, k: int, *, kind: str | None = None, exclude_problems: Collection[str] = ()
    ) -> list[Exemplar]:
        """The ``k`` exemplars whose slow version is most similar to ``code`` (BM25 score, best
        first; only those scoring above 0), of ``kind`` when given. Skipped: pairs longer than
        :data:`MAX_PAIR_CHARS`, pairs of
        ``exclude_problems`` and pairs whose slow or fast version is nearly ``code`` itself
        (:func:`near_identical` over :func:`code_tokens`), so the program being optimised never
        shows up as its own answer."""
        query = code_tokens(code)
        if k <= 0 or not query or not self.exemplars:
            return []
        scores = self._retriever.get_scores(self._terms(code))  # type: ignore[attr-defined]  # (N,)
        found: list[Exemplar] = []
        for index in sorted(range(len(self.exemplars)), key=lambda i: -scores[i]):
            if scores[index] <= 0 or len(found) == k:
                break
            e = self.exemplars[index]
            if (
                (kind and e.kind != kind)
                or (e.problem_id and e.problem_id in exclude_problems)
                or len(e.slow) + len(e.fast) > MAX_PAIR_CHARS
            ):
                continue
            if near_identical(query, code_tokens(e.slow)) or near_identical(
                query, code_tokens(e.fast)
            ):
                continue
            found.append(e)
        return found


def pair_file(path: Path) -> Path:
    """The pair file for ``path``: itself, or ``train.jsonl`` in a folder (PIE's layout)."""
    return path / "train.jsonl" if path.is_dir() else path


def cache_key(path: Path) -> str:
    """The cache key of pair file ``path``: its resolved path and modification time."""
    stat = path.stat()
    return hashlib.sha256(
        f"{INDEX_VERSION}:{path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}".encode()
    ).hexdigest()[:20]


def _exemplars(path: Path) -> list[Exemplar]:
    from perfedit.formats.pairs import load

    return [
        Exemplar(p.slow, p.fast, p.kind, p.problem_id, p.id)
        for p in load(path)
        if p.passes is not False and p.slow.strip() != p.fast.strip()
    ]


@functools.lru_cache(maxsize=4)
def _cached(path: Path, key: str) -> ExemplarIndex:
    from perfedit.llm.modelstore import cache_root

    folder = cache_root() / "exemplars" / key
    if (folder / "exemplars.json").is_file():
        try:
            return ExemplarIndex.load(folder)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache is rebuilt below
    index = ExemplarIndex.build(_exemplars(path))
    index.save(folder)
    return index


def load_index(path: Path) -> ExemplarIndex:
    """The exemplar index of the pair file (or PIE folder) ``path``, built on first use and then
    read from the cache (also kept in memory for the process).

    Raises:
        InputError: ``path`` does not exist or is not a pair file.
    """
    file = pair_file(path)
    if not file.is_file():
        raise InputError(
            f"exemplars: {file} does not exist (PIE's pairs are in ../shared/data/pie; pass that folder or a .jsonl pair file)"
        )
    return _cached(file.resolve(), cache_key(file))


def pair_index(path: Path) -> ExemplarIndex | None:
    """:func:`load_index` of ``path``, or None when the file is missing or corrupt: that source
    of exemplars is then off for the job, and the reason is logged once per process."""
    try:
        return load_index(path)
    except InputError as exc:
        _warn_once(f"perfedit: {exc}; exemplars from it are off")
        return None


@functools.cache
def _warn_once(message: str) -> None:
    log.warning(message)


def interleaved(ranked: Sequence[Sequence[Exemplar]]) -> list[Exemplar]:
    """The exemplars of several ranked lists (best first, one list per source), taken in turn:
    the first of each list, then the second of each...; BM25 scores of different indexes are
    not comparable, so sources are alternated rather than merged by score."""
    longest = max((len(found) for found in ranked), default=0)
    return [found[rank] for rank in range(longest) for found in ranked if rank < len(found)]


def problems_in(*paths: Path | None) -> set[str]:
    """Every path component of ``paths``: a target in PIE's layout (``.../p02345/...``, a case
    folder ``tests/p02345``) names its problem there, so its problem's pairs are excluded."""
    return {part for path in paths if path is not None for part in path.resolve().parts}
