"""The llama.cpp backend on the real SmolLM2-135M-Instruct GGUF: greedy + samples streamed one by
one, quiet logs, progress, cancelling, and the errors of a damaged file or a missing
binding.

The GGUF file must have been pulled (`perfedit model pull smollm2-135m`); if it is missing these
tests fail rather than skip, so that a broken setup cannot pass unnoticed.
"""

from __future__ import annotations

import sys

import pytest

from perfedit import llm
from perfedit.errors import Cancelled, ModelError, ModelMissing
from perfedit.llm.llamacpp import LlamaCppModel

pytestmark = pytest.mark.model

MESSAGES = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]


@pytest.fixture(scope="module")
def smollm() -> LlamaCppModel:
    try:
        return LlamaCppModel.load("smollm2-135m")
    except ModelMissing as error:
        pytest.fail(f"SmolLM2-135M is not pulled; run `perfedit model pull smollm2-135m`. {error}")


def test_greedy_first_then_samples_each_streamed(smollm):
    steps: list[tuple[int, int]] = []
    replies = list(
        smollm.replies(
            MESSAGES,
            num_samples=2,
            max_new_tokens=24,
            seed=0,
            on_step=lambda s, n: steps.append((s, n)),
        )
    )
    assert len(replies) == 3
    assert all(0 < r.tokens <= 24 + 1 and r.seconds > 0 for r in replies)
    assert steps[0] == (1, 24) and max(s for s, _ in steps) <= 24
    # Greedy is deterministic; a sample with the same seed is reproducible.
    again = list(smollm.replies(MESSAGES, num_samples=1, max_new_tokens=24, seed=0))
    assert again[0].text == replies[0].text and again[1].text == replies[1].text


def test_replies_arrive_one_at_a_time(smollm, monkeypatch):
    """The first reply is handed over before the second is started (the pipeline validates it
    meanwhile): the generator is lazy."""
    calls = []
    real = smollm.llama.create_chat_completion
    monkeypatch.setattr(
        smollm.llama, "create_chat_completion", lambda *a, **k: calls.append(k) or real(*a, **k)
    )
    replies = smollm.replies(MESSAGES, num_samples=3, max_new_tokens=8, seed=1)
    first = next(replies)
    assert first.text and len(calls) == 1 and calls[0]["temperature"] == 0.0
    second = next(replies)
    assert second.text and len(calls) == 2 and calls[1]["temperature"] == 0.7
    replies.close()
    assert len(calls) == 2


def test_llama_cpp_warnings_stay_quiet(capfd):
    """llama.cpp's own log lines (loading, warnings) do not reach the user's terminal."""
    LlamaCppModel.load("smollm2-135m").complete(MESSAGES, max_new_tokens=4)
    assert capfd.readouterr().err == ""


def test_stop_string_ends_a_reply(smollm):
    reply = smollm.generate(
        MESSAGES, num_samples=0, max_new_tokens=200, stop_strings=["def "]
    ).texts[0]
    assert "def " not in reply


def test_should_stop_cancels_generation(smollm):
    with pytest.raises(Cancelled):
        list(smollm.replies(MESSAGES, num_samples=2, max_new_tokens=24, should_stop=lambda: True))


def test_generate_and_shared_use_the_default_backend(smollm):
    generation = smollm.generate(MESSAGES, num_samples=1, max_new_tokens=12, seed=0)
    assert len(generation.texts) == 2 and generation.tokens_per_second > 0
    assert llm.shared("smollm2-135m") is llm.shared("smollm2-135m")
    assert llm.shared("smollm2-135m").backend == "llama.cpp"


def test_damaged_gguf_is_a_clear_model_error(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelError, match="damaged or not a GGUF model"):
        LlamaCppModel.load(str(broken))
    assert broken.read_bytes() == b"GGUF" + b"\x00" * 64  # nothing on disk changed


def test_missing_binding_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now raises ImportError
    with pytest.raises(ModelError, match="--backend transformers"):
        LlamaCppModel.load("smollm2-135m")


def test_priming_starts_the_next_reply_at_the_targets_code(
    smollm, monkeypatch, prompt_cache, tmp_path
):
    """After :func:`perfedit.candidates.ask.prime` (what the language server does after a job), the next
    job's greedy reply evaluates only what follows the shared beginning (system prompt and
    demonstration): far fewer prompt tokens than after an unrelated request, and the same reply."""
    from perfedit.candidates import ask
    from perfedit.candidates.prompts import optimize_messages
    from perfedit.targets import find

    path = tmp_path / "m.py"
    path.write_text("def total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n")
    target = find(path, path.read_text(), function="total")
    messages = optimize_messages(target.code, "function")
    evaluated: list[int] = []
    evaluate = smollm.llama.eval
    monkeypatch.setattr(
        smollm.llama, "eval", lambda tokens: (evaluated.append(len(tokens)), evaluate(tokens))[1]
    )

    def prompt_tokens_of_reply() -> tuple[int, str]:
        evaluated.clear()
        text = smollm.complete(messages, max_new_tokens=8)
        return evaluated[0], text

    smollm.complete(MESSAGES, max_new_tokens=1)  # an unrelated prompt in the context
    cold, cold_text = prompt_tokens_of_reply()
    smollm.complete(MESSAGES, max_new_tokens=1)
    ask.prime(smollm, "function")
    primed, primed_text = prompt_tokens_of_reply()
    assert primed_text == cold_text
    assert primed < cold - 80, (primed, cold)


@pytest.fixture
def prompt_cache(tmp_path, monkeypatch):
    """The prompt cache in a temporary folder (the models stay where they are)."""
    from perfedit.llm import llamacpp

    monkeypatch.setattr(llamacpp, "prompt_cache_dir", lambda: tmp_path / "prompts")
    return tmp_path / "prompts"


def _counting_evaluations(model: LlamaCppModel, monkeypatch) -> list[int]:
    """The lengths of the token batches ``model`` evaluates from now on."""
    evaluated: list[int] = []
    evaluate = model.llama.eval
    monkeypatch.setattr(
        model.llama, "eval", lambda tokens: (evaluated.append(len(tokens)), evaluate(tokens))[1]
    )
    return evaluated


def _function_messages(tmp_path):
    from perfedit.candidates.prompts import optimize_messages

    return optimize_messages("def total(xs):\n    return sum(x for x in xs)\n", "function")


def test_a_primed_prompt_is_kept_on_disk_and_a_new_context_loads_it(
    prompt_cache, monkeypatch, tmp_path
):
    """Priming writes llama.cpp's session file; a model loaded afresh (a new process's) primes by
    reading it, evaluating nothing, and its next reply evaluates only the target's part of the
    prompt and is the same reply."""
    from perfedit.candidates import ask

    messages = _function_messages(tmp_path)
    first = LlamaCppModel.load("smollm2-135m")
    ask.prime(first, "function")
    (kept,) = prompt_cache.iterdir()
    assert kept.name.startswith("SmolLM2-135M-Instruct") and kept.stat().st_size > 100_000
    expected = first.complete(messages, max_new_tokens=8)

    second = LlamaCppModel.load("smollm2-135m")
    evaluated = _counting_evaluations(second, monkeypatch)
    ask.prime(second, "function")
    assert evaluated == [] and second.llama.n_tokens > 80
    assert second.complete(messages, max_new_tokens=8) == expected
    fresh = LlamaCppModel.load("smollm2-135m")
    unprimed = _counting_evaluations(fresh, monkeypatch)
    assert fresh.complete(messages, max_new_tokens=8) == expected
    assert evaluated[0] < unprimed[0] - 80, (evaluated[0], unprimed[0])
    # Another kind of target is another prompt: another file.
    ask.prime(second, "script")
    assert len(list(prompt_cache.iterdir())) == 2


def test_a_damaged_prompt_file_is_evaluated_again_and_replaced(prompt_cache, monkeypatch, tmp_path):
    from perfedit.candidates import ask
    from perfedit.candidates.prompts import optimize_messages
    from perfedit.llm import llamacpp

    model = LlamaCppModel.load("smollm2-135m")
    path = llamacpp.prompt_cache_file(model.files, optimize_messages("", "function"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a session file")
    evaluated = _counting_evaluations(model, monkeypatch)
    ask.prime(model, "function")
    assert evaluated and evaluated[0] > 80  # evaluated, not loaded
    assert path.stat().st_size > 100_000  # and kept for the next time
    messages = _function_messages(tmp_path)
    assert model.complete(messages, max_new_tokens=8) == LlamaCppModel.load(
        "smollm2-135m"
    ).complete(messages, max_new_tokens=8)


def test_an_unwritable_prompt_cache_only_costs_the_evaluation(tmp_path, monkeypatch):
    from perfedit.candidates import ask
    from perfedit.llm import llamacpp

    blocked = tmp_path / "prompts"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setattr(llamacpp, "prompt_cache_dir", lambda: blocked)
    model = LlamaCppModel.load("smollm2-135m")
    ask.prime(model, "script")
    assert model.llama.n_tokens > 80 and blocked.read_text().startswith("a file")


def test_model_pull_primes_both_kinds_of_prompt_once(tmp_path):
    """``perfedit model pull`` as a process leaves the primed prompts of both kinds of target on
    disk; pulling again loads them rather than writing them again."""
    import os
    import subprocess

    from perfedit.llm import modelstore

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "downloads").symlink_to(modelstore.cache_root() / "downloads")
    env = {**os.environ, "PERFEDIT_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "perfedit", "model", "pull", "smollm2-135m"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    kept = sorted((cache / "prompts").iterdir())
    assert len(kept) == 2 and all(p.name.startswith("SmolLM2-135M-Instruct") for p in kept)
    written = [p.stat().st_mtime_ns for p in kept]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert [p.stat().st_mtime_ns for p in sorted((cache / "prompts").iterdir())] == written
