"""A perfedit LoRA adapter in llama.cpp's LoRA GGUF format (``adapter.gguf``).

Without a model: the file's keys, tensor names, shapes and dtypes against a tiny fake base GGUF,
the q/k row permutation of a "llama" base, PEFT's scaling carried over, and the adapters that
cannot be written. With the real SmolLM2-135M (``model``): llama.cpp loads the base with the
exported file, its next-token logits move as transformers' do with the same adapter, and an
adapter whose B matrices are zero leaves the greedy reply unchanged.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from perfedit.errors import InputError, ModelError
from perfedit.training.export import ARCHITECTURES, write_lora_gguf

PEFT = "base_model.model.model.layers.0."


def fake_base(path: Path, arch: str = "llama") -> Path:
    """A GGUF "model" with only the metadata and tensor shapes a LoRA needs: one block, 2 query
    heads and 1 key/value head of 4 dims, hidden size 8, FFN 16 (numpy shapes are out × in)."""
    writer = gguf.GGUFWriter(path, arch)
    writer.add_block_count(1)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    for name, shape in (
        ("attn_q", (8, 8)),
        ("attn_k", (4, 8)),
        ("attn_v", (4, 8)),
        ("ffn_down", (8, 16)),
    ):
        writer.add_tensor(f"blk.0.{name}.weight", np.zeros(shape, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def fake_adapter(
    folder: Path,
    *,
    rank: int = 2,
    alpha: float = 8,
    modules: dict[str, tuple[int, int]] | None = None,
    extra: dict | None = None,
    config: dict | None = None,
) -> dict[str, torch.Tensor]:
    """A PEFT LoRA adapter folder with random A and B for ``modules`` (PEFT module path below
    layer 0 -> (out, in)); returns its tensors."""
    modules = modules or {
        "self_attn.q_proj": (8, 8),
        "self_attn.k_proj": (4, 8),
        "mlp.down_proj": (8, 16),
    }
    generator = torch.Generator().manual_seed(0)
    weights = {}
    for module, (out, inp) in modules.items():
        weights[f"{PEFT}{module}.lora_A.weight"] = torch.randn(rank, inp, generator=generator)
        weights[f"{PEFT}{module}.lora_B.weight"] = torch.randn(out, rank, generator=generator)
    weights.update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    save_file(weights, folder / "adapter_model.safetensors")
    settings = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": alpha,
        "base_model_name_or_path": "fake-base",
        **(config or {}),
    }
    (folder / "adapter_config.json").write_text(json.dumps(settings))
    return weights


def read(path: Path) -> tuple[dict[str, object], dict[str, np.ndarray], dict[str, int]]:
    """(metadata, tensors as numpy arrays in out × in order, GGML type of each tensor)."""
    reader = gguf.GGUFReader(path)
    fields = {
        name: field.contents()
        for name, field in reader.fields.items()
        if not name.startswith("GGUF.")
    }
    tensors = {
        t.name: np.array(t.data).reshape(tuple(int(n) for n in reversed(t.shape)))
        for t in reader.tensors
    }
    return fields, tensors, {t.name: t.tensor_type for t in reader.tensors}


def llama_permute(rows: torch.Tensor, heads: int) -> torch.Tensor:
    """llama.cpp's ``LlamaModel.permute`` (conversion/llama.py) of a weight's rows, as a reference."""
    return (
        rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:])
        .swapaxes(1, 2)
        .reshape(rows.shape)
    )


def test_format_keys_names_shapes_and_the_llama_permutation(tmp_path: Path):
    base = fake_base(tmp_path / "base.gguf")
    weights = fake_adapter(tmp_path / "adapter")
    size = write_lora_gguf(tmp_path / "adapter", tmp_path / "adapter.gguf", base_gguf=base)
    fields, tensors, types = read(tmp_path / "adapter.gguf")
    assert size == (tmp_path / "adapter.gguf").stat().st_size and not list(
        tmp_path.glob(".*partial")
    )
    assert fields == {
        "general.architecture": "llama",
        "general.type": "adapter",
        "adapter.type": "lora",
        "adapter.lora.alpha": 8.0,
    }
    assert sorted(tensors) == sorted(
        f"blk.0.{m}.weight.lora_{x}" for m in ("attn_q", "attn_k", "ffn_down") for x in "ab"
    )
    assert set(types.values()) == {gguf.GGMLQuantizationType.F16}

    def pair(module: str, name: str) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        a, b = weights[f"{PEFT}{module}.lora_A.weight"], weights[f"{PEFT}{module}.lora_B.weight"]
        return (
            a,
            b,
            tensors[f"blk.0.{name}.weight.lora_a"].astype(np.float32),
            tensors[f"blk.0.{name}.weight.lora_b"].astype(np.float32),
        )

    a, b, got_a, got_b = pair(
        "mlp.down_proj", "ffn_down"
    )  # lora_a r × in, lora_b out × r, unchanged
    assert got_a.shape == (2, 16) and got_b.shape == (8, 2)
    np.testing.assert_allclose(got_a, a.numpy(), rtol=1e-3)
    np.testing.assert_allclose(got_b, b.numpy(), rtol=1e-3)
    for module, name, heads in (
        ("self_attn.q_proj", "attn_q", 2),
        ("self_attn.k_proj", "attn_k", 1),
    ):
        a, b, got_a, got_b = pair(
            module, name
        )  # the update B A in the rows' rotary layout of the base
        np.testing.assert_allclose(
            got_b @ got_a, llama_permute(b @ a, heads).numpy(), rtol=1e-2, atol=1e-2
        )
        assert not np.allclose(got_b, b.numpy(), atol=1e-2)  # rows 0 2 1 3 of each 4-dim head


def test_qwen2_keeps_rows_float32_on_request_and_scaling_carries_over(tmp_path: Path):
    base = fake_base(tmp_path / "base.gguf", arch="qwen2")
    rslora = fake_adapter(
        tmp_path / "rs",
        rank=4,
        alpha=8,
        config={"use_rslora": True, "alpha_pattern": {"down_proj": 2}},
    )
    write_lora_gguf(tmp_path / "rs", tmp_path / "rs.gguf", base_gguf=base, float16=False)
    fields, tensors, types = read(tmp_path / "rs.gguf")
    assert fields["general.architecture"] == "qwen2" and set(types.values()) == {
        gguf.GGMLQuantizationType.F32
    }
    # llama.cpp scales B A by alpha / r = 2; PEFT by alpha / sqrt(r) = 4 (q), 2 / sqrt(r) = 1 (down).
    for module, name, ratio in (
        ("self_attn.q_proj", "attn_q", 2.0),
        ("mlp.down_proj", "ffn_down", 0.5),
    ):
        np.testing.assert_allclose(
            tensors[f"blk.0.{name}.weight.lora_a"], rslora[f"{PEFT}{module}.lora_A.weight"].numpy()
        )
        np.testing.assert_allclose(
            tensors[f"blk.0.{name}.weight.lora_b"],
            ratio * rslora[f"{PEFT}{module}.lora_B.weight"].numpy(),
            rtol=1e-6,
        )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ({"config": {"use_dora": True}}, "DoRA"),
        ({"config": {"peft_type": "IA3"}}, "LoRA adapters only"),
        ({"extra": {f"{PEFT}self_attn.q_proj.bias": torch.zeros(8)}}, "not a LoRA A or B matrix"),
        ({"modules": {"self_attn.o_proj": (8, 8)}}, "no weight to adapt"),
        ({"modules": {"self_attn.q_proj": (16, 8)}}, "does not fit"),
    ],
)
def test_adapters_llama_cpp_cannot_carry_are_refused(tmp_path: Path, case: dict, message: str):
    base = fake_base(tmp_path / "base.gguf")
    fake_adapter(tmp_path / "adapter", **case)
    with pytest.raises(InputError, match=message):
        write_lora_gguf(tmp_path / "adapter", tmp_path / "adapter.gguf", base_gguf=base)
    assert not list(tmp_path.glob("*adapter.gguf*"))  # nothing half-written is left


def test_an_architecture_without_a_known_layout_is_refused(tmp_path: Path):
    base = fake_base(tmp_path / "base.gguf", arch="gemma")
    assert "gemma" not in ARCHITECTURES
    fake_adapter(tmp_path / "adapter")
    with pytest.raises(ModelError, match="convert_lora_to_gguf.py"):
        write_lora_gguf(tmp_path / "adapter", tmp_path / "adapter.gguf", base_gguf=base)


def test_export_writes_peft_files_and_adapter_gguf_also_in_place(tmp_path: Path):
    from safetensors.torch import load_file

    from perfedit.training.export import export_adapter

    base = fake_base(tmp_path / "base.gguf")
    trained = fake_adapter(
        tmp_path / "run" / "adapter", config={"base_model_name_or_path": str(base)}
    )
    (tmp_path / "run" / "adapter" / "recipe.json").write_text("{}")
    shipped = tmp_path / "models" / "fake"
    written = export_adapter(tmp_path / "run" / "adapter", shipped)
    files = ["adapter.gguf", "adapter_config.json", "adapter_model.safetensors", "recipe.json"]
    assert sorted(p.name for p in shipped.iterdir()) == files
    assert written == sum((shipped / name).stat().st_size for name in files)
    _, tensors, _ = read(shipped / "adapter.gguf")
    np.testing.assert_allclose(
        tensors["blk.0.ffn_down.weight.lora_b"].astype(np.float32),
        trained[f"{PEFT}mlp.down_proj.lora_B.weight"].numpy(),
        rtol=1e-3,
    )  # from float32, not bf16

    # In place, only adapter.gguf is added: to a training output (its weights stay float32), or to
    # an adapter shipped before adapter.gguf existed.
    export_adapter(tmp_path / "run" / "adapter", tmp_path / "run" / "adapter")
    assert (tmp_path / "run" / "adapter" / "adapter.gguf").is_file()
    assert all(
        t.dtype == torch.float32
        for t in load_file(tmp_path / "run" / "adapter" / "adapter_model.safetensors").values()
    )
    (shipped / "adapter.gguf").unlink()
    before = {name: (shipped / name).read_bytes() for name in files[1:]}
    export_adapter(shipped, shipped)
    assert sorted(p.name for p in shipped.iterdir()) == files
    assert before == {name: (shipped / name).read_bytes() for name in files[1:]}


def test_export_without_the_base_gguf_keeps_the_peft_files_and_says_so(tmp_path: Path):
    from perfedit.errors import ModelMissing
    from perfedit.training.export import export_adapter

    fake_adapter(
        tmp_path / "adapter", config={"base_model_name_or_path": str(tmp_path / "gone.gguf")}
    )
    (tmp_path / "adapter" / "recipe.json").write_text("{}")
    with pytest.raises(ModelMissing, match="PEFT files .* but no adapter.gguf"):
        export_adapter(tmp_path / "adapter", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "recipe.json",
    ]


#: Transformer blocks of the bases perfedit's adapters are trained on.
BLOCKS = {"qwen2.5-coder-0.5b": 24, "qwen2.5-coder-1.5b": 28}


#: Every adapter shipped in models/ with a llama.cpp file.
SHIPPED = sorted(
    p.parent.name
    for p in (Path(__file__).resolve().parent.parent / "models").glob("*/adapter.gguf")
)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_adapter_gguf_holds_the_shipped_weights(name: str):
    """models/<name>/adapter.gguf is the export of its adapter_model.safetensors (a Qwen2 base:
    no permutation, PEFT's scale alpha / r as llama.cpp's), not a stale copy."""
    from safetensors.torch import load_file

    from perfedit.llm.modelstore import ADAPTERS_DIR

    folder = ADAPTERS_DIR / name
    fields, tensors, types = read(folder / "adapter.gguf")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert fields == {
        "general.architecture": "qwen2",
        "general.type": "adapter",
        "adapter.type": "lora",
        "adapter.lora.alpha": float(config["lora_alpha"]),
    }
    assert set(types.values()) == {gguf.GGMLQuantizationType.F16}
    weights = load_file(folder / "adapter_model.safetensors")
    blocks = BLOCKS[config["base_model_name_or_path"]]
    assert len(tensors) == len(weights) == blocks * len(config["target_modules"]) * 2
    names = {
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for key, tensor in weights.items():
        block, module, half = re.fullmatch(
            r"base_model\.model\.model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight", key
        ).groups()
        np.testing.assert_allclose(
            tensors[f"blk.{block}.{names[module]}.weight.lora_{half.lower()}"].astype(np.float32),
            tensor.float().numpy(),
            rtol=1e-2,
            atol=1e-6,
        )


# --- the real SmolLM2-135M: llama.cpp (its server, as perfedit's engine runs it) with adapter.gguf
# against transformers with the PEFT adapter

MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]
CODE = b"def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n"
ATTENTION_QK = [
    "q_proj",
    "k_proj",
]  # the rows llama.cpp permutes for a "llama" base such as SmolLM2
EVERY_PROJECTION = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def smollm_adapter(folder: Path, targets: list[str], b_std: float):
    """A LoRA (r 4, alpha 8) on the transformers copy of SmolLM2-135M (float32), its B matrices
    drawn with standard deviation ``b_std`` (0: PEFT's zero init), saved in ``folder`` as
    ``perfedit train`` leaves an adapter; returns the PEFT model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from perfedit.llm import modelstore

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(
        modelstore.resolve("smollm2-135m"), dtype=torch.float32
    )
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name and b_std:
                parameter.copy_(torch.randn(parameter.shape) * b_std)
    model.save_pretrained(folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(
        json.dumps({**config, "base_model_name_or_path": "smollm2-135m"})
    )
    (folder / "recipe.json").write_text("{}")
    return model.eval()


@pytest.fixture(scope="module")
def llama_base():
    from perfedit.errors import ModelMissing
    from perfedit.llm.llamacpp import LlamaCppModel

    try:
        return LlamaCppModel.load("smollm2-135m")
    except ModelMissing as error:
        pytest.fail(f"SmolLM2-135M is not pulled; run `perfedit model pull smollm2-135m`. {error}")


#: Candidates of the next token that llama.cpp's server reports with their log-probabilities.
TOP = 200


def _engine(model, route: str, body: dict) -> dict:
    """The JSON answer of ``model``'s engine (llama.cpp's server) to a POST of ``body``."""
    base = model.engine.address.removesuffix("/v1")
    request = urllib.request.Request(
        f"{base}{route}", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def tokenize(model, text: bytes) -> list[int]:
    """llama.cpp's tokens of ``text`` (no BOS)."""
    return _engine(model, "/tokenize", {"content": text.decode(), "add_special": False})["tokens"]


def next_token_logprobs(model, tokens: list[int]) -> dict[int, float]:
    """llama.cpp's log-probabilities of the :data:`TOP` likeliest tokens after ``tokens``
    (token id → log-probability), before any sampling."""
    answer = _engine(
        model,
        "/completion",
        {"prompt": tokens, "n_predict": 1, "n_probs": TOP, "temperature": 0.0,
         "post_sampling_probs": False, "cache_prompt": False},
    )  # fmt: skip
    (first,) = answer["completion_probabilities"]
    return {entry["id"]: entry["logprob"] for entry in first["top_logprobs"]}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


@pytest.mark.model
@pytest.mark.parametrize(
    "targets", [ATTENTION_QK, EVERY_PROJECTION], ids=["q-k", "every-projection"]
)
def test_llama_cpp_with_adapter_gguf_follows_transformers_with_the_adapter(
    llama_base, tmp_path: Path, targets: list[str]
):
    from perfedit.llm.llamacpp import LlamaCppModel
    from perfedit.training.export import export_adapter

    peft = smollm_adapter(tmp_path / "adapter", targets, b_std=0.3)
    export_adapter(tmp_path / "adapter", tmp_path / "shipped")
    adapted = LlamaCppModel.load(str(tmp_path / "shipped"))  # raises if llama.cpp refuses the file
    assert adapted.files == (llama_base.files[0], tmp_path / "shipped" / "adapter.gguf")

    tokens = tokenize(adapted, CODE)
    with torch.no_grad():
        hf_adapted = peft(torch.tensor([tokens])).logits[0].numpy()
        with peft.disable_adapter():
            hf_base = peft(torch.tensor([tokens])).logits[0].numpy()
    agree = 0
    for end in (8, 16, 24, len(tokens)):
        lc_adapted = next_token_logprobs(adapted, tokens[:end])
        lc_base = next_token_logprobs(llama_base, tokens[:end])
        both = sorted(lc_adapted.keys() & lc_base.keys())  # the likely tokens of either model
        assert len(both) > TOP // 4
        moved = np.array([lc_adapted[t] - lc_base[t] for t in both])
        hf_moved = (_log_softmax(hf_adapted[end - 1]) - _log_softmax(hf_base[end - 1]))[both]
        assert np.abs(moved).mean() > 0.1  # the adapter changes llama.cpp's log-probabilities...
        assert (
            np.corrcoef(moved, hf_moved)[0, 1] > 0.9
        )  # ...as it changes transformers' (a wrong q/k layout: ~0.1)
        agree += int(max(lc_adapted, key=lc_adapted.__getitem__) == hf_adapted[end - 1].argmax())
    assert agree >= 3


@pytest.mark.model
def test_an_adapter_with_zero_b_leaves_llama_cpp_unchanged(llama_base, tmp_path: Path):
    from perfedit.llm.llamacpp import LlamaCppModel
    from perfedit.training.export import export_adapter

    smollm_adapter(tmp_path / "adapter", EVERY_PROJECTION, b_std=0)
    export_adapter(tmp_path / "adapter", tmp_path / "shipped")
    adapted = LlamaCppModel.load(str(tmp_path / "shipped"))
    tokens = tokenize(adapted, CODE)
    adapted_top, base_top = (
        next_token_logprobs(adapted, tokens),
        next_token_logprobs(llama_base, tokens),
    )
    assert adapted_top.keys() == base_top.keys()
    np.testing.assert_allclose(
        [adapted_top[t] for t in base_top], list(base_top.values()), atol=1e-4
    )
    assert adapted.complete(MESSAGES, max_new_tokens=16) == llama_base.complete(
        MESSAGES, max_new_tokens=16
    )
