"""The papers' batch in a small memory (issue 23): micro-batches and activation checkpointing give the
trainer's numbers (float32 on CPU, HRM and both TRM blocks, rows halting at different segments, several
puzzle ids per micro-batch), in one process and under torchrun; memory measured and estimated."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import one_line_error, run_py, torchrun, torchrun_script, train
from hrmlib import config as C
from hrmlib import runs
from hrmlib.dist import Dist
from hrmlib.train.step import TrainState, train_step

V, S, N, B = 11, 16, 9, 16  # vocabulary, grid, puzzle ids, batch
ARCHS = {"hrm": ["arch.hidden_size=32", "arch.num_heads=2"],
         "trm attention": ["arch.name=trm", "arch.H_layers=0", "arch.hidden_size=32", "arch.num_heads=2"],
         "trm mlp_t": ["arch.name=trm", "arch.H_layers=0", "arch.mlp_t=true", "arch.pos_encodings=none",
                       "arch.hidden_size=32", "arch.num_heads=2"]}


def batches(n: int):
    """Seeded global batches with every puzzle id in use (each micro-batch touches several rows of the table)."""
    g = np.random.default_rng(1)
    for _ in range(n):
        x = g.integers(2, V, (B, S), dtype=np.int32)
        yield {"inputs": x, "labels": np.where(g.random((B, S)) < 0.5, x, g.integers(2, V, (B, S))).astype(np.int32),
               "puzzle_identifiers": g.integers(0, N, B, dtype=np.int32)}


def state(arch: list[str], *over: str, d: Dist = None) -> TrainState:
    """A small model whose Q head halts rows at different segments from the first step (random Q weights)."""
    cfg = C.load("debug", [*arch, f"global_batch_size={B}", "arch.halt_max_steps=4", "arch.halt_exploration_prob=0.5",
                           "lr_warmup_steps=2", *over])
    s = TrainState.create(cfg, {"dims": {"vocab_size": V, "seq_len": S, "num_puzzle_identifiers": N}}, d or Dist(), 100)
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        s.model.q_head.weight.copy_(0.3 * torch.randn(s.model.q_head.weight.shape, generator=g))
        s.model.q_head.bias.zero_()
    return s


def close(a, b, rel=1e-6) -> bool:
    """‖a − b‖ ≤ rel · ‖b‖ (tensors), or |a − b| ≤ rel · |b| (numbers)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return bool((a - b).norm() <= rel * b.norm() + 1e-12)


def same(a: TrainState, b: TrainState, rows_a: dict, rows_b: dict):
    for k, v in a.model.state_dict().items():
        assert close(b.model.state_dict()[k], v), k
    for x, y in zip(tensors(a.opts[-1].state_dict()), tensors(b.opts[-1].state_dict())):  # AdamAtan2's moments
        assert close(y, x)
    for f in ("z_H", "z_L", "steps", "halted"):
        assert close(getattr(b.carry, f), getattr(a.carry, f)), f
    assert rows_a.keys() == rows_b.keys() and all(close(rows_b[k], rows_a[k]) for k in rows_a if k != "peak_mem_gb")


def tensors(tree) -> list:
    """The tensors of a nested state dict, in order."""
    if isinstance(tree, dict):
        return [t for k in sorted(tree, key=str) for t in tensors(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [t for x in tree for t in tensors(x)]
    return [tree] if isinstance(tree, torch.Tensor) else []


def lockstep(arch: str, d: Dist = None):
    """20 steps side by side, the micro-batch state set to the whole batch's before each step: only the
    step itself can differ (summation order). mlp_t's recursion is chaotic (docs/pitfalls.md T8), so
    runs left to themselves drift apart by more than that; whole runs are compared below for the others."""
    d = d or Dist()
    mb = B // d.world // 4
    whole, micro = state(ARCHS[arch], d=d), state(ARCHS[arch], f"micro_batch={mb}", d=d)
    assert micro.micro == mb and whole.micro == B // d.world
    table0, halted_at = whole.model.puzzle_emb.weights.clone(), set()
    for batch in batches(20):
        micro.load_state_dict(*copy.deepcopy(whole.state_dict()))  # as from a file: nothing shared
        rw, rm = train_step(whole, batch), train_step(micro, batch)
        same(whole, micro, rw, rm)
        halted_at |= set(whole.carry.steps[whole.carry.halted].tolist())
    assert len(halted_at) > 1, halted_at  # rows halted at different segments
    assert (whole.model.puzzle_emb.weights != table0).any(-1).all()  # every id's row moved, whatever its micro-batch


@pytest.mark.parametrize("arch", ARCHS)
def test_each_step_with_micro_batches_is_the_whole_batchs_step(arch):
    lockstep(arch)


def test_the_same_under_torchrun_with_two_processes():
    """The lockstep comparison in two gloo processes: DDP skips the all-reduce of all but the last
    micro-batch, and the puzzle table's rows are gathered once per step (tests/ddp_lockstep.py)."""
    r = torchrun_script(2, Path(__file__).with_name("ddp_lockstep.py"), *ARCHS)
    assert r.returncode == 0 and r.stdout.count("lockstep ok") == 2 * len(ARCHS), r.stdout[-2000:] + r.stderr[-3000:]


@pytest.mark.parametrize("arch", ["hrm", "trm attention"])
def test_twenty_steps_with_micro_batches_give_the_whole_batchs_run(arch):
    whole, micro = state(ARCHS[arch]), state(ARCHS[arch], f"micro_batch={B // 4}")
    for batch in batches(20):
        rw, rm = train_step(whole, batch), train_step(micro, batch)
    same(whole, micro, rw, rm)


@pytest.mark.parametrize("arch", ["hrm", "trm attention"])
def test_activation_checkpointing_gives_the_same_weights(arch):
    plain, ckpt = state(ARCHS[arch]), state(ARCHS[arch], "activation_checkpointing=true")
    assert ckpt.model.checkpointing and not plain.model.checkpointing
    for batch in batches(20):
        rp, rc = train_step(plain, batch), train_step(ckpt, batch)
    same(plain, ckpt, rp, rc)


def test_micro_batches_under_torchrun_train_the_same_run(sudoku, tmp_path):
    """The trainer itself under torchrun: the same curve (the weights agree to the summation order; the
    zero-initialised Q head's tiny weights carry its noise through Adam's per-element normalisation)."""
    for name, extra in (("whole", []), ("micro", ["micro_batch=4"])):
        torchrun(2, "hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={tmp_path / name}",
                 "global_batch_size=16", "max_steps=6", *extra, check=True)
    rows = [[json.loads(x) for x in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]
            for n in ("whole", "micro")]
    assert len(rows[0]) == len(rows[1]) == 7
    for x, y in zip(*rows):
        assert all(close(y[k], x[k]) for k in ("loss", "lm_loss", "accuracy", "exact_accuracy", "act_steps", "count")
                   if k in x), (x, y)
    a, b = (runs.load_file(runs.checkpoints(tmp_path / n)[-1] / "state.pt")["model"] for n in ("whole", "micro"))
    assert all(close(b[k], v, 1e-4) for k, v in a.items())


def test_a_micro_batch_that_does_not_divide_the_batch_is_one_line(sudoku, tmp_path):
    one_line_error(train(sudoku, f"run_dir={tmp_path / 'R'}", "micro_batch=5"),
                   "micro_batch=5 must divide the 32 rows each of the 1 process(es) takes per step")
    one_line_error(train(sudoku, f"run_dir={tmp_path / 'R'}", "micro_batch=auto"),
                   "micro_batch=auto measures the free GPU")
    assert not (tmp_path / "R").exists()


def test_bench_measures_memory_at_the_papers_batch_on_a_small_model(tmp_path):
    small = ["arch.hidden_size=8", "arch.num_heads=2", "arch.H_cycles=1", "arch.L_cycles=1", "arch.halt_max_steps=2"]
    r = run_py("-m", "hrmlib.bench", "trm_sudoku_mlp", "batch=768", "modes=memory,train", "micro_batch=192", *small,
               "repeats=1", "warmup=0", f"out={tmp_path / 'b.json'}", check=True)
    mem, tr = json.loads((tmp_path / "b.json").read_text())
    assert mem["mode"] == "memory" and mem["micro_batch"] == tr["micro_batch"] == 192 and tr["batch"] == 768
    assert 0 < mem["step_mem_gb"] < mem["peak_mem_gb"] and mem["estimate_gb"] > 0 and "estimated" in r.stdout


def test_the_estimate_follows_the_micro_batch():
    from hrmlib.train import memory
    whole = state(ARCHS["hrm"])
    est = memory.estimate(whole)
    assert est["per_row"] > 0 and est["fixed"] > 4 * sum(p.numel() for p in whole.model.parameters())
    assert "for 16 rows per pass" in memory.describe(est) and "for 4 rows per pass" in memory.describe(est, 4)
