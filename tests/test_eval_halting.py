"""eval_halting=q: rows stop when Q halts them and their slot takes the next test puzzle.
Checked against per-example runs of the model, against eval_halting=max, and across fake ranks."""
import json

import numpy as np
import pytest
import torch

from hrmlib import config as C
from hrmlib import dist
from hrmlib.runs import load_preds
from hrmlib.train import evaluation as E
from hrmlib.data.format import make_split, write_dataset
from hrmlib.model import HRM
from conftest import run_py

N, S, V = 13, 16, 7  # 13 test examples: not a multiple of any batch size used here


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, (N, S)).astype(np.uint8)
    y = rng.integers(1, V, (N, S)).astype(np.uint8)
    pi = np.array([0, 3, 4, 8, 10, 13])  # five puzzles of 3, 1, 4, 2, 3 examples
    split = make_split(x, y, np.arange(1, 6), pi, np.arange(6), vocab_size=V, num_puzzle_identifiers=6)
    return write_dataset(tmp_path_factory.mktemp("d") / "tiny", {"train": split, "test": split},
                         ["<blank>"] + [f"p{i}" for i in range(1, 6)]), split


def model_for(q: str, seed=0):
    """Debug-size model with Q forced to halt ("halt"), never to halt ("never") or random ("mixed")."""
    cfg = C.load("debug").arch
    torch.manual_seed(seed)
    m = HRM(cfg, V, S, 6, torch.float32)
    with torch.no_grad():
        if q == "mixed":  # rows halt after different numbers of segments
            m.q_head.weight.normal_(0, 0.5)
            m.q_head.bias.zero_()
        else:
            m.q_head.weight.zero_()
            m.q_head.bias.copy_(torch.tensor([5.0, -5.0] if q == "halt" else [-5.0, 5.0]))
    return m.eval()


def run(m, data, tmp_path, halting, gbs=4, d=None):
    path, split = data
    d = d or dist.Dist()  # one process unless given
    cfg = C.load("debug", [f"data_path={path}", f"global_batch_size={gbs}", f"eval_halting={halting}"])
    out = tmp_path / f"{halting}-{gbs}"
    return E.evaluate(m, split, cfg, d, out), load_preds(out)


def alone(m, split, i):
    """Example i by itself (batch of one), halting on Q: (preds, q_halt, steps)."""
    b = {"inputs": torch.from_numpy(split.inputs[i:i + 1].astype(np.int32)),
         "labels": torch.from_numpy(split.labels[i:i + 1].astype(np.int32)),
         "puzzle_identifiers": torch.tensor([int(np.searchsorted(split.puzzle_indices, i, side="right"))],
                                            dtype=torch.int32)}
    with torch.inference_mode():
        carry = m.initial_carry(b)
        while True:
            carry, out = m(carry, b, halt_on_q=True)
            if carry.halted.all():
                return out["logits"].argmax(-1)[0].numpy(), out["q_halt_logits"][0].item(), carry.steps.item()


def test_config_accepts_eval_halting():
    assert C.load("debug").eval_halting == "max"
    c = C.load("debug", ["eval_halting=q"])
    assert c.eval_halting == "q" and C.from_dict(C.Config, c.to_dict()) == c
    with pytest.raises(C.ConfigError, match="eval_halting: 'x' is not one of max, q"):
        C.load("debug", ["eval_halting=x"])


def test_halt_on_q_only_acts_in_eval():
    m = model_for("halt")
    b = {"inputs": torch.ones(2, S, dtype=torch.int32), "labels": torch.ones(2, S, dtype=torch.int32),
         "puzzle_identifiers": torch.ones(2, dtype=torch.int32)}
    with torch.no_grad():
        assert m(m.initial_carry(b), b, halt_on_q=True)[0].halted.all()
        assert not m(m.initial_carry(b), b)[0].halted.any()  # the original's eval ignores Q


def test_forced_halt_runs_one_segment_per_example_with_each_puzzle_in_its_slot(data, tmp_path):
    m = model_for("halt")
    res, pr = run(m, data, tmp_path, "q")
    assert res["count"] == N and res["segments"] == 1 and res["act_steps"] == 1
    assert pr["index"].tolist() == list(range(N)) and (pr["steps"] == 1).all()
    assert pr["puzzle_identifiers"].tolist() == [1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 5, 5, 5]
    for i in range(N):
        p, qh, _ = alone(m, data[1], i)
        np.testing.assert_array_equal(pr["preds"][i], p)
        assert pr["q_halt"][i] == pytest.approx(qh, abs=1e-4)
    exact = np.mean([(pr["preds"][i] == data[1].labels[i]).all() for i in range(N)])
    assert res["exact_accuracy"] == pytest.approx(exact)


def test_never_halting_q_equals_max(data, tmp_path):
    m = model_for("never")
    (rq, pq), (rm, pm) = run(m, data, tmp_path, "q"), run(m, data, tmp_path, "max")
    assert rq.keys() == rm.keys() and rq["segments"] == rm["segments"] == m.cfg.halt_max_steps
    for k in set(rm) - {"seconds", "puzzles_per_s"}:  # wall time differs run to run
        assert rq[k] == pytest.approx(rm[k], rel=1e-6), k
    assert pq.keys() == pm.keys()
    for k in pm:
        np.testing.assert_allclose(pq[k], pm[k], rtol=1e-5, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("gbs", [1, 4, 5, 16])
def test_mixed_halting_refills_slots_with_the_right_examples(data, tmp_path, gbs):
    """Rows halt after different numbers of segments; every example must match its solo run."""
    m = model_for("mixed")
    ref = [alone(m, data[1], i) for i in range(N)]
    steps = np.array([r[2] for r in ref])
    assert len(set(steps)) > 1  # the refilling is really exercised
    res, pr = run(m, data, tmp_path, "q", gbs)
    assert res["count"] == N and pr["index"].tolist() == list(range(N))
    np.testing.assert_array_equal(pr["steps"], steps)
    assert res["segments"] == pytest.approx(steps.mean()) and res["act_steps"] == pytest.approx(steps.mean())
    for i, (p, qh, _) in enumerate(ref):
        np.testing.assert_array_equal(pr["preds"][i], p)
        assert pr["q_halt"][i] == pytest.approx(qh, abs=1e-4)


def test_ranks_split_the_stream_like_eval_batches(data, tmp_path, monkeypatch):
    """Two fake ranks (all_reduce stubbed): their predictions together are the single-rank ones."""
    m = model_for("mixed")
    _, whole = run(m, data, tmp_path / "one", "q", gbs=4)
    monkeypatch.setattr(E.tdist, "all_reduce", lambda t: None)
    parts = [run(m, data, tmp_path / "two", "q", gbs=4, d=dist.Dist(rank=r, world=2))[0] for r in (0, 1)]
    assert sum(p["count"] for p in parts) == N
    pr = load_preds(tmp_path / "two" / "q-4")
    assert pr["index"].tolist() == list(range(N))
    np.testing.assert_array_equal(pr["preds"], whole["preds"])
    np.testing.assert_array_equal(pr["steps"], whole["steps"])
    # a later one-process evaluation into the same folder drops the second rank's stale file
    run(m, data, tmp_path / "two", "q", gbs=4)
    assert load_preds(tmp_path / "two" / "q-4")["index"].tolist() == list(range(N))


def test_cli_takes_eval_halting(data, tmp_path):
    path, split = data
    cfg = C.load("debug", [f"data_path={path}", "global_batch_size=4"])
    ck = tmp_path / "run" / "checkpoints" / "step_1"
    ck.mkdir(parents=True)
    torch.save({"model": model_for("halt").state_dict(), "config": cfg.to_dict(),
                "identifiers": json.loads((path / "identifiers.json").read_text())}, ck / "state.pt")
    run_py("-m", "hrmlib.evaluate", f"checkpoint={tmp_path / 'run'}", "eval_halting=q", "device=cpu", check=True)
    # a variant of the trainer's evaluation (which runs every segment): beside it, named by what differs
    res = json.loads((tmp_path / "run" / "eval" / "step_1-eval_halting=q" / "metrics.json").read_text())
    assert res["count"] == N and res["segments"] == 1 and res["variant"] == "eval_halting=q"
    assert not (tmp_path / "run" / "eval" / "step_1").exists()
