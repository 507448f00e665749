"""Building blocks shared by HRM and TRM: casted linear/embedding, gain-free RMSNorm, RoPE, SwiGLU, non-causal
attention with FlashAttention 3 → 2 → SDPA backends, and the post-norm block.

Shapes: B batch, S sequence (puzzle slots included), D hidden, h heads, d head dim.
Weights are fp32 masters cast to the activation dtype on every call (no autocast), as the original.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError

try:  # FlashAttention 3 (Hopper)
    from flash_attn_interface import flash_attn_func as _fa3
except ImportError:
    _fa3 = None
try:  # FlashAttention 2
    from flash_attn import flash_attn_func as _fa2
except ImportError:
    _fa2 = None

BACKENDS = ("fa3", "fa2", "sdpa")


def trunc_normal_(t: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """JAX-style truncated normal whose std is exactly `std` (torch's trunc_normal_ is not), drawn as
    the original draws it, so a seeded build reproduces its weights bit-exactly."""
    with torch.no_grad():
        if std == 0:
            return t.zero_()
        sqrt2 = math.sqrt(2)
        a, b = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
        z = (b - a) / 2
        c = (2 * math.pi) ** -0.5
        pdf_l, pdf_u = c * math.exp(-0.5 * lower**2), c * math.exp(-0.5 * upper**2)
        comp_std = std / math.sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
        t.uniform_(a, b).erfinv_().mul_(sqrt2 * comp_std).clip_(lower * comp_std, upper * comp_std)
    return t


class Linear(nn.Module):
    def __init__(self, d_in: int, d_out: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_out, d_in))
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None

    def reset_parameters(self):  # LeCun trunc-normal, std 1/sqrt(fan_in)
        trunc_normal_(self.weight, std=1.0 / math.sqrt(self.weight.shape[1]))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        b = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), b)


class Embedding(nn.Module):
    def __init__(self, num: int, dim: int, init_std: float, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, dim))
        self.init_std, self.dtype = init_std, dtype

    def reset_parameters(self):
        trunc_normal_(self.weight, std=self.init_std)

    def forward(self, ids):
        return F.embedding(ids, self.weight.to(self.dtype))


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Gain-free RMSNorm computed in fp32 and cast back to the input dtype."""
    dt = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dt)


class Rotary(nn.Module):
    """Rotate-half RoPE tables [S, d] (non-persistent: never in checkpoints): cos = cat(c, c) and
    the *signed* sin = cat(−s, s), so that rotating is x·cos + swap_halves(x)·sin."""

    def __init__(self, d: int, max_len: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        c, s = freqs.cos(), freqs.sin()
        self.register_buffer("cos", torch.cat((c, c), -1), persistent=False)
        self.register_buffer("sin", torch.cat((-s, s), -1), persistent=False)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE on x [B, S, h, d] in fp32, result in x's dtype.

    The original computes x·cat(c, c) + cat(−x₂, x₁)·cat(s, s); with the sign folded into the
    table this is x·cos + cat(x₂, x₁)·sin: four ops instead of seven, and bit for bit the same
    (x₂·(−s) is exactly −(x₂·s))."""
    dt = x.dtype
    x = x.float()
    x1, x2 = x.chunk(2, dim=-1)
    return (x * cos[:, None] + torch.cat((x2, x1), dim=-1) * sin[:, None]).to(dt)


def pick_backend(name: str) -> str:
    """Resolve "auto" to the best available kernel; fail clearly (a ConfigError, so the CLIs print
    one line) if a named one is missing."""
    have = {"fa3": _fa3 is not None, "fa2": _fa2 is not None, "sdpa": True}
    if name == "auto":
        return next(b for b in BACKENDS if have[b])
    if name not in have:
        raise ConfigError(f"arch.attn_backend: {name!r} unknown; choose one of auto, {', '.join(BACKENDS)}")
    if not have[name]:
        raise ConfigError(f"arch.attn_backend: {name!r} is not installed (pip install 'hrmlib[gpu]'); "
                         f"use arch.attn_backend=auto or sdpa")
    return name


def attention(q, k, v, backend: str) -> torch.Tensor:
    """Non-causal exact attention, scale 1/sqrt(d). q, k, v: [B, S, h, d] → [B, S, h, d]."""
    if backend == "sdpa" or q.device.type != "cuda" or q.dtype == torch.float32:
        # flash kernels need CUDA and half precision; SDPA is exact attention everywhere else
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return o.transpose(1, 2)
    o = (_fa3 if backend == "fa3" else _fa2)(q, k, v, causal=False)
    return o[0] if isinstance(o, tuple) else o  # some FA3 builds return (out, lse)


class Attention(nn.Module):
    def __init__(self, D: int, h: int, backend: str = "auto"):
        super().__init__()
        self.h, self.d = h, D // h
        self.qkv = Linear(D, 3 * D)  # rows: h query heads, then h key heads, then h value heads
        self.o = Linear(D, D)
        self.backend = pick_backend(backend)

    def forward(self, x, rope: Rotary | None):
        B, S, _ = x.shape
        qkv = self.qkv(x).view(B, S, 3 * self.h, self.d)
        qk, v = qkv[:, :, :2 * self.h], qkv[:, :, 2 * self.h:]
        if rope is not None:  # queries and keys rotated in one call
            qk = apply_rope(qk, rope.cos[:S], rope.sin[:S])
        q, k = qk.split(self.h, dim=2)
        return self.o(attention(q, k, v, self.backend).reshape(B, S, -1))


def swiglu_width(D: int, expansion: float) -> int:
    """The original's inner width: round(expansion·D·2/3) rounded *up* to a multiple of 256."""
    return -(-round(expansion * D * 2 / 3) // 256) * 256


class SwiGLU(nn.Module):
    def __init__(self, D: int, expansion: float):
        super().__init__()
        I = swiglu_width(D, expansion)
        self.gate_up = Linear(D, 2 * I)  # first half gate (SiLU), second half "up"
        self.down = Linear(I, D)

    def forward(self, x):
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm block: x ← norm(x + mix(x)); x ← norm(x + mlp(x)), norms over D.

    mix is attention, or with `mlp_t_len` = S' TRM's token-mixing SwiGLU: it maps each channel's S'
    positions to S' positions and its norm runs over those positions (docs/pitfalls.md T7)."""

    def __init__(self, D: int, h: int, expansion: float, eps: float, backend: str = "auto", mlp_t_len: int = 0):
        super().__init__()
        if mlp_t_len:
            self.mlp_t = SwiGLU(mlp_t_len, expansion)
        else:
            self.attn = Attention(D, h, backend)
        self.mlp = SwiGLU(D, expansion)
        self.eps = eps

    def reset_parameters(self):  # the original's draw order: qkv, o (or mlp_t gate_up, down), gate_up, down
        mix = (self.mlp_t.gate_up, self.mlp_t.down) if hasattr(self, "mlp_t") else (self.attn.qkv, self.attn.o)
        for lin in (*mix, self.mlp.gate_up, self.mlp.down):
            lin.reset_parameters()

    def forward(self, x, rope):
        if hasattr(self, "mlp_t"):
            xt = x.transpose(1, 2)  # [B, D, S']
            x = rms_norm(xt + self.mlp_t(xt), self.eps).transpose(1, 2)
        else:
            x = rms_norm(x + self.attn(x, rope), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)
