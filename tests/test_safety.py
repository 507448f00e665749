"""What survives what (issue 13): the dataset and run directories against reuse, concurrent
trainers, kills, corrupt files and bad input. Real processes, real files, real signals."""
import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest
import torch

from hrmlib import runs
from conftest import digest, one_line_error, rows, run_py, start, train

SUDOKU = ["-m", "hrmlib.data", "sudoku"]  # run_py(*SUDOKU, "--output-dir", d, *SMALL): a small offline build
SMALL = ["--source", "generate", "--gen-count", "20", "--gen-test-count", "8", "--gen-clues", "40"]


# ---------------------------------------------------------------------------- 1. the dataset directory

def test_builder_never_deletes_a_folder_that_is_not_a_dataset(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep")
    one_line_error(run_py(*SUDOKU, "--output-dir", d, *SMALL, "--overwrite"),
                   "is not empty and not a dataset (it holds notes.txt)")
    one_line_error(run_py(*SUDOKU, "--output-dir", ".", *SMALL, cwd=d), f"--output-dir {d} is not empty")
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"] and (d / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left either
    one_line_error(run_py(*SUDOKU, "--output-dir", d / "notes.txt" / "ds", *SMALL), "cannot be created under")


def test_builder_replaces_a_dataset_only_when_asked(tmp_path):
    d = tmp_path / "ds"
    assert run_py(*SUDOKU, "--output-dir", d, *SMALL).returncode == 0
    before = digest(d)
    one_line_error(run_py(*SUDOKU, "--output-dir", d, *SMALL, "--seed", "1"), "already holds a dataset",
                   "--overwrite")
    assert digest(d) == before
    assert run_py(*SUDOKU, "--output-dir", d, *SMALL, "--seed", "1", "--overwrite").returncode == 0
    assert digest(d) != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    umask = os.umask(0)
    os.umask(umask)
    assert (d.stat().st_mode & 0o777) == 0o777 & ~umask  # not mkdtemp's 0700: readable on shared storage


# ---------------------------------------------------------------------------- 2. the run directory

def test_a_run_directory_is_continued_or_cleared_never_mixed(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=6", "checkpoint_every=3", check=True)
    (R / "notes.txt").write_text("mine")
    config, metrics = (R / "config.json").read_text(), (R / "metrics.jsonl").read_text()
    r = train(sudoku, f"run_dir={R}", "max_steps=2", "lr=5e-4")
    one_line_error(r, f"run_dir={R} already holds a run", f"resume={R}", "overwrite=true")
    assert (R / "config.json").read_text() == config and (R / "metrics.jsonl").read_text() == metrics
    train(sudoku, f"run_dir={R}", "max_steps=2", "lr=5e-4", "overwrite=true", check=True)
    assert len(rows(R)) == 2 and [p.name for p in runs.checkpoints(R)] == ["step_2"]
    saved = json.loads((R / "config.json").read_text())["config"]
    assert (R / "notes.txt").read_text() == "mine" and saved["lr"] == 5e-4
    assert saved["overwrite"] is False  # an action, not a setting


def test_one_trainer_per_run_directory_and_a_dead_ones_lock_is_taken_over(sudoku, tmp_path):
    R = tmp_path / "R"
    a = start("debug", f"data_path={sudoku}", f"run_dir={R}", "checkpoint_every=2", "epochs=200", "eval_interval=200")
    deadline = time.time() + 120
    while time.time() < deadline and not runs.checkpoints(R):
        time.sleep(0.1)
    lock = json.loads((R / ".lock").read_text())
    assert lock["pid"] == a.pid
    r = run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=2000")
    one_line_error(r, f"is being written by pid {a.pid}", "wait for it or stop it")
    a.kill()
    a.communicate()
    r = run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=" + str(int(runs.checkpoints(R)[-1].name[5:]) + 2),
               check=True)
    assert f"taking over {R / '.lock'}: pid {a.pid}" in r.stdout and not (R / ".lock").exists()


def test_resume_without_a_checkpoint_says_there_is_nothing_to_resume(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=3", check=True)
    shutil.rmtree(R / "checkpoints")
    metrics = (R / "metrics.jsonl").read_text()
    one_line_error(run_py("-m", "hrmlib.train", f"resume={R}"), f"resume={R}: no checkpoint there",
                   "nothing to resume from")
    assert (R / "metrics.jsonl").read_text() == metrics


def test_resume_overrides_that_change_the_training_are_refused_or_recorded(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=4", "checkpoint_every=2", check=True)
    before = (R / "config.json").read_text()
    one_line_error(run_py("-m", "hrmlib.train", f"resume={R}", "global_batch_size=16"),
                   "global_batch_size cannot change on resume")
    one_line_error(run_py("-m", "hrmlib.train", f"resume={R}", "arch.H_cycles=3", f"data_path={tmp_path}"),
                   "these overrides change what is trained: arch.H_cycles 2 → 3, data_path", "resume_changes=true")
    assert (R / "config.json").read_text() == before
    run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=6", check=True)  # harmless: allowed, recorded
    run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=8", "lr=5e-4", "resume_changes=true", check=True)
    saved = json.loads((R / "config.json").read_text())
    assert [h["step"] for h in saved["history"]] == [4, 6]
    assert saved["history"][0]["changes"] == {"max_steps": [4, 6]}
    assert saved["history"][1]["changes"] == {"max_steps": [6, 8], "lr": [0.001, 0.0005]}  # not the action flag
    assert saved["config"]["lr"] == 5e-4 and saved["config"]["resume_changes"] is False  # the next resume asks again


# ---------------------------------------------------------------------------- 4-6. damage

def test_non_finite_weights_are_never_checkpointed(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=10", "checkpoint_every=5", check=True)
    r = run_py("-m", "hrmlib.train", f"resume={R}", "resume_changes=true", "lr=1e6", "puzzle_emb_lr=1e6",
               "checkpoint_every=1", "max_steps=60")
    one_line_error(r, "Last good checkpoint:", "the best evaluated one:")
    newest = Path(r.stderr.split("Last good checkpoint: ")[1].split(";")[0])
    assert newest == runs.checkpoints(R)[-1]
    for ck in runs.checkpoints(R):  # every checkpoint left is finite
        s = torch.load(ck / "state.pt", weights_only=True)
        assert runs.finite(s["model"], s["opts"]), ck
    named = Path(r.stderr.split("python -m hrmlib.train resume=")[1].split()[0])
    assert named == R / "checkpoints" / "step_10"  # the evaluated one from before the bad lr
    r = run_py("-m", "hrmlib.train", f"resume={named}", "resume_changes=true", "lr=1e-3", "puzzle_emb_lr=1e-3",
               "max_steps=14", check=True)  # it resumes: rewound to step 10, steps 11-14 redone
    assert f"resuming from {named}" in r.stdout and [x["step"] for x in rows(R)] == list(range(1, 15))
    aside = next(R.glob("rewound-*-from-step_10"))  # the abandoned continuation: kept, out of the way
    assert f"are in {aside}" in r.stdout and (aside / "checkpoints" / "step_11").is_dir()


def test_a_damaged_checkpoint_is_skipped_on_resume_and_named_by_evaluate(sudoku, tmp_path):
    over = ["max_steps=12", "checkpoint_every=4", "keep_last=3", "eval_interval=20"]
    train(sudoku, f"run_dir={tmp_path / 'ref'}", *over, "max_steps=16", check=True)
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", *over, check=True)
    with open(R / "checkpoints" / "step_12" / "state.pt", "r+b") as f:
        f.truncate(1000)
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={R}")
    one_line_error(r, "step_12/state.pt is damaged", "usable: step_8, step_4",
                   f"checkpoint={R / 'checkpoints' / 'step_8'}")
    r = run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=16", check=True)
    assert "step_12/state.pt is damaged" in r.stdout and "trying the checkpoint before it" in r.stdout
    assert rows(R) == rows(tmp_path / "ref")  # steps 9-16 replayed from step_8: the uninterrupted curve


def test_a_torn_metrics_line_is_dropped_and_a_bad_one_named(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=8", "checkpoint_every=4", check=True)
    with open(R / "metrics.jsonl", "a") as f:
        f.write('{"step": 41, "spl')  # a kill mid-write
    r = run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=10", check=True)
    assert "dropped a torn last line" in r.stdout
    assert [x["step"] for x in rows(R)] == list(range(1, 11))
    lines = (R / "metrics.jsonl").read_text().splitlines()
    lines[2] = lines[2][:20]
    (R / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    one_line_error(run_py("-m", "hrmlib.train", f"resume={R}", "max_steps=12"),
                   "metrics.jsonl: line 3 is not valid JSON")


# ---------------------------------------------------------------------------- 9-10. bad input

@pytest.mark.parametrize("over, message", [
    (["arch.hidden_size=0"], "arch.hidden_size: must be >= 1, got 0"),
    (["arch.expansion=0"], "arch.expansion: must be > 0, got 0.0"),
    (["epochs=0"], "epochs: must be >= 1, got 0"),
    (["device=gpu"], "device: expected auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
    (["checkpoint_every=-1"], "checkpoint_every: must be >= 0, got -1"),
    (["global_batch_size=100000"], "global_batch_size=100000 is more than the 20 epoch(s) of 120 puzzle groups"),
    (["data_path=NOIDS"], "is not a dataset (no identifiers.json)"),
    (["run_dir=FILE/run"], "cannot create run_dir="),
])
def test_bad_input_is_one_line_and_writes_nothing(sudoku, tmp_path, over, message):
    noids = tmp_path / "noids"
    shutil.copytree(sudoku, noids)
    (noids / "identifiers.json").unlink()
    (tmp_path / "file").write_text("")
    over = [o.replace("NOIDS", str(noids)).replace("FILE", str(tmp_path / "file")) for o in over]
    run_dir = next((o.split("=", 1)[1] for o in over if o.startswith("run_dir=")), str(tmp_path / "R"))
    r = run_py("-m", "hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={tmp_path / 'R'}", *over)
    one_line_error(r, message)
    assert not Path(run_dir).exists() and not (tmp_path / "R").exists()


def test_booleans_are_strict_everywhere(tmp_path):
    from hrmlib.launch import _parse
    from hrmlib.config import ConfigError
    with pytest.raises(ConfigError, match="reevaluate: expected a bool"):
        _parse("reevaluate", "ture", "bool")
    assert _parse("reevaluate", "yes", "bool") is True
    r = run_py("-m", "hrmlib.bench", "debug", "compile=ture", "repeats=1", "warmup=0")
    one_line_error(r, "compile: expected a bool (true/false), got 'ture'")


def test_debug_plans_the_steps_it_runs(sudoku, tmp_path):
    r = train(sudoku, f"run_dir={tmp_path / 'R'}", check=True)
    planned = int(r.stdout.split(" steps planned")[0].split("· ")[-1])
    stop = int(r.stdout.split("stopping at ")[1].split()[0])
    assert stop == len(rows(tmp_path / "R")) and f"done: {stop} steps" in r.stdout and stop <= planned


def test_evaluating_on_other_data_writes_beside_the_runs_own_evaluation(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=3", check=True)
    own = (R / "eval" / "step_3" / "metrics.json").read_text()
    other = tmp_path / "other"
    shutil.copytree(sudoku, other)
    run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", f"data_path={other}", check=True)
    assert (R / "eval" / "step_3" / "metrics.json").read_text() == own
    assert (R / "eval" / "step_3-other" / "metrics.json").exists()


# ---------------------------------------------------------------------------- random kills

@pytest.mark.slow
def test_twenty_random_kills_lose_nothing(sudoku, tmp_path):
    """SIGKILL at random points — at start-up, mid-step, inside checkpoint and metrics writes
    (checkpoint_every=1) — then resume, 20 times over: the curve and the final weights equal an
    uninterrupted run's."""
    over = ["max_steps=90", "checkpoint_every=1", "eval_interval=10"]
    train(sudoku, f"run_dir={tmp_path / 'ref'}", *over, check=True)
    R, rng, kills = tmp_path / "R", random.Random(0), 0
    while True:
        resume = bool(runs.checkpoints(R))
        p = start(*([f"resume={R}"] if resume else ["debug", f"data_path={sudoku}", f"run_dir={R}", *over,
                                                    "overwrite=true"]))
        if kills < 20:
            m = R / "metrics.jsonl"
            n0 = len(m.read_text().splitlines()) if m.exists() else 0
            if rng.random() < 0.15:  # some kills during start-up, before any step
                time.sleep(rng.uniform(0.2, 1.5))
            else:  # the others a random moment after this process made progress
                deadline = time.time() + 60
                while time.time() < deadline and p.poll() is None and \
                        (len(m.read_text().splitlines()) if m.exists() else 0) <= n0:
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.12))
            if p.poll() is None:
                p.kill()
                p.communicate()
                kills += 1
                continue
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out[-3000:] + err[-3000:]
        break
    assert kills >= 20
    assert rows(R) == rows(tmp_path / "ref") and rows(R, "test") == rows(tmp_path / "ref", "test")
    a = torch.load(runs.checkpoints(R)[-1] / "state.pt", weights_only=True)["model"]
    b = torch.load(runs.checkpoints(tmp_path / "ref")[-1] / "state.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
