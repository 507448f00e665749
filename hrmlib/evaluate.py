"""Evaluate a checkpoint: exact and token accuracy, ACT steps, q-halt accuracy; ARC pass@K by voting.

    python -m hrmlib.evaluate checkpoint=runs/<id> [data_path=DIR] [global_batch_size=N]
    python -m hrmlib.evaluate checkpoint=ckpt/step_26040 data_path=DIR   # an original HRM/TRM checkpoint file
    torchrun --standalone --nproc-per-node 8 -m hrmlib.evaluate checkpoint=runs/<id>/checkpoints/step_N

Every test example runs all halt_max_steps segments (the original's eval, HRM-SPEC §5.3), or with
`eval_halting=q` stops when Q would halt it and its batch slot takes the next example (`refill`). Each
rank writes its own predictions — arg-max tokens, Q values, puzzle ids, example indices; not full
logits (P17) — and metrics are summed across ranks. Results go to `<run>/eval/step_<N>/` (an original
checkpoint's to a new `runs/<time>-eval-…/`; `out=DIR` chooses).
"""
from __future__ import annotations

import dataclasses as dc
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist
from tqdm.auto import tqdm

from . import dist, runs
from .losses import act_loss

EVAL_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss")
SAVED = ("index", "preds", "q_halt", "q_continue", "puzzle_identifiers", "steps")


def refill(model, fetch, n: int, B: int):
    """Adaptive evaluation (eval_halting=q): B slots work through stream positions 0..n-1 and a slot
    whose row halted takes the next one. `fetch(new)` returns a batch whose row i holds position
    new[i] (or padding where new[i] < 0; the model drops rows of slots that did not halt). Yields
    (each slot's position, -1 when idle; halted as numpy; carry; out) after every call, until all n
    have halted."""
    pos, nxt, carry, free = np.full(B, -1), 0, None, np.ones(B, bool)
    while True:
        new = np.full(B, -1)
        take = np.flatnonzero(free)[:n - nxt]
        new[take] = np.arange(nxt, nxt + len(take))
        nxt += len(take)
        pos = np.where(free, new, pos)
        if (pos < 0).all():
            return
        b = fetch(new)
        carry, out = model(model.initial_carry(b) if carry is None else carry, b, halt_on_q=True)
        free = carry.halted.cpu().numpy()  # the one host sync per call; it also picks the next slots
        yield pos, free, carry, out


def _keep(keep: dict, index, sel, carry, out):
    """Record the rows `sel` of a segment's outputs as finished examples `index`."""
    keep["index"].append(index)
    keep["preds"].append(out["logits"][sel].argmax(-1).to(torch.uint8).cpu().numpy())
    keep["q_halt"].append(out["q_halt_logits"][sel].float().cpu().numpy())
    keep["q_continue"].append(out["q_continue_logits"][sel].float().cpu().numpy())
    keep["puzzle_identifiers"].append(carry.data["puzzle_identifiers"][sel].cpu().numpy())
    keep["steps"].append(carry.steps[sel].cpu().numpy())


def evaluate(model, split, cfg, d: dist.Dist, out_dir: Path | None = None) -> dict:
    """Run the test split; return metrics averaged over labelled examples (all ranks get them)."""
    from .data import eval_batches, to_torch
    from .data.sampler import collate, puzzle_ids
    gbs, B = cfg.global_batch_size, cfg.global_batch_size // d.world
    loss_args = cfg.arch.loss.loss_type, cfg.arch.loss.mask_padding_rows
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(EVAL_KEYS), dtype=torch.float64, device=d.device)
    stack = lambda m: torch.stack([m[k].to(torch.float64) for k in EVAL_KEYS])
    segs = 0  # segment-rows spent on real (not padding) examples
    keep = {k: [] for k in SAVED}
    ex = np.arange(split.num_examples)
    stream = ex[ex % gbs // B == d.rank]  # this rank's examples, as eval_batches splits them
    watched = sys.stderr.isatty() or "ipykernel" in sys.modules  # a terminal or a notebook
    bar = tqdm(total=len(stream), desc="evaluate", unit="puzzle", leave=False, dynamic_ncols=True,
               disable=not (d.main and watched))
    t0 = time.perf_counter()
    with torch.inference_mode():
        if cfg.eval_halting == "max":
            for j, (batch, n) in enumerate(eval_batches(split, gbs, d.rank, d.world)):
                b = to_torch(batch, d.device)
                carry, calls = model.initial_carry(b), 0
                while True:  # eval mode halts only at halt_max_steps
                    carry, out = model(carry, b)
                    calls += 1
                    if carry.halted.all():
                        break
                _, m = act_loss(out, carry, *loss_args)
                sums += stack(m)
                segs += calls * n
                bar.update(n)
                if n:
                    _keep(keep, np.arange(n) + j * gbs + d.rank * B, slice(n), carry, out)
        else:
            def fetch(new):
                rows = stream[new[new >= 0]]
                b = collate(split, rows, puzzle_ids(split, rows), B)
                # collate pads at the end: move each real row to its slot
                order = np.argsort(np.r_[np.flatnonzero(new >= 0), np.flatnonzero(new < 0)])
                return to_torch({k: v[order] for k, v in b.items()}, d.device)

            for pos, halted, carry, out in refill(model, fetch, len(stream), B):
                done = halted & (pos >= 0)
                segs += int((pos >= 0).sum())
                # metrics and predictions of the examples that finished in this call; losses too are
                # over those rows only, so padding never enters q_halt_loss here, whatever
                # arch.loss.mask_padding_rows says ("max" keeps the original's P1 behaviour)
                if done.any():
                    sel = torch.from_numpy(done).to(d.device)
                    fin = dc.replace(carry, steps=carry.steps[sel], halted=carry.halted[sel],
                                     data={k: v[sel] for k, v in carry.data.items()})
                    _, m = act_loss({k: v[sel] for k, v in out.items()}, fin, *loss_args)
                    sums += stack(m)
                    _keep(keep, stream[pos[done]], sel, carry, out)
                    bar.update(int(done.sum()))
    bar.close()
    sums = torch.cat([sums, torch.tensor([segs, len(stream)], dtype=torch.float64, device=d.device)])
    if d.world > 1:
        tdist.all_reduce(sums)  # the only collective: ranks may have made different numbers of calls
    s = dict(zip(EVAL_KEYS + ("segments", "examples"), sums.tolist()))
    n = max(s["count"], 1)
    res = {"count": int(s["count"]), "exact_accuracy": s["exact_accuracy"] / n, "accuracy": s["accuracy"] / n,
           "q_halt_accuracy": s["q_halt_accuracy"] / n, "act_steps": s["steps"] / n,
           "lm_loss": s["lm_loss"] / n, "q_halt_loss": s["q_halt_loss"] / n,
           "segments": s["segments"] / max(s["examples"], 1),  # forward segments spent per example
           "seconds": time.perf_counter() - t0}  # wall time of this evaluation (not a metric: varies)
    res["puzzles_per_s"] = s["examples"] / max(res["seconds"], 1e-9)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in keep.items()}
        order = np.argsort(arrays["index"], kind="stable")  # "q" finishes examples out of order
        tmp = out_dir / f".preds.rank{d.rank}.tmp.npz"
        np.savez(tmp, **{k: v[order] for k, v in arrays.items()})
        tmp.replace(out_dir / f"preds.rank{d.rank}.npz")
        if d.main:  # files of ranks beyond this world size are from an earlier, larger evaluation
            for p in out_dir.glob("preds.rank*.npz"):
                if int(p.stem.removeprefix("preds.rank")) >= d.world:
                    p.unlink()
        if (Path(cfg.data_path) / "augmentations.json").exists():  # ARC: vote across augmentations
            dist.barrier(d)
            if d.main:
                from .arc_eval import vote_dir
                res |= vote_dir(out_dir, Path(cfg.data_path))
        if d.main:
            runs.atomic_write(out_dir / "metrics.json", json.dumps(res, indent=2))
    model.train(was_training)
    return res


def load_preds(eval_dir: Path) -> dict[str, np.ndarray]:
    """All ranks' predictions of one evaluation, in example order."""
    parts = [dict(np.load(p)) for p in sorted(Path(eval_dir).glob("preds.rank*.npz"))]
    if not parts:
        raise FileNotFoundError(f"no preds.rank*.npz in {eval_dir}")
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cat["index"], kind="stable")
    return {k: v[order] for k, v in cat.items()}


def from_original(ck: Path, kv: dict, device) -> tuple:
    """(config, model, default output dir) for an original HRM/TRM checkpoint file. Its
    all_config.yaml is read from beside it, as the original writes it, or from `config=`."""
    from . import config as C
    from .compat import arch_from_original, load_original, read_config
    from .data import load_split
    from .model import forward_dtype
    yml = Path(kv.pop("config", ck.parent / "all_config.yaml"))
    if not yml.is_file():
        raise C.ConfigError(f"checkpoint={ck} is an original checkpoint file, but there is no {yml}; pass its "
                            f"all_config.yaml as config=PATH")
    full = read_config(yml)
    arch, _ = arch_from_original(full)
    data = full.get("data_path") or (full.get("data_paths") or [""])[0]  # HRM: data_path; TRM: data_paths
    cfg = C.apply(C.Config(arch=arch, data_path=data, global_batch_size=full.get("global_batch_size", 768)),
                  [f"{k}={v}" for k, v in kv.items()])
    meta = load_split(Path(cfg.data_path), "test").meta
    dims = {k: getattr(meta, k) for k in ("vocab_size", "seq_len", "num_puzzle_identifiers")}
    model = load_original(ck, full, dims, forward_dtype(cfg.arch.forward_dtype, device.type))
    name = re.sub(r"[^\w.-]+", "-", f"eval-{ck.parent.name}-{ck.name}")  # original run names have spaces
    return cfg, model, runs.ROOT / "runs" / runs.new_run_id(name)


def main(argv=None) -> int:
    from . import config as C
    from .compat import CompatError
    from .data import DataError, load_split, read_identifiers
    from .model import build, forward_dtype
    from .train import TrainError
    argv = sys.argv[1:] if argv is None else argv
    try:
        kv = dict(a.split("=", 1) for a in argv if "=" in a)
        if "checkpoint" not in kv or len(kv) != len(argv):
            raise C.ConfigError("usage: python -m hrmlib.evaluate checkpoint=RUN_OR_STEP_DIR [key=value …]\n"
                                "       python -m hrmlib.evaluate checkpoint=ORIGINAL_FILE [config=all_config.yaml] "
                                "[data_path=DIR] [key=value …]")
        ck = Path(kv.pop("checkpoint"))
        out_arg = kv.pop("out", None)
        d = dist.init(kv.get("device", "auto"))
        if ck.is_file():  # an original HRM/TRM checkpoint
            cfg, model, out = from_original(ck, kv, d.device)
            model = model.to(d.device)
            split = load_split(Path(cfg.data_path), "test")
        else:
            run = ck
            if not (ck / "state.pt").exists():
                found = runs.checkpoints(ck)
                if not found:
                    raise TrainError(f"checkpoint={ck}: no hrmlib checkpoint there (expected runs/<id>, step_<N>, or "
                                     f"an original checkpoint file)")
                ck = found[-1]
            try:
                state = runs.load_state(ck)
            except runs.RunError as e:
                good, _ = runs.usable(run) if run != ck else ([], [])
                raise runs.RunError(f"{e}; " + (f"usable: {', '.join(g.name for g in good)} (pass checkpoint="
                                                 f"{good[0]})" if good else "no other checkpoint to use")) from None
            trained = C.from_dict(C.Config, state["config"])
            cfg = C.apply(trained, [f"{k}={v}" for k, v in kv.items()])
            data = Path(cfg.data_path)
            split = load_split(data, "test")
            runs.check_identifiers(state["identifiers"], read_identifiers(data), ck)
            model = build(cfg.arch, split.meta, forward_dtype(cfg.arch.forward_dtype, d.device.type)).to(d.device)
            from .compat import load_checked
            load_checked(model, state["model"])
            # another dataset's evaluation goes beside, never over, the run's own eval/step_<N>
            same = data.resolve() == Path(trained.data_path).resolve()
            out = ck.parent.parent / "eval" / (ck.name if same else f"{ck.name}-{data.name}")
        out = Path(out_arg) if out_arg else out
        res = evaluate(model, split, cfg, d, out)
        if d.main:
            print(json.dumps(res, indent=2))
            print(f"written to {out}")
        return 0
    except (C.ConfigError, DataError, CompatError, TrainError, runs.IdentifierMismatch, runs.RunError,
            FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # out= (or the run) cannot be written
        print(f"error: {e.filename}: {e.strerror}; choose a writable out=DIR", file=sys.stderr)
        return 2
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
