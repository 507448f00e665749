"""A released checkpoint by name, offline, everywhere a checkpoint is taken: `hf:org/name` read from a
Hugging Face cache laid out as huggingface_hub writes it (tests/hub_cache.py, HF_HUB_OFFLINE=1) gives
the same numbers as the file itself through evaluate, trace.load and init_from=; `python -m hrmlib.runs
import` makes a run of it that the lenses read and that refuses to be resumed; a dataset of another
build is one line, exit 2, and nothing is written."""
import json

import numpy as np
import pytest
import torch

from hrmlib import runs
from hrmlib.runs import releases
from hrmlib.compat import to_ours
from hrmlib.look import trace
from conftest import FIXTURES, ROOT, one_line_error, run_py
from hub_cache import HRM_REPO, TRM_FOLDER, TRM_REPO, fixture_dataset

NAMES = {"hrm": f"hf:{HRM_REPO}", "trm": f"hf:{TRM_REPO}/{TRM_FOLDER}"}
STEADY = ("seconds", "puzzles_per_s")


def _direct(family):
    """The same weights as the file itself, with the fixture's config."""
    fx = FIXTURES / f"{family}-reference"
    return fx / "state_dict.compiled.pt", fx / "config.json"


def _metrics(out):
    return {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k not in STEADY}


@pytest.mark.parametrize("family", ["hrm", "trm"])
def test_evaluate_by_name_equals_the_file(hf_offline, tmp_path, family):
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={NAMES[family]}", f"out={tmp_path / 'hf'}", check=True)
    assert "5 puzzle ids;" in r.stdout and "parameters (" in r.stdout and "with the puzzle table" in r.stdout
    ck, cfg = _direct(family)
    run_py("-m", "hrmlib.evaluate", f"checkpoint={ck}", f"config={cfg}", f"data_path={hf_offline.data[family]}",
           f"out={tmp_path / 'file'}", check=True)
    assert _metrics(tmp_path / "hf") == _metrics(tmp_path / "file")
    last = torch.load(ck.parent / "eval_rollout.pt", weights_only=True)["steps"][-1]["metrics"]  # the original's
    assert _metrics(tmp_path / "hf")["exact_accuracy"] * int(last["count"]) == int(last["exact_accuracy"])


@pytest.mark.parametrize("family", ["hrm", "trm"])
def test_trace_by_name_equals_the_file(hf_offline, family):
    ck, cfg = _direct(family)
    a = trace.trace_examples(trace.load(trace.resolve_run(NAMES[family])), keep="steps")
    b = trace.trace_examples(trace.load(ck, config=cfg, data_path=hf_offline.data[family]), keep="steps")
    np.testing.assert_array_equal(a.logits, b.logits)
    np.testing.assert_array_equal(a.z_H, b.z_H)
    m = runs.open(f"{NAMES[family]}@step_{ {'hrm': 20, 'trm': 7}[family]}")
    assert m.provenance["commit"] in m.provenance["pinned"] and m.name.endswith(m.provenance["source"])


def test_init_from_a_name(hf_offline, tmp_path):
    shape = ["arch.hidden_size=32", "arch.num_heads=4", "arch.H_cycles=2", "arch.L_cycles=3", "arch.puzzle_emb_ndim=32",
             "arch.puzzle_emb_len=0", "global_batch_size=4", "ema=false"]
    run = tmp_path / "run"
    run_py("-m", "hrmlib.train", "trm_debug", f"data_path={hf_offline.data['trm']}", f"run_dir={run}", *shape,
           f"init_from={NAMES['trm']}", "max_steps=1", "lr=1e-30", "puzzle_emb_lr=0", check=True)
    state = torch.load(run / "checkpoints" / "step_1" / "state.pt", weights_only=True)
    ck, _ = _direct("trm")
    for k, v in to_ours(torch.load(ck, weights_only=True), "trm").items():  # lr 1e-30 leaves them as loaded
        assert torch.equal(state["model"][k], v), k


@pytest.fixture
def home(hf_offline, tmp_path, monkeypatch):
    """HRM_WORKBENCH_HOME at an empty folder: runs/ are made there."""
    monkeypatch.setenv("HRM_WORKBENCH_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_import_makes_a_run_the_lenses_read(home, hf_offline, tmp_path):
    r = run_py("-m", "hrmlib.runs", "import", NAMES["hrm"], check=True)
    run = home / "runs" / "HRM-checkpoint-fixture-step_20"
    assert f"as runs/{run.name}" in r.stdout and "linked, not copied" in r.stdout
    link = run / "checkpoints" / "step_20" / "weights"
    repo = hf_offline.cache / f"models--{HRM_REPO.replace('/', '--')}"
    assert link.is_symlink() and link.resolve().parent.parent == repo
    assert link.resolve().parent.name == "blobs"  # the cached blob itself: nothing copied
    assert sum(p.stat().st_size for p in run.rglob("*") if p.is_file() and not p.is_symlink()) < 20_000
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["kind"] == "import" and prov["source"] == NAMES["hrm"] and prov["step"] == 20
    assert prov["pinned"].startswith(f"{NAMES['hrm']}@") and prov["params"] == 263_170 and prov["puzzle_table"] == 320
    assert json.loads((run / "config.json").read_text())["preset"] == "import"

    # evaluate writes into the run, as for a run trained here, with the numbers of the name itself
    run_py("-m", "hrmlib.evaluate", f"checkpoint=runs/{run.name}", check=True)
    run_py("-m", "hrmlib.evaluate", f"checkpoint={NAMES['hrm']}", f"out={tmp_path / 'hf'}", check=True)
    assert _metrics(run / "eval" / "step_20") == _metrics(tmp_path / "hf")
    row = runs.table(root=home / "runs")[0]
    assert (row["run"], row["preset"], row["family"], row["steps"], row["best_step"]) == (
        run.name, "import", "HRM", 20, 20)
    assert row["best_exact"] == _metrics(tmp_path / "hf")["exact_accuracy"]

    # again: the same release is reported as imported; resuming it is one line pointing at init_from=
    assert "imported already" in run_py("-m", "hrmlib.runs", "import", NAMES["hrm"], check=True).stdout
    one_line_error(run_py("-m", "hrmlib.train", f"resume=runs/{run.name}"), "no optimizer state",
                   f"init_from=runs/{run.name}")
    one_line_error(run_py("-m", "hrmlib.runs", "import", f"{NAMES['hrm']}@step_10", f"name={run.name}"),
                   "exists already; choose another name=")


@pytest.mark.parametrize("change, says", [
    ({"num_puzzle_identifiers": 6}, "was trained on a dataset with 5 puzzle ids; {d} has 6"),
    ({"num_puzzle_identifiers": 4}, "was trained on a dataset with 5 puzzle ids; {d} has 4"),
    ({"vocab_size": 9}, "was trained on a dataset with 7 tokens in its vocabulary; {d} has 9"),
])
def test_another_build_is_one_line_and_writes_nothing(home, tmp_path, change, says):
    d = fixture_dataset(tmp_path / "other", "trm-reference", change)
    before = sorted(home.rglob("*"))
    for cmd in (["-m", "hrmlib.evaluate", f"checkpoint={NAMES['trm']}", f"data_path={d}"],
                ["-m", "hrmlib.runs", "import", NAMES["trm"], f"data_path={d}"]):
        one_line_error(run_py(*cmd), f"{NAMES['trm']} {says.format(d=d)}", "rebuild that one")
    assert sorted(home.rglob("*")) == before


def test_import_and_notebook_problems_are_one_line(home):
    one_line_error(run_py("-m", "hrmlib.runs", "import"), "expected import and a release")
    one_line_error(run_py("-m", "hrmlib.runs", "import", "hf:fixture-org/absent"), "is not in the Hugging Face cache")
    one_line_error(run_py("-m", "hrmlib.runs", "import", NAMES["hrm"], "nme=x"), "unknown option(s) ['nme']")
    one_line_error(run_py("-m", "hrmlib.runs", "import", "runs/nothing"), "expected hf:<org>/<name>")
    nb = run_py("-m", "hrmlib.launch", "notebook", "notebooks/03_evaluate.ipynb", "run=hf:fixture-org/absent")
    one_line_error(nb, "hf:fixture-org/absent is not in the Hugging Face cache")
    assert not (home / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["03_evaluate.ipynb", "04_internals.ipynb", "05_replay.ipynb"])
def test_notebooks_open_a_name_and_an_imported_run(home, hf_offline, tmp_path, name):
    """Under papermill, as `python -m hrmlib.launch notebook` runs them: run=hf:… and run=runs/<import>."""
    run_py("-m", "hrmlib.runs", "import", NAMES["trm"], check=True)
    for source in (NAMES["trm"], "runs/trm-fixture-tiny_public-step_7"):
        r = run_py("-m", "hrmlib.launch", "notebook", f"notebooks/{name}", f"run={source}",
                   env={"PYTHONPATH": str(ROOT)})  # the kernel imports this checkout's hrmlib, wherever installed
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    executed = sorted(home.glob(f"runs/*/{name}"))
    assert len(executed) == 2 and home / "runs" / "trm-fixture-tiny_public-step_7" / name in executed
    for nb in executed:
        text = json.dumps(json.loads(nb.read_text()))
        assert '"output_type": "error"' not in text and "TRM" in text
    if name == "03_evaluate.ipynb":  # the imported run's evaluation is kept in it, as a trained run's
        assert (home / "runs" / "trm-fixture-tiny_public-step_7" / "eval" / "step_7" / "metrics.json").is_file()


def test_docs_list_every_release_and_the_readme_says_how():
    readme = (ROOT / "README.md").read_text()
    assert "## Start from a released model" in readme
    assert "python -m hrmlib.evaluate checkpoint=hf:sapientinc/HRM-checkpoint-sudoku-extreme" in readme
    assert "python -m hrmlib.runs import hf:" in readme and "could not be run here" in readme
    for r in releases.RELEASES:
        assert f"`{r.name}`" in readme
