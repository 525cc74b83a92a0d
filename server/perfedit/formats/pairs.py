"""The pair file: slow→fast pairs as JSON Lines, read by the product (retrieved prompt
exemplars, :mod:`perfedit.candidates.retrieval`) and by training (:mod:`perfedit.training`), so it
lives below both.

Every line has ``slow`` and ``fast`` (program or function text); optional fields: ``kind``
("script", the default, or "function"), ``problem_id``, ``id``, ``tests`` (a case folder,
relative to the pair file) and ``passes`` (both versions were seen to pass their tests). PIE's own
files (``../shared/data/pie/*.jsonl``) fit this format: their ``sample_tests_py311`` field records
whether each version passes, and their tests are found in ``tests/{problem_id}/`` beside the file.
``perfedit data pairs`` and ``perfedit suggest --export-pair`` write this format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from perfedit.errors import InputError
from perfedit.formats.suites import is_case_folder


@dataclass(frozen=True)
class Pair:
    """One slow→fast pair. ``tests`` is its case folder (None: unknown), ``passes`` whether both
    versions were recorded to pass them and ``slow_passes`` whether the slow one was (None: not
    recorded)."""

    slow: str
    fast: str
    kind: Literal["script", "function"] = "script"
    problem_id: str = ""
    id: str = ""
    tests: Path | None = None
    passes: bool | None = None
    slow_passes: bool | None = None


def _pair(row: dict[str, Any], where: str, folder: Path, tests_root: Path) -> Pair:
    missing = [key for key in ("slow", "fast") if not isinstance(row.get(key), str)]
    if missing:
        raise InputError(
            f"{where}: a pair needs text fields 'slow' and 'fast' (missing {', '.join(missing)})"
        )
    kind = row.get("kind", "script")
    if kind not in ("script", "function"):
        raise InputError(f"{where}: 'kind' must be script or function, got {kind!r}")
    problem = str(row.get("problem_id", ""))
    if row.get("tests"):
        tests: Path | None = folder / row["tests"]
    else:
        tests = tests_root / problem if problem and is_case_folder(tests_root / problem) else None
    recorded = row.get("sample_tests_py311")
    passes: bool | None
    slow_passes: bool | None
    if isinstance(recorded, dict):
        passes, slow_passes = (
            recorded == {"slow": "pass", "fast": "pass"},
            recorded.get("slow") == "pass",
        )
    else:
        passes = slow_passes = row.get("passes")
    identifier = row.get("id") or row.get("submission_id_v0") or where
    return Pair(
        row["slow"], row["fast"], kind, problem, str(identifier), tests, passes, slow_passes
    )


def load(path: Path, tests_root: Path | None = None) -> list[Pair]:
    """The pairs in the JSON Lines file ``path``; case folders are ``tests_root/{problem_id}/``
    (default: ``tests/`` beside the file) unless a line names its own ``tests``.

    Raises:
        InputError: the file is missing, a line is not JSON, or a pair lacks ``slow``/``fast``.
    """
    if not path.is_file():
        raise InputError(
            f"pair file {path} does not exist (PIE's are in ../shared/data/pie/; pass the path)"
        )
    root = tests_root if tests_root is not None else path.parent / "tests"
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        pairs.append(_pair(row, f"{path.name}:{number}", path.parent, root))
    return pairs
