"""Writing a suggestion into the user's file (``perfedit suggest --apply``, ``perfedit scan
--apply``): atomically, and only if the file still holds what the job read; else the diff is kept
as a patch file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from perfedit.errors import InputError
from perfedit.llm.modelstore import cache_root


def apply_source(
    path: Path, source: str, new_source: str, diff: str, name: str
) -> InputError | None:
    """Write ``new_source`` into ``path`` if it still holds ``source``, atomically (a temporary
    file in the same folder, then a rename), so a full disk or a crash never leaves the file
    half-written.

    Returns None when written, else the error to report after the suggestion is shown; then the
    diff is saved as a patch file the message names, so the suggestion is not lost.
    """
    try:
        if path.read_text(encoding="utf-8") != source:
            return InputError(f"{path} changed while perfedit was working; not applied. Run again.")
        mode = path.stat().st_mode & 0o7777
        fd, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".perfedit", dir=path.parent
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new_source)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        saved = _save_patch(path, name, diff)
        where = (
            f"the diff is saved in {saved}; apply it with `patch -p1 -d {path.parent} < {saved}`"
            if saved
            else "the diff is above"
        )
        return InputError(f"could not write {path} ({exc.strerror or exc}); not applied: {where}.")
    return None


def _save_patch(path: Path, name: str, diff: str) -> Path | None:
    """The diff written to ``.perfedit/<file>.<function>.patch`` in the current folder, else in
    perfedit's cache folder; None if neither can be written."""
    patch = f"{path.name}.{name}.patch"
    for folder in (Path.cwd() / ".perfedit", cache_root() / "patches"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / patch).write_text(diff, encoding="utf-8")
        except OSError:
            continue
        return folder / patch
    return None
