"""The researcher's bench (issue 15): diagnostics in every run that agree with a direct computation,
warnings on a forced explosion and a forced collapse, every checkpoint evaluated as a curve, runs
compared (table, seed groups, notebook 06, the run picker), seeds swept from the launcher."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from hrmlib import config as C
from hrmlib import runs
from hrmlib.data import TrainSampler, load_split, to_torch
from hrmlib.model import build as build_model
from hrmlib.model.losses import act_loss
from hrmlib.train.step import total_steps
from hrmlib.train.optim import make_optimizers, set_lr
from conftest import ROOT, rows, run_py, train


def test_diagnostics_agree_with_a_direct_computation(sudoku, tmp_path):
    train(sudoku, f"run_dir={tmp_path / 'R'}", "max_steps=2", check=True)
    row = rows(tmp_path / "R", all_columns=True)[0]
    # step 1 again, by hand: the same seeded model, the sampler's first batch, the trainer's loss scaling
    cfg = C.load("debug", [f"data_path={sudoku}"])
    split = load_split(sudoku, "train")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.arch, split.meta).train()
    opts = make_optimizers(model, cfg)
    batch = to_torch(next(TrainSampler(split, cfg.global_batch_size, cfg.seed, cfg.eval_interval).iteration(0)))
    carry, out = model(model.initial_carry(batch), batch)
    terms, _ = act_loss(out, carry, cfg.arch.loss.loss_type, cfg.arch.loss.mask_padding_rows)
    (terms["total"] / cfg.global_batch_size).backward()
    named = dict(model.named_parameters())
    norm = lambda names: float(np.sqrt(sum(named[n].grad.double().square().sum().item() for n in names)))
    assert row["grad_norm"] == pytest.approx(norm(named), rel=1e-6)
    for part, prefix in (("H", "H."), ("L", "L."), ("lm_head", "lm_head."), ("q_head", "q_head.")):
        assert row[f"grad_norm.{part}"] == pytest.approx(norm([n for n in named if n.startswith(prefix)]), rel=1e-6)
    assert row["grad_norm.puzzle_emb"] == pytest.approx(model.puzzle_emb.local.grad.double().norm().item(), rel=1e-6)
    before = [p.detach().clone() for p in model.parameters()]
    set_lr(opts, 1, total_steps(cfg, split.meta), cfg)
    for o in opts:
        o.step()
    after = list(model.parameters())
    p_norm = float(np.sqrt(sum(p.double().square().sum().item() for p in after)))
    d_norm = float(np.sqrt(sum((p - b).double().square().sum().item() for p, b in zip(after, before))))
    assert row["param_norm"] == pytest.approx(p_norm, rel=1e-6)
    assert row["update_ratio"] == pytest.approx(d_norm / p_norm, rel=1e-4)
    assert row["peak_mem_gb"] > 0 and 0 <= row["explore_blocked"] <= 1 and row["lr_puzzle_emb"] == row["lr"]
    train(sudoku, f"run_dir={tmp_path / 'off'}", "max_steps=2", "diagnostics=false", check=True)
    assert "grad_norm" not in rows(tmp_path / "off")[0]


def test_warnings_fire_on_a_forced_explosion(sudoku, tmp_path):
    # an lr that climbs by 1 per step (1e5 over a 1e5-step warmup): after a few dozen steps the weights run away
    r = train(sudoku, f"run_dir={tmp_path / 'R'}", "lr=1e5", "lr_warmup_steps=100000", "puzzle_emb_lr=1e-3")
    assert "warning: grad_norm is" in r.stdout and "the run may be diverging" in r.stdout, r.stdout[-3000:]


def test_warnings_fire_on_a_forced_collapse(sudoku, tmp_path):
    train(sudoku, f"run_dir={tmp_path / 'A'}", "max_steps=1", check=True)
    ck = runs.checkpoints(tmp_path / "A")[-1]
    state = torch.load(ck / "state.pt", weights_only=True)
    state["model"]["q_head.bias"] = torch.tensor([10.0, -10.0])  # Q says "halt" whatever it sees
    torch.save(state, ck / "state.pt")
    r = train(sudoku, f"run_dir={tmp_path / 'B'}", f"init_from={ck}", "arch.halt_exploration_prob=0", "max_steps=60",
              check=True)
    assert "warning: Q head collapse: every puzzle halted after its first segment for the last 50 steps" in r.stdout
    assert all(x["act_steps"] == 1 for x in rows(tmp_path / "B") if x["count"])


@pytest.mark.slow
def test_every_checkpoint_is_evaluated_once_and_the_best_is_the_trainers(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "eval_interval=2", "keep_last=20", check=True)  # an evaluation every 2 epochs
    cks = runs.checkpoints(R)
    trainer = {r["step"]: r for r in rows(R, "test")}
    assert len(cks) == len(trainer) >= 8
    for ck in cks[1::2]:  # half of them forgotten: they must be evaluated again, the same
        shutil.rmtree(R / "eval" / ck.name)
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "steps=all", check=True)
    assert r.stdout.count("evaluated already") == len(cks[0::2])
    curve = [json.loads(ln) for ln in (R / "eval" / "checkpoints.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == [int(ck.name[5:]) for ck in cks]
    for c in curve:
        assert c["exact_accuracy"] == trainer[c["step"]]["exact_accuracy"] and c["accuracy"] == pytest.approx(
            trainer[c["step"]]["accuracy"], abs=1e-12)
    best = max(curve, key=lambda c: (c["exact_accuracy"], -c["step"]))["step"]
    assert best == torch.load(cks[-1] / "state.pt", weights_only=True)["progress"]["best_step"]
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "steps=all", check=True)
    assert r.stdout.count("evaluated already") == len(cks) and f"best: step {best}" in r.stdout
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "steps=3")
    assert r.returncode == 2 and "keeps no checkpoint for step(s) [3]" in r.stderr
    from hrmlib.look import plots
    assert "best: step" in plots.checkpoint_curve(R).axes[0].get_legend_handles_labels()[1][-1]


@pytest.fixture(scope="module")
def three_runs(sudoku, tmp_path_factory):
    """Two seeds of one configuration through the launcher's sweep, and one other configuration."""
    root = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    r = subprocess.run([str(ROOT / "launch" / "notebook"), "notebooks/02_train.ipynb", "preset=debug", "seeds=0,1",
                        f"data_path={sudoku}", f"run_dir={root / 'sweep'}", "max_steps=20", "threads=1"],
                       cwd=ROOT, env=env, text=True, capture_output=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    train(sudoku, f"run_dir={root / 'other'}", "max_steps=20", "lr=3e-3", check=True)
    return root


@pytest.mark.slow
def test_runs_are_compared_and_seeds_grouped(three_runs):
    table = runs.table(f"{three_runs}/*")
    assert sorted(r["run"] for r in table) == ["other", "sweep-seed0", "sweep-seed1"]
    assert set(table[0]["differs"]) == {"lr", "seed"}
    assert {r["run"]: r["seed"] for r in table} == {"other": 0, "sweep-seed0": 0, "sweep-seed1": 1}
    groups = runs.seed_groups(table)
    assert sorted(len(g["runs"]) for g in groups.values()) == [1, 2]
    two = next(g for g in groups.values() if len(g["runs"]) == 2)
    assert two["mean"] == pytest.approx(np.mean(two["best_exact"])) and sorted(two["seeds"]) == [0, 1]
    for r in table:
        assert r["steps"] == 20 and r["best_step"] == 20 and r["family"] == "HRM" and r["hardware"].startswith("1 ×")
    assert (three_runs / "sweep-seed0" / "02_train.ipynb").exists()  # each seed its own executed notebook
    assert (three_runs / "sweep-seed1" / "diagnostics.png").exists()


@pytest.mark.slow
def test_compare_notebook_runs_under_papermill(three_runs, tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "06.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "06_compare_runs.ipynb"), str(out), cwd=str(ROOT / "notebooks"),
                               parameters={"runs_glob": f"{three_runs}/*", "trace_puzzles": 16}, progress_bar=False,
                               kernel_name="python3")
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = json.dumps(nb)
    assert "sweep-seed1" in text and "| lr |" in text.replace(" | seed", "")  # the table, its differing columns
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # curves, diagnostics, seeds, compute
    assert "application/vnd.jupyter.widget-view+json" in text


@pytest.mark.slow
def test_run_picker_redraws_for_the_picked_runs(three_runs):
    from hrmlib.look import widgets
    table = runs.table(f"{three_runs}/*")
    w = widgets.RunPicker(table)
    first = bytes(w.curves.value)
    assert first.startswith(b"\x89PNG") and len(w.pick.value) == 2
    w.pick.value = (table[2]["path"],)
    assert bytes(w.curves.value) != first and bytes(w.diag.value).startswith(b"\x89PNG")
    w.pick.value = ()
    assert w.curves.value == b""
