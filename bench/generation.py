"""Generation throughput of the llama.cpp engine on this machine, printed as a Markdown table:
tokens/s of one model on a real candidate prompt (the README example's optimisation prompt),
by threads and by speculative decoding.

Each row is :class:`perfedit.llm.llamacpp.LlamaCppModel` as the pipeline uses it (llama.cpp's
server from xllamacpp in its own process, streamed replies), started with a number of threads
and a kind of llama.cpp's n-gram speculative decoding (``none``, ``NGRAM_SIMPLE``,
``NGRAM_MOD``): a candidate mostly copies the target's code, which is in the prompt, so n-gram
drafts may be accepted often. Each row runs greedy alone (1 reply) and greedy + ``--samples``
samples, ``--repeat`` times after a warm-up reply (which evaluates the prompt); the table gives
the median tokens/s and its ratio to the first row, with the load average before and after
(other work on the machine lowers every figure alike). The header names the CPU, its features
and the ones the engine's build uses (as ``perfedit doctor`` does), so that figures from
different machines can be told apart.

The engine it replaced (llama-cpp-python 0.3.36 built from its sdist) cannot be measured here
without compiling it; its figure on the same model, from the report that led to the change, is
printed for reference: 7.9 tokens/s on 1 thread and 13.5 on 2 (an AMX machine, built without AMX).

Usage: python bench/generation.py [--model qwen2.5-coder-1.5b] [--file F --function NAME]
       [--threads 1 2] [--speculative none NGRAM_SIMPLE NGRAM_MOD] [--samples 2]
       [--max-new-tokens 256] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from perfedit.candidates.ask import CLOSING_FENCE
from perfedit.candidates.prompts import optimize_messages
from perfedit.llm import doctor, modelstore
from perfedit.llm.llamacpp import LlamaCppModel
from perfedit.targets import find

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dedupe" / "dedupe.py"

#: ``run(num_samples) -> generated tokens``: one greedy (+ samples) generation.
RunFn = Callable[[int], int]


def engine_path(model: LlamaCppModel, messages, max_new_tokens: int) -> RunFn:
    def run(samples: int) -> int:
        return model.generate(
            messages,
            num_samples=samples,
            max_new_tokens=max_new_tokens,
            seed=0,
            stop_strings=[CLOSING_FENCE],
        ).new_tokens

    return run


def tokens_per_second(run: RunFn, samples: int, repeat: int) -> float:
    """Median over ``repeat`` runs of generated tokens per second of wall time."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        tokens = run(samples)
        rates.append(tokens / (time.perf_counter() - start))
    return statistics.median(rates)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=modelstore.DEFAULT_MODEL)
    parser.add_argument("--file", type=Path, default=EXAMPLE, help="the target's source file")
    parser.add_argument("--function", default="unique_in_order", help="the target function")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--speculative", nargs="+", default=["none", "NGRAM_SIMPLE", "NGRAM_MOD"])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    target = find(args.file, args.file.read_text(), function=args.function)
    messages = optimize_messages(textwrap.dedent(target.code), "function")
    columns = sorted({0, args.samples})  # greedy alone; greedy + samples unless --samples 0
    print(
        f"model {args.model}, prompt: {args.file.name}:{args.function}, up to "
        f"{args.max_new_tokens} new tokens per reply, median of {args.repeat}"
    )
    engine = doctor.engine_info()
    print(
        f"{os.cpu_count()} CPUs ({doctor.cpu_flags()}); {engine.get('engine')}, its build uses: "
        f"{engine.get('cpu', 'unknown')}"
    )
    print(f"load average before: {load_average()}\n")
    heads = [f"greedy + {n} samples" if n else "greedy" for n in columns]
    print(f"| threads | speculation | {' | '.join(f'{h} tok/s | ratio' for h in heads)} |")
    print("|---|---|" + "---|---|" * len(columns))
    reference: dict[int, float] = {}
    for threads in args.threads:
        for kind in args.speculative:
            model = LlamaCppModel.load(
                args.model, n_threads=threads, speculative=None if kind == "none" else kind
            )
            run = engine_path(model, messages, args.max_new_tokens)
            model.complete(messages, max_new_tokens=1)  # warm-up: the prompt into the slot
            row = []
            for samples in columns:
                rate = tokens_per_second(run, samples, args.repeat)
                reference.setdefault(samples, rate)
                row += [f"{rate:.1f}", f"{rate / reference[samples]:.2f}x"]
            model.engine.stop()
            print(f"| {threads} | {kind} | {' | '.join(row)} |", flush=True)
    print(
        "| 1 / 2 | llama-cpp-python 0.3.36, not measured here (the report's AMX machine) | "
        + " | ".join(["7.9 / 13.5", ""] + ["", ""] * (len(columns) - 1))
        + " |"
    )
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
