"""The training step, named: a `TrainState` (model, optimizers, EMA, ACT carry, progress, generators)
and `train_step(state, batch)`, the one step the trainer, `hrmlib.bench` and parity run.

    s = TrainState.create(cfg, dims, dist.init(), total_steps)
    row = train_step(s, batch)            # batch: a global batch from TrainSampler (numpy)
    state, mine = s.state_dict()          # what a checkpoint holds: shared, and this rank's

One step is one ACT segment of every carried puzzle (deep supervision): the carry persists across
batches, a slot whose puzzle halted takes the batch's row at its index, running slots drop theirs,
and every call is one optimizer step. The global batch is split across ranks; gradients are averaged
by DDP's bucketed all-reduce; the puzzle table is trained by sign-SGD on gathered rows. With
`ema=true` an average of the weights is kept (`hrmlib.train.ema`).
"""
from __future__ import annotations

import inspect
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.distributed as tdist

from .. import config as C
from ..data import local_slice, to_torch
from ..dist import Dist
from ..errors import UserError
from ..model import ACT, Carry, build, explore_draws, forward_dtype
from ..model.losses import act_loss
from ..runs import load_checked
from .diagnostics import Diagnostics
from .ema import EMA
from .optim import make_optimizers, set_lr

DDP = torch.nn.parallel.DistributedDataParallel
# The buffers (H_init/L_init, RoPE tables) are identical on every rank by construction: no per-step
# sync. torch 2.13 renames broadcast_buffers (now warning on every rank) to forward_sync_buffers.
NO_BUFFER_SYNC = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                  else {"broadcast_buffers": False})
METRIC_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss",
               "q_continue_loss", "would_halt", "explore_blocked", "halted", "loss")


class TrainError(UserError):
    """The run cannot go on (non-finite loss, weights that do not fit, …); the message says what to do."""


@dataclass
class Progress:
    step: int = 0  # optimizer steps done
    iteration: int = 0  # current iteration (eval_interval epochs each; an evaluation ends each)
    batch: int = 0  # global batches of the current iteration consumed
    best_step: int | None = None
    best: float = -1.0
    bad_evals: int = 0


@dataclass
class TrainState:
    """Everything a training step reads and changes. `data`: what the checkpoint records of the
    dataset (identifiers, dims, fingerprint)."""
    cfg: C.Config
    model: ACT
    opts: list
    d: Dist
    total: int  # planned steps: they set the lr schedule
    data: dict = field(default_factory=dict)
    ema: EMA | None = None
    diagnostics: Diagnostics | None = None
    fwd: object = None  # the model as training calls it: wrapped by DDP, compiled
    ddp: DDP | None = None  # the DDP wrapper (several processes): micro-batches but the last skip its all-reduce
    micro: int = 0  # rows per forward/backward pass (micro_batch resolved; the per-rank batch by default)
    carry: Carry | None = None
    prog: Progress = field(default_factory=Progress)
    explore_gen: torch.Generator = field(default_factory=torch.Generator)

    @classmethod
    def create(cls, cfg: C.Config, data: dict, d: Dist, total: int, init: dict | None = None,
               resume: tuple[dict, dict] | None = None) -> "TrainState":
        """Seeded weights (identical on every rank), optimizers, then `init` weights or a checkpoint's
        (state.pt, this rank's file) to resume exactly; EMA, diagnostics, DDP and compile last."""
        torch.manual_seed(cfg.seed)
        model = build(cfg.arch, data["dims"], forward_dtype(cfg.arch.forward_dtype, d.device.type)).to(d.device)
        s = cls(cfg, model, make_optimizers(model, cfg), d, total, data)
        s.explore_gen.manual_seed(cfg.seed + 1)  # the global batch's exploration draws
        if init is not None:
            load_checked(model, init, f"init_from={cfg.init_from}")
        raw = s.load_state_dict(*resume) if resume else None
        s.ema = EMA(model, cfg.ema_rate, cfg.ema_warmup) if cfg.ema else None  # its shadow: the weights loaded
        if raw is not None:  # the weights training continues from, saved beside the average
            model.load_state_dict(raw, strict=False)
        s.diagnostics = Diagnostics(model, d.world) if cfg.diagnostics else None
        model.checkpointing = cfg.activation_checkpointing
        s.ddp = DDP(model, **NO_BUFFER_SYNC) if d.world > 1 else None
        use_compile = d.device.type == "cuda" if cfg.compile is None else cfg.compile
        wrapped = s.ddp or model
        use_compile = use_compile and "DISABLE_COMPILE" not in os.environ
        s.fwd = torch.compile(wrapped, dynamic=False) if use_compile else wrapped
        s.micro = micro_batch(s)
        return s

    def state_dict(self) -> tuple[dict, dict]:
        """(state.pt: weights — the average with EMA, the raw ones beside —, optimizers, progress,
        generator, dataset record, config; this rank's file: its ACT carry and RNG state)."""
        state = {"model": self.ema.state_dict(self.model) if self.ema else self.model.state_dict(),
                 "opts": [o.state_dict() for o in self.opts], "progress": vars(self.prog),
                 "explore_rng": self.explore_gen.get_state(), "world_size": self.d.world,
                 "config": self.cfg.to_dict(), **self.data}
        if self.ema:
            state["raw_params"] = {n: p.detach() for n, p in zip(self.ema.names, self.ema.params)}
        mine = {"carry": vars(self.carry) if self.carry is not None else None, "torch_rng": torch.get_rng_state()}
        return state, mine

    def load_state_dict(self, state: dict, mine: dict) -> dict | None:
        """Continue from a checkpoint; returns its raw weights when it keeps an average."""
        load_checked(self.model, state["model"])  # the average, when the run keeps one
        for o, s in zip(self.opts, state["opts"]):
            o.load_state_dict(s)
        renamed = {"it": "iteration", "k": "batch"}  # progress keys of checkpoints written before 2026-12
        self.prog = Progress(**{renamed.get(k, k): v for k, v in state["progress"].items() if k != "history"})
        self.explore_gen.set_state(state["explore_rng"])
        torch.set_rng_state(mine["torch_rng"].cpu())  # generator states live on the CPU, whatever the device
        self.carry = Carry(**mine["carry"]) if mine["carry"] else None
        return state.get("raw_params")


def total_steps(cfg: C.Config, meta) -> int:
    """The optimizer steps a run plans (the original's count, which sets the lr schedule)."""
    return int(cfg.epochs * meta.total_groups * meta.mean_puzzle_examples / cfg.global_batch_size)


def micro_batch(s: TrainState) -> int:
    """`micro_batch` resolved: rows per forward/backward pass, a divisor of the per-rank batch."""
    B, mb = s.cfg.global_batch_size // s.d.world, s.cfg.micro_batch
    if mb == "auto":
        from .memory import auto_micro_batch  # tries passes on the device: CUDA only
        return auto_micro_batch(s)
    if mb is not None and B % mb:
        raise C.ConfigError(f"micro_batch={mb} must divide the {B} rows each of the {s.d.world} process(es) "
                            f"takes per step (global_batch_size={s.cfg.global_batch_size}); e.g. "
                            f"{', '.join(str(k) for k in range(1, B + 1) if B % k == 0 and k < B)[-40:]}")
    return mb or B


def train_step(s: TrainState, batch: dict, log: bool = True) -> dict:
    """One optimizer step on one global batch (numpy, as the sampler yields it); returns the metrics
    row (with the diagnostics when `log`). A non-finite loss stops before any update (TrainError).
    With micro-batches the carry and the batch are cut into row slices, each slice runs forward and
    backward (its gradients accumulate; under DDP only the last all-reduces), and one update follows:
    every row halts, refills and explores as without them, and the metrics are the whole batch's."""
    cfg, d, gbs = s.cfg, s.d, s.cfg.global_batch_size
    B = gbs // d.world
    local = to_torch(local_slice(batch, d.rank, d.world), d.device)
    u, draw = explore_draws(gbs, cfg.arch.halt_max_steps, s.explore_gen)  # the global batch's, then our rows
    explore = (u[d.rank * B:(d.rank + 1) * B].to(d.device), draw[d.rank * B:(d.rank + 1) * B].to(d.device))
    if s.carry is None:
        s.carry = s.model.initial_carry(local)
    s.model.train()
    parts = []
    for lo in range(0, B, s.micro):
        rows = slice(lo, lo + s.micro) if s.micro < B else slice(None)
        sync = s.ddp is None or lo + s.micro >= B
        with nullcontext() if sync else s.ddp.no_sync():
            carry, out, terms, m = forward_backward(s.fwd, _rows(s.carry, rows), _rows(local, rows),
                                                    (explore[0][rows], explore[1][rows]), cfg.arch.loss, d.world / gbs)
        parts.append((carry, sums(m, out, carry, terms)))
    s.carry = parts[0][0] if len(parts) == 1 else _cat([c for c, _ in parts])
    diag = s.diagnostics.grads() if s.diagnostics and log else {}
    v = torch.stack([p for _, p in parts]).sum(0)
    if d.world > 1:
        tdist.all_reduce(v)  # all ranks need the loss to agree on a NaN stop
    loss = v[METRIC_KEYS.index("loss")].item()
    if not math.isfinite(loss):
        raise TrainError(f"loss became {loss} at step {s.prog.step + 1}; no update was applied.")
    s.prog.step, s.prog.batch = s.prog.step + 1, s.prog.batch + 1
    lrs = set_lr(s.opts, s.prog.step, s.total, cfg)
    for o in s.opts:
        o.step()
        o.zero_grad()
    if s.ema:
        s.ema.update(s.prog.step)
    if s.diagnostics and log:
        diag |= s.diagnostics.update()
    return {"step": s.prog.step, **train_row(v, gbs, cfg.arch.continue_loss), "lr": lrs[-1],
            **({"lr_puzzle_emb": lrs[0]} if len(lrs) > 1 else {}), **diag}


def _rows(x, rows: slice):
    """Rows of a carry or a batch (nested tensors)."""
    if isinstance(x, Carry):
        return Carry(x.z_H[rows], x.z_L[rows], x.steps[rows], x.halted[rows], _rows(x.data, rows))
    return {k: v[rows] for k, v in x.items()}


def _cat(carries: list[Carry]) -> Carry:
    return Carry(*(torch.cat([getattr(c, f) for c in carries]) for f in ("z_H", "z_L", "steps", "halted")),
                 {k: torch.cat([c.data[k] for c in carries]) for k in carries[0].data})


def forward_backward(fwd, carry: Carry, batch: dict, explore, loss: C.LossConfig, scale: float):
    """One ACT segment in training mode, its loss, and backward of loss × `scale` (the trainer's
    world / global batch: DDP averages, so the gradient is the global mean): the differentiated part
    of a step, which parity checks against the originals' gradients. Returns (carry, out, terms, metrics)."""
    carry, out = fwd(carry, batch, explore)
    terms, m = act_loss(out, carry, loss.loss_type, loss.mask_padding_rows)
    (terms["total"] * scale).backward()
    return carry, out, terms, m


def sums(m: dict, out: dict, carry: Carry, terms: dict) -> torch.Tensor:
    """One pass's metric sums, in METRIC_KEYS order (added over passes and processes)."""
    vals = [m.get(k, torch.zeros(())) for k in METRIC_KEYS[:8]]
    vals += [out.get(k, torch.zeros(1)).sum() for k in METRIC_KEYS[8:10]]  # would_halt, explore_blocked
    vals += [carry.halted.sum(), terms["total"].detach()]
    return torch.stack([torch.as_tensor(x, dtype=torch.float64, device=carry.steps.device) for x in vals])


def train_row(v: torch.Tensor, gbs: int, continue_loss: bool = True) -> dict:
    """The original's reduction: *loss keys / global batch, others / rows halted now; plus ours.
    Without a continue target there is no q_continue_loss (as TRM logs)."""
    s = dict(zip(METRIC_KEYS, v.tolist()))
    n = max(s["count"], 1)
    row = {k: s[k] / gbs for k in ("lm_loss", "q_halt_loss") + ("q_continue_loss",) * continue_loss + ("loss",)}
    row |= {k: s[k] / n for k in ("accuracy", "exact_accuracy", "q_halt_accuracy")}
    row |= {"act_steps": s["steps"] / n, "count": int(s["count"]), "halted_fraction": s["halted"] / gbs,
            "explore_blocked": s["explore_blocked"] / max(s["would_halt"], 1)}  # share of halts exploration blocked
    return row
