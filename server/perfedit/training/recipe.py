"""Training recipes: every hyper-parameter of a run, read from a TOML file (``models/recipes/``).

A recipe names its ``method`` ("sft" or "rrhf") and sets any field of :class:`SFTRecipe` or
:class:`RRHFRecipe`; every field has a default, each field's ``help`` says what it is and its
unit. Unknown keys and values of the wrong type raise :class:`~perfedit.errors.ConfigError`.
Relative paths are taken from the current directory, like the CLI's. A checkpoint stores the
resolved recipe (every field, defaults included) as JSON beside its adapter (nanoGPT's habit),
so a run can be reproduced from its output alone.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfedit.errors import ConfigError
from perfedit.llm.modelstore import DEFAULT_MODEL

#: The linear layers of Qwen2/Llama-style blocks (SmolLM2 included) that get LoRA adapters.
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True, kw_only=True)
class SFTRecipe:
    """Supervised fine-tuning with LoRA on slow→fast pairs (PIE, section 3)."""

    method: str = field(default="sft", metadata={"help": "training method: sft or rrhf"})
    base: str = field(
        default=DEFAULT_MODEL, metadata={"help": "base model: alias, Hub id or local directory"}
    )
    init_adapter: str | None = field(
        default=None,
        metadata={"help": "LoRA adapter directory to start from (None: a fresh adapter)"},
    )
    train: str = field(
        default="../shared/data/pie/train.jsonl",
        metadata={"help": "training pair file (PIE JSONL or user pairs)"},
    )
    val: str | None = field(
        default="../shared/data/pie/val.jsonl",
        metadata={"help": "evaluation pair file for the evaluation loss (None: none)"},
    )
    tests: str | None = field(
        default=None,
        metadata={
            "help": "folder of tests/{problem_id}/ case folders (None: tests/ beside the pair file)"
        },
    )
    max_pairs: int = field(
        default=0,
        metadata={"help": "use at most this many training pairs, shortest first (0: all)"},
    )
    val_pairs: int = field(
        default=0,
        metadata={"help": "evaluation pairs for the evaluation loss, shortest first (0: all)"},
    )
    max_tokens: int = field(
        default=1024, metadata={"help": "drop pairs whose prompt plus reply is longer, tokens"}
    )
    lora_r: int = field(
        default=16,
        metadata={
            "help": "LoRA rank of a fresh adapter (an init_adapter keeps its own LoRA settings)"
        },
    )
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)"}
    )
    lora_dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: list[str] = field(
        default_factory=lambda: list(ALL_LINEAR),
        metadata={"help": "module names that get LoRA adapters"},
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    scheduler: str = field(
        default="cosine",
        metadata={"help": "learning-rate schedule after warm-up: cosine, linear or constant"},
    )
    warmup_steps: int = field(default=10, metadata={"help": "optimizer steps of linear warm-up"})
    batch_size: int = field(default=1, metadata={"help": "sequences per micro-batch (per device)"})
    grad_accum: int = field(default=8, metadata={"help": "micro-batches per optimizer step"})
    max_steps: int = field(
        default=200, metadata={"help": "optimizer steps in all (RRHF: RL steps)"}
    )
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0: none)"})
    log_every: int = field(
        default=1, metadata={"help": "log the training loss every N optimizer steps"}
    )
    eval_every: int = field(
        default=50,
        metadata={"help": "evaluation loss every N optimizer steps (0: only at the end)"},
    )
    save_every: int = field(
        default=50, metadata={"help": "checkpoint every N optimizer steps (0: only at the end)"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of the data order, the LoRA initialisation and sampling"}
    )
    device: str = field(default="auto", metadata={"help": "auto (CUDA if present), cpu or cuda"})
    precision: str = field(
        default="auto",
        metadata={
            "help": "base weights: auto (bf16 on CUDA and CPUs with native bf16, else fp32), fp32 or bf16; LoRA weights stay fp32"
        },
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "recompute activations in the backward pass (less memory)"}
    )

    def __post_init__(self) -> None:
        checks = [
            (self.method in ("sft", "rrhf"), "method must be sft or rrhf"),
            (self.max_steps > 0, "max_steps must be > 0"),
            (self.batch_size > 0 and self.grad_accum > 0, "batch_size and grad_accum must be > 0"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.lora_r > 0 and self.lora_alpha > 0, "lora_r and lora_alpha must be > 0"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.max_tokens > 0, "max_tokens must be > 0"),
            (
                min(
                    self.max_pairs,
                    self.val_pairs,
                    self.warmup_steps,
                    self.eval_every,
                    self.save_every,
                )
                >= 0,
                "max_pairs, val_pairs, warmup_steps, eval_every and save_every must be >= 0",
            ),
            (self.log_every > 0, "log_every must be > 0"),
            (
                self.scheduler in ("cosine", "linear", "constant"),
                "scheduler must be cosine, linear or constant",
            ),
            (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
                "device must be auto, cpu or cuda[:N]",
            ),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
            (bool(self.target_modules), "target_modules must name at least one module"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid recipe: {message}")

    def to_json(self) -> str:
        """The resolved recipe (every field) as JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"


@dataclass(frozen=True, kw_only=True)
class RRHFRecipe(SFTRecipe):
    """PerfRL: RRHF ranking on candidates rewarded by the unit tests (PerfRL, section 4;
    Yuan et al. 2023). ``max_steps`` counts RL steps (optimizer steps); each takes
    ``grad_accum`` training inputs."""

    method: str = field(default="rrhf", metadata={"help": "training method: sft or rrhf"})
    rank_weight: float = field(default=1.0, metadata={"help": "a in loss = a * L_rank + L_tuning"})
    samples: int = field(
        default=2,
        metadata={"help": "random samples per input (besides the greedy one and the target)"},
    )
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of the random samples"}
    )
    top_k: int = field(default=50, metadata={"help": "top-k of the random samples"})
    max_new_tokens: int = field(
        default=512, metadata={"help": "generation budget per candidate, tokens"}
    )
    workers: int = field(
        default=2, metadata={"help": "worker processes that run candidates against the tests"}
    )
    runs: int = field(
        default=5, metadata={"help": "most timed runs per candidate for the speed tier"}
    )
    min_speedup: float = field(
        default=1.10, metadata={"help": "smallest significant speedup (old/new) for the top tier"}
    )
    timeout_s: float = field(
        default=5.0, metadata={"help": "wall-clock limit per test run of a candidate, seconds"}
    )
    batch_size: int = field(
        default=1, metadata={"help": "must be 1: a micro-batch is one input's candidates"}
    )
    grad_accum: int = field(
        default=4,
        metadata={"help": "training inputs per RL step (one micro-batch of candidates each)"},
    )
    warmup_steps: int = field(default=0, metadata={"help": "optimizer steps of linear warm-up"})
    learning_rate: float = field(default=1e-5, metadata={"help": "peak AdamW learning rate"})

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (self.rank_weight >= 0, "rank_weight must be >= 0"),
            (
                self.batch_size == 1,
                "batch_size must be 1 for rrhf (grad_accum sets the inputs per RL step)",
            ),
            (self.samples >= 0, "samples must be >= 0"),
            (self.temperature > 0 and self.top_k > 0, "temperature and top_k must be > 0"),
            (
                self.max_new_tokens > 0 and self.workers > 0,
                "max_new_tokens and workers must be > 0",
            ),
            (self.runs >= 5, "runs must be >= 5 (the harness's timing test needs them)"),
            (
                self.min_speedup >= 1 and self.timeout_s > 0,
                "min_speedup must be >= 1 and timeout_s > 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid recipe: {message}")


_CLASSES: dict[str, type[SFTRecipe]] = {"sft": SFTRecipe, "rrhf": RRHFRecipe}


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against the field type ``annotation`` (int → float is allowed)."""
    options = (
        typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    )
    if value is None and type(None) in options:
        return None
    for option in options:
        origin = typing.get_origin(option)
        if origin is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
    raise ConfigError(f"recipe key {name!r} must be {annotation}, got {value!r}")


def from_mapping(values: dict[str, Any], method: str | None = None) -> SFTRecipe:
    """The recipe for ``values`` (a TOML table); ``method`` overrides the table's own.

    Raises:
        ConfigError: an unknown method or key, or a value of the wrong type or range.
    """
    method = method or values.get("method", "sft")
    if method not in _CLASSES:
        raise ConfigError(f"unknown training method {method!r}; known: {', '.join(_CLASSES)}")
    cls = _CLASSES[method]
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown recipe key(s) for {method}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    converted = {name: _coerce(name, value, hints[name]) for name, value in values.items()}
    return with_adapter_lora(cls(**{**converted, "method": method}))


def with_adapter_lora(recipe: SFTRecipe) -> SFTRecipe:
    """``recipe`` with the LoRA settings of its ``init_adapter`` (``r``, ``lora_alpha``,
    ``lora_dropout`` and ``target_modules`` of its adapter_config.json) in place of its own: PEFT
    trains a continued adapter with the adapter's settings, so these are what the run uses and
    what its recipe.json records. Unchanged without an ``init_adapter``, or when its
    adapter_config.json is missing or unreadable (loading the model then says so)."""
    if not recipe.init_adapter:
        return recipe
    try:
        saved = json.loads((Path(recipe.init_adapter) / "adapter_config.json").read_text())
        return dataclasses.replace(
            recipe,
            lora_r=int(saved["r"]),
            lora_alpha=int(saved["lora_alpha"]),
            lora_dropout=float(saved["lora_dropout"]),
            target_modules=sorted(saved["target_modules"], key=_module_order),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return recipe


def _module_order(name: str) -> tuple[int, str]:
    """:data:`ALL_LINEAR`'s order first (PEFT saves a set's order), then by name."""
    return (ALL_LINEAR.index(name) if name in ALL_LINEAR else len(ALL_LINEAR), name)


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; VALUE is read as TOML (``5``, ``1e-4``, ``"x"``,
    ``["q_proj"]``), and a bare word that is not TOML is taken as a string.

    Raises:
        ConfigError: no ``=`` in ``text``.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"recipe override {text!r} must look like KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def load(
    path: Path | None, overrides: dict[str, Any] | None = None, method: str | None = None
) -> SFTRecipe:
    """The recipe in the TOML file ``path`` (None: the defaults) with ``overrides`` applied;
    ``method`` ("sft" or "rrhf", e.g. from ``perfedit train rrhf``) must agree with the file's.

    Raises:
        ConfigError: the file is missing or not TOML, it names another method, or a key or
            value is invalid (see :func:`from_mapping`).
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"recipe {path} does not exist; see models/recipes/ for examples"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"recipe {path}: {exc}") from exc
        if method and values.get("method", method) != method:
            raise ConfigError(f"recipe {path} is for method {values['method']!r}, not {method!r}")
    return from_mapping({**values, **(overrides or {})}, method)
