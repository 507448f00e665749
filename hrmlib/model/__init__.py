"""The model families, sharing layers and the ACT wrapper: `build` is the one place a family is chosen.

    hrm.py    HRM: H and L modules, one-step gradient (arXiv 2506.21734)
    trm.py    TRM: one shared network, full-recursion gradient (arXiv 2510.04871)
    act.py    what both share: encoding, heads, initial states, the ACT segment (Carry)
    layers.py blocks, attention, SwiGLU, RMSNorm, RoPE · puzzle_emb.py the sparse table · losses.py

A third family is one new file with an `ACT` subclass (`build_nets`, `blocks`, `inner`) and a line in FAMILIES.
"""
from __future__ import annotations

import torch

from ..config import ArchConfig
from .act import ACT, DTYPES, Carry, explore_draws, forward_dtype
from .hrm import HRM
from .trm import TRM

FAMILIES = {"hrm": HRM, "trm": TRM}
DIMS = ("vocab_size", "seq_len", "num_puzzle_identifiers")  # what a model needs to know of its dataset
__all__ = ["ACT", "Carry", "DIMS", "DTYPES", "FAMILIES", "HRM", "TRM", "build", "dims", "explore_draws",
           "forward_dtype"]


def dims(meta) -> dict:
    """{vocab_size, seq_len, num_puzzle_identifiers} of a dataset's metadata (or a dict holding them)."""
    return {k: meta[k] if isinstance(meta, dict) else getattr(meta, k) for k in DIMS}


def build(cfg: ArchConfig, meta, dtype: torch.dtype | None = None) -> ACT:
    """The config's model family for a dataset's metadata (anything with the DIMS, or a dict of them)."""
    return FAMILIES[cfg.name](cfg, *dims(meta).values(), dtype)
