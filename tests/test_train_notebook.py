"""notebooks/02_train.ipynb scheduled through papermill by launch/notebook, as users run it."""
import json
import os
import subprocess

from conftest import FIXTURES, ROOT, run_py

NB = str(ROOT / "notebooks" / "02_train.ipynb")


def test_training_notebook_produces_a_run(sudoku, tmp_path):
    """launch/notebook from a shell whose PATH holds no venv: it finds the project's python itself."""
    run = tmp_path / "run"
    r = subprocess.run([str(ROOT / "launch" / "notebook"), NB, "preset=debug", f"data_path={sudoku}", f"run_dir={run}",
                        "nproc=2", "max_steps=4", "global_batch_size=16"], cwd=ROOT, text=True, capture_output=True,
                       timeout=600,
                       env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": os.environ.get("HOME", "/tmp")})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "step 4/4" in r.stderr  # torchrun's output streamed live through papermill's log
    assert {"02_train.ipynb", "metrics.jsonl", "learning_curve.png", "config.json"} <= {p.name for p in run.iterdir()}
    assert not list(run.glob(".*.tmp*"))  # the figure was written through a renamed temporary
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["max_steps"] == 4 and cfg["data_path"] == str(sudoku)
    # the live panel: one snapshot (the evaluation at the last step, rank 0 of 2), its final state kept
    assert [p.name for p in (run / "live").iterdir()] == ["step_4.npz"]
    outputs = json.dumps(json.loads((run / "02_train.ipynb").read_text())["cells"])
    assert "class='hrm-live' data-step='4'" in outputs and "waiting for the first evaluation" not in outputs


def test_training_notebook_fails_when_training_fails(sudoku, tmp_path):
    """Weights that do not fit the model pass the launcher's checks and stop the trainer itself."""
    ck = FIXTURES / "hrm-reference" / "state_dict.eager.pt"  # V=7, hidden 64: not a debug sudoku model
    r = run_py("-m", "hrmlib.launch", "notebook", NB, "preset=debug", f"data_path={sudoku}",
               f"run_dir={tmp_path / 'run'}", f"init_from={ck}")
    assert r.returncode == 1
    assert "TrainingFailed" in r.stderr and "does not fit the model" in r.stderr
    nb = json.loads((tmp_path / "run" / "02_train.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
