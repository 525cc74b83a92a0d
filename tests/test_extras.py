"""A command that needs an optional part of perfedit (an extra) that is not installed says which
one and how to install it, exits 2, and writes nothing. The commands run as processes in which
the ``train`` extra's packages cannot be imported (as after a plain ``pip install perfedit``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfedit.errors import MissingExtra
from perfedit.llm import extras

#: Runs the perfedit command with the train extra's packages made unimportable.
WITHOUT_TRAIN = (
    "import sys\n"
    f"for name in {extras.TRAIN!r}: sys.modules[name] = None\n"
    "from perfedit.__main__ import main\n"
    "sys.exit(main())\n"
)


def perfedit_without_train(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAIN, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,  # generous: a busy machine; the command fails at once
    )


@pytest.mark.parametrize(
    "args",
    [
        ["train", "sft", "--out", "adapter"],
        ["train", "export", "adapter", "--out", "shipped"],
    ],
    ids=["train", "export"],
)
def test_training_without_the_train_extra_names_it(tmp_path, args):
    done = perfedit_without_train(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "pip install 'perfedit[train]'" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_transformers_backend_without_the_train_extra_names_it(dedupe_project):
    source = dedupe_project / "dedupe.py"
    before = source.read_text()
    done = perfedit_without_train(
        "suggest", str(source), "--function", "unique_in_order", "--backend", "transformers",
        cwd=dedupe_project,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--backend transformers needs torch" in done.stderr
    assert "pip install 'perfedit[train]'" in done.stderr and "Traceback" not in done.stderr
    assert source.read_text() == before


def test_require_passes_when_installed_and_names_every_missing_module(monkeypatch):
    extras.require("train", ("json",), "a test")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtra, match=r"a test needs torch, .*'train' extra"):
        extras.require("train", ("json", "torch"), "a test")
