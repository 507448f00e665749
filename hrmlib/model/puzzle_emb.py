"""Sparse puzzle embedding: a table kept as a *buffer*, trained by sign-SGD.

The table is not a Parameter, so Adam, the gradient all-reduce and the parameter count never see
it. In training, the rows a batch uses are copied into a leaf tensor that collects their gradient;
`hrmlib.train.optim.SignSGD` turns the step's (gradients, ids) into a lazy row update. Unlike the
original, the leaf is created per call, so any batch size works, and a step of several micro-batches
keeps one per forward (docs/pitfalls.md P30).
"""
from __future__ import annotations

import torch
from torch import nn


class PuzzleEmbedding(nn.Module):
    def __init__(self, num: int, dim: int, dtype: torch.dtype):
        super().__init__()
        self.register_buffer("weights", torch.zeros(num, dim))  # init std 0: no RNG draw
        self.dtype = dtype
        # this step's (leaf [rows, dim] fp32, table rows [rows]) of every training forward: one per
        # micro-batch, so the step's update sees the gradient of every row of the batch
        self.leaves: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        local = self.weights[ids]  # a copy: the table is a buffer, so autograd never reaches it
        if self.training and torch.is_grad_enabled():
            self.leaves.append((local.requires_grad_(), ids))
        return local.to(self.dtype)

    def gradient(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(gradient rows, their table ids) of this step, every forward's in order; None before backward."""
        have = [(leaf.grad, ids) for leaf, ids in self.leaves if leaf.grad is not None]
        if not have:
            return None
        return torch.cat([g for g, _ in have]), torch.cat([i for _, i in have])
