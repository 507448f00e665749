"""Evaluate a checkpoint: exact and token accuracy, ACT steps, q-halt accuracy; ARC pass@K by voting.

    python -m hrmlib.evaluate checkpoint=runs/<id> [data_path=DIR] [global_batch_size=N]
    torchrun --standalone --nproc-per-node 8 -m hrmlib.evaluate checkpoint=runs/<id>/checkpoints/step_N

Every test example runs all halt_max_steps segments (the original's eval, HRM-SPEC §5.3). Each
rank writes its own predictions — arg-max tokens, Q values, puzzle ids, example indices; not full
logits (P17) — and metrics are summed across ranks. Results go to `<run>/eval/step_<N>/`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist

from . import dist, runs
from .losses import act_loss

EVAL_KEYS = ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss")


def evaluate(model, split, cfg, d: dist.Dist, out_dir: Path | None = None) -> dict:
    """Run the test split; return metrics averaged over labelled examples (all ranks get them)."""
    from .data import eval_batches, to_torch
    gbs, B = cfg.global_batch_size, cfg.global_batch_size // d.world
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(EVAL_KEYS), dtype=torch.float64, device=d.device)
    keep = {k: [] for k in ("index", "preds", "q_halt", "q_continue", "puzzle_identifiers")}
    with torch.inference_mode():
        for j, (batch, n) in enumerate(eval_batches(split, gbs, d.rank, d.world)):
            b = to_torch(batch, d.device)
            carry = model.initial_carry(b)
            while True:  # eval mode halts only at halt_max_steps
                carry, out = model(carry, b)
                if carry.halted.all():
                    break
            _, m = act_loss(out, carry, cfg.arch.loss.loss_type, cfg.arch.loss.mask_padding_rows)
            sums += torch.stack([m[k].to(torch.float64) for k in EVAL_KEYS])
            if n:
                keep["index"].append(np.arange(n) + j * gbs + d.rank * B)
                keep["preds"].append(out["logits"][:n].argmax(-1).to(torch.uint8).cpu().numpy())
                keep["q_halt"].append(out["q_halt_logits"][:n].float().cpu().numpy())
                keep["q_continue"].append(out["q_continue_logits"][:n].float().cpu().numpy())
                keep["puzzle_identifiers"].append(b["puzzle_identifiers"][:n].cpu().numpy())
    if d.world > 1:
        tdist.all_reduce(sums)
    s = dict(zip(EVAL_KEYS, sums.tolist()))
    n = max(s["count"], 1)
    res = {"count": int(s["count"]), "exact_accuracy": s["exact_accuracy"] / n, "accuracy": s["accuracy"] / n,
           "q_halt_accuracy": s["q_halt_accuracy"] / n, "act_steps": s["steps"] / n,
           "lm_loss": s["lm_loss"] / n, "q_halt_loss": s["q_halt_loss"] / n}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in keep.items()}
        tmp = out_dir / f".preds.rank{d.rank}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(out_dir / f"preds.rank{d.rank}.npz")
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


def main(argv=None) -> int:
    from . import config as C
    from .compat import CompatError
    from .data import DataError, load_split
    from .model import build, forward_dtype
    from .train import TrainError
    argv = sys.argv[1:] if argv is None else argv
    try:
        kv = dict(a.split("=", 1) for a in argv if "=" in a)
        if "checkpoint" not in kv or len(kv) != len(argv):
            raise C.ConfigError("usage: python -m hrmlib.evaluate checkpoint=RUN_OR_STEP_DIR [key=value …]")
        ck = Path(kv.pop("checkpoint"))
        if not (ck / "state.pt").exists():
            found = runs.checkpoints(ck)
            if not found:
                raise TrainError(f"checkpoint={ck}: no hrmlib checkpoint there (expected runs/<id> or step_<N>)")
            ck = found[-1]
        d = dist.init(kv.get("device", "auto"))
        state = torch.load(ck / "state.pt", map_location="cpu", weights_only=True)
        cfg = C.apply(C.from_dict(C.Config, state["config"]), [f"{k}={v}" for k, v in kv.items()])
        data = Path(cfg.data_path)
        split = load_split(data, "test")
        runs.check_identifiers(state["identifiers"], json.loads((data / "identifiers.json").read_text()), ck)
        model = build(cfg.arch, split.meta, forward_dtype(cfg.arch.forward_dtype, d.device.type)).to(d.device)
        from .compat import load_checked
        load_checked(model, state["model"])
        out = ck.parent.parent / "eval" / ck.name
        res = evaluate(model, split, cfg, d, out)
        if d.main:
            print(json.dumps(res, indent=2))
            print(f"written to {out}")
        return 0
    except (C.ConfigError, DataError, CompatError, TrainError, runs.IdentifierMismatch, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
