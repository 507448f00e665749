"""Train HRM or TRM on one CPU, one GPU, or many GPUs and nodes.

    python -m hrmlib.train debug max_steps=50                       # CPU, seconds (the debug data is built if missing)
    python -m hrmlib.train trm_debug data_path=data/sudoku-debug max_steps=50
    torchrun --standalone --nproc-per-node 8 -m hrmlib.train sudoku_extreme_1k data_path=data/sudoku-extreme-1k-aug-1000
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m hrmlib.train arc1
    python -m hrmlib.train resume=runs/<id> [max_steps=N]        # continue a killed run exactly
    python -m hrmlib.train resume=runs/<id>/checkpoints/step_N resume_changes=true lr=…  # rewind to a checkpoint
    python -m hrmlib.train resume=runs/<id>/checkpoints/step_N run_dir=runs/<new> lr=…   # branch a new run

The step is `hrmlib.train.step.train_step`; what a command asks for (new, resume, rewind, branch) is
decided and checked in `hrmlib.train.resume` before anything is written; this file is the loop:
train, evaluate every eval_interval epochs and at the end, checkpoint, log.
"""
from __future__ import annotations

import sys
import time
from contextlib import ExitStack, nullcontext
from pathlib import Path

from tqdm import tqdm

from .. import config as C
from .. import dist, runs
from ..data import TrainSampler, ensure_data, fingerprint, load_split, read_identifiers
from ..errors import Interrupted, cli, io_error
from ..model import dims
from . import live, memory, resume
from .diagnostics import Watch
from .evaluation import evaluate
from .step import TrainError, TrainState, total_steps, train_step


def usage(argv: list[str]) -> str:
    """The usage, then every config key with its value (of the preset named first) and doc."""
    preset = argv[0] if argv[0] in C.PRESETS else None
    return (__doc__.strip() + f"\n\npresets: {', '.join(C.PRESETS)}\n\n"
            f"keys (key=value), with the values of {preset or 'the defaults'}:\n"
            + C.describe(C.load(preset) if preset else C.Config()))


def main(argv=None) -> int:
    try:
        with ExitStack() as cleanup:  # the run directory's lock is released on every way out
            return cli(lambda a: train(a, cleanup), argv, usage)
    finally:
        dist.close()


def train(argv: list[str], cleanup: ExitStack) -> int:
    p = resume.plan(argv)
    cfg, d = p.cfg, dist.init(p.cfg.device)
    data = dist.on_main(lambda: ensure_data(p.preset, cfg.data_path), d)  # a built-in recipe is built if missing
    train_split, test_split = load_split(data, "train"), load_split(data, "test")
    meta, gbs = train_split.meta, cfg.global_batch_size
    info = {"identifiers": read_identifiers(data), "dims": dims(meta), "dataset": fingerprint(data)}
    if gbs % d.world:
        raise C.ConfigError(f"global_batch_size={gbs} must divide by the {d.world} processes")
    total = total_steps(cfg, meta)
    if total < 1:
        raise C.ConfigError(f"global_batch_size={gbs} is more than the {cfg.epochs} epoch(s) of "
                            f"{meta.total_groups} puzzle groups in {data} hold, so no step is planned; lower it")
    runs.check_sinks(cfg)
    init = runs.weights(cfg.init_from, cfg.arch.name, info["identifiers"]) if cfg.init_from and not p.resuming else None
    ck, state, mine = runs.load_latest(p.source, d, d.device, p.at) if p.resuming else (None, None, None)
    let_through = resume.check(p, state, info, d) if p.resuming else {}
    s = TrainState.create(cfg, info, d, total, init, (state, mine) if p.resuming else None)
    p.record(s.prog.step, let_through)
    p.open(ck, s.prog.step, d, cleanup)  # everything is checked: only now is anything written
    try:
        return loop(s, p.run, train_split, test_split)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted at step {s.prog.step}; {last_checkpoint(p.run)}; resume with: "
                          f"python -m hrmlib.train resume={p.run}") from None
    except TrainError as e:
        raise TrainError(f"{e} {good_checkpoints(p.run, s.prog)}") from None
    except OSError as e:  # a full disk while writing metrics or a figure: say what is still whole
        raise io_error(e, f"{last_checkpoint(p.run)}; free space, then resume with "
                          f"python -m hrmlib.train resume={p.run}") from None


def loop(s: TrainState, run: Path, train_split, test_split) -> int:
    cfg, d, prog, gbs = s.cfg, s.d, s.prog, s.cfg.global_batch_size
    interval = cfg.eval_interval or cfg.epochs
    iters, sampler = cfg.epochs // interval, TrainSampler(train_split, gbs, cfg.seed, interval)
    # the original's count drives the lr schedule; the loader yields fewer when it drops partial batches
    stop_at = min(sampler.steps(iters) or s.total, cfg.max_steps or s.total)
    log = runs.Metrics(run, cfg, d.main)
    log.truncate_after(prog.step)
    if d.main:
        print(f"run {run}\n{sum(x.numel() for x in s.model.parameters()):,} parameters · {d.world} process(es) on "
              f"{d.device} · {s.total} steps planned, stopping at {stop_at}\n{memory.describe(memory.estimate(s))}",
              flush=True)
    bar = tqdm(total=stop_at, initial=prog.step, disable=not (d.main and sys.stderr.isatty()), dynamic_ncols=True)
    watch, every, t0, t_last = Watch(cfg.arch.halt_max_steps), max(1, stop_at // 20), time.time(), time.time()
    for batch in stream(sampler, prog, iters, stop_at):
        if batch is not None:
            logged = (prog.step + 1) % cfg.log_every == 0 or prog.step + 1 == stop_at
            row = train_step(s, batch, log=logged)
            bar.update(1)
            if logged:
                now, groups = time.time(), max(1, train_split.meta.total_groups)
                row = {"step": prog.step, "epoch": prog.iteration * interval + prog.batch * gbs / groups,
                       "split": "train", **row, "examples_per_s": gbs * cfg.log_every / max(now - t_last, 1e-9),
                       "wall_time": now - t0}
                t_last = now
                log.log(row)
                report(row, watch, bar, d, every, stop_at)
        last_step = prog.step >= stop_at
        if batch is None or last_step:  # every eval_interval epochs, as the original, and at the end
            if eval_and_checkpoint(s, test_split, run, log) or last_step:
                break  # done, or early stop
        elif cfg.checkpoint_every and prog.step % cfg.checkpoint_every == 0:
            checkpoint(s, run)
    bar.close()
    log.close()
    if d.main:
        print(f"done: {prog.step} steps; run directory {run}", flush=True)
    return 0


def stream(sampler: TrainSampler, prog, iters: int, stop_at: int):
    """Global batches across iterations from where `prog` is; None marks the end of one (eval time)."""
    while prog.iteration < iters and prog.step < stop_at:
        yield from sampler.iteration(prog.iteration, start=prog.batch)
        prog.iteration, prog.batch = prog.iteration + 1, 0
        yield None


def report(row: dict, watch: Watch, bar, d, every: int, stop_at: int):
    """Warnings, the progress bar's numbers, and without a terminal a line every 5 % of the run."""
    for warning in watch(row) if d.main else ():
        print(warning, flush=True)
    bar.set_postfix(loss=f"{row['loss']:.3f}", exact=f"{row['exact_accuracy']:.3f}")
    if d.main and not sys.stderr.isatty() and (row["step"] % every == 0 or row["step"] == stop_at):
        print(f"step {row['step']}/{stop_at} loss {row['loss']:.4f} exact_accuracy {row['exact_accuracy']:.3f} "
              f"accuracy {row['accuracy']:.3f} {row['examples_per_s']:.0f} ex/s", flush=True)


def checkpoint(s: TrainState, run: Path):
    state, mine = s.state_dict()
    if not runs.finite(state["model"], state["opts"], state.get("raw_params", {})):
        raise TrainError(f"the weights or optimizer state hold inf/NaN after step {s.prog.step}: not checkpointed.")
    runs.save_checkpoint(run, s.prog.step, state, mine, s.d, s.cfg.keep_last, s.prog.best_step)


def eval_and_checkpoint(s: TrainState, test_split, run: Path, log) -> bool:
    """Evaluate (the average, with EMA), log, checkpoint (keeping the best); True when early
    stopping says stop."""
    cfg, prog = s.cfg, s.prog
    with s.ema.applied() if s.ema else nullcontext():
        res = evaluate(s.model, test_split, cfg, s.d, run / "eval" / f"step_{prog.step}")
        live.write(s.model, test_split, cfg, s.d, run, prog.step)  # a few puzzles per segment, for notebook 02's panel
    log.log({"step": prog.step, "epoch": prog.iteration * (cfg.eval_interval or cfg.epochs), "split": "test", **res})
    if s.d.main:
        print(f"eval step {prog.step}: exact_accuracy {res['exact_accuracy']:.4f} accuracy {res['accuracy']:.4f} "
              f"({res['count']} puzzles)", flush=True)
    if res["exact_accuracy"] > prog.best:
        prog.best, prog.best_step, prog.bad_evals = res["exact_accuracy"], prog.step, 0
    else:
        prog.bad_evals += 1
    checkpoint(s, run)
    return bool(cfg.early_stop_patience and prog.bad_evals >= cfg.early_stop_patience)


def last_checkpoint(run: Path) -> str:
    found = runs.checkpoints(run)
    return f"the last complete checkpoint, {found[-1]}, is intact" if found else "no checkpoint was written yet"


def good_checkpoints(run: Path, prog) -> str:
    """Where to go back to after a divergence: the newest checkpoint (every one was checked finite
    when written) and the best evaluated one, which usually predates the divergence."""
    found = runs.checkpoints(run)
    if not found:
        return "There is no checkpoint yet: start again with a lower lr (or arch.forward_dtype=float32)."
    best = run / "checkpoints" / f"step_{prog.best_step}"
    also = f"; the best evaluated one: {best}" if prog.best_step and best.exists() and best != found[-1] else ""
    return (f"Last good checkpoint: {found[-1]}{also}. Resume from one with a lower lr "
            f"(or arch.forward_dtype=float32): python -m hrmlib.train resume={best if also else found[-1]} "
            f"resume_changes=true lr=…")


if __name__ == "__main__":
    sys.exit(main())
