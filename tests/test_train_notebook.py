"""notebooks/02_train.ipynb scheduled through papermill by launch/notebook, as users run it."""
import json
import os
import subprocess

import pytest

from conftest import ROOT


@pytest.fixture
def data(sudoku):
    """The suite's shared small Sudoku dataset (conftest)."""
    return sudoku


def launch(*args, timeout=600):
    return subprocess.run([str(ROOT / "launch" / "notebook"), str(ROOT / "notebooks" / "02_train.ipynb"), *args],
                          cwd=ROOT, text=True, capture_output=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": os.environ.get("HOME", "/tmp")})


def test_training_notebook_produces_a_run(data, tmp_path):
    run = tmp_path / "run"
    r = launch("preset=debug", f"data_path={data}", f"run_dir={run}", "nproc=2", "max_steps=4",
               "global_batch_size=16")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "step 4/4" in r.stderr  # torchrun's output streamed live through papermill's log
    assert {"02_train.ipynb", "metrics.jsonl", "learning_curve.png", "config.json"} <= {p.name for p in run.iterdir()}
    assert not list(run.glob(".*.tmp*"))  # the figure was written through a renamed temporary
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["max_steps"] == 4 and cfg["data_path"] == str(data)
    # the live panel: one snapshot (the evaluation at the last step, rank 0 of 2), its final state kept
    assert [p.name for p in (run / "live").iterdir()] == ["step_4.npz"]
    outputs = json.dumps(json.loads((run / "02_train.ipynb").read_text())["cells"])
    assert "class='hrm-live' data-step='4'" in outputs and "waiting for the first evaluation" not in outputs


def test_training_notebook_fails_when_training_fails(data, tmp_path):
    r = launch("preset=debug", f"data_path={data}", f"run_dir={tmp_path / 'run'}", "arch.num_heads=5")
    assert r.returncode == 1
    assert "TrainingFailed" in r.stderr and "arch.num_heads=5" in r.stderr
    nb = json.loads((tmp_path / "run" / "02_train.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
