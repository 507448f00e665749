"""Train HRM or TRM on one CPU, one GPU, or many GPUs and nodes (HRM-SPEC §5, TRM-SPEC §6–8).

    python -m hrmlib.train debug data_path=data/sudoku-debug max_steps=50
    python -m hrmlib.train trm_debug data_path=data/sudoku-debug max_steps=50
    torchrun --standalone --nproc-per-node 8 -m hrmlib.train sudoku_extreme_1k data_path=data/sudoku-extreme-1k-aug-1000
    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m hrmlib.train arc1
    python -m hrmlib.train resume=runs/<id> [max_steps=N]        # continue a killed run exactly
    python -m hrmlib.train resume=runs/<id>/checkpoints/step_N resume_changes=true lr=…  # rewind to a checkpoint

Carry training as the original: the ACT carry persists across batches, a slot whose puzzle halted
takes the batch's row at its index, running slots drop theirs, and every call is one optimizer
step (deep supervision). The global batch is split across ranks; gradients are averaged by DDP's
bucketed all-reduce; the puzzle table is trained by sign-SGD on gathered rows. With `ema=true`
(the TRM presets) an average of the weights is kept, evaluated and checkpointed (`hrmlib.train.ema`).
"""
from __future__ import annotations

import inspect
import json
import math
import os
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as tdist
from tqdm import tqdm

from .. import ROOT, dist, runs
from .. import config as C
from ..compat import to_ours
from ..data import DataError, TrainSampler, load_split, local_slice, read_identifiers, to_torch
from ..model import Carry, CompatError, build, dims, forward_dtype, load_checked
from ..model.losses import act_loss
from . import live
from .diagnostics import Diagnostics, Watch
from .ema import EMA
from .evaluate import evaluate
from .optim import make_optimizers, set_lr

DDP = torch.nn.parallel.DistributedDataParallel
# The buffers (H_init/L_init, RoPE tables) are identical on every rank by construction: no per-step
# sync. torch 2.13 renames broadcast_buffers (now warning on every rank) to forward_sync_buffers.
NO_BUFFER_SYNC = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DDP).parameters
                  else {"broadcast_buffers": False})
METRIC_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss",
               "q_continue_loss", "would_halt", "explore_blocked", "halted", "loss")


class TrainError(RuntimeError):
    """The run cannot go on (bad checkpoint, non-finite loss, …); the message says what to do."""


@dataclass
class Progress:
    step: int = 0  # optimizer steps done
    iteration: int = 0  # current iteration (eval_interval epochs each; an evaluation ends each)
    batch: int = 0  # global batches of the current iteration consumed
    best_step: int | None = None
    best: float = -1.0
    bad_evals: int = 0


# Overrides a resume may carry without changing what is trained; anything else needs resume_changes=true.
RESUME_SAFE = {"max_steps", "checkpoint_every", "keep_last", "log_every", "early_stop_patience", "tensorboard",
               "wandb", "device", "compile", "eval_halting", "resume", "run_dir", "resume_changes", "overwrite", "live"}


def resolve_config(argv: list[str]) -> tuple[str, C.Config, dict]:
    """`PRESET key=value …`, or `resume=RUN key=value …` (the run's saved config is the base).
    Returns (preset, config, the saved config.json's history plus this resume's changes)."""
    preset, over = (argv[0], argv[1:]) if argv and "=" not in argv[0] else (None, argv)
    resume = next((o.split("=", 1)[1] for o in over if o.startswith("resume=")), None)
    if not resume:
        if preset is None:
            raise C.ConfigError(f"give a preset first: python -m hrmlib.train PRESET [key=value …]; presets: "
                                f"{', '.join(C.PRESETS)}")
        return preset, C.load(preset, over), {"history": [], "changes": {}, "at": None}
    at = None
    if (Path(resume) / "state.pt").exists():  # one checkpoint of a run: rewind to it (later steps are redone)
        at, resume = Path(resume), str(Path(resume).parent.parent)
    path = Path(resume) / "config.json"
    if not path.is_file():
        raise runs.RunError(f"resume={resume}: no config.json there; expected a run directory runs/<id>")
    saved = json.loads(path.read_text())
    base = C.from_saved(saved["config"])
    cfg = C.apply(base, [o for o in over if not o.startswith("resume=")] + [f"resume={resume}", f"run_dir={resume}"])
    changes = {k: v for k, v in C.diff(base, cfg).items() if k not in ("resume", "run_dir")}
    risky = {k: v for k, v in changes.items() if k not in RESUME_SAFE}
    if "global_batch_size" in risky:
        raise C.ConfigError("global_batch_size cannot change on resume: each process's ACT carry holds "
                            "global_batch_size / processes rows; start a new run with init_from= instead")
    if risky and not cfg.resume_changes:
        listed = ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in risky.items())
        raise C.ConfigError(f"resume={resume}: these overrides change what is trained: {listed}; resume without "
                            f"them, or pass resume_changes=true to apply them anyway (recorded in config.json)")
    return saved["preset"], cfg, {"history": saved.get("history", []), "changes": changes, "at": at}


def total_steps(cfg: C.Config, meta) -> int:
    return int(cfg.epochs * meta.total_groups * meta.mean_puzzle_examples / cfg.global_batch_size)


def load_weights(model, path: str, identifiers: list[str]):
    """init_from: an hrmlib checkpoint (or run directory; with EMA its averaged weights) or an original
    HRM/TRM checkpoint file of the configured family."""
    p = Path(path)
    if p.is_dir():  # a run's newest checkpoint, or the one named
        ck = runs.find_checkpoint(p)
        state = torch.load(ck / "state.pt", map_location="cpu", weights_only=True)
        runs.check_identifiers(state["identifiers"], identifiers, ck)
        sd = state["model"]
    elif p.is_file():
        sd = to_ours(torch.load(p, map_location="cpu", weights_only=True), model.family)
    else:
        raise TrainError(f"init_from={path}: no such file or directory")
    try:
        load_checked(model, sd)
    except CompatError as e:
        raise TrainError(f"init_from={path} does not fit this model and dataset ({e})") from None


def reduce_metrics(m: dict, out: dict, carry: Carry, terms: dict, d: dist.Dist) -> torch.Tensor:
    vals = [m.get(k, torch.zeros(())) for k in METRIC_KEYS[:8]]
    vals += [out.get(k, torch.zeros(1)).sum() for k in METRIC_KEYS[8:10]]  # would_halt, explore_blocked
    vals += [carry.halted.sum(), terms["total"].detach()]
    v = torch.stack([torch.as_tensor(x, dtype=torch.float64, device=carry.steps.device) for x in vals])
    if d.world > 1:
        tdist.all_reduce(v)  # all ranks need the loss to agree on a NaN stop
    return v


def train_row(v: torch.Tensor, gbs: int, continue_loss: bool = True) -> dict:
    """Original reduction (§2): *loss keys / global batch, others / rows halted now; plus ours.
    Without a continue target there is no q_continue_loss (as TRM logs)."""
    s = dict(zip(METRIC_KEYS, v.tolist()))
    n = max(s["count"], 1)
    row = {k: s[k] / gbs for k in ("lm_loss", "q_halt_loss") + ("q_continue_loss",) * continue_loss + ("loss",)}
    row |= {k: s[k] / n for k in ("accuracy", "exact_accuracy", "q_halt_accuracy")}
    row |= {"act_steps": s["steps"] / n, "count": int(s["count"]), "halted_fraction": s["halted"] / gbs,
            "explore_blocked": s["explore_blocked"] / max(s["would_halt"], 1)}  # share of halts exploration blocked
    return row


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):  # the usage, then every config key with its value and doc
        preset = argv[0] if argv[0] in C.PRESETS else None
        print(__doc__.strip() + f"\n\npresets: {', '.join(C.PRESETS)}\n\n"
              f"keys (key=value), with the values of {preset or 'the defaults'}:\n"
              + C.describe(C.load(preset) if preset else C.Config()))
        return 0
    try:
        with ExitStack() as cleanup:  # the run directory's lock is released on every way out
            return train(argv, cleanup)
    except (C.ConfigError, DataError, CompatError, TrainError, runs.IdentifierMismatch, runs.RunError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        dist.close()


def train(argv: list[str], cleanup: ExitStack) -> int:
    preset, cfg, record = resolve_config(argv)
    d = dist.init(cfg.device)
    data = Path(cfg.data_path)
    train_split, test_split = load_split(data, "train"), load_split(data, "test")
    identifiers = read_identifiers(data)
    meta, gbs, interval = train_split.meta, cfg.global_batch_size, cfg.eval_interval or cfg.epochs
    if gbs % d.world:
        raise C.ConfigError(f"global_batch_size={gbs} must divide by the {d.world} processes")
    B = gbs // d.world
    total = total_steps(cfg, meta)
    if total < 1:
        raise C.ConfigError(f"global_batch_size={gbs} is more than the {cfg.epochs} epoch(s) of "
                            f"{meta.total_groups} puzzle groups in {data} hold, so no step is planned; lower it")
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build(cfg.arch, meta, forward_dtype(cfg.arch.forward_dtype, d.device.type)).to(d.device)
    opts = make_optimizers(model, cfg)
    if cfg.init_from and not cfg.resume:
        load_weights(model, cfg.init_from, identifiers)

    # Everything is checked: only now is anything written. One trainer per run directory (the lock).
    run = Path(dist.broadcast_object(str(cfg.run_dir or ROOT / "runs" / runs.new_run_id(preset)), d))
    open_run(run, cfg, d, cleanup)

    explore_gen = torch.Generator().manual_seed(cfg.seed + 1)  # global-batch exploration draws
    prog, carry, state = Progress(), None, {}
    if cfg.resume:
        ckpt, state, mine = runs.load_latest(run, d, d.device, record["at"])
        runs.check_identifiers(state["identifiers"], identifiers, ckpt)
        load_checked(model, state["model"])  # the average, when the run keeps one
        for o, s in zip(opts, state["opts"]):
            o.load_state_dict(s)
        # names in checkpoints written before 2026-12 (and their unused, always empty "history")
        renamed = {"it": "iteration", "k": "batch"}
        prog = Progress(**{renamed.get(k, k): v for k, v in state["progress"].items() if k != "history"})
        explore_gen.set_state(state["explore_rng"])
        # the rank file was mapped to the training device (its carry), but generator states live on the
        # CPU (a CUDA resume failed with "RNG state must be a torch.ByteTensor" on the first H200 run)
        torch.set_rng_state(mine["torch_rng"].cpu())
        carry = Carry(**mine["carry"]) if mine["carry"] else None
        if record["at"] and d.main:
            runs.set_aside_after(run, prog.step)
        if record["changes"]:  # what this resume changed, and from which step (config.json's history)
            record["history"].append({"step": prog.step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                      "changes": {k: list(v) for k, v in record["changes"].items()}})
    if d.main:  # the action flags are not part of the run's config: a later resume must ask again
        saved = C.apply(cfg, ["resume_changes=false", "overwrite=false"])
        runs.atomic_write(run / "config.json", json.dumps({"preset": preset, "config": saved.to_dict(),
                                                           "history": record["history"]}, indent=2))
    ema = EMA(model, cfg.ema_rate, cfg.ema_warmup) if cfg.ema else None  # its shadow: the weights loaded (average)
    if "raw_params" in state:  # the weights training continues from, saved beside the average
        model.load_state_dict(state["raw_params"], strict=False)

    diagnostics = Diagnostics(model, d.world) if cfg.diagnostics else None
    watch = Watch(cfg.arch.halt_max_steps)
    ddp = DDP(model, **NO_BUFFER_SYNC) if d.world > 1 else model
    use_compile = d.device.type == "cuda" if cfg.compile is None else cfg.compile
    fwd = torch.compile(ddp, dynamic=False) if use_compile and "DISABLE_COMPILE" not in os.environ else ddp

    iters = cfg.epochs // interval
    sampler = TrainSampler(train_split, gbs, cfg.seed, interval)
    # the original's count drives the lr schedule; the loader yields fewer when it drops partial batches
    stop_at = min(sampler.steps(iters) or total, cfg.max_steps or total)
    log = runs.Metrics(run, cfg, d.main)
    log.truncate_after(prog.step)
    if d.main:
        print(f"run {run}\n{sum(p.numel() for p in model.parameters()):,} parameters · {d.world} process(es) on "
              f"{d.device} · {total} steps planned, stopping at {stop_at}", flush=True)
    bar = tqdm(total=stop_at, initial=prog.step, disable=not (d.main and sys.stderr.isatty()), dynamic_ncols=True)
    every = max(1, stop_at // 20)
    t0, t_last = time.time(), time.time()

    def checkpoint():
        state = {"model": ema.state_dict(model) if ema else model.state_dict(), "opts": [o.state_dict() for o in opts],
                 "progress": vars(prog), "explore_rng": explore_gen.get_state(), "identifiers": identifiers,
                 "world_size": d.world, "config": cfg.to_dict(),
                 "dims": dims(meta)}
        if ema:
            state["raw_params"] = {n: p.detach() for n, p in zip(ema.names, ema.params)}
        if not runs.finite(state["model"], state["opts"], state.get("raw_params", {})):
            raise TrainError(f"the weights or optimizer state hold inf/NaN after step {prog.step}: not "
                             f"checkpointed. {good_checkpoints(run, prog)}")
        mine = {"carry": vars(carry) if carry is not None else None, "torch_rng": torch.get_rng_state()}
        runs.save_checkpoint(run, prog.step, state, mine, d, cfg.keep_last, prog.best_step)

    def stream():  # batches across iterations; None marks the end of one (eval time)
        while prog.iteration < iters and prog.step < stop_at:
            yield from sampler.iteration(prog.iteration, start=prog.batch)
            prog.iteration, prog.batch = prog.iteration + 1, 0
            yield None

    def train_step(batch):  # one optimizer step on one global batch (deep supervision: one ACT segment)
        nonlocal carry, t_last
        local = to_torch(local_slice(batch, d.rank, d.world), d.device)
        u = torch.rand(gbs, generator=explore_gen)
        # U{2..max} minimum segments; with halt_max_steps=1 there is nothing to explore
        draw = torch.randint(2, max(cfg.arch.halt_max_steps, 2) + 1, (gbs,), generator=explore_gen, dtype=torch.int32)
        explore = (u[d.rank * B:(d.rank + 1) * B].to(d.device), draw[d.rank * B:(d.rank + 1) * B].to(d.device))
        if carry is None:
            carry = model.initial_carry(local)
        model.train()
        carry, out = fwd(carry, local, explore)
        terms, m = act_loss(out, carry, cfg.arch.loss.loss_type, cfg.arch.loss.mask_padding_rows)
        (terms["total"] * (d.world / gbs)).backward()  # DDP averages: global mean
        logged = (prog.step + 1) % cfg.log_every == 0 or prog.step + 1 == stop_at
        diag = diagnostics.grads() if diagnostics and logged else {}
        sums = reduce_metrics(m, out, carry, terms, d)
        loss = sums[METRIC_KEYS.index("loss")].item()
        if not math.isfinite(loss):
            raise TrainError(f"loss became {loss} at step {prog.step + 1}; no update was applied. "
                             f"{good_checkpoints(run, prog)} (or arch.forward_dtype=float32)")
        prog.step, prog.batch = prog.step + 1, prog.batch + 1
        lrs = set_lr(opts, prog.step, total, cfg)
        for o in opts:
            o.step()
            o.zero_grad()
        if ema:
            ema.update(prog.step)
        bar.update(1)
        if logged:
            diag |= diagnostics.update() if diagnostics else {}
            now = time.time()
            row = {"step": prog.step, "epoch": prog.iteration * interval + prog.batch * gbs / max(1, meta.total_groups),
                   "split": "train", **train_row(sums, gbs, cfg.arch.continue_loss), "lr": lrs[-1],
                   **({"lr_puzzle_emb": lrs[0]} if len(lrs) > 1 else {}), **diag,
                   "examples_per_s": gbs * cfg.log_every / max(now - t_last, 1e-9), "wall_time": now - t0}
            t_last = now
            log.log(row)
            for warning in watch(row) if d.main else ():
                print(warning, flush=True)
            bar.set_postfix(loss=f"{row['loss']:.3f}", exact=f"{row['exact_accuracy']:.3f}")
            if d.main and not sys.stderr.isatty() and (prog.step % every == 0 or prog.step == stop_at):
                print(f"step {prog.step}/{stop_at} loss {row['loss']:.4f} exact_accuracy "
                      f"{row['exact_accuracy']:.3f} accuracy {row['accuracy']:.3f} "
                      f"{row['examples_per_s']:.0f} ex/s", flush=True)

    for batch in stream():
        if batch is not None:
            train_step(batch)
        last_step = prog.step >= stop_at
        if batch is None or last_step:  # every eval_interval epochs, as the original, and at the end
            if eval_and_checkpoint(model, test_split, cfg, d, run, prog, log, checkpoint, ema) or last_step:
                break  # done, or early stop
        elif cfg.checkpoint_every and prog.step % cfg.checkpoint_every == 0:
            checkpoint()
    bar.close()
    log.close()
    if d.main:
        print(f"done: {prog.step} steps; run directory {run}", flush=True)
    return 0


def good_checkpoints(run: Path, prog: Progress) -> str:
    """Where to go back to after a divergence: the newest checkpoint (every one was checked finite
    when written) and the best evaluated one, which usually predates the divergence."""
    found = runs.checkpoints(run)
    if not found:
        return "There is no checkpoint yet: start again with a lower lr."
    best = run / "checkpoints" / f"step_{prog.best_step}"
    also = f"; the best evaluated one: {best}" if prog.best_step and best.exists() and best != found[-1] else ""
    return (f"Last good checkpoint: {found[-1]}{also}. Resume from one with a lower lr: python -m hrmlib.train "
            f"resume={best if also else found[-1]} resume_changes=true lr=…")


def open_run(run: Path, cfg: C.Config, d: dist.Dist, cleanup: ExitStack):
    """Rank 0 creates and locks the run directory and checks it may be used as asked; a refusal
    reaches every rank (none waits at a barrier for a peer that gave up)."""
    err = None
    if d.main:
        try:
            try:
                run.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise runs.RunError(f"cannot create run_dir={run}: {e.strerror}") from None
            cleanup.enter_context(runs.Lock(run))
            runs.prepare(run, bool(cfg.resume), cfg.overwrite)
            runs.atomic_write(run / "env.json", json.dumps(runs.env_info(d), indent=2))
        except runs.RunError as e:
            err = str(e)
    err = dist.broadcast_object(err, d)
    if err:
        raise runs.RunError(err)


def eval_and_checkpoint(model, test_split, cfg, d, run, prog: Progress, log, checkpoint, ema=None) -> bool:
    """Evaluate (the average, with EMA), log, checkpoint (keeping the best); return True when early
    stopping says stop."""
    with ema.applied() if ema else nullcontext():
        res = evaluate(model, test_split, cfg, d, run / "eval" / f"step_{prog.step}")
        live.write(model, test_split, cfg, d, run, prog.step)  # a few puzzles per segment, for notebook 02's panel
    row = {"step": prog.step, "epoch": prog.iteration * (cfg.eval_interval or cfg.epochs), "split": "test", **res}
    log.log(row)
    if d.main:
        print(f"eval step {prog.step}: exact_accuracy {res['exact_accuracy']:.4f} accuracy {res['accuracy']:.4f} "
              f"({res['count']} puzzles)", flush=True)
    if res["exact_accuracy"] > prog.best:
        prog.best, prog.best_step, prog.bad_evals = res["exact_accuracy"], prog.step, 0
    else:
        prog.bad_evals += 1
    checkpoint()
    return bool(cfg.early_stop_patience and prog.bad_evals >= cfg.early_stop_patience)


if __name__ == "__main__":
    sys.exit(main())
