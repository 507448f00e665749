"""HRM, the Hierarchical Reasoning Model (arXiv 2506.21734).

Shape legend: B batch, S grid tokens, P puzzle-embedding slots, S' = P + S, D hidden, V vocab.

HRM has two recurrent modules: L updates H_cycles × L_cycles times with the input injected, H once
per cycle from L. Only the last L and the last H update carry gradient (the paper's one-step
gradient); the ACT wrapper around it lives in `act.py`, shared with TRM (`trm.py`).
"""
from __future__ import annotations

import torch

from ..config import ArchConfig
from .act import ACT, Reasoner


class HRM(ACT):
    family = "hrm"

    def build_nets(self, cfg: ArchConfig, seq_len: int):
        self.H = Reasoner(cfg.H_layers, cfg, seq_len)
        self.L = Reasoner(cfg.L_layers, cfg, seq_len)

    def blocks(self):
        return [*self.H.layers, *self.L.layers]

    def inner(self, z_H, z_L, data):
        """H_cycles × L_cycles updates from (z_H, z_L); returns new states, logits [B,S,V], Q."""
        x = self.embed_input(data["inputs"], data["puzzle_identifiers"])
        N, T = self.cfg.H_cycles, self.cfg.L_cycles
        # The paper's one-step gradient: all but the last L and H update run without autograd.
        with torch.no_grad():
            for i in range(N):
                for j in range(T):
                    if i < N - 1 or j < T - 1:
                        z_L = self._update(self.L, "L", i, j, z_L, z_H + x)
                if i < N - 1:
                    z_H = self._update(self.H, "H", i, T, z_H, z_L)
        z_L = self._update(self.L, "L", N - 1, T - 1, z_L, z_H + x)
        z_H = self._update(self.H, "H", N - 1, T, z_H, z_L)
        return z_H, z_L, *self.heads(z_H)
