"""Stablemax / softmax cross-entropy and the ACT loss with the original's metrics."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.sampler import IGNORE  # the label of positions no loss or metric counts


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """s(x) = x + 1 for x ≥ 0, 1/(1 − x) for x < 0: a softmax-free, C¹ positive map."""
    return torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    s = stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def stablemax_cross_entropy(logits, labels, ignore_index: int = IGNORE):
    """Per-token stablemax CE in float64 (as the original), 0 where ignored. [B,S,V] → [B,S]."""
    logp = log_stablemax(logits.to(torch.float64))
    valid = labels != ignore_index
    picked = logp.gather(-1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, 0)


def softmax_cross_entropy(logits, labels, ignore_index: int = IGNORE):
    """Per-token softmax CE in float32, 0 where ignored. [B,S,V] → [B,S]."""
    return F.cross_entropy(logits.float().flatten(0, -2), labels.long().flatten(), ignore_index=ignore_index,
                           reduction="none").view(labels.shape)


LOSSES = {"stablemax_cross_entropy": stablemax_cross_entropy, "softmax_cross_entropy": softmax_cross_entropy}


def act_loss(out: dict, carry, loss_type: str = "stablemax_cross_entropy", mask_padding_rows: bool = True):
    """Loss of one ACT segment over *all* rows (deep supervision) and metrics over halted rows.

    Returns (terms, metrics). terms: lm, q_halt, q_continue, total = lm + 0.5·(q_halt + q_continue),
    sums over the batch (the trainer divides by the global batch size); lm is each row's mean over its
    labelled tokens (small grids weigh more per token; kept for fidelity: P7 in docs/pitfalls.md).
    metrics: the original's sums — count, accuracy, exact_accuracy, q_halt_accuracy (q_halt ≥ 0, though
    training halts on q_halt > q_continue: P3), steps, lm_loss, q_halt_loss[, q_continue_loss] — over
    rows that halted in this call and have at least one label. mask_padding_rows (default) leaves rows
    without labels (batch padding) out of the Q losses; False scores them as "correct" in the q-halt
    BCE, as the original does (P1).
    """
    labels = carry.data["labels"]
    logits, q_halt, q_cont = out["logits"], out["q_halt_logits"], out["q_continue_logits"]
    with torch.no_grad():
        mask = labels != IGNORE
        n = mask.sum(-1)
        div = n.clamp_min(1).unsqueeze(-1)
        correct = mask & (logits.argmax(-1) == labels)
        seq_correct = correct.sum(-1) == n
        valid = carry.halted & (n > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (correct.float() / div).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_correct).sum(),
            "q_halt_accuracy": (valid & ((q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(valid, carry.steps, 0).sum(),
        }
    row_w = (n > 0).to(q_halt.dtype) if mask_padding_rows else torch.ones_like(q_halt)
    lm = (LOSSES[loss_type](logits, labels) / div).sum()
    q_halt_l = (F.binary_cross_entropy_with_logits(q_halt, seq_correct.to(q_halt.dtype), reduction="none")
                * row_w).sum()
    terms = {"lm": lm, "q_halt": q_halt_l}
    if "target_q_continue" in out:
        terms["q_continue"] = (F.binary_cross_entropy_with_logits(
            q_cont, out["target_q_continue"], reduction="none") * row_w).sum()
    terms["total"] = lm + 0.5 * (q_halt_l + terms.get("q_continue", 0))
    metrics.update({f"{k}_loss": v.detach() for k, v in terms.items() if k != "total"})
    return terms, metrics
