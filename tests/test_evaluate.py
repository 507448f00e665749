"""`python -m hrmlib.evaluate`: the same numbers as the trainer's own evaluation, for Sudoku and ARC."""
import json

import numpy as np
import pytest

from hrmlib.data import build
from conftest import run_py


def _task(rng, n_train, n_test):
    def pair():
        g = rng.integers(0, 10, (rng.integers(1, 4), rng.integers(1, 4)))
        return {"input": g.tolist(), "output": np.rot90(g).tolist()}
    return {"train": [pair() for _ in range(n_train)], "test": [pair() for _ in range(n_test)]}


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    root = tmp_path_factory.mktemp("arcsrc")
    rng = np.random.default_rng(0)
    for sub, names in (("training", ["aa", "bb"]), ("evaluation", ["cc", "dd"])):
        (root / sub).mkdir()
        for n in names:
            (root / sub / f"{n}.json").write_text(json.dumps(_task(rng, 2, 2 if n == "cc" else 1)))
    out = root.parent / "arc"
    build("arc", out, dataset_dirs=[str(root)], num_aug=3, seed=0, progress=False)
    return out


@pytest.mark.parametrize("preset", ["debug", "trm_debug"])
def test_cli_reproduces_the_trainers_arc_evaluation(arc, tmp_path, preset):
    run = tmp_path / "run"
    run_py("-m", "hrmlib.train", preset, f"data_path={arc}", f"run_dir={run}", "max_steps=3",
           "global_batch_size=8", check=True)
    trainer = json.loads((run / "eval" / "step_3" / "metrics.json").read_text())
    assert trainer["arc_tasks"] == 2 and {"pass@1", "pass@2"} <= set(trainer)
    votes = json.loads((run / "eval" / "step_3" / "arc_votes.json").read_text())
    assert votes["per_task"]["cc"]["test_inputs"] == 2 and votes["per_task"]["dd"]["test_inputs"] == 1
    (run / "eval" / "step_3" / "metrics.json").unlink()
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={run}", check=True)
    cli = json.loads((run / "eval" / "step_3" / "metrics.json").read_text())
    untimed = lambda m: {k: v for k, v in m.items() if k not in ("seconds", "puzzles_per_s")}
    assert untimed(cli) == untimed(trainer), (cli, trainer)
    assert '"pass@2"' in r.stdout


def test_cli_rejects_a_path_without_checkpoints(tmp_path):
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={tmp_path}")
    assert r.returncode == 2 and "is a folder without weights" in r.stderr and "original checkpoint file" in r.stderr
    r = run_py("-m", "hrmlib.evaluate", "checkpoint")
    assert r.returncode == 2 and "'checkpoint' is not of the form key=value (e.g. checkpoint=runs/<id>)" in r.stderr
