"""TRM, the Tiny Recursive Model (arXiv 2510.04871).

Shape legend: B batch, S grid tokens, P puzzle-embedding slots, S' = P + S, D hidden, V vocab.
Paper names: y = z_H (the current answer), z = z_L (the latent reasoning), T = H_cycles,
n = L_cycles.

One network `net` of L_layers blocks performs both updates: n times z ← net(z, y + x), then
y ← net(y, z) — the latent update sees the input, the answer update does not (T2 in docs/pitfalls.md).
T−1 such recursions run without gradient; the last one is differentiated through all its n + 1 calls
(full-recursion gradient instead of HRM's one-step gradient, T3). Blocks are attention or TRM's
token-mixing MLP (`arch.mlp_t`). The ACT wrapper, heads and input encoding are HRM's (`act.py`);
halting defaults to q_halt > 0 without a continue target (`continue_loss`).
"""
from __future__ import annotations

import torch

from .act import ACT, Reasoner
from ..config import ArchConfig


class TRM(ACT):
    family = "trm"

    def build_nets(self, cfg: ArchConfig, seq_len: int):
        self.net = Reasoner(cfg.L_layers, cfg, seq_len)  # the original's L_level; there is no H_level

    def blocks(self):
        return list(self.net.layers)

    def inner(self, z_H, z_L, data):
        x = self.embed_input(data["inputs"], data["puzzle_identifiers"])
        T = self.cfg.H_cycles
        with torch.no_grad():  # deep recursion without gradient: it only improves the starting point
            for i in range(T - 1):
                z_H, z_L = self._recursion(i, z_H, z_L, x)
        z_H, z_L = self._recursion(T - 1, z_H, z_L, x)
        return z_H, z_L, *self.heads(z_H)

    def _recursion(self, i, z_H, z_L, x):
        n = self.cfg.L_cycles
        for j in range(n):
            z_L = self._update(self.net, "L", i, j, z_L, z_H + x)
        return self._update(self.net, "H", i, n, z_H, z_L), z_L
