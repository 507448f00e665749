"""hrmlib.look.intervene: a change of size 0 reproduces the original trace exactly (HRM and TRM, at
every kind of place), a real change acts exactly from where it is made, bad changes are refused,
and the sweep's σ = 0 point is the run's own exact accuracy."""
import json

import numpy as np
import pytest
import torch

from hrmlib import config
from hrmlib.data import ensure_data, load_split
from hrmlib.look import intervene as iv
from hrmlib.look import trace
from hrmlib.model import build

ZERO = [iv.Change("noise", "H", 1, 0), iv.Change("noise", "L", 1, 1), iv.Change("noise", "H", 2, -1),
        iv.Change("noise", "L", 3, 2), iv.Change("reset", "H", 1, 0), iv.Change("reset", "L", 1, 0),
        iv.Change("puzzle_id", segment=2)]  # the debug data has only the blank puzzle id


@pytest.fixture(scope="module")
def models(notebook_run):
    """The trained debug HRM, and an untrained trm_debug TRM built here (its seeded initial weights)."""
    data = ensure_data("debug")
    torch.manual_seed(0)
    trm = build(config.load("trm_debug").arch, load_split(data, "test").meta).eval()
    batch = trace.select(load_split(data, "test"), np.arange(6))
    return {"hrm": trace.load(notebook_run).model, "trm": trm}, batch


@pytest.mark.parametrize("family", ["hrm", "trm"])
@pytest.mark.parametrize("change", ZERO, ids=lambda c: c.describe())
def test_a_change_of_size_zero_reproduces_the_trace_exactly(models, family, change):
    ms, batch = models
    pair = iv.intervene(ms[family], batch, change, keep="updates")
    o, i = pair.original, pair.intervened
    for k in ("logits", "q_halt", "q_continue", "z_H_updates", "z_L_updates", "res_H", "res_L"):
        assert np.array_equal(getattr(o, k), getattr(i, k)), k
    cell = dict(zip(("cell", "value"), (7, int(batch["inputs"][0, 7]))))
    same = iv.intervene(ms[family], {k: v[:1] for k, v in batch.items()}, iv.Change("cell", segment=2, **cell))
    assert np.array_equal(same.original.logits, same.intervened.logits)


@pytest.mark.parametrize("family", ["hrm", "trm"])
def test_a_change_acts_from_where_it_is_made(models, family):
    ms, batch = models
    m = ms[family]
    reset = iv.intervene(m, batch, iv.Change("reset", "H", segment=2), keep="updates")
    o, i = reset.original, reset.intervened
    assert np.array_equal(o.logits[0], i.logits[0]) and not np.array_equal(o.logits[1], i.logits[1])
    # the second segment starts from H_init: the state before its first update is the initial one
    assert np.allclose(i.res_H[1, 0], np.linalg.norm(
        (i.z_H_updates[1, 0] - m.H_init.float().numpy()).reshape(len(batch["inputs"]), -1), axis=1), rtol=1e-4)
    noisy = iv.intervene(m, batch, iv.Change("noise", "L", segment=2, update=1, sigma=1.0), keep="updates")
    o, i = noisy.original, noisy.intervened
    assert np.array_equal(o.z_L_updates[:1], i.z_L_updates[:1])  # segment 1 untouched
    d = i.z_L_updates[1, 0] - o.z_L_updates[1, 0]  # right after update 1 of segment 2: exactly the noise
    assert 0.9 < d.std() < 1.1 and abs(d.mean()) < 0.05
    cell = iv.intervene(m, batch, iv.Change("cell", segment=3, cell=4, value=5))
    assert (cell.intervened.inputs[:, 4] == 5).all() and (cell.differ[:2] == 0).all()


def test_bad_changes_are_refused_with_what_to_choose(models):
    ms, batch = models
    for change, match in [(iv.Change("melt"), "kind must be one of reset, noise, cell, puzzle_id"),
                          (iv.Change("reset", "Z"), "state must be 'H'"),
                          (iv.Change("reset", segment=0), "segment counts from 1"),
                          (iv.Change("reset", "L", update=9), r"update must be 0 \(segment start\), 1..4 or -1"),
                          (iv.Change("cell", update=1), "applies as a segment starts: use update=0"),
                          (iv.Change("cell", cell=81), "cell must be a grid position 0..80"),
                          (iv.Change("noise", sigma=-1), "sigma must be >= 0")]:
        with pytest.raises(iv.InterventionError, match=match):
            iv.intervene(ms["hrm"], batch, change)


@pytest.mark.slow
def test_the_sweeps_zero_point_is_the_runs_exact_accuracy(demo_run):
    """On the demo preset's run (which solves many test puzzles): σ = 0, and a reset as the first
    segment starts, give exactly the exact accuracy the trainer's last evaluation logged."""
    m = trace.load(demo_run)
    logged = [json.loads(line) for line in (demo_run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in logged if r["split"] == "test"][-1]
    assert f"step_{last['step']}" == m.checkpoint.name and last["exact_accuracy"] > 0.2
    noise = iv.intervention_sweep(m, "noise", values=[0, 3.0])
    assert noise.exact[0, -1] == noise.baseline[-1] == last["exact_accuracy"]
    assert noise.exact[1, 0] < noise.exact[0, 0]  # σ = 3 on the answer state hurts the first segment
    reset = iv.intervention_sweep(m, "reset", state="L", values=[1, 2])
    assert reset.exact[0, -1] == last["exact_accuracy"] and reset.rows()[0]["segment"] == 1
