"""Optimizers and LR schedule: sparse sign-SGD for the puzzle table, AdamATan2 for every Parameter,
and the original cosine-with-warmup schedule driving both.

    opts = make_optimizers(model, cfg)
    step += 1; loss.backward()            # step counts from 1, as the original's train_state.step
    set_lr(opts, step, total_steps, cfg)  # both optimizers, each from its own base
    for opt in opts:
        opt.step(); opt.zero_grad()
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
from adam_atan2_pytorch import AdamAtan2
from torch import nn

from ..config import Config
from ..model.puzzle_emb import PuzzleEmbedding


class SignSGD(torch.optim.Optimizer):
    """Sparse sign-SGD with lazy, lr-scaled weight decay on `emb.weights`: gather the
    step's gradient rows [B, D] and their ids [B] (`emb.gradient()`) from every rank (rank-major), sum the gradient
    rows of duplicate ids, and for those rows only apply w <- w*(1 - lr*wd) - lr*sign(g). Rows
    outside the global batch neither move nor decay; a row whose summed gradient is exactly 0 only
    decays. The original justifies sign-SGD as "Adam ~ SignSGD when gradients are very sparse".

    An Optimizer over `[emb.weights]` only so that lr lives in `param_groups` and `state_dict()`
    works; there is no per-row state. Every rank must call `step()` (it holds collectives).
    """

    def __init__(self, emb: PuzzleEmbedding, lr: float, weight_decay: float):
        super().__init__([emb.weights], dict(lr=lr, weight_decay=weight_decay))
        self.emb = emb

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is None, "SignSGD takes no closure"
        found = self.emb.gradient()  # every micro-batch's rows: one gather per step
        if found is None:
            return None
        grad, ids = found
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            grad, ids = _gather(grad), _gather(ids.contiguous())
        uniq, inv = torch.unique(ids, return_inverse=True)
        g = grad.new_zeros(len(uniq), grad.shape[1]).scatter_add_(0, inv[:, None].expand_as(grad), grad)
        w = self.emb.weights  # read at step time, so a moved or reloaded table is still the one stepped
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            w[uniq] = w[uniq].mul_(1.0 - lr * wd).add_(torch.sign(g), alpha=-lr)
        return None

    def zero_grad(self, set_to_none: bool = True):
        """Drop this step's gradient leaves (the original sets local_weights.grad to None)."""
        self.emb.leaves = []


def _gather(x: torch.Tensor) -> torch.Tensor:
    """Rank-major concatenation of `x` from every rank (the original's all_gather_into_tensor)."""
    out = x.new_empty((dist.get_world_size() * x.shape[0], *x.shape[1:]))
    # torch >= 2.13 renames all_gather_into_tensor (now deprecated) to all_gather_single
    (getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor)(out, x)
    return out


def adam_atan2(params, cfg: Config) -> AdamAtan2:
    """lucidrains' AdamAtan2 configured as close to the original (imoneoi `adam-atan2`) as it goes:
    a=1.0 (the package default 1.27 is wrong here), betas=(beta1, beta2), coupled lr*wd decay, no
    regen/cautious terms. The package asserts lr > 0, so it is built with the base lr and `set_lr`
    then overwrites `group["lr"]` every step.

    One difference remains that no argument removes: this computes
    lr*atan2(m/bc1, sqrt(v/bc2)), the original (lr/bc1)*atan2(m, sqrt(v/bc2)). The first update is
    pi/4*lr*sign(g) here versus 0.99669*lr*sign(g) there. The gap only grows while bc1 is far
    from 1 (~50 steps), then stays flat. Measured in tests/test_optim.py, per element: with a
    constant lr it saturates at 1.9-2.2*lr on a noisy regression and at exactly
    sum_t(atan(bc1)/bc1 - pi/4)*lr = 2.476*lr for a constant gradient; under HRM's linear warmup
    (2000 steps) those steps have lr <= 2.5% of base and max|dtheta| stays at 0.009-0.011*base
    over 300 steps (asserted <= 0.015*base).
    """
    return AdamAtan2(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay,
                     a=1.0, b=1.0, decoupled_wd=False, regen_reg_rate=0.0, cautious_factor=1.0)


def lr_at(step: int, base: float, warmup: int, total: int, min_ratio: float) -> float:
    """The original's `cosine_schedule_with_warmup_lr_lambda` with num_cycles=0.5. `step`
    counts from 1, so the first update uses base/warmup; min_ratio=1.0 means constant after warmup."""
    warmup = round(warmup)
    if step < warmup:
        return base * step / max(1, warmup)
    p = (step - warmup) / max(1, total - warmup)
    return base * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * 2.0 * 0.5 * p))))


def set_lr(opts: list, step: int, total_steps: int, cfg: Config) -> list[float]:
    """Set every group's lr for `step`; returns the lrs set, in order. Each base comes from cfg
    (puzzle_emb_lr for SignSGD, lr otherwise), not from the optimizer, so a resumed run with a new
    lr override is not silently reverted by the base saved in a checkpoint's param_groups."""
    lrs = []
    for opt in opts:
        base = cfg.puzzle_emb_lr if isinstance(opt, SignSGD) else cfg.lr
        lrs.append(lr_at(step, base, cfg.lr_warmup_steps, total_steps, cfg.lr_min_ratio))
        for group in opt.param_groups:
            group["lr"] = lrs[-1]
    return lrs


def make_optimizers(model: nn.Module, cfg: Config) -> list[torch.optim.Optimizer]:
    """[SignSGD(puzzle table), AdamAtan2(all Parameters)], the original's order; the
    table is found as the model's PuzzleEmbedding submodule, so wrappers need no attribute path."""
    embs = [m for m in model.modules() if isinstance(m, PuzzleEmbedding)]
    assert len(embs) <= 1, f"expected at most one PuzzleEmbedding, found {len(embs)}"
    opts = [SignSGD(embs[0], cfg.puzzle_emb_lr, cfg.puzzle_emb_weight_decay)] if embs else []
    return opts + [adam_atan2(model.parameters(), cfg)]
