"""Mining slow→fast pairs: from submission trajectories as PIE builds its data set (PIE,
section 2.1), and from a git repository's history (a user's own data for fine-tuning).

Trajectories (:func:`mine_trajectories`): a CSV or JSON Lines file with one row per submission.
Columns, with Project CodeNet's metadata names accepted as aliases: ``user`` (``user_id``),
``problem`` (``problem_id``), ``timestamp`` (``date``; numbers or ISO strings), ``status``,
``cpu_time`` (ms), ``path`` (the source file, relative to the trajectory file) and optionally
``submission`` (``submission_id``). Of each (user, problem) trajectory, the accepted submissions
are sorted by time and every consecutive pair (v0, v1) is kept when

* both versions have fewer than :data:`MAX_LINES` non-empty lines,
* fewer than :data:`MAX_CHANGED` of their non-empty lines changed (``1 - difflib ratio``),
* v1 is more than :data:`MIN_IMPROVEMENT` faster: ``(t0 - t1) / t0``,
* the gain is not only an unused import: the versions differ after autoflake removes unused
  imports from both (compared as syntax trees, so reformatting alone does not count either).

Pairs are split by problem (a stable hash of the problem id), so no problem is in two splits.

Git history (:func:`mine_git`): for each first-parent commit, each function of fewer than
:data:`MAX_LINES` non-empty lines whose code changed (outside test files) is a candidate pair
(a rewrite of most of a function is fine here: the commit itself vouches for the intent); the parent's tree is checked out into a temporary
folder, the function's tests are found as ``perfedit suggest`` finds them, and the pair is kept
only if the new function, put in place of the old one, passes them and is significantly faster
under the product's harness.
"""

from __future__ import annotations

import ast
import csv
import difflib
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import textwrap
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import autoflake

from perfedit import targets
from perfedit.candidates.model import fit_to_target
from perfedit.config import Settings
from perfedit.errors import InputError, NoTestsFound, OriginalFailsTests, PerfeditError
from perfedit.progress import TaskProgressFn, no_progress
from perfedit.testsource.discovery import discover
from perfedit.verify.validate import Harness

if TYPE_CHECKING:
    from perfedit.executors import Executor

MAX_LINES = 150
MAX_CHANGED = 0.5
MIN_IMPROVEMENT = 0.10

_ALIASES = {
    "user": ("user", "user_id"),
    "problem": ("problem", "problem_id"),
    "timestamp": ("timestamp", "date"),
    "status": ("status",),
    "cpu_time": ("cpu_time",),
    "path": ("path", "source", "filename"),
    "submission": ("submission", "submission_id"),
}
_ACCEPTED = {"accepted", "ac"}


@dataclass(frozen=True)
class Submission:
    """One row of a trajectory file; ``cpu_time_ms`` as the judge reported it."""

    user: str
    problem: str
    timestamp: float
    accepted: bool
    cpu_time_ms: float
    code: str
    submission: str


def _field(row: dict[str, Any], name: str, where: str) -> Any:
    for alias in _ALIASES[name]:
        if row.get(alias) not in (None, ""):
            return row[alias]
    raise InputError(
        f"{where}: no {name!r} column (also read as {', '.join(_ALIASES[name][1:]) or 'nothing else'})"
    )


def _timestamp(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError as exc:
        raise InputError(
            f"{where}: timestamp {value!r} is neither a number nor an ISO date"
        ) from exc


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            yield f"{path.name}:{number}", row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path.name}:{number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path.name}:{number}: not JSON ({exc.msg})") from exc


def read_trajectories(path: Path) -> list[Submission]:
    """The submissions in the trajectory file ``path`` (CSV if it ends in .csv, else JSON Lines);
    the source of accepted submissions is read from ``path``'s folder.

    Raises:
        InputError: the file or an accepted submission's source is missing, or a column is.
    """
    if not path.is_file():
        raise InputError(f"trajectory file {path} does not exist")
    submissions = []
    for where, row in _rows(path):
        accepted = str(_field(row, "status", where)).strip().lower() in _ACCEPTED
        source = path.parent / str(_field(row, "path", where))
        if accepted and not source.is_file():
            raise InputError(f"{where}: source file {source} does not exist")
        submissions.append(
            Submission(
                user=str(_field(row, "user", where)),
                problem=str(_field(row, "problem", where)),
                timestamp=_timestamp(_field(row, "timestamp", where), where),
                accepted=accepted,
                cpu_time_ms=float(_field(row, "cpu_time", where)),
                code=source.read_text(encoding="utf-8") if accepted else "",
                submission=str(row.get("submission") or row.get("submission_id") or where),
            )
        )
    return submissions


def _nonempty(code: str) -> list[str]:
    return [line.rstrip() for line in code.splitlines() if line.strip()]


def changed_fraction(old: str, new: str) -> float:
    """The fraction of non-empty lines that differ between ``old`` and ``new``: one minus
    difflib's similarity ratio over both versions' lines (0: same, 1: nothing in common)."""
    return 1 - difflib.SequenceMatcher(None, _nonempty(old), _nonempty(new), autojunk=False).ratio()


def only_unused_imports(old: str, new: str) -> bool:
    """True if ``old`` and ``new`` have the same syntax tree once autoflake has removed every
    unused import from both (the only "gain" was dropping an import; PIE, section 2.1), or if
    either does not parse."""
    try:
        trees = [
            ast.dump(ast.parse(autoflake.fix_code(code, remove_all_unused_imports=True)))
            for code in (old, new)
        ]
    except SyntaxError:
        return True
    return trees[0] == trees[1]


def too_long(old: str, new: str) -> bool:
    """True if either version has :data:`MAX_LINES` or more non-empty lines."""
    return max(len(_nonempty(old)), len(_nonempty(new))) >= MAX_LINES


def code_rejection(old: str, new: str) -> str | None:
    """Why the code of the pair (``old``, ``new``) fails PIE's filters (size, share of changed
    lines, unused imports only), or None."""
    if too_long(old, new):
        return f"{MAX_LINES} or more non-empty lines"
    if changed_fraction(old, new) >= MAX_CHANGED:
        return f"{MAX_CHANGED:.0%} or more of the lines changed"
    if only_unused_imports(old, new):
        return "the only change is an unused import (or the code does not parse)"
    return None


def rejection(old: Submission, new: Submission) -> str | None:
    """Why the consecutive accepted submissions (``old``, ``new``) fail PIE's filters, or None."""
    if (
        old.cpu_time_ms <= 0
        or (old.cpu_time_ms - new.cpu_time_ms) / old.cpu_time_ms <= MIN_IMPROVEMENT
    ):
        return f"not more than {MIN_IMPROVEMENT:.0%} faster"
    return code_rejection(old.code, new.code)


def split_of(problem: str, val_fraction: float, test_fraction: float) -> str:
    """ "train", "val" or "test" for ``problem``, stable across runs and machines (SHA-256)."""
    position = int(hashlib.sha256(problem.encode()).hexdigest()[:8], 16) / 0x1_0000_0000  # [0, 1)
    if position < val_fraction:
        return "val"
    return "test" if position < val_fraction + test_fraction else "train"


def mine_trajectories(
    submissions: Sequence[Submission], *, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """PIE's pairs (section 2.1, see the module docstring) in the pair-file format with PIE's
    fields, and a count of the consecutive pairs dropped per reason."""
    trajectories: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for s in submissions:
        if s.accepted:
            trajectories[(s.user, s.problem)].append(s)
    pairs: list[dict[str, Any]] = []
    dropped: defaultdict[str, int] = defaultdict(int)
    for (user, problem), trajectory in sorted(trajectories.items()):
        ordered = sorted(trajectory, key=lambda s: s.timestamp)
        for old, new in zip(ordered, ordered[1:], strict=False):
            reason = rejection(old, new)
            if reason:
                dropped[reason] += 1
                continue
            pairs.append(
                {
                    "problem_id": problem,
                    "user_id": user,
                    "submission_id_v0": old.submission,
                    "submission_id_v1": new.submission,
                    "cpu_time_v0": old.cpu_time_ms,
                    "cpu_time_v1": new.cpu_time_ms,
                    "improvement_frac": round(
                        100 * (old.cpu_time_ms - new.cpu_time_ms) / old.cpu_time_ms, 2
                    ),
                    "slow": old.code,
                    "fast": new.code,
                    "split": split_of(problem, val_fraction, test_fraction),
                }
            )
    return pairs, dict(dropped)


def write_splits(pairs: Sequence[dict[str, Any]], out: Path) -> dict[str, int]:
    """``out/{train,val,test}.jsonl`` from the pairs' ``split`` field; pairs per split."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "val", "test"):
        chosen = [p for p in pairs if p.get("split", "train") == split]
        (out / f"{split}.jsonl").write_text(
            "".join(json.dumps(p) + "\n" for p in chosen), encoding="utf-8"
        )
        counts[split] = len(chosen)
    return counts


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise InputError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip()}")
    return done.stdout


def _export_tree(repo: Path, commit: str, folder: Path) -> None:
    """The files of ``commit`` written into ``folder`` (``git archive``; the work tree and the
    index are not touched)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit], capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")


def _functions(source: str, path: Path) -> dict[str, str]:
    """Qualified name → source text of every function in ``source`` ({} if it does not parse)."""
    try:
        spans = targets.function_spans(source, path)
    except PerfeditError:
        return {}
    lines = source.splitlines(keepends=True)
    return {name: "".join(lines[first - 1 : last]) for name, (first, last) in spans.items()}


def _same_tree(a: str, b: str) -> bool:
    try:
        return ast.dump(ast.parse(textwrap.dedent(a))) == ast.dump(ast.parse(textwrap.dedent(b)))
    except SyntaxError:
        return True


def changed_functions(repo: Path, parent: str, commit: str) -> list[tuple[str, str, str, str]]:
    """``(path, qualified name, old code, new code)`` of every function that ``commit`` changed
    (other than formatting) in a non-test Python file that exists on both sides."""
    found = []
    for line in _git(
        repo, "diff", "--name-status", "--no-renames", parent, commit, "--", "*.py"
    ).splitlines():
        status, _, path = line.partition("\t")
        name = Path(path).name
        if (
            status != "M"
            or name.startswith("test_")
            or name.endswith("_test.py")
            or name == "conftest.py"
        ):
            continue
        old = _functions(_git(repo, "show", f"{parent}:{path}"), Path(path))
        new = _functions(_git(repo, "show", f"{commit}:{path}"), Path(path))
        for function in sorted(old.keys() & new.keys()):
            if not _same_tree(old[function], new[function]):
                found.append((path, function, old[function], new[function]))
    return found


@dataclass(frozen=True)
class CommitUnit:
    """One commit to mine (the unit :func:`mine_git` runs on an executor): its changed functions
    ``(path, qualified name, old code, new code)`` and the parent's files, either as a ``git
    archive`` tar (``tree``, for a node without the repository) or read from ``repo``."""

    commit: str
    parent: str
    changes: tuple[tuple[str, str, str, str], ...]
    settings: Settings
    repo: Path | None = None
    tree: bytes | None = None


def mine_commit(unit: CommitUnit) -> list[dict[str, Any]]:
    """The pairs of one commit: each changed function that the commit made significantly
    faster under its tests, in the pair-file format (see :func:`mine_git`)."""
    pairs = []
    with tempfile.TemporaryDirectory(prefix="perfedit-mine-") as folder:
        tree = Path(folder)
        if unit.tree is not None:
            with tarfile.open(fileobj=io.BytesIO(unit.tree)) as tar:
                tar.extractall(tree, filter="data")
        else:
            assert unit.repo is not None
            _export_tree(unit.repo, unit.parent, tree)
        for path, function, old, new in unit.changes:
            speedup = _measured_speedup(tree, tree / path, function, new, unit.settings)
            if speedup is not None:
                pairs.append(
                    {
                        "slow": textwrap.dedent(old),
                        "fast": textwrap.dedent(new),
                        "kind": "function",
                        "id": f"{unit.commit[:12]}:{path}:{function}",
                        "problem_id": f"{path}:{function}",
                        "commit": unit.commit,
                        "speedup": round(speedup, 3),
                        "passes": True,
                    }
                )
    return pairs


def mine_git(
    repo: Path,
    settings: Settings,
    *,
    max_commits: int = 100,
    progress: TaskProgressFn = no_progress,
    executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """Function pairs from the last ``max_commits`` first-parent commits of ``repo`` where the
    commit made the function significantly faster under its tests (see the module docstring);
    each in the pair-file format with ``kind`` "function", the commit, path and speedup.
    Timing follows ``settings`` (runs, alpha, min_speedup) as for a suggestion. Each commit is
    one unit on ``executor`` (default: here, in order); a remote one gets the parent's files
    as a tar, and a commit whose unit died on the cluster yields no pair.

    Raises:
        InputError: ``repo`` is not a git repository.
    """
    from perfedit.executors import LocalExecutor

    executor = executor or LocalExecutor()
    commits = _git(
        repo,
        "rev-list",
        "--first-parent",
        "--reverse",
        f"--max-count={max_commits}",
        "--parents",
        "HEAD",
    )
    history = [line.split() for line in commits.splitlines() if len(line.split()) >= 2]

    def units() -> Iterator[CommitUnit]:
        for commit, parent, *_ in history:
            changes = tuple(
                c for c in changed_functions(repo, parent, commit) if not too_long(c[2], c[3])
            )
            if changes:
                tree = _git_archive(repo, parent) if executor.remote else None
                yield CommitUnit(
                    commit,
                    parent,
                    changes,
                    settings,
                    repo=None if executor.remote else repo,
                    tree=tree,
                )

    found: dict[int, list[dict[str, Any]]] = {}
    progress("mining commits", 0, len(history))
    for done, result in enumerate(executor.run(mine_commit, units()), start=1):
        found[result.index] = result.value if result.error is None else []
        progress("mining commits", min(done, len(history)), len(history))
    progress("mining commits", len(history), len(history))
    return [pair for index in sorted(found) for pair in found[index]]


def _git_archive(repo: Path, commit: str) -> bytes:
    """The files of ``commit`` as an uncompressed tar (``git archive``)."""
    return subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", commit], capture_output=True, check=True
    ).stdout


def _measured_speedup(
    tree: Path, path: Path, function: str, new_code: str, settings: Settings
) -> float | None:
    """The significant speedup of ``new_code`` in place of ``function`` in the file ``path`` of
    the checked-out ``tree`` under the pytest tests there that reference it, or None (no
    tests, failing, or not faster)."""
    source = path.read_text(encoding="utf-8")
    target = targets.find(path, source, function=function)
    replacement = fit_to_target(new_code, target)
    if replacement is None:
        return None
    try:
        suite = discover(target, tree)
        with Harness(target, suite, settings) as harness:
            harness.baseline(runs=1)
            verdict = harness.validate("new", target.replace(replacement))
    except (NoTestsFound, OriginalFailsTests):
        return None
    return (
        verdict.comparison.speedup if verdict.verdict == "faster" and verdict.comparison else None
    )
