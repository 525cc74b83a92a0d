"""Generation throughput on this machine, printed as a Markdown table: tokens/s of one model on
the same prompt (the README example's optimisation prompt) and the same threads, by path.

* ``perfedit llama.cpp``: :class:`perfedit.llm.llamacpp.LlamaCppModel` as the pipeline uses it
  (streamed replies, :func:`~perfedit.llm.llamacpp.threads` threads);
* ``binding directly``: ``llama_cpp.Llama.create_chat_completion`` called plainly, no streaming,
  same threads — the reference for perfedit's own overhead (goal: perfedit ≥ 0.9× of it); then
  the binding with prompt-lookup decoding (``LlamaPromptLookupDecoding``, copy-aware drafting),
  and the binding on every core (what perfedit leaves to validation);
* ``transformers``: :class:`perfedit.llm.hf.TransformersModel` (bf16 where the CPU has it, else
  float32), greedy alone and the batched greedy + samples.

Each path runs greedy alone (1 reply) and greedy + ``--samples`` samples, ``--repeat`` times; the
table gives the median tokens/s and its ratio to the binding called directly, with the load
average beside it (other work on the machine lowers every figure alike).

Usage: python bench/generation.py [--model qwen2.5-coder-0.5b] [--samples 8] [--max-new-tokens 256] [--repeat 3] [--no-transformers]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from perfedit.candidates.ask import CLOSING_FENCE
from perfedit.candidates.prompts import optimize_messages
from perfedit.llm import ChatModel, modelstore
from perfedit.llm.llamacpp import CONTEXT_TOKENS, LlamaCppModel, threads
from perfedit.targets import find

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dedupe" / "dedupe.py"

#: ``run(num_samples) -> generated tokens``: one greedy (+ samples) generation.
RunFn = Callable[[int], int]


def perfedit_path(model: ChatModel, messages, max_new_tokens: int) -> RunFn:
    def run(samples: int) -> int:
        return model.generate(
            messages,
            num_samples=samples,
            max_new_tokens=max_new_tokens,
            seed=0,
            stop_strings=[CLOSING_FENCE],
        ).new_tokens

    return run


def binding_path(
    gguf: Path,
    messages,
    max_new_tokens: int,
    temperature: float,
    *,
    n_threads: int,
    prompt_lookup: bool = False,
) -> RunFn:
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    draft = LlamaPromptLookupDecoding(num_pred_tokens=10) if prompt_lookup else None
    llama = Llama(
        model_path=str(gguf),
        n_ctx=CONTEXT_TOKENS,
        n_threads=n_threads,
        draft_model=draft,
        verbose=False,
    )

    def run(samples: int) -> int:
        tokens = 0
        for index in range(1 + samples):
            out = llama.create_chat_completion(
                messages,
                temperature=0.0 if index == 0 else temperature,
                max_tokens=max_new_tokens,
                seed=index,
                stop=[CLOSING_FENCE],
            )
            tokens += out["usage"]["completion_tokens"]
        return tokens

    return run


def transformers_path(model_name: str, messages, max_new_tokens: int) -> RunFn:
    from perfedit.llm.hf import TransformersModel

    return perfedit_path(TransformersModel.load(model_name), messages, max_new_tokens)


def tokens_per_second(run: RunFn, samples: int, repeat: int) -> float:
    """Median over ``repeat`` runs of generated tokens per second of wall time."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = run(samples)
        rates.append(tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=modelstore.DEFAULT_MODEL)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-transformers", action="store_true", help="skip the transformers path (slow)"
    )
    args = parser.parse_args()

    target = find(EXAMPLE, EXAMPLE.read_text(), function="unique_in_order")
    messages = optimize_messages(target.code, "function")
    gguf, cores = modelstore.resolve_gguf(args.model), len(os.sched_getaffinity(0))
    binding = functools.partial(binding_path, gguf, messages, args.max_new_tokens, args.temperature)
    paths: dict[str, RunFn] = {
        f"binding directly, {threads()} thread(s)": binding(n_threads=threads()),
        f"perfedit llama.cpp, {threads()} thread(s)": perfedit_path(
            LlamaCppModel.load(args.model), messages, args.max_new_tokens
        ),
        "binding + prompt lookup": binding(n_threads=threads(), prompt_lookup=True),
        f"binding directly, {cores} thread(s)": binding(n_threads=cores),
    }
    if not args.no_transformers:
        paths["transformers"] = transformers_path(args.model, messages, args.max_new_tokens)

    print(
        f"model {args.model}, up to {args.max_new_tokens} new tokens per reply, median of {args.repeat}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"| path | greedy tok/s | ratio | greedy + {args.samples} samples tok/s | ratio |")
    print("|---|---|---|---|---|")
    reference: dict[int, float] = {}
    for name, run in paths.items():
        run(0)  # warm-up: first-call allocations
        row = []
        for samples in (0, args.samples):
            rate = tokens_per_second(run, samples, args.repeat)
            reference.setdefault(samples, rate)
            row += [f"{rate:.1f}", f"{rate / reference[samples]:.2f}x"]
        print(f"| {name} | {' | '.join(row)} |", flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
