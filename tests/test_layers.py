"""Layers: attention backends against plain softmax(QKᵀ/√d)V, RoPE, SwiGLU width, RMSNorm."""
import math

import pytest
import torch

from hrmlib.model import layers as L
from hrmlib.config import ConfigError

AVAILABLE = [b for b in L.BACKENDS if b == "sdpa" or (b == "fa3" and L._fa3) or (b == "fa2" and L._fa2)]


def _naive(q, k, v):  # [B, S, h, d]
    q, k, v = (t.transpose(1, 2).double() for t in (q, k, v))
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1)
    return (p @ v).transpose(1, 2)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_attention_matches_plain_softmax_forward_and_backward(backend):
    dev = "cuda" if backend != "sdpa" else "cpu"
    if dev == "cuda" and not torch.cuda.is_available():
        pytest.skip("flash-attn backends need CUDA")
    dt = torch.float32 if dev == "cpu" else torch.bfloat16
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 7, 3, 16, generator=g).to(dev, dt).requires_grad_() for _ in range(3))
    out = L.attention(q, k, v, backend)
    ref = _naive(q, k, v)
    tol = 1e-5 if dt == torch.float32 else 2e-2
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    w = torch.randn(out.shape, generator=g).to(dev)
    gq = torch.autograd.grad((out.float() * w).sum(), (q, k, v))
    gr = torch.autograd.grad((ref * w.double()).sum(), (q, k, v))
    for a, b in zip(gq, gr):
        torch.testing.assert_close(a.double(), b.double(), atol=tol, rtol=tol)


def test_backend_choice_and_errors():
    assert L.pick_backend("auto") == AVAILABLE[0]
    assert L.pick_backend("sdpa") == "sdpa"
    with pytest.raises(ConfigError, match="unknown; choose one of auto, fa3, fa2, sdpa"):
        L.pick_backend("xformers")
    if L._fa2 is None:
        with pytest.raises(ConfigError, match="'fa2' is not installed"):
            L.pick_backend("fa2")


def test_rope_is_rotate_half_and_keeps_norms():
    rope = L.Rotary(8, 5, 10000.0)
    x = torch.randn(1, 5, 2, 8)
    y = L.apply_rope(x, rope.cos, rope.sin)
    torch.testing.assert_close(y[:, 0], x[:, 0])  # position 0 is not rotated
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    # the original's formula: x·cat(cos, cos) + cat(−x2, x1)·cat(sin, sin), bit for bit
    f = torch.outer(torch.arange(5.0), 1.0 / 10000.0 ** (torch.arange(0, 8, 2) / 8))
    cos, sin = torch.cat((f.cos(), f.cos()), -1), torch.cat((f.sin(), f.sin()), -1)
    ref = x * cos[:, None] + torch.cat((-x[..., 4:], x[..., :4]), -1) * sin[:, None]
    assert torch.equal(y, ref)
    # position 1, pair (0, 4) rotates by angle 1·θ^0 = 1 rad
    c, s = math.cos(1.0), math.sin(1.0)
    torch.testing.assert_close(y[0, 1, 0, 0], x[0, 1, 0, 0] * c - x[0, 1, 0, 4] * s)
    torch.testing.assert_close(y[0, 1, 0, 4], x[0, 1, 0, 4] * c + x[0, 1, 0, 0] * s)


def test_swiglu_width_rounds_up_to_256():
    assert L.swiglu_width(512, 4.0) == 1536 and L.swiglu_width(64, 4.0) == 256 and L.swiglu_width(128, 4.0) == 512


def test_rms_norm_is_gain_free_fp32_and_keeps_dtype():
    x = torch.randn(3, 4, 64).bfloat16()
    y = L.rms_norm(x, 1e-5)
    assert y.dtype == torch.bfloat16
    ref = x.float() / (x.float().square().mean(-1, keepdim=True) + 1e-5).sqrt()
    torch.testing.assert_close(y.float(), ref, atol=1e-2, rtol=1e-2)


def test_trunc_normal_has_the_requested_std_and_bounds():
    torch.manual_seed(0)
    t = L.trunc_normal_(torch.empty(200_000), std=0.5)
    assert abs(t.std().item() - 0.5) < 5e-3 and t.abs().max().item() <= 2 * 0.5 * 1.1368472343385565 + 1e-6
    assert L.trunc_normal_(torch.ones(3), std=0).eq(0).all()
