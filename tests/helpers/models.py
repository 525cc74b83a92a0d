"""Test doubles of the language model."""

from __future__ import annotations

from perfedit.llm import ChatModel, Reply


class Recording(ChatModel):
    """A test double for the language model: it records each prompt's last message and replies
    with the same small program."""

    name, backend, load_seconds = "recording", "test", 0.0

    def __init__(self) -> None:
        self.asked: list[str] = []

    def reply(self, messages, draw) -> Reply:
        self.asked.append(messages[-1]["content"])
        return Reply("```python\nprint(input())\n```", 5, 0.01)
