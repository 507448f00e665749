"""hrmlib.bench smoke test on CPU: it runs, its table and JSON agree, its FLOP count is right.
No timing is asserted (speed lives in docs/benchmarks.md)."""
import json

import pytest

from hrmlib import bench
from hrmlib import config as C
from conftest import run_py

TINY = ["arch.hidden_size=32", "arch.num_heads=2", "arch.halt_max_steps=2"]


def test_bench_cli_writes_one_row_per_mode(tmp_path):
    out = tmp_path / "b.json"
    r = run_py("-m", "hrmlib.bench", "debug", *TINY, "batch=4", "seq_len=16", "warmup=1", "repeats=2",
               "modes=train,eval,eval_q", "stream=2", f"out={out}", check=True)
    rows = json.loads(out.read_text())
    assert [x["mode"] for x in rows] == ["train", "eval", "eval_q"]
    for x in rows:
        assert x["ms"] > 0 and x["per_s"] > 0 and x["device"] == "cpu" and x["dtype"] == "float32"
        assert x["ms_min"] <= x["ms"]
    assert rows[2]["segments"] == 2.0  # random weights: Q never halts early, every puzzle runs 2 segments
    assert len(r.stdout.strip().splitlines()) == 2 + len(rows)  # header, rule, one line per mode


def test_bench_rejects_an_unknown_mode_and_key():
    r = run_py("-m", "hrmlib.bench", "debug", "modes=fast", "repeats=1", "warmup=0")
    assert r.returncode == 2 and "modes: 'fast' is not one of train, eval, eval_q" in r.stderr
    r = run_py("-m", "hrmlib.bench", "debug", "arch.hiden_size=8")
    assert r.returncode == 2 and "unknown key 'arch.hiden_size'" in r.stderr


def test_flop_count_by_hand():
    """One layer on [B, S, D]: qkv 2·D·3D, out 2·D·D, SwiGLU 2·D·2I + 2·I·D per token, attention 4·S·D."""
    a = C.load("debug", ["arch.hidden_size=64", "arch.H_cycles=2", "arch.L_cycles=2", "arch.H_layers=1",
                         "arch.L_layers=1", "arch.halt_max_steps=4"]).arch
    B, S, D, I, V = 2, 10, 64, 256, 11
    layer = B * S * (6 * D * D + 2 * D * D + 4 * D * I + 2 * I * D) + 4 * B * S * S * D
    assert bench.layer_flops(a, B, S) == layer
    head = 2 * B * S * D * V
    per_pass = 2 * (2 + 1) * layer + head  # 2 H cycles of (2 L layers + 1 H layer), then the LM head
    assert bench.flops(a, B, S, V, "eval") == pytest.approx(4 * per_pass)
    passes = 2 if a.act_continue_loss else 1  # the bootstrap pass
    assert bench.flops(a, B, S, V, "train") == pytest.approx(passes * per_pass + 2 * (2 * layer + head))
