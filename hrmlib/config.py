"""Typed configs and presets; overrides use the one `key=value` grammar (`hrmlib.grammar`).

    from hrmlib.config import load
    cfg = load("sudoku_extreme_1k", ["lr=1e-4", "arch.H_cycles=3"])

Field names and defaults are the original HRM's (`cfg_pretrain.yaml` + `arch/hrm_v1.yaml`); fields
the original lacks are marked "ours". Configs are frozen: derived values are computed where used,
never written back.
"""
from __future__ import annotations

import dataclasses as dc
import re
from dataclasses import dataclass, field
from typing import Literal, Optional, Union

from .grammar import ConfigError, apply, describe, diff, field_docs, flat, from_dict, parse_value, split

LossType = Literal["stablemax_cross_entropy", "softmax_cross_entropy"]

# What a field is to a run besides a setting (its `role`, read by `roles`): on `resume=` a field
# with a role may change freely, any other needs resume_changes=true; `hrmlib.runs.compare` ignores
# "action" and "runtime" fields; an evaluation that differs from the trainer's in an "eval" field
# (or in arch.* or data_path) is a variant, written beside the trainer's (`hrmlib.runs.eval_dir`).
ROLES = {"action": "what the command does (not part of the run)",
         "runtime": "where and how it runs and reports",
         "schedule": "how long it trains",
         "eval": "how it is evaluated"}


def _role(role: str, default):
    assert role in ROLES, role
    return field(default=default, metadata={"role": role})


def roles() -> dict[str, str]:
    """{key: role} of every Config field that has one."""
    return {f.name: f.metadata["role"] for f in dc.fields(Config) if "role" in f.metadata}


@dataclass(frozen=True)
class LossConfig:
    loss_type: LossType = "stablemax_cross_entropy"  # the LM loss: stablemax CE (the original's) or softmax CE
    # ours: drop rows with no labels (batch padding) from the Q losses. The original counts them as
    # "correct" in the q-halt BCE (docs/pitfalls.md P1); `false` reproduces that for parity.
    mask_padding_rows: bool = True


@dataclass(frozen=True)
class ArchConfig:
    # "hrm": two modules H and L, one-step gradient; "trm": one shared network updating z_H (the
    # answer y) and z_L (the latent z), gradient through the whole last recursion
    name: Literal["hrm", "trm"] = "hrm"
    H_cycles: int = 2  # HRM: H updates per segment; TRM: T, recursions per segment (all but the last without grad)
    L_cycles: int = 2  # HRM: L updates per H update; TRM: n, latent (z) updates per recursion
    H_layers: int = 4  # blocks of the H module (hrm; trm ignores it, as the original)
    L_layers: int = 4  # blocks of the L module (hrm) or of the one shared network (trm)
    hidden_size: int = 512  # D, the width of every state and block
    expansion: float = 4.0  # SwiGLU inner width: round(expansion·D·2/3) rounded up to a multiple of 256
    num_heads: int = 8  # attention heads (head dim D / num_heads); unused by mlp_t blocks
    # "none" (no positional information) is what the original TRM silently does for any other string
    pos_encodings: Literal["rope", "learned", "none"] = "rope"
    rms_norm_eps: float = 1e-5  # epsilon of the gain-free RMSNorm after each residual
    rope_theta: float = 10000.0  # RoPE base (the HRM demo uses 314: one frequency per 9 cells)
    halt_max_steps: int = 16  # ACT segments per puzzle at most (evaluation always runs them all)
    halt_exploration_prob: float = 0.1  # ε: share of rows made to run at least U{2..max} segments
    puzzle_emb_ndim: Optional[int] = None  # None: hidden_size (the original's `${.hidden_size}`)
    # puzzle-embedding slots in front of the grid: None = the family's (trm 16, hrm 0); 0 = ceil(ndim / hidden)
    puzzle_emb_len: Optional[int] = None
    # trm: token-mixing SwiGLU across positions instead of attention (the model then has one sequence length)
    mlp_t: bool = False
    # ours: "auto" is bfloat16 on CUDA, float32 elsewhere (the original is always bfloat16)
    forward_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # ours: attention kernel; "auto" tries FlashAttention 3, then 2, then torch SDPA
    attn_backend: Literal["auto", "fa3", "fa2", "sdpa"] = "auto"
    # Q-continue target from a second, gradient-free inner pass (HRM's ACT). false: TRM's
    # no_ACT_continue — halt when q_halt > 0, a third less compute per training step. None: the
    # family's own (hrm true, trm false).
    act_continue_loss: Optional[bool] = None
    loss: LossConfig = field(default_factory=LossConfig)  # the loss head

    def __post_init__(self):
        _check_ranges(self, "arch.", {**_ARCH_RANGES, "H_layers": _ONE if self.name == "hrm" else _NONNEG})
        _check(self.hidden_size % self.num_heads == 0, "arch.hidden_size",
               f"must be divisible by arch.num_heads={self.num_heads}, got {self.hidden_size}")
        # the original TRM crashes in a reshape here (docs/pitfalls.md T5): slots only pad, they never truncate
        _check(self.P * self.hidden_size >= self.emb_ndim, "arch.puzzle_emb_len",
               f"{self.P} slots of {self.hidden_size} cannot hold a {self.emb_ndim}-wide puzzle embedding; "
               f"use 0 (ceil(puzzle_emb_ndim / hidden_size) slots) or more")
        _check(not self.mlp_t or self.name == "trm", "arch.mlp_t", "is a TRM block (set arch.name=trm too)")

    @property
    def emb_ndim(self) -> int:
        return self.hidden_size if self.puzzle_emb_ndim is None else self.puzzle_emb_ndim

    @property
    def P(self) -> int:
        """Puzzle-embedding slots in front of the grid positions."""
        n = (16 if self.name == "trm" else 0) if self.puzzle_emb_len is None else self.puzzle_emb_len
        return n or -(-self.emb_ndim // self.hidden_size)  # 0: ceil(ndim / hidden), 0 without a table

    @property
    def continue_loss(self) -> bool:
        """Whether Q-continue is trained on a bootstrap target (act_continue_loss resolved)."""
        return self.name == "hrm" if self.act_continue_loss is None else self.act_continue_loss


@dataclass(frozen=True)
class Config:
    arch: ArchConfig = field(default_factory=ArchConfig)  # the model
    data_path: str = "data/arc-aug-1000"  # a dataset directory in the original format (python -m hrmlib.data)
    global_batch_size: int = 768  # rows per optimizer step over all processes (each takes its share)
    epochs: int = 100000  # passes over the puzzle groups (one puzzle of each group per epoch)
    eval_interval: Optional[int] = 10000  # epochs between evaluations (must divide epochs; None: at the end)
    lr: float = 1e-4  # AdamAtan2's peak learning rate
    lr_min_ratio: float = 1.0  # cosine decay to lr·ratio after warmup (1.0: constant, the originals' default)
    lr_warmup_steps: int = 2000  # linear warmup from 0 (both optimizers)
    beta1: float = 0.9  # AdamAtan2 first-moment decay
    beta2: float = 0.95  # AdamAtan2 second-moment decay
    weight_decay: float = 0.1  # AdamAtan2 weight decay (coupled, lr-scaled)
    puzzle_emb_weight_decay: float = 0.1  # sign-SGD decay of the puzzle-table rows a batch uses
    puzzle_emb_lr: float = 1e-2  # sign-SGD learning rate of the sparse puzzle embedding table
    seed: int = 0  # initial weights, batch order and exploration draws
    # ours: "max": every test row runs arch.halt_max_steps segments (the original); "q": a row stops when
    # Q would halt it (q_halt > q_continue; q_halt > 0 without arch.act_continue_loss), its slot takes the next puzzle
    eval_halting: Literal["max", "q"] = _role("eval", "max")
    # EMA of the weights (the original TRM's names): evaluation and the checkpoint's model weights
    # are the average; the raw weights are saved beside them, so `resume=` continues exactly
    ema: bool = False
    ema_rate: float = 0.999  # μ in shadow ← (1 − μ)·param + μ·shadow
    # ours: decay min(ema_rate, (1 + step) / (10 + step)), so that on a short run the average does not
    # still hold its initial weights (at 0.999 and 1,000 steps about 37 % of them); off for parity
    ema_warmup: bool = False
    # ---- ours: runs, resuming, devices, tracking
    run_dir: Optional[str] = _role("action", None)  # default runs/<time>-<preset>-<tag>
    resume: Optional[str] = _role("action", None)  # a run directory: continue from its last checkpoint
    # with resume=: apply overrides that change what is trained (lr, arch, data, …); recorded in config.json
    resume_changes: bool = _role("action", False)
    # start over in a run_dir that holds a run (its trainer files are removed first)
    overwrite: bool = _role("action", False)
    init_from: Optional[str] = None  # weights only: an hrmlib checkpoint/run or an original HRM checkpoint
    # stop after this many optimizer steps in all (cuts any run short)
    max_steps: Optional[int] = _role("schedule", None)
    checkpoint_every: int = _role("runtime", 0)  # also checkpoint every N steps (0: at evaluations and at the end)
    keep_last: int = _role("runtime", 2)  # checkpoints kept besides the best one
    early_stop_patience: int = _role("schedule", 0)  # stop after N evaluations without a better exact_accuracy (0: off)
    # ours: rows per forward/backward pass; a step accumulates the gradients of global batch / processes /
    # micro_batch passes, then updates once: the same numbers in less memory. None: the whole batch in one
    # pass; auto (CUDA): the largest that fits the free memory, tried once at start-up
    micro_batch: Union[int, Literal["auto"], None] = _role("runtime", None)
    # ours: recompute the differentiated blocks in the backward pass instead of keeping their activations
    # (HRM: the last L and H update; TRM: every call in the last recursion): the same numbers, less memory
    activation_checkpointing: bool = _role("runtime", False)
    compile: Optional[bool] = _role("runtime", None)  # torch.compile; None: on for CUDA unless DISABLE_COMPILE is set
    device: str = _role("runtime", "auto")  # auto: cuda (one per local rank), else mps, else cpu
    log_every: int = _role("runtime", 1)  # steps between metrics.jsonl lines
    # ours: gradient norms (global, per part), parameter norm, update ratio, exploration-blocked halts,
    # peak memory in every logged row, and warnings when a norm explodes or Q collapses
    diagnostics: bool = _role("runtime", True)
    wandb: Optional[Literal["online", "offline"]] = _role("runtime", None)  # optional sink
    tensorboard: bool = _role("runtime", False)  # optional sink (needs the tensorboard package)
    # ours: per-segment predictions of a few test puzzles at each evaluation in <run>/live/ (notebook 02)
    live: bool = _role("runtime", True)

    def __post_init__(self):
        _check_ranges(self, "", _RANGES)
        _check(self.eval_interval is None or self.epochs % self.eval_interval == 0, "eval_interval",
               f"must divide epochs={self.epochs}, got {self.eval_interval}")
        _check(not isinstance(self.micro_batch, int) or self.micro_batch >= 1, "micro_batch",
               f"must be >= 1 (or auto, or none for the whole batch), got {self.micro_batch}")
        _check(self.device in ("auto", "cpu", "mps") or re.fullmatch(r"cuda(:\d+)?", self.device) is not None,
               "device", f"expected auto, cpu, cuda, cuda:N or mps, got {self.device!r}")

    def to_dict(self) -> dict:
        return dc.asdict(self)


def _check(ok: bool, key: str, msg: str):
    if not ok:
        raise ConfigError(f"{key}: {msg}")


# Allowed ranges of the numeric fields (None, where a field may be None, is always allowed).
_ONE, _NONNEG = (lambda v: v >= 1, ">= 1"), (lambda v: v >= 0, ">= 0")
_POS, _UNIT, _HALF = (lambda v: v > 0, "> 0"), (lambda v: 0 <= v <= 1, "in [0, 1]"), (lambda v: 0 <= v < 1, "in [0, 1)")
_ARCH_RANGES = {"H_cycles": _ONE, "L_cycles": _ONE, "L_layers": _ONE, "hidden_size": _ONE, "num_heads": _ONE,
                "halt_max_steps": _ONE, "expansion": _POS, "rms_norm_eps": _POS, "rope_theta": _POS,
                "halt_exploration_prob": _UNIT, "puzzle_emb_ndim": _NONNEG, "puzzle_emb_len": _NONNEG}
_RANGES = {"seed": (lambda v: 0 <= v < 2**63, "in [0, 2**63)"), "global_batch_size": _ONE, "epochs": _ONE,
           "eval_interval": _ONE, "lr": _POS, "lr_min_ratio": _UNIT,
           "lr_warmup_steps": _NONNEG, "beta1": _HALF, "beta2": _HALF, "weight_decay": _NONNEG,
           "puzzle_emb_weight_decay": _NONNEG, "puzzle_emb_lr": _NONNEG, "ema_rate": _HALF, "max_steps": _ONE,
           "checkpoint_every": _NONNEG, "keep_last": _ONE, "early_stop_patience": _NONNEG, "log_every": _ONE}


def _check_ranges(obj, prefix: str, ranges: dict):
    for k, (ok, want) in ranges.items():
        v = getattr(obj, k)
        _check(v is None or ok(v), prefix + k, f"must be {want}, got {v}")


# ---------------------------------------------------------------- presets (original README runs)

def sudoku_extreme_1k() -> Config:
    """Sudoku-Extreme, 1k training puzzles × 1000 augmentations (HRM README)."""
    return Config(data_path="data/sudoku-extreme-1k-aug-1000", epochs=20000, eval_interval=2000,
                  lr=1e-4, puzzle_emb_lr=1e-4, weight_decay=1.0, puzzle_emb_weight_decay=1.0)


def maze_30x30_hard_1k() -> Config:
    """Maze-30x30-Hard, 1k training mazes, no augmentation (HRM README)."""
    return dc.replace(sudoku_extreme_1k(), data_path="data/maze-30x30-hard-1k")


def arc1() -> Config:
    """ARC-AGI-1 + ConceptARC, 1000 augmentations (the original's defaults)."""
    return Config(data_path="data/arc-aug-1000")


def arc2() -> Config:
    """ARC-AGI-2, 1000 augmentations."""
    return Config(data_path="data/arc-2-aug-1000")


def debug() -> Config:
    """A tiny HRM that trains on CPU in seconds: what tests and notebook defaults use."""
    arch = ArchConfig(H_cycles=2, L_cycles=2, H_layers=1, L_layers=1, hidden_size=64, num_heads=2, halt_max_steps=4)
    return Config(arch=arch, data_path="data/sudoku-debug", global_batch_size=32, epochs=20, eval_interval=10,
                  lr=1e-3, puzzle_emb_lr=1e-3, lr_warmup_steps=10)


def demo_hrm() -> Config:
    """The HRM demo (`make demo PRESET=demo_hrm`): easy generated Sudoku (72 of 81 cells given) on two
    CPU cores in under ten minutes; 2,500 steps of 64 with cosine decay.

    rope_theta = (9/2π)^16 ≈ 314 (head dim 32): RoPE's first rotating frequency then turns once
    every 9 positions, so "same column" (offsets 9, 18, …) is one fixed relative-position pattern,
    and the slower frequencies fall near the band (27) and grid (81) periods. With the default
    10,000 none lines up with the grid and this small model learns Sudoku's structure far more
    slowly (measured in docs/benchmarks.md, "The HRM demo").

    halt_max_steps=1: one ACT segment (2 H × 2 L cycles) per puzzle, so every step trains on 64
    fresh puzzles; in ten CPU minutes that beats deep supervision over 4 segments (measured, three
    seeds each, docs/benchmarks.md). `arch.halt_max_steps=4` brings ACT back for the replay."""
    arch = dc.replace(debug().arch, halt_max_steps=1, act_continue_loss=False, rope_theta=314.0)
    return Config(arch=arch, data_path="data/sudoku-demo", global_batch_size=64, epochs=160, eval_interval=40,
                  lr=3e-3, puzzle_emb_lr=3e-3, lr_warmup_steps=100, lr_min_ratio=0.1)


# ---------------------------------------------------------------- TRM presets (TRM README runs)
# cfg_pretrain.yaml defaults (batch 768, lr 1e-4 constant after 2,000 warmup steps, betas 0.9/0.95) and
# arch/trm.yaml (hidden 512, 8 heads, 2 layers, 16 puzzle slots, 16 ACT steps), EMA 0.999 on.

def _trm(**kw) -> ArchConfig:
    return ArchConfig(name="trm", H_layers=0, L_layers=2, H_cycles=3, L_cycles=kw.pop("L_cycles", 6), **kw)


def trm_sudoku_mlp() -> Config:
    """Sudoku-Extreme with the token-mixing MLP and no positions (TRM README; 87.4 % published)."""
    return dc.replace(sudoku_extreme_1k(), arch=_trm(mlp_t=True, pos_encodings="none"), epochs=50000,
                      eval_interval=5000, ema=True)


def trm_sudoku_att() -> Config:
    """Sudoku-Extreme with attention and RoPE (TRM README; 74.7 % published)."""
    return dc.replace(trm_sudoku_mlp(), arch=_trm())


def trm_maze() -> Config:
    """Maze-30x30-Hard (TRM README; 85.3 % published)."""
    return dc.replace(trm_sudoku_att(), arch=_trm(L_cycles=4), data_path="data/maze-30x30-hard-1k")


def trm_arc1() -> Config:
    """ARC-AGI-1 + ConceptARC (TRM README; 44.6 % pass@2 published): the same dataset as `arc1`."""
    return Config(arch=_trm(L_cycles=4), data_path="data/arc-aug-1000", ema=True)


def trm_arc2() -> Config:
    """ARC-AGI-2 + ConceptARC (TRM README; 7.8 % pass@2 published)."""
    return dc.replace(trm_arc1(), data_path="data/arc2concept-aug-1000")


def trm_debug() -> Config:
    """A tiny TRM that trains on CPU in seconds (the `debug` data and schedule)."""
    arch = dc.replace(debug().arch, name="trm", H_layers=0, L_layers=2, puzzle_emb_len=1)
    return dc.replace(debug(), arch=arch, ema=True, ema_rate=0.99)


def demo() -> Config:
    """`make demo`: a TRM that reasons over several ACT segments, trained on two CPU cores in minutes.

    Generated Sudoku of mixed difficulty (40 or 60 givens), TRM's token-mixing MLP (no positions
    needed), one cheap recursion per segment (T=1, n=2) and six segments: one segment cannot finish
    a 40-givens puzzle, so the model learns to improve its answer segment by segment and Q learns to
    halt early on the easy ones. mlp_t learns this far faster than attention at this size; no EMA
    (an average at 0.999 still holds a third of the initial weights after 1,000 steps)."""
    arch = ArchConfig(name="trm", mlp_t=True, pos_encodings="none", H_cycles=1, L_cycles=2, H_layers=0, L_layers=2,
                      hidden_size=64, num_heads=2, halt_max_steps=6, puzzle_emb_len=1)
    return Config(arch=arch, data_path="data/sudoku-demo-mix", global_batch_size=64, epochs=24, eval_interval=6,
                  lr=2e-3, puzzle_emb_lr=2e-3, lr_warmup_steps=100, lr_min_ratio=0.1)


def demo_maze() -> Config:
    """`make demo PRESET=demo_maze`: a TRM that draws the path through generated 9×9 mazes (S and G at
    least 10 steps apart), trained on two CPU cores in about six minutes end to end; it solves 96–97 % of
    400 held-out mazes (three seeds), 65–73 % after the first segment (docs/benchmarks.md, "The maze
    demo": what was tried).

    The `demo` model with one block (L_layers=1) and one latent update per recursion (n=1): a segment is
    two cheap calls, too few to finish a maze, so the path is drawn over the five segments; every row
    runs at least U{2..5} segments (halt_exploration_prob=1), so the later segments also train on mazes
    already solved and learn to keep a right answer. 4,000 steps of 64."""
    arch = dc.replace(demo().arch, L_layers=1, L_cycles=1, halt_max_steps=5, halt_exploration_prob=1.0)
    return dc.replace(demo(), arch=arch, data_path="data/maze-demo", epochs=32, eval_interval=8)


PRESETS = {f.__name__: f for f in (sudoku_extreme_1k, maze_30x30_hard_1k, arc1, arc2, demo_hrm, debug,
                                   trm_sudoku_mlp, trm_sudoku_att, trm_maze, trm_arc1, trm_arc2, trm_debug, demo,
                                   demo_maze)}


# ---------------------------------------------------------------- overrides

__all__ = ["ArchConfig", "Config", "ConfigError", "LossConfig", "PRESETS", "ROLES", "load", "from_saved", "apply",
           "describe", "diff", "field_docs", "flat", "from_dict", "parse_value", "roles", "split"]
REMOVED = ("checkpoint_every_eval", "eval_save_outputs")  # never read; runs saved before 2026-12 still hold them


def from_saved(d: dict) -> Config:
    """The Config of a run's config.json or a checkpoint's state (fields since removed are dropped)."""
    return from_dict(Config, {k: v for k, v in d.items() if k not in REMOVED})


def load(preset: str, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Build a preset and apply `key=value` overrides (nested keys with dots)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return apply(PRESETS[preset](), overrides)
