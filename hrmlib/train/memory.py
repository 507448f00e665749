"""Memory of a training step, before it runs: what stays (weights, gradients, optimizer moments, EMA,
the ACT carry, the puzzle table) counted exactly, and what one forward pass keeps for backward
(autograd's saved tensors) measured on one row and scaled to the micro-batch. The trainer prints it
at start-up; `micro_batch=auto` (CUDA) picks the largest micro-batch that fits the free memory and
confirms it by running one pass. `python -m hrmlib.bench PRESET modes=memory` measures the peak.

    est = estimate(state)                 # {"fixed": bytes, "per_row": bytes, "rows": micro-batch}
    est["fixed"] + est["per_row"] * rows  # the step's peak, roughly, for a micro-batch of `rows`
"""
from __future__ import annotations

import torch

from .. import config as C
from ..model import explore_draws

GB = 2**30


def _bytes(tensors) -> int:
    seen, n = set(), 0
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            n += t.untyped_storage().nbytes()
    return n


def _scratch(s, rows: int) -> tuple:
    """A carry and a batch of `rows` puzzle-shaped rows (no state of the run is touched)."""
    m = s.model
    dev, S = next(m.parameters()).device, m.S
    batch = {"inputs": torch.ones(rows, S, dtype=torch.int32, device=dev),
             "labels": torch.ones(rows, S, dtype=torch.int32, device=dev),
             "puzzle_identifiers": torch.zeros(rows, dtype=torch.int32, device=dev)}
    u, draw = explore_draws(rows, m.cfg.halt_max_steps, torch.Generator().manual_seed(0))
    return m.initial_carry(batch), batch, (torch.ones_like(u).to(dev), draw.to(dev))  # no row explores


def _pass(s, rows: int, backward: bool) -> int:
    """One training pass of `rows` scratch rows: the bytes autograd saved for backward."""
    from ..model.losses import act_loss
    saved = []
    carry, batch, explore = _scratch(s, rows)
    was = s.model.training
    s.model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            carry, out = s.model(carry, batch, explore)
            terms, _ = act_loss(out, carry, s.cfg.arch.loss.loss_type, s.cfg.arch.loss.mask_padding_rows)
        if backward:
            terms["total"].backward()
        return _bytes(saved)
    finally:
        s.model.zero_grad(set_to_none=True)
        if s.model.puzzle_emb is not None:
            s.model.puzzle_emb.leaves = []
        s.model.train(was)


def estimate(s) -> dict:
    """Bytes that stay for the whole run (`fixed`) and that one row of a pass adds (`per_row`)."""
    params = list(s.model.parameters())
    fixed = _bytes(params) * 2 + _bytes(s.model.buffers())  # weights and their gradients, buffers
    fixed += _bytes(t for o in s.opts for st in o.state.values() for t in st.values())  # moments (after a step)
    fixed += sum(2 * p.numel() * 4 for p in params if not any(p in o.state for o in s.opts))  # moments to come
    fixed += _bytes(s.ema.shadow) if s.ema else 0
    B = s.cfg.global_batch_size // s.d.world
    carry, _, _ = _scratch(s, 1)
    fixed += B * _bytes([carry.z_H]) * 2  # z_H and z_L of every carried row
    return {"fixed": fixed, "per_row": _pass(s, 1, backward=False), "rows": s.micro or B}


def describe(est: dict, rows: int | None = None) -> str:
    rows = rows or est["rows"]
    size = lambda n: f"{n / GB:.2f} GB" if n >= GB / 10 else f"{n / 2**20:.0f} MB"
    return (f"memory: about {size(est['fixed'] + est['per_row'] * rows)} for a step ({size(est['fixed'])} weights, "
            f"optimizer, carry; {size(est['per_row'] * rows)} activations for {rows} rows per pass)")


def auto_micro_batch(s) -> int:
    """The largest divisor of the per-rank batch whose pass fits the free CUDA memory: estimated first,
    then confirmed by running one pass of it (and halved on out-of-memory)."""
    dev = next(s.model.parameters()).device
    if dev.type != "cuda":
        raise C.ConfigError("micro_batch=auto measures the free GPU memory; on a CPU give a number "
                            "(e.g. micro_batch=64) or leave it unset for the whole batch")
    B = s.cfg.global_batch_size // s.d.world
    est = estimate(s)
    free, _ = torch.cuda.mem_get_info(dev)
    for rows in sorted((k for k in range(1, B + 1) if B % k == 0), reverse=True):
        if est["fixed"] + est["per_row"] * rows > 0.9 * free and rows > 1:
            continue
        try:
            _pass(s, rows, backward=True)
            torch.cuda.synchronize(dev)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            continue
        torch.cuda.empty_cache()
        print(f"micro_batch=auto: {rows} rows per pass ({B // rows} pass(es) per step) fit the "
              f"{free / GB:.1f} GB free on {dev}", flush=True)
        return rows
    raise C.ConfigError(f"micro_batch=auto: not even one row per pass fits the {free / GB:.1f} GB free on {dev}")
