"""Recipes: TOML files and KEY=VALUE overrides become typed recipes; bad input is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfedit.errors import ConfigError
from perfedit.training import recipe as recipes

ROOT = Path(__file__).resolve().parent.parent


SHIPPED = sorted(path.name for path in (ROOT / "models" / "recipes").glob("*.toml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_load(name: str):
    loaded = recipes.load(ROOT / "models" / "recipes" / name)
    assert loaded.method in ("sft", "rrhf")
    assert isinstance(loaded, recipes.RRHFRecipe) == (loaded.method == "rrhf")


def test_file_then_overrides(tmp_path: Path):
    path = tmp_path / "r.toml"
    path.write_text('method = "rrhf"\nmax_steps = 7\nrank_weight = 2\n')
    overrides = dict(
        recipes.parse_override(text)
        for text in ["max_steps=3", "learning_rate=1e-4", "base=smollm2-135m"]
    )
    loaded = recipes.load(path, overrides, "rrhf")
    assert isinstance(loaded, recipes.RRHFRecipe)
    assert (loaded.max_steps, loaded.rank_weight, loaded.learning_rate, loaded.base) == (
        3,
        2.0,
        1e-4,
        "smollm2-135m",
    )
    assert json.loads(loaded.to_json())["rank_weight"] == 2.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_stepz": 3}, "unknown recipe key"),
        ({"max_steps": "many"}, "must be"),
        ({"max_steps": 0}, "max_steps must be > 0"),
        ({"method": "ppo"}, "unknown training method"),
        ({"target_modules": "q_proj"}, "must be"),
        ({"method": "rrhf", "batch_size": 2}, "batch_size must be 1"),
    ],
)
def test_bad_values_are_refused(values: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        recipes.from_mapping(values)


def test_missing_file_and_wrong_method(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        recipes.load(tmp_path / "nope.toml")
    path = tmp_path / "r.toml"
    path.write_text('method = "sft"\n')
    with pytest.raises(ConfigError, match="not 'rrhf'"):
        recipes.load(path, method="rrhf")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        recipes.parse_override("max_steps")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("max_stepz=1", "unknown recipe key(s) for sft: max_stepz"),
        ("train='nope.jsonl'", "pair file nope.jsonl does not exist"),
    ],
)
def test_train_cli_refuses_bad_input_before_loading_a_model(
    tmp_path: Path, override: str, message: str
):
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfedit",
            "train",
            "sft",
            "--out",
            str(tmp_path / "out"),
            "--set",
            override,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr.replace("\n", " ")
