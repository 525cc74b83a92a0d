"""Recipes: TOML files and KEY=VALUE overrides become typed recipes; bad input is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.cli import run_perfedit
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
    done = run_perfedit(
        "train",
        "sft",
        "--out",
        str(tmp_path / "out"),
        "--set",
        override,
        timeout_s=600,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and message in done.stderr.replace("\n", " ")


def test_a_continued_adapter_records_its_own_lora_settings(tmp_path: Path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps(
            {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "target_modules": ["v_proj", "q_proj"]}
        )
    )
    loaded = recipes.from_mapping({"method": "rrhf", "init_adapter": str(adapter)})
    assert (loaded.lora_r, loaded.lora_alpha, loaded.lora_dropout, loaded.target_modules) == (
        8,
        16,
        0.1,
        ["q_proj", "v_proj"],
    )
    assert json.loads(loaded.to_json())["lora_r"] == 8  # what recipe.json records
    fresh = recipes.from_mapping({"method": "rrhf", "init_adapter": str(tmp_path / "none")})
    assert fresh.lora_r == recipes.RRHFRecipe().lora_r  # no config: loading the model says so


@pytest.mark.parametrize(
    "folder", sorted(p.parent.name for p in (ROOT / "models").glob("*/recipe.json"))
)
def test_shipped_adapters_record_the_lora_settings_they_trained_with(folder: str):
    saved = json.loads((ROOT / "models" / folder / "recipe.json").read_text())
    adapter = json.loads((ROOT / "models" / folder / "adapter_config.json").read_text())
    assert (saved["lora_r"], saved["lora_alpha"], sorted(saved["target_modules"])) == (
        adapter["r"],
        adapter["lora_alpha"],
        sorted(adapter["target_modules"]),
    )
