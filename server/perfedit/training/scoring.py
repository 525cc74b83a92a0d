"""Batches of token sequences and the log-probabilities a causal model gives their replies.

Both trainers use :func:`reply_logprobs`: supervised fine-tuning turns it into the token-level
cross-entropy (PIE, section 3), RRHF into length-normalised scores (RRHF, Yuan et al. 2023,
section 3: ``p_i = sum_t log P(y_i,t | x, y_i,<t) / |y_i|``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from perfedit.training.pairs import IGNORE


def collate(
    sequences: Sequence[tuple[list[int], list[int]]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Right-padded tensors for ``(input_ids, labels)`` pairs: ``input_ids``, ``attention_mask``
    and ``labels``, each (B, T) with T the longest sequence; padding carries label
    :data:`~perfedit.training.pairs.IGNORE`.

    Raises:
        ValueError: empty ``sequences``, or ids and labels of different lengths.
    """
    if not sequences:
        raise ValueError("collate needs at least one sequence")
    if any(len(ids) != len(labels) for ids, labels in sequences):
        raise ValueError("every sequence needs one label per token")
    width = max(len(ids) for ids, _ in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)  # (B, T)
    for row, (ids, row_labels) in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(ids)] = torch.tensor(row_labels)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def reply_logprobs(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ``batch`` (from :func:`collate`, on the model's device): the summed
    log-probability of its labelled tokens (B,) in nats and their number (B,).

    Logits are computed only from the first labelled position on (``logits_to_keep``), which
    saves most of the (B, T, V) logits when replies follow long prompts; they are upcast to
    float32 for the log-softmax. Gradients flow when called outside ``torch.no_grad``.

    Raises:
        ValueError: a batch without any labelled token.
    """
    labels = batch["labels"]  # (B, T)
    labelled = labels != IGNORE  # (B, T)
    if not labelled.any():
        raise ValueError("the batch has no labelled token")
    width = labels.shape[1]
    first = int(
        labelled.float().argmax(dim=1)[labelled.any(dim=1)].min()
    )  # earliest labelled column
    first = max(first, 1)  # a label on the first token has no context to predict it from
    keep = width - first + 1  # logits at columns first-1 .. T-1 predict tokens first .. T
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep
    ).logits  # (B, keep, V)
    targets = labels[:, first:]  # (B, keep - 1)
    nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
    )  # (B, keep - 1)
    mask = targets != IGNORE  # (B, keep - 1)
    return -(nll * mask).sum(dim=1), mask.sum(dim=1)
