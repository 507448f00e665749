"""Notebook path parameters as a user types them: a relative path means the same from any working
directory (under the workbench's home), a resumed run gets its executed notebook beside its first
one, and a dataset notebook builds where it says. Real launch/notebook processes (papermill, a real
kernel, torchrun); the refusals are in tests/test_bad_input.py."""
import shutil

import pytest

from conftest import rows, run_py
from hrmlib.data import load_split

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, sudoku):
    """A workbench home with a dataset at data/s, and a working directory elsewhere."""
    h = tmp_path / "home"
    shutil.copytree(sudoku, h / "data" / "s")
    (tmp_path / "elsewhere").mkdir()
    return h


def launch(home, *args, check=True):
    return run_py("-m", "hrmlib.launch", "notebook", *args, env={"HRM_WORKBENCH_HOME": str(home)},
                  cwd=home.parent / "elsewhere", check=check)


def test_a_relative_run_dir_trains_plots_and_resumes_into_the_same_run(home):
    launch(home, "notebooks/02_train.ipynb", "preset=debug", "data_path=data/s", "run_dir=runs/relrun",
           "max_steps=2")
    run = home / "runs" / "relrun"
    assert {"02_train.ipynb", "learning_curve.png", "diagnostics.png"} <= {p.name for p in run.iterdir()}
    launch(home, "notebooks/02_train.ipynb", "resume=runs/relrun", "max_steps=4")
    assert [p.name for p in (home / "runs").iterdir()] == ["relrun"]  # no new, empty run beside it
    assert len(list(run.glob("02_train*.ipynb"))) == 2  # the first executed notebook kept
    assert [x["step"] for x in rows(run)] == [1, 2, 3, 4]
    assert not list((home.parent / "elsewhere").iterdir())


def test_a_relative_output_dir_builds_under_the_home(home):
    launch(home, "notebooks/01_build_dataset.ipynb", "output_dir=data/nbrel",
           'options={"gen_count": 20, "gen_test_count": 4}', "subsample_size=20", "num_aug=0")
    assert load_split(home / "data" / "nbrel", "train").num_groups == 20
    assert not list((home.parent / "elsewhere").iterdir())


def test_a_run_with_a_relative_data_path_opens_from_another_home(home, monkeypatch):
    """A JupyterLab rooted elsewhere: the run's relative data_path is found beside the run's home."""
    from hrmlib import runs
    run_py("-m", "hrmlib.train", "debug", "data_path=data/s", "run_dir=runs/r", "max_steps=2",
           env={"HRM_WORKBENCH_HOME": str(home)}, check=True)
    monkeypatch.setenv("HRM_WORKBENCH_HOME", str(home.parent / "elsewhere"))
    m = runs.open(home / "runs" / "r")
    assert m.data_path == home / "data" / "s" and m.config.data_path == "data/s"
