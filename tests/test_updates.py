"""hrmlib.look.updates: every update decoded through the model's own head agrees with the model's output
at each segment's end (HRM and TRM, the parity fixtures' models); the critical update, how a puzzle
was solved, wrong attractors and the step-size exit on hand-made traces whose answers are known; the
refinement gap of a debug run as runs.table reads it and as the evaluator's depth sweep finds it; the
replay at update granularity."""
import dataclasses as dc

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from hrmlib import parity, runs
from hrmlib.data import load_split
from hrmlib.dist import Dist
from hrmlib.look import depth, plots, trace, updates
from hrmlib.look.update_replay import UpdateReplay
from hrmlib.train.evaluation import depth_sweep


@pytest.fixture(scope="module", params=["hrm", "trm"])
def fixture(request):
    d = FIXTURES / f"{request.param}-reference"
    model = parity.fixture_model(d)
    tr = trace.trace(model, torch.load(d / "batch.pt", weights_only=True), keep="updates")
    return model, tr, updates.decode(model, tr, probe=True)


def test_decoded_answer_at_each_segment_end_is_the_models_output(fixture):
    model, tr, up = fixture
    N, n = model.cfg.H_cycles, model.cfg.L_cycles
    assert up.kinds == (["L"] * n + ["H"]) * N and up.K == tr.steps * N * (n + 1)
    per = up.preds.reshape(tr.steps, up.U, up.batch, -1)
    np.testing.assert_array_equal(per[:, -1], tr.preds)  # the segment's output, from the recorded state
    np.testing.assert_array_equal(up.correct.reshape(tr.steps, up.U, -1)[:, -1], tr.correct)
    # the answer changes only at z_H updates: an L update shows the answer of the update before it
    L = np.flatnonzero(np.tile(np.array(up.kinds) == "L", tr.steps))
    np.testing.assert_array_equal(up.preds[L[1:]], up.preds[L[1:] - 1])
    assert (up.preds[0] == up.preds[0, :1]).all()  # before any update: the head on H_init, the same for every row
    ok, _ = up.probe_scores()  # the probe reads z_L: at a z_H update it repeats the last L update's
    H = up.answer_updates
    np.testing.assert_array_equal(up.probe[H], up.probe[H - 1])
    assert ok.shape == up.correct.shape
    # a relative step size is the trace's residual over the norm of the state before the update
    zH = tr.z_H_updates.reshape(-1, *tr.z_H_updates.shape[2:])
    prev = np.linalg.norm(zH[:-1].reshape(len(zH) - 1, up.batch, -1), axis=-1)
    np.testing.assert_allclose(up.rel_H.reshape(-1, up.batch)[1:] * prev, tr.res_H.reshape(-1, up.batch)[1:], rtol=1e-4)
    d = np.diff(zH, axis=0).reshape(len(zH) - 1, up.batch, -1)
    cos = (d[1:] * d[:-1]).sum(-1) / np.linalg.norm(d[1:], axis=-1) / np.linalg.norm(d[:-1], axis=-1)
    np.testing.assert_allclose(up.cos_H.reshape(-1, up.batch)[2:], cos, rtol=1e-4, atol=1e-5)
    for f in (plots.decoded, plots.critical, plots.dynamics, plots.early_exit):
        assert f(up).axes


def test_critical_update_and_how_puzzles_were_solved():
    correct = np.array([[0, 1, 1, 0, 0, 0],
                        [0, 1, 0, 0, 1, 0],
                        [1, 1, 0, 0, 1, 0],
                        [1, 1, 1, 0, 1, 0],
                        [1, 1, 1, 0, 0, 1]], bool)
    acc = np.array([[.5, 1, 1, .2, .4, .5],
                    [.55, 1, .9, .3, 1, .7],
                    [1, 1, .9, .3, 1, .8],
                    [1, 1, 1, .3, 1, .9],
                    [1, 1, 1, .3, .9, 1]])
    np.testing.assert_array_equal(updates.critical(correct), [2, 0, 3, -1, -1, 4])
    assert list(updates.onset(acc, correct)) == ["sudden", "first", "sudden", "unsolved", "unsolved", "gradual"]
    # puzzle 0: 0.45 of a rise of 0.5 at once; with a stricter `jump` it counts as gradual
    assert updates.onset(acc, correct, jump=0.95)[0] == "gradual"


def _hand_made(rel_H, rel_L, right):
    """Updates of 3 puzzles × 4 cells, one z_L and one z_H update per segment: answers right or wrong
    as `right` [T, B] says (the wrong ones have cell 0 wrong), step sizes as given ([T, B] each)."""
    T, B = right.shape
    labels = np.tile(np.arange(1, 5), (B, 1))
    zeros = np.zeros((T, B))
    answer = np.where(right[..., None], labels, np.concatenate([labels[:, :1] % 4 + 1, labels[:, 1:]], 1))  # [T, B, 4]
    tr = trace.Trace(task="tokens", inputs=np.zeros((B, 4), int), labels=labels, index=np.arange(B), P=0,
                     train_max_steps=T, logits=np.zeros((T, B, 4, 5)), preds=answer, confidence=np.ones((T, B, 4)),
                     changed=np.zeros((T, B, 4), bool), q_halt=zeros - 1, q_continue=zeros, res_H=zeros[:, None],
                     res_L=zeros[:, None], pos_res_H=None, pos_res_L=None, z_H=None, z_L=None, z_H_updates=None,
                     z_L_updates=None, family="trm", continue_loss=False)
    preds = np.stack([np.concatenate([labels[None] * 0, answer[:-1]])[t // 2] if t % 2 == 0 else answer[t // 2]
                      for t in range(2 * T)])
    rel = [np.asarray(r, float)[:, None] for r in (rel_H, rel_L)]
    return updates.Updates(tr, ["L", "H"], preds, None, *rel, np.zeros((T, 1, B)), np.zeros((T, 1, B)))


def test_wrong_attractors_on_a_hand_made_trace():
    big, small = 0.2, 1e-4
    # puzzle 0: both states stop from segment 2 on, answer wrong: a wrong attractor entered at answer update 1
    # puzzle 1: stops from segment 2 on with the right answer: settled, not a wrong attractor
    # puzzle 2: z_H stops but z_L keeps moving: not stuck; puzzle 3: stops only at the last segment (too short)
    # puzzle 4: stops from segment 2 while wrong, but is right at segment 3 with its state unmoved: not wrong throughout
    b, s = big, small
    rel_H = [[b] * 5, [s, s, s, b, s], [s, s, s, b, s], [s, s, s, s, s]]
    rel_L = [[b] * 5, [s, s, b, b, s], [s, s, b, b, s], [s, s, b, s, s]]
    right = np.array([[0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 1, 0, 0, 1], [0, 1, 0, 0, 0]], bool)
    up = _hand_made(rel_H, rel_L, right)
    np.testing.assert_array_equal(up.correct[1::2], right)
    np.testing.assert_array_equal(up.motion(), np.maximum(rel_H, rel_L))
    np.testing.assert_array_equal(updates.attractors(up, eps=1e-3, still=2), [1, -1, -1, -1, -1])
    np.testing.assert_array_equal(updates.stuck(up.motion(), right, 1e-3, 2, wrong=False), [-1, 1, -1, -1, -1])
    np.testing.assert_array_equal(updates.attractors(up, eps=1e-3, still=1), [1, -1, -1, 3, -1])
    assert updates.attractors(up, eps=1e-5, still=1).max() == -1  # nothing is still below a lower threshold
    rows = updates.by_group(up, eps=1e-3, still=2)
    assert rows[-1]["wrong_attractors"] == 1 and rows[-1]["settled_right"] == 1 and rows[-1]["right_at_end"] == 1
    assert "| all 5 | 5 | 1 |" in updates.markdown(rows)


def test_step_size_exit_on_a_hand_made_trace():
    rel_H = [[0.5, 0.5, 0.5], [0.05, 0.5, 0.5], [0.001, 0.05, 0.5], [0.001, 0.001, 0.5]]
    right = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]], bool)
    up = _hand_made(rel_H, rel_L=np.full((4, 3), 0.5), right=right)
    ok, used = updates.early_exit(up, 0.01)
    np.testing.assert_array_equal(used, [3, 4, 4])
    np.testing.assert_array_equal(ok, [True, True, True])
    ok, used = updates.early_exit(up, 0.1)
    np.testing.assert_array_equal(used, [2, 3, 4])
    np.testing.assert_array_equal(ok, [True, True, True])
    ok, used = updates.early_exit(up, 0.1, level="both")  # z_L keeps moving by 0.5: no early exit
    np.testing.assert_array_equal(used, [4, 4, 4])


def test_refinement_gap_and_updates_on_the_debug_run(notebook_run):
    m = trace.load(notebook_run)
    T0 = m.model.cfg.halt_max_steps
    sweep = depth.sweep(m)
    assert sweep.steps == 8 * T0 and sweep.batch == 64
    acc = sweep.correct.mean(1)
    gap = {f: acc[f * T0 - 1] - acc[T0 - 1] for f in (2, 4, 8)}
    assert depth.refinement_gap(sweep) == pytest.approx(gap)
    row, = runs.table([str(notebook_run)])
    assert row["refinement_gap"] == pytest.approx(gap)  # read back from <run>/eval/step_<N>/depth.json
    ev = runs.read_json(trace.eval_dir(m) / "metrics.json")  # the trainer's evaluation of the same checkpoint
    assert acc[T0 - 1] == pytest.approx(ev["exact_accuracy"])
    assert "refinement gap" in runs.markdown([row])
    # the evaluator's streaming sweep (`evaluate ablations=depth`) finds the same accuracies and gap
    split = load_split(m.data_path, "test")
    cfg = dc.replace(m.config, global_batch_size=64)
    ev_sweep = depth_sweep(m.model, split, cfg, Dist(), depths=(1, T0, 8 * T0))
    np.testing.assert_allclose(ev_sweep["per_segment"]["exact_accuracy"], acc[:8 * T0])
    assert {int(f): g for f, g in ev_sweep["refinement_gap"].items()} == pytest.approx(gap)
    # decoding in batches: the joined result still ends each segment on the model's output
    up = updates.trace_updates(m, limit=40, batch_size=16)
    np.testing.assert_array_equal(up.preds.reshape(T0, up.U, 40, -1)[:, -1], sweep.preds[:T0, :40])


def test_update_replay_steps_through_updates(notebook_run):
    up = updates.trace_updates(trace.load(notebook_run), limit=6)
    r = UpdateReplay(up, puzzle=4)
    assert r.b == 4 and r.current()["frames"] == "updates" and r.k == up.U - 1
    first = r.grid.value
    r.update.value = 1  # the first update of segment 1 decodes the state before any update
    np.testing.assert_array_equal(r.current()["decoded"], up.preds[0, 4])
    assert r.grid.value != first and r.uplay.value == 1 and "update 1/" in r.status.value
    r.uplay.value = up.U + 2  # Play runs over every update: segment 2, update 2
    assert (r.step_slider.value, r.update.value) == (2, 2) and r.k == up.U + 1
    np.testing.assert_array_equal(r.current()["decoded"], up.preds[up.U + 1, 4])
    r.frames.value = "segments"  # exactly the segment replay
    assert r.update.disabled and r.current()["step"] == 2 and "decoded" not in r.current()
