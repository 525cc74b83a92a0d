"""The transformers backend (``backend = "transformers"``, and the model training fine-tunes):
Hugging Face transformers on CPU (bf16 where the CPU has it) or CUDA.

:meth:`TransformersModel.replies` produces one greedy reply and ``num_samples`` sampled ones in a
single batched ``generate`` call (PIE's greedy + best-of-k): every row samples, but a logits
processor leaves only the argmax open in row 0, so row 0 is exactly greedy. All replies are
therefore ready at the same moment; the llama.cpp backend streams them one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import cast

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BatchEncoding,
    GenerationMixin,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.utils import logging as transformers_logging

from perfedit.errors import Cancelled, ModelError
from perfedit.llm import modelstore
from perfedit.llm.base import ChatModel, Messages, Reply, StepFn


class _GreedyRowZero(LogitsProcessor):
    """Leaves only the highest-scoring token possible in batch row 0 (so sampling it is greedy)."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        best = scores[0].argmax()  # the first of tied maxima, as greedy decoding picks
        greedy = torch.full_like(scores[0], float("-inf"))  # (V,)
        greedy[best] = scores[0, best]
        scores[0] = greedy
        return scores  # (B, V)


class _StepHook(StoppingCriteria):
    """Reports each step to ``on_step`` and stops every row once ``should_stop()`` is True."""

    def __init__(
        self,
        prompt_tokens: int,
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        on_step: StepFn | None,
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.should_stop = should_stop
        self.on_step = on_step
        self.stopped = False

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs
    ) -> torch.BoolTensor:
        if self.on_step is not None:
            self.on_step(input_ids.shape[1] - self.prompt_tokens, self.max_new_tokens)
        self.stopped = self.stopped or (self.should_stop is not None and self.should_stop())
        # A bool fill value makes a bool tensor; torch types every torch.full as a plain Tensor.
        return cast(
            torch.BoolTensor,
            torch.full((input_ids.shape[0],), self.stopped, device=input_ids.device),
        )  # (B,)


def _pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA and on CPUs with native bf16 (AVX512-BF16 / AMX), otherwise float32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() else torch.float32


class TransformersModel(ChatModel):
    """A causal language model and its tokenizer, ready to generate chat replies."""

    backend = "transformers"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        load_seconds: float,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.load_seconds = load_seconds  # wall time of :meth:`load`

    @classmethod
    def load(
        cls, model: str = modelstore.DEFAULT_MODEL, *, device: str = "auto"
    ) -> TransformersModel:
        """Load ``model`` (directory, alias or hub id; see :func:`modelstore.resolve`).

        A directory holding a PEFT LoRA adapter (``adapter_config.json``) is loaded on top of its
        base model, which is resolved the same way (a model pulled as GGUF is converted to bf16
        once, here). ``device`` is ``"auto"`` (CUDA if present, else CPU) or a torch device
        string. Never downloads.

        Raises:
            ModelMissing: the model (or an adapter's base model) is not on this machine.
            ModelError: an adapter's config names no base model.
        """
        start = time.perf_counter()
        transformers_logging.disable_progress_bar()  # callers show their own progress
        path = modelstore.resolve(model)
        torch_device = _pick_device(device)
        dtype = pick_dtype(torch_device)
        network: PreTrainedModel
        if (path / "adapter_config.json").is_file():
            from peft import PeftConfig, PeftModel

            base_name = PeftConfig.from_pretrained(str(path)).base_model_name_or_path
            if base_name is None:
                raise ModelError(
                    f"the adapter {path} does not name its base model (adapter_config.json has no "
                    "base_model_name_or_path); export it again with `perfedit train export`."
                )
            base = modelstore.resolve(base_name)
            # A PeftModel forwards generate, device and the rest to the PreTrainedModel it wraps.
            network = cast(
                PreTrainedModel,
                PeftModel.from_pretrained(
                    AutoModelForCausalLM.from_pretrained(base, dtype=dtype), path
                ),
            )
            has_tokenizer = (path / "tokenizer_config.json").is_file()
            tokenizer = AutoTokenizer.from_pretrained(path if has_tokenizer else base)
        else:
            network = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"  # batched generation continues every row at the same column
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        # transformers declares PreTrainedModel.to with @wraps(nn.Module.to), whose type takes the
        # unbound method's self as the first argument.
        network.to(torch_device).eval()  # type: ignore[arg-type]
        return cls(network, tokenizer, name=model, load_seconds=time.perf_counter() - start)

    @property
    def device(self) -> torch.device:
        """Where the weights are (and where prompts are sent)."""
        return self.model.device

    def replies(
        self,
        messages: Messages,
        *,
        num_samples: int = 8,
        temperature: float = 0.7,
        max_new_tokens: int = 512,
        seed: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_step: StepFn | None = None,
        stop_strings: list[str] | None = None,
        greedy: bool = True,
    ) -> Iterator[Reply]:
        """:meth:`ChatModel.replies` as one batch: all replies come when the batch is done.

        ``messages`` go through the tokenizer's chat template; ``seed`` seeds torch's global RNG.
        A row also ends once its reply contains one of ``stop_strings``, so one rambling row
        does not keep the whole batch going; ``on_step`` is called per token position.

        Raises:
            Cancelled: ``should_stop()`` returned True.
        """
        # return_dict=True: a BatchEncoding, not the str or ids of the template's other modes.
        prompt = cast(
            BatchEncoding,
            self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ),
        ).to(self.device)
        prompt_tokens = prompt["input_ids"].shape[1]  # (1, T)
        hook = _StepHook(prompt_tokens, max_new_tokens, should_stop, on_step)
        sampling = (
            {"do_sample": False}
            if num_samples == 0 and greedy
            else {
                "do_sample": True,
                "temperature": temperature,
                "num_return_sequences": 1 + num_samples,
                "logits_processor": LogitsProcessorList([_GreedyRowZero()] if greedy else []),
            }
        )
        if seed is not None:
            torch.manual_seed(seed)
        start = time.perf_counter()
        with torch.inference_mode():
            # A causal LM has GenerationMixin's generate, which PreTrainedModel does not declare.
            sequences = cast(GenerationMixin, self.model).generate(
                **prompt,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([hook]),
                stop_strings=stop_strings,
                tokenizer=self.tokenizer if stop_strings else None,
                **sampling,
            )  # (1 + num_samples, T + new)
        seconds = time.perf_counter() - start
        if hook.stopped:
            raise Cancelled("Generation was cancelled.")
        rows = sequences[:, prompt_tokens:]  # (B, new)
        texts = self.tokenizer.batch_decode(rows, skip_special_tokens=True)
        for text, tokens in zip(texts, self._count_tokens(rows), strict=True):
            yield Reply(text, tokens, seconds)

    def _count_tokens(self, replies: torch.Tensor) -> list[int]:
        """Tokens of each row of ``replies`` (B, new) up to and including its first end-of-sequence."""
        eos = self.model.generation_config.eos_token_id
        eos_ids = torch.tensor(eos if isinstance(eos, list) else [eos], device=replies.device)
        is_eos = torch.isin(replies, eos_ids).int()  # (B, new)
        eos_before = is_eos.cumsum(dim=1) - is_eos  # (B, new): EOS tokens strictly before
        return (eos_before == 0).sum(dim=1).tolist()
