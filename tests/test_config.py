"""Settings: defaults, [tool.perfedit], and clear errors for bad values."""

from pathlib import Path

import pytest

from perfedit import config
from perfedit.errors import ConfigError


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
