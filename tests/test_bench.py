"""hrmlib.bench smoke test on CPU: it runs, its table and JSON agree, its FLOP count is right.
No timing is asserted (speed lives in docs/benchmarks.md)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from hrmlib import bench
from hrmlib import config as C
from hrmlib.model import layers
from conftest import ROOT, run_py

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


def test_profile_names_where_the_time_goes(tmp_path):
    """profile=FILE: one table per mode, the model's own operators in it, shares that add up to at most 100 %."""
    prof = tmp_path / "sub" / "prof.txt"
    run_py("-m", "hrmlib.bench", "debug", *TINY, "batch=4", "seq_len=16", "warmup=1", "repeats=2",
           "modes=train,eval", f"profile={prof}", check=True)
    text = prof.read_text()
    heads = [ln for ln in text.splitlines() if ln.startswith("== ")]
    assert len(heads) == 2 and "train" in heads[0] and "eval" in heads[1] and "ms of host time per call" in heads[0]
    assert "aten::mm" in text or "aten::addmm" in text or "aten::linear" in text
    for table in text.split("== ")[1:]:
        shares = [float(ln.split()[1].rstrip("%")) for ln in table.splitlines()[2:]]
        assert shares and shares == sorted(shares, reverse=True) and sum(shares) <= 100.5


def test_bench_rejects_an_unknown_mode_and_key():
    r = run_py("-m", "hrmlib.bench", "debug", "modes=fast", "repeats=1", "warmup=0")
    assert r.returncode == 2 and "modes: 'fast' is not one of train, eval, eval_q, matmul" in r.stderr
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
    assert a.continue_loss  # HRM's bootstrap pass: a second forward
    assert bench.flops(a, B, S, V, "train") == pytest.approx(2 * per_pass + 2 * (2 * layer + head))


def test_trm_flop_count_by_hand():
    """TRM: H_cycles·(L_cycles + 1) calls of its L_layers-block network per segment, the last
    L_cycles + 1 differentiated, no bootstrap pass; mlp_t mixes S positions per channel with SwiGLU."""
    B, S, D, I, V = 2, 10, 64, 256, 11
    a = C.load("trm_debug", ["arch.hidden_size=64", "arch.H_cycles=3", "arch.L_cycles=2"]).arch
    chan = B * S * (4 * D * I + 2 * I * D)
    layer = B * S * 8 * D * D + 4 * B * S * S * D + chan
    assert bench.layer_flops(a, B, S) == layer
    head = 2 * B * S * D * V
    per_pass = 3 * 3 * 2 * layer + head  # 3 recursions of (2 z updates + 1 y update) × 2 blocks
    assert bench.flops(a, B, S, V, "eval") == pytest.approx(a.halt_max_steps * per_pass)
    assert bench.flops(a, B, S, V, "train") == pytest.approx(per_pass + 2 * (3 * 2 * layer + head))
    m = C.load("trm_debug", ["arch.mlp_t=true", "arch.hidden_size=64"]).arch
    It = 256  # round(4·10·2/3) = 27, rounded up to 256
    assert bench.layer_flops(m, B, S) == B * D * (4 * S * It + 2 * It * S) + chan


def test_matmul_row_counts_2n3():
    rows = bench.measure("debug", [], bench.Options(modes="matmul", warmup=0, repeats=1))
    assert rows[0]["gflop"] == pytest.approx(2 * 1024**3 / 1e9) and rows[0]["tflops"] > 0


def test_suite_runs_every_row_and_reports_the_missing_backends(tmp_path):
    """launch/bench-suite, shrunk to CPU size: every row runs once; a FlashAttention row whose
    package is absent fails with one line and counts in the exit status."""
    env = {**os.environ, "DEVICE": "cpu", "SCALE": "tiny", "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    r = subprocess.run([str(ROOT / "launch" / "bench-suite"), str(tmp_path)], env=env, text=True,
                       capture_output=True, timeout=600)
    missing = [b for b, f in (("fa2", layers._fa2), ("fa3", layers._fa3)) if f is None]
    assert r.returncode == len(missing), r.stdout[-3000:] + r.stderr[-3000:]
    ran = {p.stem for p in tmp_path.glob("*.json")}
    expect = {"matmul", "sudoku-eager", "sudoku-eager-no-continue-loss", "maze-eager", "sudoku-attn-sdpa",
              "trm-sudoku-mlp-eager", "trm-sudoku-att-eager", "trm-maze-eager"}
    assert ran == expect | {f"sudoku-attn-{b}" for b in ("fa2", "fa3") if b not in missing}
    modes = [x["mode"] for x in json.loads((tmp_path / "sudoku-eager.json").read_text())]
    assert modes == ["train", "eval", "eval_q"]
    for b in missing:
        assert f"arch.attn_backend: '{b}' is not installed" in r.stderr
    assert f"({len(missing)} row(s) did not run)" in r.stdout


def test_gpu_check_steps_run_and_come_back_packed(tmp_path):
    """launch/gpu-check, shrunk to CPU size: the training, its torchrun resume and the TRM rows run, a
    ROWS filter picks bench-suite rows, an unknown step counts as failed, and the logs, metrics and
    JSON come back in one archive without checkpoints."""
    import tarfile
    env = {**os.environ, "DEVICE": "cpu", "SCALE": "tiny", "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    r = subprocess.run([str(ROOT / "launch" / "gpu-check"), str(tmp_path), "300",
                        "train resume-torchrun bench-eager bench-trm-train nonsense"], env=env, text=True,
                       capture_output=True, timeout=600)
    out = r.stdout
    assert r.returncode == 1 and "== nonsense: unknown step" in out, out[-3000:] + r.stderr[-2000:]
    assert "done: 4 steps" in out and "resuming from" in out and "done: 8 steps" in out
    names = tarfile.open(tmp_path / "gpu-check.tgz").getnames()
    assert "./train/metrics.jsonl" in names and "./resume-torchrun.log" in names
    assert {n for n in names if n.startswith("./bench/")} == {
        "./bench/matmul.json", "./bench/sudoku-eager.json", "./bench/sudoku-eager-no-continue-loss.json",
        "./bench/maze-eager.json", "./bench/trm-trm_debug-train.json"}
    assert not [n for n in names if "checkpoints" in n or n.endswith(".pt")]


def test_mode_train_is_the_trainers_step(sudoku, tmp_path):
    """From the same seeded start, on the trainer's first batch, the step the bench times leaves the
    weights (and the puzzle-embedding table) the trainer's own first step checkpointed."""
    from hrmlib import runs
    from hrmlib.data import load_split
    from hrmlib.data.sampler import TrainSampler
    R = tmp_path / "R"
    threads = torch.get_num_threads()  # the same reduction order in both processes
    run_py("-m", "hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={R}", "max_steps=1", check=True,
           env={"OMP_NUM_THREADS": str(threads)})
    cfg = C.load("debug", [f"data_path={sudoku}"])
    split = load_split(sudoku, "train")
    m = split.meta
    opts = bench.Options(batch=cfg.global_batch_size, seq_len=m.seq_len, vocab=m.vocab_size,
                         puzzle_ids=m.num_puzzle_identifiers)
    s = bench.prepare("debug", [], opts)
    batch = next(TrainSampler(split, cfg.global_batch_size, cfg.seed, cfg.eval_interval).iteration(0))
    bench.train(s, batch)
    want = runs.load_file(runs.checkpoints(R)[-1] / "state.pt")["model"]
    got = s.model.state_dict()
    assert want.keys() == got.keys()
    for k in want:
        assert torch.equal(want[k], got[k]), k
