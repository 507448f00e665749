"""The trainer as users run it: real processes, real torchrun (gloo), real SIGKILL."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hrmlib.compat import original_key_to_ours
from hrmlib.data.format import make_split, write_dataset
from conftest import FIXTURES, ROOT, STEADY, one_line_error, rows, run_py, start, train



def tiny(path: Path, names: list[str]) -> Path:
    """A dataset shaped like the parity fixture (V=7, S=16, 5 puzzle ids)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 7, (16, 16)).astype(np.uint8)
    split = make_split(x, x, np.arange(1, 5).repeat(2)[:8] % 5, np.arange(0, 17, 2), np.arange(0, 9, 2),
                       vocab_size=7, num_puzzle_identifiers=5)
    return write_dataset(path, {"train": split, "test": split}, names)


FIXTURE_ARCH = ["arch.hidden_size=64", "arch.num_heads=4", "arch.H_layers=2", "arch.L_layers=2",
                "arch.puzzle_emb_ndim=64", "arch.halt_max_steps=4", "global_batch_size=4"]


def test_debug_preset_trains_and_its_loss_falls(sudoku, tmp_path):
    r = train(sudoku, f"run_dir={tmp_path / 'run'}", "max_steps=40", check=True)
    tr = rows(tmp_path / "run")
    assert len(tr) == 40 and "done: 40 steps" in r.stdout
    first, last = np.mean([x["loss"] for x in tr[:8]]), np.mean([x["loss"] for x in tr[-8:]])
    assert last < 0.85 * first, (first, last)
    run = tmp_path / "run"
    assert {"config.json", "env.json", "metrics.jsonl"} <= {p.name for p in run.iterdir()}
    env = json.loads((run / "env.json").read_text())
    assert env["world_size"] == 1 and env["torch"] == torch.__version__ and "git_commit" in env
    assert json.loads((run / "eval" / "step_40" / "metrics.json").read_text())["count"] == 32
    assert (run / "checkpoints" / "step_40" / "state.pt").exists()
    for k in ("exact_accuracy", "accuracy", "halted_fraction", "act_steps", "lr", "lm_loss", "q_halt_loss",
              "q_continue_loss", "examples_per_s", "wall_time", "epoch"):
        assert k in json.loads((run / "metrics.jsonl").read_text().splitlines()[0]), k


def test_trm_debug_trains_with_ema_and_its_loss_falls(sudoku, tmp_path):
    run = tmp_path / "run"
    r = train(sudoku, f"run_dir={run}", "max_steps=40", preset="trm_debug", check=True)
    tr = rows(run)
    assert len(tr) == 40 and "done: 40 steps" in r.stdout and "q_continue_loss" not in tr[0]
    first, last = np.mean([x["loss"] for x in tr[:8]]), np.mean([x["loss"] for x in tr[-8:]])
    assert last < 0.85 * first, (first, last)
    assert json.loads((run / "config.json").read_text())["config"]["arch"]["name"] == "trm"
    state = torch.load(run / "checkpoints" / "step_40" / "state.pt", weights_only=True)
    avg, raw = state["model"], state["raw_params"]  # the checkpoint's weights are the average
    assert set(raw) < set(avg) and "puzzle_emb.weights" in avg and "puzzle_emb.weights" not in raw
    assert all(not torch.equal(avg[k], v) for k, v in raw.items() if k != "q_head.bias")
    # what the trainer evaluated is what the checkpoint holds: the CLI on it gives the same numbers
    trainer = json.loads((run / "eval" / "step_40" / "metrics.json").read_text())
    (run / "eval" / "step_40" / "metrics.json").unlink()
    run_py("-m", "hrmlib.evaluate", f"checkpoint={run}", check=True)
    cli = json.loads((run / "eval" / "step_40" / "metrics.json").read_text())
    assert {k: v for k, v in cli.items() if k not in STEADY} == {k: v for k, v in trainer.items() if k not in STEADY}


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["debug", "trm_debug"])
def test_two_gloo_processes_train_like_one(sudoku, tmp_path, preset):
    """Also with EMA (trm_debug): every rank averages identical weights, so the evaluation of the
    average on two ranks matches one process without any extra communication."""
    over = ["max_steps=12", "log_every=1"]
    train(sudoku, f"run_dir={tmp_path / 'one'}", *over, preset=preset, check=True)
    # torchrun is python -m torch.distributed.run
    run_py("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "hrmlib.train", preset,
           f"data_path={sudoku}", f"run_dir={tmp_path / 'two'}", *over, check=True)
    assert json.loads((tmp_path / "two" / "env.json").read_text())["world_size"] == 2
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert len(a) == len(b) == 12
    for x, y in zip(a, b):
        assert x["count"] == y["count"] and x["halted_fraction"] == y["halted_fraction"], (x, y)
        assert x.keys() == y.keys()
        for k in {"loss", "lm_loss", "q_halt_loss", "q_continue_loss", "accuracy"} & x.keys():
            assert x[k] == pytest.approx(y[k], rel=1e-4, abs=1e-6), (k, x, y)
    ea, eb = rows(tmp_path / "one", "test"), rows(tmp_path / "two", "test")
    assert ea[0]["count"] == eb[0]["count"] == 32
    assert ea[0]["accuracy"] == pytest.approx(eb[0]["accuracy"], abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["debug", "trm_debug"])
def test_sigkill_then_resume_gives_the_uninterrupted_metrics(sudoku, tmp_path, preset):
    """trm_debug keeps an EMA (evaluated mid-run and at the end): raw weights and average both resume exactly.
    The reference writes no live snapshots (live=false): they change nothing in training."""
    over = ["max_steps=24", "checkpoint_every=6", "eval_interval=4"]  # evaluations at steps 15 and 24
    train(sudoku, f"run_dir={tmp_path / 'ref'}", *over, "live=false", preset=preset, check=True)
    run = tmp_path / "killed"
    p = start(preset, f"data_path={sudoku}", f"run_dir={run}", *over)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        m = run / "metrics.jsonl"
        if m.exists() and len(m.read_text().splitlines()) >= 15:
            break
        time.sleep(0.05)
    assert p.poll() is None, "training finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.communicate()
    done = len((run / "metrics.jsonl").read_text().splitlines())
    assert 15 <= done < 24
    r = run_py("-m", "hrmlib.train", f"resume={run}", check=True)
    assert "done: 24 steps" in r.stdout
    assert rows(run) == rows(tmp_path / "ref")  # bit-identical curve: nothing lost, nothing repeated
    assert rows(run, "test") == rows(tmp_path / "ref", "test")
    evals = [f"step_{r['step']}.npz" for r in rows(run, "test")]
    assert len(evals) == 2 and sorted(p.name for p in (run / "live").iterdir()) == evals
    assert not (tmp_path / "ref" / "live").exists()


def test_init_from_an_original_checkpoint(tmp_path):
    data = tiny(tmp_path / "tiny", ["<blank>", "a", "b", "c", "d"])
    ck = FIXTURES / "hrm-reference" / "state_dict.compiled.pt"  # `_orig_mod.model.inner.…` keys
    train(data, f"run_dir={tmp_path / 'run'}", *FIXTURE_ARCH, f"init_from={ck}", "max_steps=1", "lr=1e-30",
          "puzzle_emb_lr=0", check=True)
    state = torch.load(tmp_path / "run" / "checkpoints" / "step_1" / "state.pt", weights_only=True)
    ref = {original_key_to_ours(k): v for k, v in torch.load(ck, weights_only=True).items()}
    for k, v in ref.items():  # an lr of 1e-30 leaves float32 weights as loaded
        assert torch.equal(state["model"][k], v), k


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown preset 'nope'"),
    (["debug", "lrr=1"], "unknown key 'lrr'"),
    (["debug", "data_path=/nonexistent/x"], "/nonexistent/x"),
    (["debug", "data_path=EMPTY"], "is not a dataset (no identifiers.json)"),
    (["debug", "data_path=DATA", "arch.num_heads=5"], "arch.hidden_size: must be divisible by arch.num_heads=5"),
])
def test_bad_input_fails_before_training(args, message, sudoku, tmp_path):
    (tmp_path / "empty").mkdir()
    args = [a.replace("DATA", str(sudoku)).replace("EMPTY", str(tmp_path / "empty")) for a in args]
    one_line_error(run_py("-m", "hrmlib.train", *args, f"run_dir={tmp_path / 'r'}"), message)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_checkpoint_of_another_vocabulary_is_refused(sudoku, tmp_path):
    ck = FIXTURES / "hrm-reference" / "state_dict.eager.pt"  # V=7, hidden 64: not a debug sudoku model
    one_line_error(train(sudoku, f"run_dir={tmp_path / 'r'}", f"init_from={ck}"),
                   f"init_from={ck} does not fit the model",
                   "embed.weight is (7, 64) in the checkpoint, (11, 64) in the model")
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_dataset_with_other_identifiers_is_refused(tmp_path):
    a = tiny(tmp_path / "a", ["<blank>", "a", "b", "c", "d"])
    b = tiny(tmp_path / "b", ["<blank>", "a", "b", "x", "d"])
    train(a, f"run_dir={tmp_path / 'ra'}", *FIXTURE_ARCH, "max_steps=1", check=True)
    one_line_error(train(b, f"run_dir={tmp_path / 'rb'}", *FIXTURE_ARCH, f"init_from={tmp_path / 'ra'}"),
                   "other puzzle identifiers", "first difference at index 3")
    assert not (tmp_path / "rb" / "metrics.jsonl").exists()


def test_tensorboard_sink_gets_every_logged_scalar(sudoku, tmp_path):
    """tensorboard=true (a dev dependency, so this runs in CI): the event file holds the same
    train and test numbers as metrics.jsonl."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run = tmp_path / "run"
    train(sudoku, f"run_dir={run}", "max_steps=3", "eval_interval=10", "tensorboard=true", check=True)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    for split in ("train", "test"):
        logged = rows(run, split)
        got = [(e.step, e.value) for e in acc.Scalars(f"{split}/exact_accuracy")]
        assert got == [(r["step"], pytest.approx(r["exact_accuracy"])) for r in logged]
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]


def test_wandb_sink_runs_offline_or_says_how_to_get_it(sudoku, tmp_path):
    """wandb is not a dependency: without it, wandb=offline is one clear error (exit 2); with it,
    the run logs offline into the run directory."""
    run = tmp_path / "run"
    r = train(sudoku, f"run_dir={run}", "max_steps=2", "wandb=offline", env={"WANDB_SILENT": "true"})
    try:
        import wandb  # noqa: F401 (only whether it imports matters)
    except ImportError:
        one_line_error(r)
        assert r.stderr.strip() == ("error: wandb=offline needs the wandb package, which is not installed: "
                                    "pip install wandb, or train without wandb=offline")
        return
    assert r.returncode == 0, r.stderr[-2000:]
    assert list((run / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_two_nodes_through_launch_multinode_train_like_one(sudoku, tmp_path):
    """launch/multinode as on a cluster: two torchrun agents (here on one host, one process each)
    meet at a c10d rendezvous and train as one world of 2, matching a single process."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    over = ["max_steps=6", "log_every=1"]
    train(sudoku, f"run_dir={tmp_path / 'one'}", *over, check=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, "NNODES": "2", "NPROC": "1",
           "RDZV_ENDPOINT": f"127.0.0.1:{port}", "RDZV_ID": f"test-{port}"}
    cmd = [str(ROOT / "launch" / "multinode"), "debug", f"data_path={sudoku}", f"run_dir={tmp_path / 'two'}", *over]
    nodes = [subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert sum("done: 6 steps" in log for log in logs) == 1  # global rank 0 reports, on whichever node it is
    assert not any("broadcast_buffers" in log for log in logs)  # no deprecation noise from DDP
    assert json.loads((tmp_path / "two" / "env.json").read_text())["world_size"] == 2
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert len(a) == len(b) == 6
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-4, abs=1e-6), (x, y)
