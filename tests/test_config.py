"""Settings: defaults, [tool.perfedit], and clear errors for bad values."""

import argparse
import dataclasses
from pathlib import Path

import pytest

from perfedit import config
from perfedit.cli import config_docs
from perfedit.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_follow_the_design():
    s = config.Settings()
    assert (s.samples, s.temperature, s.runs, s.alpha, s.min_speedup) == (8, 0.7, 10, 0.05, 1.10)


def test_pyproject_table_is_read(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.perfedit]\nsamples = 3\ntimeout_s = 4\n")
    (tmp_path / "pkg").mkdir()
    settings = config.load(tmp_path / "pkg" / "m.py")
    assert settings.samples == 3 and settings.timeout_s == 4.0 and settings.runs == 10


def test_bad_settings_name_the_problem(tmp_path: Path):
    with pytest.raises(ConfigError, match="unknown perfedit setting.*sample"):
        config.from_mapping({"sample": 3})
    with pytest.raises(ConfigError, match="'runs' must be int"):
        config.from_mapping({"runs": "many"})
    with pytest.raises(ConfigError, match="runs must be >= 5"):
        config.from_mapping({"runs": 4})
    (tmp_path / "pyproject.toml").write_text("[tool.perfedit\n")
    with pytest.raises(ConfigError, match="pyproject.toml"):
        config.load(tmp_path / "m.py")


def test_replace_ignores_unset_flags():
    assert config.Settings().replace(samples=None, runs=5).runs == 5


def test_from_args_takes_only_the_settings_options_of_the_command():
    """Options that :func:`config.add_option` added lay over the project's settings (unset: kept);
    an option of the same name that is not a Settings option (``--tests``) is left alone, and
    each subcommand has only its own options."""
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    suggest = commands.add_parser("suggest")
    config.add_option(suggest, "runs")
    config.add_option(suggest, "explain")
    suggest.add_argument("--tests")
    other = commands.add_parser("other")
    config.add_option(other, "samples", default=16)
    project = config.Settings(runs=7, samples=3, tests="cases")

    args = parser.parse_args(["suggest", "--no-explain", "--tests", "t.py"])
    settings = config.from_args(args, project, seed=4)
    assert (settings.runs, settings.explain, settings.tests, settings.seed) == (
        7,
        False,
        "cases",
        4,
    )
    assert config.from_args(parser.parse_args(["suggest", "--runs", "9"]), project).runs == 9
    assert config.from_args(parser.parse_args(["other"]), project).samples == 16
    given = parser.parse_args(["suggest", "--runs", "9"])
    assert config.from_args(given, project, runs=11).runs == 11  # changes win over options
    with pytest.raises(ConfigError, match="runs must be >= 5"):
        config.from_args(parser.parse_args(["suggest", "--runs", "2"]), project)


@pytest.mark.parametrize("relative", sorted(config_docs.GENERATORS, key=str))
def test_committed_settings_reference_is_what_the_fields_generate(relative: Path):
    """docs/configuration.md and client-vscode/package.json match the Settings fields: run
    ``make settings`` after changing a setting."""
    current = (ROOT / relative).read_text(encoding="utf-8")
    assert config_docs.GENERATORS[relative](current) == current, (
        f"{relative} is out of date: run `make settings`"
    )


def test_editor_keys_are_camel_case_with_seconds_spelled_out():
    assert [
        config.editor_key(name)
        for name in ("runs", "budget_s", "max_new_tokens", "memory_limit_bytes")
    ] == [
        "runs",
        "budgetSeconds",
        "maxNewTokens",
        "memoryLimitBytes",
    ]
    keys = [
        config.editor_key(f.name)
        for cls in (config.Settings, config.EditorSettings)
        for f in dataclasses.fields(cls)
    ]
    assert len(set(keys)) == len(keys)  # one key per setting


def test_cli_help_comes_from_the_fields():
    parser = argparse.ArgumentParser()
    config.add_option(parser, "budget_s", "--budget")
    config.add_option(parser, "explain")
    help_ = " ".join(parser.format_help().split())  # argparse wraps the help text
    assert (
        "wall-clock budget of one job" in help_
        and "(default 60.0 seconds)" in help_
        and "--no-explain" in help_
    )
    assert (
        parser.parse_args([]).budget_s is None
        and parser.parse_args(["--no-explain"]).explain is False
    )
