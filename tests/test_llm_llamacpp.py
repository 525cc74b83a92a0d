"""The llama.cpp backend on the real SmolLM2-135M-Instruct GGUF, in its engine process: greedy +
samples streamed one by one, quiet logs, progress, cancelling, priming, a crash of the real
engine contained, no engine left behind, and the error of a damaged file.

The GGUF file must have been pulled (`perfedit model pull smollm2-135m`); if it is missing these
tests fail rather than skip, so that a broken setup cannot pass unnoticed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import openai
import pytest

from perfedit import llm
from perfedit.errors import Cancelled, ModelError, ModelMissing
from perfedit.llm.endpoint import EndpointModel
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
    real = EndpointModel.reply
    monkeypatch.setattr(
        EndpointModel, "reply", lambda self, m, draw: calls.append(draw) or real(self, m, draw)
    )
    replies = smollm.replies(MESSAGES, num_samples=3, max_new_tokens=8, seed=1)
    first = next(replies)
    assert first.text and len(calls) == 1 and calls[0].temperature == 0.0
    second = next(replies)
    assert second.text and len(calls) == 2 and calls[1].temperature == 0.7
    replies.close()
    assert len(calls) == 2


def test_llama_cpp_logs_stay_quiet(capfd):
    """llama.cpp's own log lines (loading, timings) do not reach the user's terminal."""
    LlamaCppModel.load("smollm2-135m").complete(MESSAGES, max_new_tokens=4)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


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


def test_a_crash_of_the_real_engine_mid_reply_is_contained(smollm):
    """The engine process faults (SIGSEGV) while it generates: the reply fails with a clear
    error, this process goes on, and the next reply comes from a fresh engine."""
    engine = smollm.engine.process
    assert engine is not None

    def fault(step: int, total: int) -> None:
        if step == 2:
            os.kill(engine.pid, signal.SIGSEGV)

    with pytest.raises(ModelError, match=r"crashed \(SIGSEGV\)"):
        smollm.complete(MESSAGES, max_new_tokens=64, on_step=fault)
    assert smollm.complete(MESSAGES, max_new_tokens=8)
    assert smollm.engine.process is not None and smollm.engine.process.pid != engine.pid


def test_priming_starts_the_next_reply_at_the_targets_code(smollm, tmp_path):
    """After :func:`perfedit.candidates.ask.prime` (what the language server does after a job), the next
    job's prompt is evaluated only after the shared beginning (system prompt and
    demonstration), which the engine's slot holds: far more of its tokens come from the cache
    than after an unrelated request, and the reply is the same."""
    from perfedit.candidates import ask
    from perfedit.candidates.prompts import optimize_messages
    from perfedit.targets import find

    path = tmp_path / "m.py"
    path.write_text("def total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n")
    target = find(path, path.read_text(), function="total")
    messages = optimize_messages(target.code, "function")
    client = openai.OpenAI(base_url=smollm.engine.address, api_key="none")

    def cached_tokens() -> tuple[int, str]:
        answer = client.chat.completions.create(
            model="perfedit", messages=messages, max_tokens=8, temperature=0.0
        )
        details = answer.usage.prompt_tokens_details
        return details.cached_tokens, answer.choices[0].message.content

    smollm.complete(MESSAGES, max_new_tokens=1)  # an unrelated prompt in the slot
    cold, cold_text = cached_tokens()
    smollm.complete(MESSAGES, max_new_tokens=1)
    ask.prime(smollm, "function")
    primed, primed_text = cached_tokens()
    assert primed_text == cold_text
    assert primed > cold + 80, (primed, cold)


def test_the_engine_ends_with_its_parent(tmp_path):
    """A process that loaded the model is killed (SIGKILL: no clean-up runs): its engine
    process ends too, with nothing left behind."""
    script = (
        "from perfedit.llm.llamacpp import LlamaCppModel\n"
        "m = LlamaCppModel.load('smollm2-135m')\n"
        "print(m.engine.process.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    engine = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 30  # generous: the engine notices within a second
    while _alive(engine) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(engine)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def prompt_cache(tmp_path, monkeypatch):
    """The prompt cache in a temporary folder (the models stay where they are); set before a
    model is loaded, as its engine is told where the cache is."""
    from perfedit.llm import llamacpp

    monkeypatch.setattr(llamacpp, "prompt_cache_dir", lambda: tmp_path / "prompts")
    return tmp_path / "prompts"


def _counting_replies(monkeypatch) -> list[int]:
    """The max_new_tokens of every reply asked of an engine from now on."""
    asked: list[int] = []
    real = EndpointModel.reply
    monkeypatch.setattr(
        EndpointModel,
        "reply",
        lambda self, m, draw: asked.append(draw.max_new_tokens) or real(self, m, draw),
    )
    return asked


def _function_messages():
    from perfedit.candidates.prompts import optimize_messages

    return optimize_messages("def total(xs):\n    return sum(x for x in xs)\n", "function")


def test_a_primed_prompt_is_kept_on_disk_and_a_new_engine_restores_it(prompt_cache, monkeypatch):
    """Priming saves the engine's slot; a model loaded afresh (a new process's) primes by
    restoring it, evaluating nothing, and its next reply is the same reply."""
    from perfedit.candidates import ask

    messages = _function_messages()
    first = LlamaCppModel.load("smollm2-135m")
    ask.prime(first, "function")
    (kept,) = prompt_cache.iterdir()
    assert kept.name.startswith("SmolLM2-135M-Instruct") and kept.stat().st_size > 100_000
    expected = first.complete(messages, max_new_tokens=8)
    first.engine.stop()

    second = LlamaCppModel.load("smollm2-135m")
    asked = _counting_replies(monkeypatch)
    ask.prime(second, "function")
    assert asked == []  # restored, not evaluated
    assert second.complete(messages, max_new_tokens=8) == expected
    # Another kind of target is another prompt: another file.
    ask.prime(second, "script")
    assert len(list(prompt_cache.iterdir())) == 2


def test_a_damaged_prompt_file_is_evaluated_again_and_replaced(prompt_cache, monkeypatch):
    from perfedit.candidates import ask
    from perfedit.llm import llamacpp

    model = LlamaCppModel.load("smollm2-135m")
    path = llamacpp.prompt_cache_file(model.files, ask.prime_messages("function"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a saved slot")
    asked = _counting_replies(monkeypatch)
    ask.prime(model, "function")
    assert asked == [1]  # evaluated, not restored
    assert path.stat().st_size > 100_000  # and kept for the next time
    assert model.complete(_function_messages(), max_new_tokens=8)


def test_an_unwritable_prompt_cache_only_costs_the_evaluation(tmp_path, monkeypatch):
    from perfedit.candidates import ask
    from perfedit.llm import llamacpp

    blocked = tmp_path / "prompts"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setattr(llamacpp, "prompt_cache_dir", lambda: blocked)
    model = LlamaCppModel.load("smollm2-135m")
    ask.prime(model, "script")
    assert blocked.read_text().startswith("a file")
    assert model.complete(_function_messages(), max_new_tokens=4)


def test_model_pull_primes_both_kinds_of_prompt_once(tmp_path):
    """``perfedit model pull`` as a process leaves the primed prompts of both kinds of target on
    disk; pulling again restores nothing and writes nothing."""
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
