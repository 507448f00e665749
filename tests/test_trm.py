"""TRM beside HRM: presets with the original's sizes and hyperparameters, every configuration runs a
training step, the full-recursion gradient, EMA, and original TRM checkpoints through `runs.open`,
the evaluate CLI and the trace."""
import json

import numpy as np
import pytest
import torch
import yaml

from hrmlib import config as C
from hrmlib.look import trace
from hrmlib import runs
from hrmlib.compat import to_ours
from hrmlib.data.format import make_split, write_dataset
from hrmlib.train.ema import EMA
from hrmlib.model.losses import act_loss
from hrmlib.model import HRM, build
from hrmlib.model.trm import TRM
from conftest import FIXTURES, random_batch, run_py

FX = FIXTURES / "trm-reference"
DIMS = {"vocab_size": 6, "seq_len": 9, "num_puzzle_identifiers": 2}

# trainable parameters of the original TRM README models, with their datasets' V and S
PARAMS = {"trm_sudoku_mlp": (11, 81, 5_028_866), "trm_sudoku_att": (11, 81, 6_828_034),
          "trm_maze": (6, 900, 6_822_914), "trm_arc1": (12, 900, 6_829_058), "trm_arc2": (12, 900, 6_829_058)}


@pytest.mark.parametrize("preset", PARAMS)
def test_presets_have_the_original_parameter_counts(preset):
    V, S, n = PARAMS[preset]
    m = build(C.load(preset).arch, {"vocab_size": V, "seq_len": S, "num_puzzle_identifiers": 7})
    assert isinstance(m, TRM) and sum(p.numel() for p in m.parameters()) == n


def test_presets_have_the_readme_hyperparameters():
    mlp, att, maze = C.load("trm_sudoku_mlp"), C.load("trm_sudoku_att"), C.load("trm_maze")
    a = mlp.arch
    assert (a.name, a.mlp_t, a.pos_encodings, a.H_cycles, a.L_cycles, a.L_layers, a.hidden_size, a.num_heads,
            a.halt_max_steps, a.P, a.continue_loss) == ("trm", True, "none", 3, 6, 2, 512, 8, 16, 16, False)
    assert (mlp.lr, mlp.puzzle_emb_lr, mlp.weight_decay, mlp.puzzle_emb_weight_decay, mlp.epochs,
            mlp.eval_interval) == (1e-4, 1e-4, 1.0, 1.0, 50000, 5000)
    assert (mlp.ema, mlp.ema_rate, mlp.lr_min_ratio, mlp.lr_warmup_steps, mlp.global_batch_size) == \
        (True, 0.999, 1.0, 2000, 768)
    assert not att.arch.mlp_t and att.arch.pos_encodings == "rope" and att.lr == 1e-4
    assert maze.arch.L_cycles == 4 and maze.data_path == "data/maze-30x30-hard-1k" and maze.weight_decay == 1.0
    for p in ("trm_arc1", "trm_arc2"):
        c = C.load(p)
        assert (c.arch.L_cycles, c.lr, c.puzzle_emb_lr, c.weight_decay, c.epochs, c.eval_interval, c.ema) == \
            (4, 1e-4, 1e-2, 0.1, 100000, 10000, True)
    for p in ("sudoku_extreme_1k", "arc1", "debug"):  # HRM presets stay the original HRM
        c = C.load(p)
        assert c.arch.name == "hrm" and c.arch.continue_loss and not c.ema


@pytest.mark.parametrize("over", [
    [], ["arch.mlp_t=true", "arch.pos_encodings=none"], ["arch.pos_encodings=learned", "arch.puzzle_emb_len=0"],
    ["arch.puzzle_emb_ndim=0", "arch.puzzle_emb_len=none"], ["arch.act_continue_loss=true"],
    ["arch.loss.loss_type=softmax_cross_entropy"], ["arch.mlp_t=true", "arch.forward_dtype=bfloat16"]])
def test_every_configuration_trains_a_step(over):
    """Including what crashes the original: the continue target (docs/pitfalls.md T10), softmax (T11), no puzzle
    embedding with puzzle slots (T6: the slots stay zero)."""
    cfg = C.load("trm_debug", over).arch
    m = build(cfg, DIMS).train()
    with torch.no_grad():  # at init Q is (-5, -5) everywhere, so the bootstrap target equals q_continue
        m.q_head.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    b = random_batch()
    carry, out = m(m.initial_carry(b), b)
    assert out["logits"].shape == (3, 9, 6) and carry.z_H.shape == (3, cfg.P + 9, cfg.hidden_size)
    terms, _ = act_loss(out, carry, cfg.loss.loss_type)
    terms["total"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in m.named_parameters() if n != "q_head.bias")
    assert ("target_q_continue" in out) == cfg.continue_loss == ("q_continue" in terms)
    assert (m.q_head.weight.grad[1].abs().sum() > 0) == cfg.continue_loss  # the continue row learns only then


def test_slot_count_follows_puzzle_emb_len():
    assert C.load("trm_sudoku_mlp").arch.P == 16  # TRM's default (docs/pitfalls.md T4)
    assert C.load("trm_debug", ["arch.puzzle_emb_len=0", "arch.puzzle_emb_ndim=100"]).arch.P == 2  # HRM's rule
    assert C.load("debug").arch.P == 1
    with pytest.raises(C.ConfigError, match="arch.puzzle_emb_len: 1 slots of 64 cannot hold a 100-wide"):
        C.load("trm_debug", ["arch.puzzle_emb_ndim=100"])  # the original crashes in a reshape (docs/pitfalls.md T5)
    with pytest.raises(C.ConfigError, match="arch.mlp_t: is a TRM block"):
        C.load("debug", ["arch.mlp_t=true"])


@pytest.mark.parametrize("preset, grads", [
    ("trm_debug", [False] * 6 + [True] * 3),  # 3 recursions of (z, z, y); the whole last one differentiated
    ("debug", [False] * 4 + [True] * 2)])  # HRM: the last L and the last H update only
def test_gradient_covers_the_whole_last_recursion(preset, grads):
    cfg = C.load(preset, ["arch.H_cycles=3" if preset == "trm_debug" else "arch.H_cycles=2"]).arch
    m = build(cfg, DIMS).train()
    seen = []
    m.trace = lambda level, i, j, z: seen.append((level, z.requires_grad))
    b = random_batch()
    m(m.initial_carry(b), b, explore=(torch.ones(3), torch.full((3,), 2, dtype=torch.int32)))
    first = seen[:len(grads)]  # the bootstrap pass (HRM) follows, all without gradient
    assert [lv for lv, _ in first] == ["L", "L", "H"] * (len(grads) // 3)
    assert [g for _, g in first] == grads
    assert isinstance(m, TRM if preset == "trm_debug" else HRM)


def test_ema_averages_in_place_and_swaps_without_copying():
    m = build(C.load("trm_debug").arch, DIMS)
    ema = EMA(m, 0.9)
    before = [p.detach().clone() for p in m.parameters()]
    table = m.puzzle_emb.weights.clone()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
        m.puzzle_emb.weights.add_(1.0)
    ema.update()
    for s, p0 in zip(ema.shadow, before):
        torch.testing.assert_close(s, 0.1 * (p0 + 1.0) + 0.9 * p0)
    raw = [p.detach().clone() for p in m.parameters()]
    ptrs = [s.data_ptr() for s in ema.shadow]
    with ema.applied():
        assert [p.data_ptr() for p in m.parameters()] == ptrs  # the shadow's own storage: no copy
        for p, p0 in zip(m.parameters(), before):
            torch.testing.assert_close(p.detach(), 0.1 * (p0 + 1.0) + 0.9 * p0)
        assert torch.equal(m.puzzle_emb.weights, table + 1.0)  # buffers stay live
    assert all(torch.equal(p, r) for p, r in zip(m.parameters(), raw))
    sd = ema.state_dict(m)
    assert torch.equal(sd["embed.weight"], ema.shadow[0]) and torch.equal(sd["puzzle_emb.weights"], table + 1.0)


# ---------------------------------------------------------------------------- original checkpoints

def _fixture_dataset(path):
    """The fixture's eval batch as a test split (one example per puzzle, -100 stored as 0)."""
    b = torch.load(FX / "batch.pt", weights_only=True)
    x, y = b["inputs"].numpy().astype(np.uint8), b["labels"].clamp_min(0).numpy().astype(np.uint8)
    split = make_split(x, y, b["puzzle_identifiers"].numpy(), np.arange(5), np.arange(5), vocab_size=7,
                       num_puzzle_identifiers=5)
    return write_dataset(path, {"train": split, "test": split}, ["<blank>", "a", "b", "c", "d"])


def _original_run(tmp_path):
    """An original TRM checkpoint directory: weights in compiled key form, all_config.yaml beside."""
    cfg = json.loads((FX / "config.json").read_text())
    data = _fixture_dataset(tmp_path / "data")
    arch = {k: v for k, v in cfg.items() if k not in ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers",
                                                       "rms_norm_eps", "rope_theta")}
    arch |= {"name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
             "loss": {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}}
    full = {"arch": arch, "data_paths": [str(data)], "data_paths_test": [], "evaluators": [], "global_batch_size": 4,
            "epochs": 10, "eval_interval": 5, "lr": 1e-4, "lr_min_ratio": 1.0, "lr_warmup_steps": 2, "ema": True,
            "ema_rate": 0.999, "project_name": "Fixture-ACT-torch", "run_name": "trm tiny", "seed": 0}
    d = tmp_path / "checkpoints" / "Fixture-ACT-torch" / "trm tiny"
    d.mkdir(parents=True)
    torch.save(torch.load(FX / "state_dict.compiled.pt", weights_only=True), d / "step_10")
    (d / "all_config.yaml").write_text(yaml.safe_dump(full))
    return d / "step_10", data


def test_original_trm_checkpoint_loads_evaluates_and_traces_as_the_original(tmp_path):
    ck, data = _original_run(tmp_path)
    m = runs.open(ck).model  # its all_config.yaml beside it names the dataset, which gives the sizes
    ref = to_ours(torch.load(FX / "state_dict.eager.pt", weights_only=True), "trm")
    assert isinstance(m, TRM) and m.state_dict().keys() == ref.keys()
    assert all(torch.equal(m.state_dict()[k], v) for k, v in ref.items())

    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={ck}", f"out={tmp_path / 'ev'}", check=True)
    res = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    last = torch.load(FX / "eval_rollout.pt", weights_only=True)["steps"][-1]["metrics"]  # the original's eval
    assert res["count"] == int(last["count"]) == 3 and res["act_steps"] == 4
    assert res["exact_accuracy"] * 3 == int(last["exact_accuracy"])
    assert res["q_halt_accuracy"] * 3 == pytest.approx(int(last["q_halt_accuracy"]))
    assert res["lm_loss"] * 3 == pytest.approx(float(last["lm_loss"]), rel=1e-5)
    assert "written to" in r.stdout

    lo = trace.load(ck, config=ck.parent / "all_config.yaml")  # data_paths read from the yaml
    assert lo.data_path == data and lo.model.family == "trm"
    tr = trace.trace_examples(lo, keep="updates")
    steps = torch.load(FX / "eval_rollout.pt", weights_only=True)["steps"]
    for t, s in enumerate(steps):
        np.testing.assert_allclose(tr.logits[t], s["logits"].numpy(), rtol=0, atol=2e-4)
        np.testing.assert_allclose(tr.z_H[t], s["z_H"].numpy(), rtol=0, atol=2e-4)
    # y (z_H) after each of the H_cycles recursions, z (z_L) after each of the H_cycles × L_cycles updates
    assert tr.z_H_updates.shape[:2] == (4, 2) and tr.z_L_updates.shape[:2] == (4, 6)
    np.testing.assert_array_equal(tr.z_H_updates[:, -1], tr.z_H)
    assert tr.family == "trm" and tr.halt_rule == "q_halt > 0" and tr.level_name("H") == "y (z_H)"
    np.testing.assert_array_equal(tr.would_halt, tr.q_halt > 0)


def test_original_checkpoint_without_its_config_is_one_clear_error(tmp_path):
    ck, _ = _original_run(tmp_path)
    (ck.parent / "all_config.yaml").unlink()
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={ck}")
    assert r.returncode == 2 and "is an original checkpoint file, but there is no" in r.stderr
    assert "config=PATH" in r.stderr and "Traceback" not in r.stderr


def test_unsupported_original_model_is_named():
    cfg = {"name": "recursive_reasoning.trm_singlez@TinyRecursiveReasoningModel_ACTV1"}
    with pytest.raises(Exception, match="trm_singlez.*is not a model hrmlib builds"):
        runs.open(FX / "state_dict.eager.pt", config={"arch": cfg})


def test_init_from_an_original_trm_checkpoint(tmp_path):
    ck, data = _original_run(tmp_path)
    shape = ["arch.hidden_size=32", "arch.num_heads=4", "arch.H_cycles=2", "arch.L_cycles=3", "arch.puzzle_emb_ndim=32",
             "arch.puzzle_emb_len=0", "global_batch_size=4", "ema=false"]
    run = tmp_path / "run"
    run_py("-m", "hrmlib.train", "trm_debug", f"data_path={data}", f"run_dir={run}", *shape, f"init_from={ck}",
           "max_steps=1", "lr=1e-30", "puzzle_emb_lr=0", check=True)
    state = torch.load(run / "checkpoints" / "step_1" / "state.pt", weights_only=True)
    for k, v in to_ours(torch.load(ck, weights_only=True), "trm").items():  # lr 1e-30 leaves fp32 weights as loaded
        assert torch.equal(state["model"][k], v), k


def test_ema_warmup_lets_a_short_run_forget_its_start():
    m = build(C.load("trm_debug").arch, DIMS)
    warm, plain = EMA(m, 0.999, warmup=True), EMA(m, 0.999)
    assert warm.decay(1) == pytest.approx(2 / 11) and warm.decay(80) == pytest.approx(0.9)
    assert warm.decay(10**6) == 0.999 and plain.decay(1) == 0.999
    start = [s.clone() for s in warm.shadow]
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    for step in range(1, 1001):  # parameters moved once, then stay: how much of the start is left
        warm.update(step)
        plain.update(step)
    left = lambda e: ((e.shadow[0] - start[0] - 1.0).abs() / 1.0).mean().item()  # noqa: E731
    assert left(plain) == pytest.approx(0.999 ** 1000, rel=1e-3) and left(warm) < 1e-3
    assert C.load("trm_sudoku_mlp").ema_warmup is False  # off for the original presets
