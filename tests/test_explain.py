"""Explanations: the model's reason is cut to two clean sentences."""

from perfedit.ask import why_faster


class CannedModel:
    """Stands in for ChatModel.complete with a fixed reply (the reply's cleaning is under test)."""

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def complete(self, messages, *, max_new_tokens: int) -> str:
        assert "Faster version" in messages[-1]["content"]
        return self.reply


def test_why_faster_keeps_two_sentences_without_list_markers_or_code():
    reply = (
        "The new version avoids **unused imports**. Here's a detailed explanation: 1. "
        "Importing datetime costs time at start-up. 2. Fewer globals.\n```python\nimport sys\n```"
    )
    assert why_faster(CannedModel(reply), "a", "b") == (
        "The new version avoids unused imports. Importing datetime costs time at start-up."
    )
