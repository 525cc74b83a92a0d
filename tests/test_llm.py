"""The transformers backend on the real SmolLM2-135M-Instruct: greedy + samples, progress, cancelling, LoRA.

The model must have been pulled (`perfedit model pull smollm2-135m`); if it is missing these
tests fail rather than skip, so that a broken setup cannot pass unnoticed.
"""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from perfedit.errors import Cancelled, ModelMissing
from perfedit.llm import modelstore
from perfedit.llm.hf import TransformersModel

pytestmark = pytest.mark.model

MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]


@pytest.fixture(scope="module")
def smollm() -> TransformersModel:
    try:
        return TransformersModel.load("smollm2-135m", device="cpu")
    except ModelMissing as error:
        pytest.fail(f"SmolLM2-135M is not pulled; run `perfedit model pull smollm2-135m`. {error}")


def pure_greedy(smollm: TransformersModel, max_new_tokens: int) -> str:
    """The reply of plain transformers greedy decoding (do_sample=False), batch of one."""
    prompt = smollm.tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = smollm.model.generate(**prompt, do_sample=False, max_new_tokens=max_new_tokens)
    return smollm.tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


def test_row_zero_is_greedy_and_samples_follow(smollm):
    steps = []
    generation = smollm.generate(
        MESSAGES,
        num_samples=2,
        max_new_tokens=24,
        seed=0,
        on_step=lambda s, n: steps.append((s, n)),
    )
    assert len(generation.texts) == 3
    assert generation.texts[0] == pure_greedy(smollm, 24)
    assert 0 < generation.new_tokens <= 3 * 24
    assert generation.seconds > 0 and generation.tokens_per_second > 0
    assert steps[0] == (1, 24) and steps[-1][0] <= 24


def test_complete_is_the_greedy_reply(smollm):
    assert smollm.complete(MESSAGES, max_new_tokens=12) == pure_greedy(smollm, 12)


def test_should_stop_cancels_generation(smollm):
    with pytest.raises(Cancelled):
        smollm.generate(MESSAGES, num_samples=2, max_new_tokens=24, should_stop=lambda: True)


def test_lora_adapter_loads_on_its_base_model_by_alias(smollm, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    base = AutoModelForCausalLM.from_pretrained(modelstore.resolve("smollm2-135m"))
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path)
    config_path = tmp_path / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = "smollm2-135m"  # an alias, resolved through modelstore
    config_path.write_text(json.dumps(config))

    adapted = TransformersModel.load(str(tmp_path), device="cpu")
    assert isinstance(adapted.model, PeftModel)
    # A fresh LoRA adapter is the identity (its B matrices are zero), so greedy replies agree.
    assert adapted.complete(MESSAGES, max_new_tokens=8) == smollm.complete(
        MESSAGES, max_new_tokens=8
    )
