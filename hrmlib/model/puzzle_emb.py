"""Sparse puzzle embedding: a table kept as a *buffer*, trained by sign-SGD.

The table is not a Parameter, so Adam, the gradient all-reduce and the parameter count never see
it. In training, the rows a batch uses are copied into a leaf tensor `local` that collects the
gradient; `hrmlib.train.optim.SignSGD` turns (`local.grad`, `local_ids`) into a lazy row update.
Unlike the original, `local` is created per call, so any batch size works (docs/pitfalls.md P30).
"""
from __future__ import annotations

import torch
from torch import nn


class PuzzleEmbedding(nn.Module):
    def __init__(self, num: int, dim: int, dtype: torch.dtype):
        super().__init__()
        self.register_buffer("weights", torch.zeros(num, dim))  # init std 0: no RNG draw
        self.dtype = dtype
        self.local: torch.Tensor | None = None  # [B, dim] fp32 leaf holding this step's gradient
        self.local_ids: torch.Tensor | None = None  # [B] table rows behind `local`

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        local = self.weights[ids]  # a copy: the table is a buffer, so autograd never reaches it
        if self.training and torch.is_grad_enabled():
            self.local, self.local_ids = local.requires_grad_(), ids
        return local.to(self.dtype)
