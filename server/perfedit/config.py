"""Settings: one typed tree with defaults, read from ``[tool.perfedit]``, the CLI or the editor.

The fields are grouped by the step of the job that reads them (:data:`GROUPS`: the model, the
job, candidates, validation and timing, the winner), one class each; :class:`Settings` has them
all, flat, as ``[tool.perfedit]`` and the editor spell them. Every field has a default, so an
empty table is valid. Unknown keys and values of the wrong type raise
:class:`~perfedit.errors.ConfigError`; the language server shows that message and continues
with the defaults.

The fields are the one source of the settings' documentation: each carries its help, unit and
choices (:func:`setting`), from which come the CLI's option help (:func:`add_option`), the
tables in docs/configuration.md and the VS Code extension's ``contributes.configuration``
(:mod:`perfedit.cli.config_docs`, ``make settings``).

Spelling: ``[tool.perfedit]`` and Python use the field names (``budget_s``); an editor uses their
camelCase, with the seconds suffix written out (``budgetSeconds``; :func:`editor_key`), as editor
settings are spelled.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perfedit.errors import ConfigError
from perfedit.llm.modelstore import DEFAULT_MODEL

#: Keys of the editor's ``perfedit`` section that belong to the editor extension, not to the
#: server (``perfedit.python``: the VS Code extension's interpreter; ``perfedit.path``: an
#: executable; ``perfedit.trace.server``: vscode-languageclient's tracing).
CLIENT_KEYS = frozenset({"python", "path", "trace"})


def setting(default: Any, help: str, *, unit: str = "", choices: tuple[str, ...] = ()) -> Any:
    """A settings field: its default, its help (a phrase; Markdown backticks allowed), the unit
    of its value ("seconds", "bytes", "tokens"; "" for none) and its allowed values, if listed."""
    return dataclasses.field(
        default=default, metadata={"help": help, "unit": unit, "choices": choices}
    )


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """The model: which one, and where it runs (read by :func:`perfedit.candidates.model.shared_model`)."""

    model: str = setting(
        DEFAULT_MODEL,
        "model alias, Hub id or local path (a `.gguf` file or an adapter folder works too); with `endpoint`, the server's model name",
    )
    backend: str = setting(
        "llama.cpp",
        "local inference: `llama.cpp` runs the GGUF file in its own process (the fast path), `transformers` the bf16 copy, as training uses it (the `train` extra)",
        choices=("llama.cpp", "transformers"),
    )
    endpoint: str | None = setting(
        None,
        "base URL of an OpenAI-compatible server (Ollama, LM Studio, llama.cpp server, vLLM), e.g. `http://127.0.0.1:11434/v1`, to use instead of the local model; the target's code (and, for a script, one of its test inputs) is sent there",
    )


@dataclass(frozen=True, kw_only=True)
class JobSettings:
    """The job as a whole: its time budget, where its tests and candidates come from, where a scan's
    functions run (read by :mod:`perfedit.job`)."""

    budget_s: float = setting(
        60.0,
        "wall-clock budget of one job, counted from the start of the command (`perfedit suggest`) or of the request (the editor), less 1 s kept for closing the job: once it is spent, no further candidate is generated, the validation in progress is stopped and the best validated one so far is returned (minimised and explained only while time is left)",
        unit="seconds",
    )
    budget_reserve: bool = setting(
        True,
        "keep enough of the budget to validate a rule's and the greedy candidate: when the original's runs are slow, take fewer timed runs of it and skip profiling it (estimated from one run of its tests)",
    )
    stop_at_speedup: float = setting(
        10.0,
        "stop generating as soon as a validated candidate is at least this much faster at the low end of its 95% CI (0: never)",
    )
    tests: str | None = setting(
        None,
        "tests to use instead of discovery: a pytest file or folder, or a folder of `input.N.txt`/`output.N.txt` cases, relative to the file",
    )
    rules: bool = setting(
        True, "add the rule-based candidates (deterministic rewrites, no model) to the model's"
    )
    interleave_rules: bool = setting(
        True,
        "validate one rule candidate before the model's greedy one and the others after it, between the samples, so that the budget reserve holds the greedy one (off: every rule candidate first)",
    )
    workload: str | None = setting(
        None,
        "a Python command that runs the program as it is really used (`python bench.py ARGS` or `python -m module ARGS`, run from the project root): `profile` and `scan` rank functions by its time, and its recorded calls are checked and timed beside the tests",
    )
    executor: str = setting(
        "local",
        "where `perfedit scan` runs its functions: `local` (this machine) or `ray` (a Ray cluster; `pip install 'perfedit[ray]'`); `evaluate`, `data pairs --git` and `train rrhf` take `--executor` on their command line",
        choices=("local", "ray"),
    )


@dataclass(frozen=True, kw_only=True)
class CandidateSettings:
    """What the model is asked and how it samples, and the refinement rounds (read by
    :mod:`perfedit.candidates`)."""

    samples: int = setting(8, "sampled candidates besides the greedy one (PIE Best@k)")
    temperature: float = setting(
        0.7, "sampling temperature (the middle of the spread over strategies)"
    )
    strategies: bool = setting(
        True, "spread the samples over distinct optimisation strategies and temperatures"
    )
    seed: int | None = setting(0, "sampling seed (none: random)")
    max_new_tokens: int = setting(512, "generation budget per candidate", unit="tokens")
    profile_feedback: bool = setting(
        True,
        "show the model the hot lines of the target and of the candidates it refines, from a profiled run (SOAP / PerfCodeGen execution feedback)",
    )
    scaling_feedback: bool = setting(
        True,
        "show the model how the original's time grows with its tests' input sizes (an empirical exponent from two measured sizes), and when it grows faster than linear ask for a lower-complexity algorithm first",
    )
    compact_prompt: bool = setting(
        True,
        "show the model the code without its docstrings (each prompt token costs generation time on a CPU, and a docstring shown is one the reply copies); a candidate without the target's docstring gets it back",
    )
    input_example: bool = setting(
        False,
        "show the model one of a script's test inputs (the shortest, cut to 8 lines), meant to keep it to the input format (off: on PIE val it did not, docs/results.md)",
    )
    exemplars: str | None = setting(
        None,
        "slow→fast pair file or PIE folder to retrieve prompt exemplars from, relative to the project root (none: the cookbook's only, or the built-in demonstration with `cookbook` off); a missing or corrupt file is skipped with a warning",
    )
    exemplars_k: int = setting(
        2,
        "retrieved exemplars per prompt (PIE dynamic retrieval), taken in turn from the pair file (`exemplars`) and the cookbook",
    )
    cookbook: bool = setting(
        True,
        "retrieve exemplars of the target's kind from perfedit's cookbook of slow→fast functions and scripts (idioms and algorithmic upgrades), beside those of the pair file",
    )
    refine_rounds: int = setting(
        1,
        "PerfCodeGen refinement rounds: fix failed candidates with their failing test, optimise correct ones with their slowest test (0: none)",
    )
    refine_candidates: int = setting(1, "candidates fixed, and candidates optimised, per round")
    refine_retry: bool = setting(
        True, "ask again once when a refinement repeats an earlier candidate (else skip it)"
    )
    stream_fixes: int = setting(
        2,
        "fixes per job of model candidates that fail a test, each the model's next reply, before the remaining samples (PerfCodeGen's correctness round, as candidates stream; 0: none)",
    )
    argument_repair: bool = setting(
        True,
        "when a candidate is rejected for changing an argument that the original leaves alone, also validate a repaired copy of it that works on a copy (`p.sort()` → `p = sorted(p)`, else `p = p.copy()`)",
    )


@dataclass(frozen=True, kw_only=True)
class VerifySettings:
    """How a candidate is validated and timed against the original (read by :mod:`perfedit.verify`)."""

    runs: int = setting(
        10,
        "timed runs E per candidate and per baseline, interleaved; with `adaptive`, the most taken; at least 5 (Yuen's test needs enough samples after trimming)",
    )
    adaptive: bool = setting(
        True,
        "look after every run from `min_runs` on and stop timing once the candidate is clearly faster or clearly not (alpha split over the looks)",
    )
    min_runs: int = setting(
        5, "timed runs before the adaptive mode's first look (capped at `runs`; at least 5)"
    )
    alpha: float = setting(
        0.05,
        "significance level of the one-sided Yuen's trimmed-mean test, split over the looks when `adaptive`",
    )
    min_speedup: float = setting(1.10, "smallest speedup (old/new) that counts")
    timed_share: float = setting(
        0.95,
        "time a candidate on the original's slowest tests that together take this share of its time (every test still checks correctness; 1: time every test)",
    )
    time_calls: bool = setting(
        True,
        "time a function's candidate on its own calls recorded from the tests (arguments loaded outside the timed calls, one pass per fresh process) where the tests' own work swamps them (under half the tests' time), with the tests timed beside them as a guard that must not be significantly slower; off: the tests' time decides",
    )
    timeout_s: float = setting(10.0, "wall-clock limit per test run", unit="seconds")
    memory_limit_bytes: int = setting(
        2 * 1024**3, "address-space limit of a test run (at least 64 MiB)", unit="bytes"
    )
    differential_min_tests: int = setting(
        3,
        "a function with fewer tests than this is also checked by differential testing (its calls in the tests plus generated inputs, compared with the original's); 0 turns differential testing off, and a function without tests is then refused",
    )
    differential_examples: int = setting(
        100,
        "inputs generated with hypothesis for differential testing, from type hints or the tests' values",
    )


@dataclass(frozen=True, kw_only=True)
class DeliverSettings:
    """What is done with the winner: minimising its diff and explaining it (read by
    :mod:`perfedit.deliver` through the job)."""

    minimise: bool = setting(
        True,
        "revert the diff hunks the speedup does not need (delta debugging, each step re-validated)",
    )
    minimise_validations: int = setting(
        8, "the most re-validations spent on minimising one suggestion"
    )
    explain: bool = setting(True, "ask the model why the winner is faster")


@dataclass(frozen=True, kw_only=True)
class Settings(DeliverSettings, VerifySettings, CandidateSettings, JobSettings, ModelSettings):
    """What a suggestion job may do: every group's fields, flat (``settings.runs``), in the
    groups' order; units are in the field names and in each field's ``unit``."""

    def __post_init__(self) -> None:
        checks = [
            (self.samples >= 0, "samples must be >= 0"),
            (
                self.endpoint is None
                or (
                    isinstance(self.endpoint, str)
                    and self.endpoint.startswith(("http://", "https://"))
                ),
                "endpoint must be an http:// or https:// URL",
            ),
            (self.budget_s > 0, "budget_s must be > 0"),
            (
                self.stop_at_speedup == 0 or self.stop_at_speedup >= 1,
                "stop_at_speedup must be 0 (never) or >= 1",
            ),
            (self.temperature > 0, "temperature must be > 0"),
            (self.max_new_tokens > 0, "max_new_tokens must be > 0"),
            (self.exemplars_k >= 0, "exemplars_k must be >= 0"),
            (0 < self.timed_share <= 1, "timed_share must be > 0 and <= 1"),
            (
                self.refine_rounds >= 0 and self.refine_candidates >= 0,
                "refine_rounds and refine_candidates must be >= 0",
            ),
            (self.stream_fixes >= 0, "stream_fixes must be >= 0"),
            (self.minimise_validations >= 0, "minimise_validations must be >= 0"),
            (
                self.differential_min_tests >= 0 and self.differential_examples >= 0,
                "differential_min_tests and differential_examples must be >= 0",
            ),
            (
                self.runs >= 5,
                "runs must be >= 5 (fewer leave too few trimmed samples for Yuen's test)",
            ),
            (
                self.min_runs >= 5,
                "min_runs must be >= 5 (fewer leave too few trimmed samples for Yuen's test)",
            ),
            (0 < self.alpha < 1, "alpha must be between 0 and 1"),
            (self.min_speedup >= 1, "min_speedup must be >= 1"),
            (self.timeout_s > 0, "timeout_s must be > 0"),
            (self.memory_limit_bytes >= 64 * 1024**2, "memory_limit_bytes must be >= 64 MiB"),
        ]
        checks += [
            (
                getattr(self, f.name) in f.metadata["choices"],
                f"{f.name} must be one of {', '.join(f.metadata['choices'])}",
            )
            for f in dataclasses.fields(self)
            if f.metadata["choices"]
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid perfedit setting: {message}")

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied; ``None`` values are ignored (unset CLI flags)."""
        return from_mapping(
            {**dataclasses.asdict(self), **{k: v for k, v in changes.items() if v is not None}}
        )


#: The settings by the step of the job that reads them: a heading for each group and its class.
GROUPS: tuple[tuple[str, type], ...] = (
    ("The model", ModelSettings),
    ("The job", JobSettings),
    ("Candidates", CandidateSettings),
    ("Validation and timing", VerifySettings),
    ("The winner", DeliverSettings),
)


@dataclass(frozen=True, kw_only=True)
class EditorSettings:
    """Settings that only an editor gives the language server (not ``[tool.perfedit]``)."""

    candidates_file: str | None = setting(
        None,
        "the stub proposer, for tests and hand-written versions: take the candidate versions from this file (absolute, or relative to the project root) instead of the model; several versions are separated by `# --- candidate ---` lines",
    )
    needs_confirmation: bool = setting(
        True,
        "ask before applying a suggestion (a message with Apply, Show diff, Details and Discard; Show diff is VS Code's Refactor Preview); off: a suggestion that behaves as the original wherever the checks saw is applied at once, one that behaves differently is still asked about",
    )
    profile_on: str = setting(
        "never",
        "when to run the project's tests once, profiled (cached while the project is unchanged), to show code lenses and hovers on its hot functions: `never` (only the `perfedit.profile` command does), `open` (when a Python file is opened) or `save` (when one is saved, and on open)",
        choices=("never", "open", "save"),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.metadata["choices"] and getattr(self, f.name) not in f.metadata["choices"]:
                raise ConfigError(
                    f"invalid perfedit setting: {editor_key(f.name)} must be one of {', '.join(f.metadata['choices'])}"
                )


def editor_key(name: str) -> str:
    """The editor's spelling of the field ``name``: camelCase, with the seconds suffix written
    out (``budget_s`` -> ``budgetSeconds``, ``memory_limit_bytes`` -> ``memoryLimitBytes``)."""
    first, *rest = name.removesuffix("_s").split("_")
    return (
        first
        + "".join(word.capitalize() for word in rest)
        + ("Seconds" if name.endswith("_s") else "")
    )


@functools.cache
def _types(cls: type) -> dict[str, Any]:
    """The field types of the settings class ``cls`` (``str | None``, ``int``...)."""
    return typing.get_type_hints(cls)


def value_type(cls: type, name: str) -> type:
    """The type of the field ``name``'s values, None aside (``str`` for ``str | None``)."""
    declared = _types(cls)[name]
    return next(kind for kind in typing.get_args(declared) or (declared,) if kind is not type(None))


def _build(cls: type, values: Mapping[str, Any], spelling: Mapping[str, str]) -> Any:
    """``cls(**values)`` once each value has its field's type (an int is taken for a float);
    ``spelling`` maps a field name to the key the user wrote. Raises ConfigError."""
    converted: dict[str, Any] = {}
    for name, value in values.items():
        expected = _types(cls)[name]
        if isinstance(value, expected):
            converted[name] = value
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            converted[name] = float(value)
        else:
            wanted = " or ".join(
                "none" if kind is type(None) else kind.__name__
                for kind in typing.get_args(expected) or (expected,)
            )
            raise ConfigError(
                f"perfedit setting {spelling[name]!r} must be {wanted}, got {value!r}"
            )
    return cls(**converted)


def _unknown(keys: set[str], known: list[str]) -> None:
    if keys:
        raise ConfigError(
            f"unknown perfedit setting(s): {', '.join(sorted(keys))}; known: {', '.join(known)}"
        )


def from_mapping(values: Mapping[str, Any]) -> Settings:
    """Settings from a plain mapping of field names (TOML table); raises ConfigError on bad keys/types."""
    names = [f.name for f in dataclasses.fields(Settings)]
    _unknown(set(values) - set(names), names)
    return _build(Settings, values, {name: name for name in names})


def from_editor(values: Mapping[str, Any]) -> tuple[dict[str, Any], EditorSettings]:
    """The editor's ``perfedit`` settings (``initializationOptions``, ``workspace/configuration``;
    keys spelled by :func:`editor_key`) split into Settings values by field name, checked, to lay
    over ``[tool.perfedit]``, and the :class:`EditorSettings`. :data:`CLIENT_KEYS` are skipped.
    Raises ConfigError."""
    fields = {editor_key(f.name): f.name for f in dataclasses.fields(Settings)}
    editor_fields = {editor_key(f.name): f.name for f in dataclasses.fields(EditorSettings)}
    _unknown(
        set(values) - set(fields) - set(editor_fields) - CLIENT_KEYS, [*fields, *editor_fields]
    )
    spelling = {name: key for key, name in (fields | editor_fields).items()}
    settings = {fields[key]: value for key, value in values.items() if key in fields}
    _build(Settings, settings, spelling)  # checks the types and values
    editor = _build(
        EditorSettings,
        {editor_fields[k]: v for k, v in values.items() if k in editor_fields},
        spelling,
    )
    return settings, editor


def default_text(field: dataclasses.Field[Any]) -> str:
    """A settings field's default for people, with its unit: "60.0 seconds", "none", "true"."""
    value = field.default
    text = (
        "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )
    return f"{text} {field.metadata['unit']}".rstrip()


#: The attribute of a parsed command line that names the Settings fields it has options for.
_OPTIONS = "settings_options"


def add_option(parser: argparse.ArgumentParser, name: str, *flags: str, **options: Any) -> None:
    """An option of ``parser`` for the Settings field ``name``, its help, type, choices and default
    taken from the field unless ``options`` give them; ``flags`` default to ``--name`` (a boolean
    gets ``--no-name`` too). Unset, the option is None (:func:`from_args` then keeps the
    project's value)."""
    field = next(f for f in dataclasses.fields(Settings) if f.name == name)
    kind = value_type(Settings, name)
    options.setdefault(
        "help", f"{field.metadata['help']} (default {default_text(field)})".replace("%", "%%")
    )
    if kind is bool:
        options.setdefault("action", argparse.BooleanOptionalAction)
    else:
        options.setdefault("type", kind)
        options.setdefault("choices", field.metadata["choices"] or None)
    options.setdefault("default", None)
    parser.add_argument(*(flags or (f"--{name.replace('_', '-')}",)), dest=name, **options)
    parser.set_defaults(**{_OPTIONS: (*(parser.get_default(_OPTIONS) or ()), name)})


def from_args(args: argparse.Namespace, base: Settings, **changes: Any) -> Settings:
    """``base`` (the project's settings, or the defaults) with the values of the command's
    Settings options (those :func:`add_option` added to its parser) and ``changes`` laid over
    it; options left unset (None) keep ``base``'s value. Raises ConfigError."""
    given = {name: getattr(args, name) for name in getattr(args, _OPTIONS, ())}
    return base.replace(**{**given, **changes})


#: Folders of a project that hold none of its own sources (version control, environments,
#: caches, build output): test discovery, the profile's content key and the sandbox's copy of
#: the project skip them.
NOT_SOURCE_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".pytest_cache",
        ".perfedit",
        ".eggs",
        "build",
        "dist",
    }
)


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
        table = (
            tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("perfedit", {})
        )
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: {exc}") from exc
    return from_mapping(table)
