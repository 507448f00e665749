"""Exponential moving average of the weights (`ema=true`, `ema_rate`), as the original TRM's.

    ema = EMA(model, cfg.ema_rate, cfg.ema_warmup)
    opt.step(); ema.update(step)          # after every optimizer step (step counts from 1)
    with ema.applied():                   # the averaged weights, swapped in place (no model copy)
        evaluate(model, ...)

As the original's EMAHelper: parameters only (the puzzle table and H_init/L_init are buffers and
stay live), shadow ← (1 − μ)·param + μ·shadow in the parameters' dtype with the same rounding, and
the weights a checkpoint stores are the average. Beyond the original (docs/pitfalls.md T13, T14): the raw
weights are saved beside them (`raw_params`) so a resumed run continues exactly, and evaluation
swaps tensors instead of deep-copying the train state. Every DDP rank steps identical parameters,
so every rank holds the same shadow without any communication.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, rate: float, warmup: bool = False):
        self.names, self.params = map(list, zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad]))
        self.shadow = [p.detach().clone() for p in self.params]
        self.rate, self.warmup = rate, warmup

    def decay(self, step: int) -> float:
        """μ for the update after optimizer step `step` (1-based): ema_rate, or with warmup
        min(ema_rate, (1 + step) / (10 + step)) — 0.18 at step 1, 0.9 at 80, 0.99 at 890."""
        return min(self.rate, (1 + step) / (10 + step)) if self.warmup else self.rate

    @torch.no_grad()
    def update(self, step: int = 0):
        mu = self.decay(step)
        torch._foreach_mul_(self.shadow, mu)
        torch._foreach_add_(self.shadow, torch._foreach_mul(self.params, 1.0 - mu))

    @contextmanager
    def applied(self):
        """The averaged weights in the model for the duration of the block."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self):
        for i, p in enumerate(self.params):
            p.data, self.shadow[i] = self.shadow[i], p.data

    def state_dict(self, model: nn.Module) -> dict:
        """`model.state_dict()` with the averaged parameters: what a checkpoint's weights are."""
        return {**model.state_dict(), **dict(zip(self.names, self.shadow))}
