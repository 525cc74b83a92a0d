"""Settings: one typed tree with defaults, read from ``[tool.perfedit]`` or the editor.

Every field has a default, so an empty table is valid. Unknown keys and values of the wrong
type raise :class:`~perfedit.errors.ConfigError`; the language server shows that message and
continues with the defaults.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfedit.errors import ConfigError
from perfedit.modelstore import DEFAULT_MODEL


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a suggestion job may do; units are in the field names."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": "model alias, Hub id or local path (with endpoint: the server's model name)"})
    backend: str = field(default="llama.cpp", metadata={"help": "in-process inference: llama.cpp (GGUF, the default) or transformers"})
    endpoint: str | None = field(default=None, metadata={"help": "base URL of an OpenAI-compatible server to use instead (code is sent there)"})
    budget_s: float = field(default=60.0, metadata={"help": "wall-clock budget of a job, seconds: then the best validated candidate so far is returned"})
    stop_at_speedup: float = field(default=10.0, metadata={"help": "stop generating once a validated candidate is at least this much faster (CI low end; 0: never)"})
    samples: int = field(default=8, metadata={"help": "sampled candidates besides the greedy one (PIE Best@k)"})
    temperature: float = field(default=0.7, metadata={"help": "sampling temperature (the middle of the spread over strategies)"})
    strategies: bool = field(default=True, metadata={"help": "spread the samples over distinct optimisation strategies and temperatures"})
    exemplars: str | None = field(default=None, metadata={"help": "slow→fast pair file or PIE folder to retrieve prompt exemplars from (none: built-in demonstration)"})
    exemplars_k: int = field(default=2, metadata={"help": "retrieved exemplars per prompt"})
    max_new_tokens: int = field(default=512, metadata={"help": "generation budget per candidate, tokens"})
    runs: int = field(default=10, metadata={"help": "timed runs E per candidate and per baseline, interleaved (the most, when adaptive)"})
    adaptive: bool = field(default=True, metadata={"help": "stop timing once the decision is clear (alpha split over the looks)"})
    min_runs: int = field(default=5, metadata={"help": "timed runs before the adaptive mode's first look"})
    alpha: float = field(default=0.05, metadata={"help": "significance level of the one-sided Yuen's trimmed-mean test"})
    min_speedup: float = field(default=1.10, metadata={"help": "smallest speedup (old/new) that counts"})
    timeout_s: float = field(default=10.0, metadata={"help": "wall-clock limit per test run, seconds"})
    memory_limit_bytes: int = field(default=2 * 1024**3, metadata={"help": "address-space limit of a test run"})
    explain: bool = field(default=True, metadata={"help": "ask the model why the winner is faster"})
    tests: str | None = field(default=None, metadata={"help": "tests to use instead of discovery"})
    seed: int | None = field(default=0, metadata={"help": "sampling seed (None: random)"})
    rules: bool = field(default=True, metadata={"help": "add the rule-based candidates to the model's"})
    refine_rounds: int = field(default=1, metadata={"help": "PerfCodeGen refinement rounds (0: none)"})
    refine_candidates: int = field(default=1, metadata={"help": "candidates fixed, and optimised, per round"})
    refine_retry: bool = field(default=True, metadata={"help": "ask again once when a refinement repeats an earlier candidate (else skip it)"})
    minimise: bool = field(default=True, metadata={"help": "revert diff hunks the speedup does not need (each step re-validated)"})
    minimise_validations: int = field(default=8, metadata={"help": "most re-validations spent on minimising the diff"})
    differential_min_tests: int = field(default=3, metadata={"help": "check functions with fewer tests than this by differential testing too (0: never)"})
    differential_examples: int = field(default=100, metadata={"help": "inputs generated with hypothesis for differential testing"})

    def __post_init__(self) -> None:
        checks = [
            (self.samples >= 0, "samples must be >= 0"),
            (self.backend in ("llama.cpp", "transformers"), "backend must be llama.cpp or transformers (an endpoint is chosen by its URL)"),
            (self.endpoint is None or (isinstance(self.endpoint, str) and self.endpoint.startswith(("http://", "https://"))), "endpoint must be an http:// or https:// URL"),
            (self.budget_s > 0, "budget_s must be > 0"),
            (self.stop_at_speedup == 0 or self.stop_at_speedup >= 1, "stop_at_speedup must be 0 (never) or >= 1"),
            (self.temperature > 0, "temperature must be > 0"),
            (self.max_new_tokens > 0, "max_new_tokens must be > 0"),
            (self.exemplars_k >= 0, "exemplars_k must be >= 0"),
            (self.refine_rounds >= 0 and self.refine_candidates >= 0, "refine_rounds and refine_candidates must be >= 0"),
            (self.minimise_validations >= 0, "minimise_validations must be >= 0"),
            (self.differential_min_tests >= 0 and self.differential_examples >= 0, "differential_min_tests and differential_examples must be >= 0"),
            (self.runs >= 5, "runs must be >= 5 (fewer leave too few trimmed samples for Yuen's test)"),
            (self.min_runs >= 5, "min_runs must be >= 5 (fewer leave too few trimmed samples for Yuen's test)"),
            (0 < self.alpha < 1, "alpha must be between 0 and 1"),
            (self.min_speedup >= 1, "min_speedup must be >= 1"),
            (self.timeout_s > 0, "timeout_s must be > 0"),
            (self.memory_limit_bytes >= 64 * 1024**2, "memory_limit_bytes must be >= 64 MiB"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid perfedit setting: {message}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; ``None`` values are ignored (unset CLI flags)."""
        return from_mapping({**dataclasses.asdict(self), **{k: v for k, v in changes.items() if v is not None}})


def from_mapping(values: dict[str, Any]) -> Settings:
    """Settings from a plain mapping (TOML table, LSP JSON); raises ConfigError on bad keys/types."""
    known = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown perfedit setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
    converted: dict[str, Any] = {}
    for name, value in values.items():
        default = known[name].default
        if value is None or default is None or isinstance(value, type(default)):
            converted[name] = value
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            converted[name] = float(value)
        else:
            raise ConfigError(
                f"perfedit setting {name!r} must be {type(default).__name__}, got {value!r}"
            )
    return Settings(**converted)


def find_project_root(path: Path) -> Path:
    """The nearest ancestor of ``path`` holding pyproject.toml, setup.cfg or .git; else its folder."""
    start = path if path.is_dir() else path.parent
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ("pyproject.toml", "setup.cfg", ".git")):
            return folder
    return start


def load(path: Path) -> Settings:
    """Settings for the file or folder ``path``: ``[tool.perfedit]`` of its project's pyproject.toml.

    Raises ConfigError if the table is invalid or the TOML does not parse.
    """
    pyproject = find_project_root(path.resolve()) / "pyproject.toml"
    if not pyproject.is_file():
        return Settings()
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("perfedit", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: {exc}") from exc
    return from_mapping(table)
