"""Nothing lost, nothing mixed, second round (issue 21): branching, rewinding, evaluation variants, a
dataset changed under a run, another number of processes, Ctrl-C, a full disk, and damaged
run-directory state. Real processes (torchrun with gloo for the process count), real files."""
import json
import os
import resource
import shutil
import signal
import subprocess
import time

import pytest

from conftest import digest, one_line_error, rows, run_py, start, torchrun, train
from hrmlib import runs
from hrmlib.data import build


def resume(*args, **kw):
    return run_py("-m", "hrmlib.train", *args, **kw)


def test_branching_starts_a_new_run_and_leaves_the_source_byte_identical(sudoku, tmp_path):
    A, B, C = tmp_path / "A", tmp_path / "B", tmp_path / "C"
    train(sudoku, f"run_dir={A}", "max_steps=16", "checkpoint_every=8", "keep_last=4", check=True)
    before = digest(A)
    r = resume(f"resume={A / 'checkpoints' / 'step_8'}", f"run_dir={B}", check=True)
    assert digest(A) == before  # the source run was only read
    assert rows(B) == rows(A) and rows(B, "test") == rows(A, "test")  # steps 9-16: A's continuation exactly
    saved = json.loads((B / "config.json").read_text())
    assert saved["parent"] == f"{A}@step_8" and saved["config"]["run_dir"] == str(B)
    assert [p.name for p in runs.checkpoints(B)] == ["step_8", "step_16"] and f"run {B}" in r.stdout
    # a branch may change what is trained: it is a new run, and it records the change and its parent
    resume(f"resume={A / 'checkpoints' / 'step_8'}", f"run_dir={C}", "lr=5e-4", "max_steps=10", check=True)
    hist = json.loads((C / "config.json").read_text())["history"][-1]
    assert hist["changes"] == {"lr": [0.001, 0.0005], "max_steps": [16, 10]} and hist["branched_from"] == f"{A}@step_8"
    assert rows(C)[:8] == rows(A)[:8] and rows(C)[8]["lr"] != rows(A)[8]["lr"] and digest(A) == before
    one_line_error(resume(f"resume={A / 'checkpoints' / 'step_8'}", f"run_dir={B}"), f"run_dir={B} already holds a run")


def test_rewinding_sets_the_abandoned_branch_aside_whole(sudoku, tmp_path):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=16", "checkpoint_every=8", "keep_last=4", check=True)
    (R / "learning_curve.png").write_bytes(b"the old branch's figure")
    old_rows, old_eval = (R / "metrics.jsonl").read_text(), (R / "eval" / "step_16" / "metrics.json").read_text()
    old_live = (R / "live" / "step_16.npz").read_bytes()
    resume(f"resume={R / 'checkpoints' / 'step_8'}", "resume_changes=true", "lr=5e-3", check=True)
    aside = next(R.glob("rewound-*-from-step_8"))
    assert (aside / "metrics.jsonl").read_text() == old_rows  # readable as a run: config, curve, evaluations
    assert (aside / "eval" / "step_16" / "metrics.json").read_text() == old_eval
    assert (aside / "checkpoints" / "step_16" / "state.pt").exists() and (aside / "config.json").exists()
    assert (aside / "learning_curve.png").exists() and not (R / "learning_curve.png").exists()
    assert (aside / "live" / "step_16.npz").read_bytes() == old_live  # the live panel's snapshot went with it
    new = rows(R)
    assert [r["step"] for r in new] == list(range(1, 17))
    old = [json.loads(x) for x in old_rows.splitlines() if json.loads(x)["split"] == "train"]
    assert [r["loss"] for r in new[:8]] == [r["loss"] for r in old[:8]] and new[8]["lr"] != old[8]["lr"]
    assert (R / "eval" / "step_16" / "metrics.json").read_text() != old_eval


def test_an_evaluation_variant_goes_beside_the_trainers_and_readers_keep_the_runs_own(sudoku, tmp_path):
    from hrmlib.look import report, trace
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=4", check=True)
    own = (R / "eval" / "step_4" / "metrics.json").read_text()
    run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "eval_halting=q", check=True)
    run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "arch.halt_max_steps=1", check=True)
    assert (R / "eval" / "step_4" / "metrics.json").read_text() == own
    q = json.loads((R / "eval" / "step_4-eval_halting=q" / "metrics.json").read_text())
    one = json.loads((R / "eval" / "step_4-arch.halt_max_steps=1" / "metrics.json").read_text())
    assert q["variant"] == "eval_halting=q" and one["act_steps"] == 1 != json.loads(own)["act_steps"]
    r = run_py("-m", "hrmlib.evaluate", f"checkpoint={R}", "steps=all", check=True)
    assert "step_4: evaluated already" in r.stdout
    assert [x["step"] for x in runs.checkpoint_evals(R)] == [4]  # the variants are not the run's curve
    res = report.evaluate(trace.load(R))
    assert res["act_steps"] == json.loads(own)["act_steps"] and res["eval_dir"] == str(R / "eval" / "step_4")


def test_a_dataset_changed_under_a_run_is_refused_or_recorded(tmp_path):
    D, R = tmp_path / "D", tmp_path / "R"
    small = dict(source="generate", gen_count=60, gen_test_count=16, gen_clues=40, num_aug=1, progress=False)
    build("sudoku", D, seed=0, **small)
    train(D, f"run_dir={R}", "max_steps=4", "checkpoint_every=2", check=True)
    build("sudoku", D, seed=1, overwrite=True, **small)  # other puzzles, the same sizes
    before = digest(R)
    one_line_error(resume(f"resume={R}", "max_steps=6"), f"{D} changed since", "resume_changes=true")
    assert digest(R) == before
    resume(f"resume={R}", "max_steps=6", "resume_changes=true", check=True)
    hist = json.loads((R / "config.json").read_text())["history"][-1]
    assert set(hist["changes"]) == {"max_steps", "dataset"} and hist["step"] == 4


def test_another_process_count_is_refused_or_resharded(sudoku, tmp_path):
    R = tmp_path / "R"
    torchrun(2, "hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={R}", "max_steps=4", "checkpoint_every=2",
             check=True)
    before = digest(R)
    one_line_error(resume(f"resume={R}", "max_steps=6"), "written by 2 process(es), this is 1",
                   "--nproc-per-node 2", "resume_changes=true")
    assert digest(R) == before
    resume(f"resume={R}", "max_steps=6", "resume_changes=true", check=True)  # the carry split again over 1
    assert [x["step"] for x in rows(R)] == list(range(1, 7))
    assert json.loads((R / "config.json").read_text())["history"][-1]["changes"]["world_size"] == [2, 1]


def test_ctrl_c_ends_with_one_line_that_says_how_to_resume(sudoku, tmp_path):
    R = tmp_path / "R"
    p = start("debug", f"data_path={sudoku}", f"run_dir={R}", "checkpoint_every=2", "epochs=200", "eval_interval=200")
    deadline = time.time() + 120
    while time.time() < deadline and not runs.checkpoints(R):
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("interrupted at step ") and f"resume with: python -m hrmlib.train resume={R}" in err
    assert "the last complete checkpoint" in err and not (R / ".lock").exists()


def _limited(kb: int):
    """A child's file-size limit (`ulimit -f`): a write past it fails as on a full disk (EFBIG)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (kb * 1024, kb * 1024))


def test_a_full_disk_names_the_file_and_what_is_safe(sudoku, tmp_path):
    tiny = ["arch.hidden_size=8", "arch.num_heads=2", "global_batch_size=4"]

    def cmd(*args, kb):
        return run_py("-m", *args, preexec_fn=_limited(kb))
    # a checkpoint: the debug model's is about 2 MB, over a 256 KB limit
    R = tmp_path / "R"
    one_line_error(cmd("hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={R}", "max_steps=2", kb=256),
                   "the disk is full", "no checkpoint was complete yet", f"resume={R}")
    assert not list((R / "checkpoints").glob("*"))  # the partial one is gone
    # a metrics line: tiny checkpoints (~210 KB) fit, the growing metrics.jsonl (~0.8 KB a step) does not
    M = tmp_path / "M"
    r = cmd("hrmlib.train", "debug", f"data_path={sudoku}", f"run_dir={M}", *tiny, "max_steps=400",
            "checkpoint_every=20", kb=256)
    one_line_error(r, "metrics.jsonl: the disk is full", "the last complete checkpoint", f"resume={M}")
    assert runs.checkpoints(M) and runs.load_file(runs.checkpoints(M)[-1] / "state.pt")
    # a dataset: the arrays of 300 puzzles do not fit; the dataset there stays as it was
    D = tmp_path / "D"
    gen = ["--source", "generate", "--gen-clues", "40", "--gen-test-count", "8"]
    assert cmd("hrmlib.data", "sudoku", "--output-dir", D, *gen, "--gen-count", "10", kb=64).returncode == 0
    before = digest(D)
    r = cmd("hrmlib.data", "sudoku", "--output-dir", D, *gen, "--gen-count", "300", "--num-aug", "3", "--overwrite",
            kb=64)
    err = r.stderr.strip().splitlines()[-1]  # after the builder's progress bars
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{D}/train/all__inputs.npy: the disk is full" in err and f"the dataset in {D} is unchanged" in err
    assert digest(D) == before and sorted(p.name for p in tmp_path.iterdir()) == ["D", "M", "R"]


@pytest.mark.parametrize("content", ["[]", "{}", '{"host": "elsewhere", "pid": "x"}', "not json"])
def test_a_lock_not_written_by_a_trainer_is_taken_over(sudoku, tmp_path, content):
    R = tmp_path / "R"
    train(sudoku, f"run_dir={R}", "max_steps=2", check=True)
    (R / ".lock").write_text(content)
    r = resume(f"resume={R}", "max_steps=3", check=True)
    assert f"taking over {R / '.lock'}" in r.stdout and not (R / ".lock").exists()


def test_overwrite_unlinks_a_symlinked_trainer_folder_and_leaves_its_target(sudoku, tmp_path):
    R, elsewhere = tmp_path / "R", tmp_path / "elsewhere"
    train(sudoku, f"run_dir={R}", "max_steps=2", check=True)
    shutil.move(R / "checkpoints", elsewhere)
    (R / "checkpoints").symlink_to(elsewhere)
    keep = digest(elsewhere)
    r = train(sudoku, f"run_dir={R}", "max_steps=2", "overwrite=true", check=True)
    assert f"removed the link {R / 'checkpoints'}" in r.stdout and digest(elsewhere) == keep
    assert not (R / "checkpoints").is_symlink() and runs.checkpoints(R)


def test_a_missing_sink_package_is_refused_before_the_run_directory_exists(sudoku, tmp_path):
    try:  # wandb is not a dependency: the refusal is what a user without it sees
        import wandb  # noqa: F401
        pytest.skip("wandb is installed here")
    except ImportError:
        pass
    one_line_error(train(sudoku, f"run_dir={tmp_path / 'R'}", "wandb=online"), "pip install wandb")
    assert not (tmp_path / "R").exists()
    train(sudoku, f"run_dir={tmp_path / 'R'}", "max_steps=1", check=True)  # the rerun is not refused


def test_a_killed_builds_temporaries_are_cleaned_by_the_next_build(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "ds"
    small = dict(source="generate", gen_count=10, gen_test_count=4, gen_clues=40, progress=False)
    build("sudoku", out, **small)
    stale = tmp_path / f".ds.tmp-{dead.pid}-abcd"
    stale.mkdir()
    (stale / "identifiers.json").write_text("[]")
    aside = tmp_path / f".ds.old-{dead.pid}-efgh"  # killed between its two renames: the old dataset set aside
    os.rename(out, aside.mkdir() or aside / "ds")
    mine = tmp_path / f".ds.tmp-{os.getpid()}-live"  # a build still running (this process): left alone
    mine.mkdir()
    build("sudoku", tmp_path / "other", **small)  # another dataset's build leaves ds's temporaries alone
    assert stale.exists() and aside.exists()
    with pytest.raises(Exception, match="already holds a dataset"):  # restored first, so it is refused as one
        build("sudoku", out, **small)
    assert out.is_dir() and not stale.exists() and not aside.exists() and mine.exists()
