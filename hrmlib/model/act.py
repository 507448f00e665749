"""What HRM and TRM share: input encoding, output and Q heads, fixed initial states, and the ACT
wrapper (adaptive computation time).

Shape legend: B batch, S grid tokens, P puzzle-embedding slots, S' = P + S, D hidden, V vocab.

One call of `model(carry, batch)` is one ACT *segment*: the rows whose slot halted take a fresh
puzzle from `batch` and restart from H_init/L_init, the family's `inner` recursion runs, and the Q
head decides which rows halt. The trainer calls it once per optimizer step and keeps the carry
across batches (deep supervision). A family subclasses `ACT` with its networks (`blocks()` in
initialisation order) and `inner(z_H, z_L, data)`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import ArchConfig
from .layers import Block, Embedding, Linear, Rotary, trunc_normal_
from .puzzle_emb import PuzzleEmbedding

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def explore_draws(n: int, halt_max_steps: int, generator: torch.Generator | None = None, device=None):
    """The exploration draws of one training call for n rows: uniforms [n] (a row explores when its
    draw is below ε) and minimum segments U{2..halt_max_steps} [n] int32. Without a generator they
    come from torch's, on `device`, in the original's order; the trainer draws a whole global batch
    from its own generator, so every world size trains alike."""
    u = torch.rand(n, generator=generator, device=device)
    return u, torch.randint(2, max(halt_max_steps, 2) + 1, (n,), generator=generator, device=device,
                            dtype=torch.int32)


def forward_dtype(name: str, device_type: str = "cpu") -> torch.dtype:
    """`auto` means bfloat16 on CUDA (the original's dtype) and float32 elsewhere."""
    if name == "auto":
        return torch.bfloat16 if device_type == "cuda" else torch.float32
    return DTYPES[name]


@dataclass
class Carry:
    z_H: torch.Tensor  # [B, S', D] high-level state (TRM: the answer y), detached
    z_L: torch.Tensor  # [B, S', D] low-level state (TRM: the latent z), detached
    steps: torch.Tensor  # [B] int32 segments run on the current puzzle
    halted: torch.Tensor  # [B] bool; a halted slot takes a new puzzle on the next call
    data: dict[str, torch.Tensor]  # the puzzle each slot is working on (inputs, labels, ids)


class Reasoner(nn.Module):
    """A stack of blocks applied to z + injection (HRM's H or L module, TRM's one network)."""

    def __init__(self, n: int, cfg: ArchConfig, seq_len: int):
        super().__init__()
        self.layers = nn.ModuleList(
            Block(cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps, cfg.attn_backend,
                  mlp_t_len=seq_len if cfg.mlp_t else 0)
            for _ in range(n))

    def forward(self, z, injection, rope):
        z = z + injection
        for layer in self.layers:
            z = layer(z, rope)
        return z


class ACT(nn.Module):
    family = ""  # "hrm" | "trm": what compat and look.trace read to name keys and states

    def __init__(self, cfg: ArchConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int,
                 dtype: torch.dtype | None = None):
        super().__init__()
        self.cfg, self.V, self.S = cfg, vocab_size, seq_len
        self.dtype = dtype or forward_dtype(cfg.forward_dtype)
        D, self.P = cfg.hidden_size, cfg.P
        self.embed_scale = math.sqrt(D)
        self.embed = Embedding(vocab_size, D, init_std=1.0 / math.sqrt(D), dtype=self.dtype)
        self.lm_head = Linear(D, vocab_size)
        self.q_head = Linear(D, 2, bias=True)  # row 0: halt, row 1: continue
        self.puzzle_emb = PuzzleEmbedding(num_puzzle_identifiers, cfg.emb_ndim, self.dtype) if cfg.emb_ndim else None
        self.rope = (Rotary(D // cfg.num_heads, self.P + seq_len, cfg.rope_theta) if cfg.pos_encodings == "rope"
                     else None)
        self.pos = (Embedding(self.P + seq_len, D, init_std=1.0 / math.sqrt(D), dtype=self.dtype)
                    if cfg.pos_encodings == "learned" else None)
        self.build_nets(cfg, self.P + seq_len)
        self.register_buffer("H_init", torch.empty(D, dtype=self.dtype))  # fixed, never trained
        self.register_buffer("L_init", torch.empty(D, dtype=self.dtype))
        self.trace: Callable | None = None  # hrmlib.look.trace hooks in here: trace(level, i, j, z)
        self.checkpointing = False  # recompute differentiated updates in backward (activation_checkpointing)
        self.reset_parameters()

    def build_nets(self, cfg: ArchConfig, seq_len: int):
        raise NotImplementedError

    def blocks(self) -> list[Block]:
        """Every block, in the original's initialisation order."""
        raise NotImplementedError

    def inner(self, z_H, z_L, data):
        """The family's recursion from (z_H, z_L): returns new states, logits [B,S,V], q_halt, q_continue."""
        raise NotImplementedError

    def reset_parameters(self):
        """Draw every random tensor in the original's order, so a seeded build matches it exactly."""
        for m in (self.embed, self.lm_head, self.q_head, self.pos, *self.blocks()):
            if m is not None:
                m.reset_parameters()
        with torch.no_grad():  # q_head is drawn above, then overwritten: Q starts at "continue" (-5, -5)
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        trunc_normal_(self.H_init, std=1.0)
        trunc_normal_(self.L_init, std=1.0)

    # ------------------------------------------------------------------ pieces of one segment
    def embed_input(self, inputs, puzzle_ids):
        x = self.embed(inputs.to(torch.int32))
        if self.P:
            D = x.shape[-1]
            pe = self.puzzle_emb(puzzle_ids) if self.puzzle_emb is not None else x.new_zeros(x.shape[0], 0)
            pe = F.pad(pe, (0, self.P * D - pe.shape[-1]))  # slots beyond the embedding stay zero
            x = torch.cat((pe.view(-1, self.P, D), x), dim=-2)
        if self.pos is not None:
            x = 0.707106781 * (x + self.pos.weight.to(self.dtype))  # the original's literal, not 1/√2
        return self.embed_scale * x

    def heads(self, z_H):
        """Logits of the grid positions and Q (halt, continue) from the first (puzzle) slot."""
        q = self.q_head(z_H[:, 0]).to(torch.float32)
        return self.lm_head(z_H)[:, self.P:], q[..., 0], q[..., 1]

    def _update(self, net, level, i, j, z, injection):
        if self.checkpointing and torch.is_grad_enabled():  # keep only the update's inputs for backward
            z = checkpoint(net, z, injection, self.rope, use_reentrant=False)
        else:
            z = net(z, injection, self.rope)
        if self.trace is not None:
            self.trace(level, i, j, z)
        return z

    # ------------------------------------------------------------------ ACT
    def rollout(self, batch: dict, steps: int | None = None, trace=None, call=None, before=None):
        """Evaluate `batch` segment by segment from a fresh carry: yields (carry, out) after each of
        `steps` segments (default halt_max_steps; more runs deeper than trained). In evaluation every
        row runs all segments (the originals' rule), so the rows stay in step and no device sync is
        needed. `trace` is set as the model's recorder meanwhile; its `begin(z_H, z_L)`, if any, gets
        the states each segment starts from. `call` replaces `self` for the segments (a compiled
        copy). `before(t, carry, batch)`, if given, returns the carry segment t (0-based) starts from:
        an intervention's change (`hrmlib.look.intervene`). The caller chooses grad mode
        (`torch.inference_mode()` for evaluation)."""
        T, hook, was_training = steps or self.cfg.halt_max_steps, self.trace, self.training
        call = call or self
        self.eval()
        self.trace = trace
        try:
            carry = self.initial_carry(batch)
            for t in range(T):
                if before is not None:
                    carry = before(t, carry, batch)
                if hasattr(trace, "begin"):
                    reset = carry.halted.view(-1, 1, 1)
                    trace.begin(torch.where(reset, self.H_init, carry.z_H), torch.where(reset, self.L_init, carry.z_L))
                carry, out = call(carry, batch, max_steps=T)
                yield carry, out
        finally:
            self.trace = hook
            self.train(was_training)

    def initial_carry(self, batch: dict) -> Carry:
        """All rows start halted, so the first call loads the batch and resets to H_init/L_init.
        Zeros rather than the original's torch.empty (docs/pitfalls.md P11): no garbage ever enters a computation."""
        B, dev = batch["inputs"].shape[0], batch["inputs"].device
        z = torch.zeros(B, self.P + self.S, self.cfg.hidden_size, dtype=self.dtype, device=dev)
        return Carry(z, z.clone(), z.new_zeros(B, dtype=torch.int32), z.new_ones(B, dtype=torch.bool),
                     {k: torch.zeros_like(v) for k, v in batch.items()})

    def forward(self, carry: Carry, batch: dict, explore=None, halt_on_q: bool = False,
                max_steps: int | None = None) -> tuple[Carry, dict]:
        """One ACT segment. `explore` optionally supplies the exploration draws (uniforms [B],
        minimum-halt draws [B]); by default they come from torch's generator, as the original's.
        The trainer passes slices of global-batch draws, so every world size trains alike.
        `halt_on_q` (ours, eval only): rows halt by Q's rule, without exploration or bootstrap pass.
        `max_steps` (ours): the segment limit instead of halt_max_steps, to run deeper at inference."""
        limit = max_steps or self.cfg.halt_max_steps
        reset = carry.halted
        z_H = torch.where(reset.view(-1, 1, 1), self.H_init, carry.z_H)
        z_L = torch.where(reset.view(-1, 1, 1), self.L_init, carry.z_L)
        steps = torch.where(reset, 0, carry.steps)
        # A halted slot takes the new batch's row at the same index; a running slot keeps its
        # puzzle and the new row is dropped (docs/pitfalls.md P5).
        data = {k: torch.where(reset.view(-1, *[1] * (v.ndim - 1)), batch[k], v) for k, v in carry.data.items()}

        z_H, z_L, logits, q_halt, q_cont = self.inner(z_H, z_L, data)
        out = {"logits": logits, "q_halt_logits": q_halt, "q_continue_logits": q_cont}
        with torch.no_grad():
            steps = steps + 1
            halted = is_last = steps >= limit
            # halt when Q prefers halting; without the continue target, when q_halt > 0 (TRM)
            q_says = q_halt > (q_cont if self.cfg.continue_loss else 0)
            if halt_on_q and not self.training:  # ours; the original's eval runs all halt_max_steps segments
                halted = halted | q_says
            elif self.training and self.cfg.halt_max_steps > 1:
                halted = halted | q_says
                # Exploration: with prob ε a row must run at least U{2..max} segments.
                if explore is None:
                    explore = explore_draws(len(q_halt), self.cfg.halt_max_steps, device=q_halt.device)
                min_halt = (explore[0] < self.cfg.halt_exploration_prob) * explore[1]
                would = halted
                halted = halted & (steps >= min_halt)
                out["would_halt"], out["explore_blocked"] = would, would & ~halted  # for the diagnostics
                if self.cfg.continue_loss:
                    # Bootstrap target from a second, gradient-free pass on the new state
                    # (PQN-style: no replay buffer, no target network). The original TRM crashes
                    # here (docs/pitfalls.md T10); this is HRM's target, for either family.
                    *_, nq_halt, nq_cont = self.inner(z_H, z_L, data)
                    out["target_q_continue"] = torch.sigmoid(
                        torch.where(is_last, nq_halt, torch.maximum(nq_halt, nq_cont)))
        return Carry(z_H.detach(), z_L.detach(), steps, halted, data), out
