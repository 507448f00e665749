"""Evaluation, as the trainer runs it: exact and token accuracy, ACT steps, q-halt accuracy; ARC
pass@K by voting (`arc_vote`). `python -m hrmlib.evaluate` (hrmlib/evaluate.py) runs it on a checkpoint.

Every test example runs all halt_max_steps segments (the originals' evaluation, `ACT.rollout`), or with
`eval_halting=q` stops when Q would halt it and its batch slot takes the next example (`refill`). Each
rank writes its own predictions — arg-max tokens, Q values, puzzle ids, example indices; not full
logits (docs/pitfalls.md P17) — and metrics are summed across ranks.

`depth_sweep` is the test-time-compute table: exact accuracy by halting limit (arch.halt_max_steps =
1, 2, 4, … 64), every segment run and Q-halting, from one rollout of the deepest limit. `by_limit` and
`refinement_gap` read a per-segment accuracy list, here and in the lens (`hrmlib.look.depth`, which
gets the list from a trace): one definition of "accuracy at limit k" and of the gap.
"""
from __future__ import annotations

import dataclasses as dc
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist
from tqdm.auto import tqdm

from .. import dist, runs
from ..data.sampler import IGNORE
from ..model.losses import act_loss

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


def evaluate(model, split, cfg, d: dist.Dist, out_dir: Path | None = None, variant: str = "") -> dict:
    """Run the test split; return metrics averaged over labelled examples (all ranks get them).
    `variant`: how this evaluation differs from the trainer's (`hrmlib.runs.eval_variant`), recorded."""
    from ..data import eval_batches, to_torch
    from ..data.sampler import collate
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
                # every row runs all segments: the last one's carry and outputs are the answer
                for carry, out in model.rollout(to_torch(batch, d.device)):  # noqa: B007 (used after the loop)
                    pass
                _, m = act_loss(out, carry, *loss_args)
                sums += stack(m)
                segs += model.cfg.halt_max_steps * n
                bar.update(n)
                if n:
                    _keep(keep, np.arange(n) + j * gbs + d.rank * B, slice(n), carry, out)
        else:
            def fetch(new):
                rows = stream[new[new >= 0]]
                b = collate(split, rows, B)
                # collate pads at the end: move each real row to its slot
                order = np.argsort(np.r_[np.flatnonzero(new >= 0), np.flatnonzero(new < 0)])
                return to_torch({k: v[order] for k, v in b.items()}, d.device)

            for pos, halted, carry, out in refill(model, fetch, len(stream), B):
                done = halted & (pos >= 0)
                segs += int((pos >= 0).sum())
                # metrics and predictions of the examples that finished in this call; losses too are
                # over those rows only, so padding never enters q_halt_loss here, whatever
                # arch.loss.mask_padding_rows says ("max" follows it: docs/pitfalls.md P1)
                if done.any():
                    sel = torch.from_numpy(done).to(d.device)
                    fin = dc.replace(carry, steps=carry.steps[sel], halted=carry.halted[sel],
                                     data={k: v[sel] for k, v in carry.data.items()})
                    fin_out = {k: v[sel] for k, v in out.items()}
                    _, m = act_loss(fin_out, fin, *loss_args)
                    sums += stack(m)
                    _keep(keep, stream[pos[done]], slice(None), fin, fin_out)
                    bar.update(int(done.sum()))
    bar.close()
    sums = torch.cat([sums, torch.tensor([segs, len(stream)], dtype=torch.float64, device=d.device)])
    if d.world > 1:
        tdist.all_reduce(sums)  # the only collective: ranks may have made different numbers of calls
    s = dict(zip(EVAL_KEYS + ("segments", "examples"), sums.tolist()))
    n = max(s["count"], 1)
    res = {"count": int(s["count"]), **{k: s[k] / n for k in ("exact_accuracy", "accuracy", "q_halt_accuracy")},
           "act_steps": s["steps"] / n, "lm_loss": s["lm_loss"] / n, "q_halt_loss": s["q_halt_loss"] / n,
           "segments": s["segments"] / max(s["examples"], 1),  # forward segments spent per example
           "seconds": time.perf_counter() - t0}  # wall time of this evaluation (not a metric: varies)
    res["puzzles_per_s"] = s["examples"] / max(res["seconds"], 1e-9)
    if variant:
        res["variant"] = variant
    if out_dir is not None:
        arrays = {k: np.concatenate(v) if v else np.zeros(0) for k, v in keep.items()}
        order = np.argsort(arrays["index"], kind="stable")  # "q" finishes examples out of order
        runs.save_preds(out_dir, {k: v[order] for k, v in arrays.items()}, d)
        if (Path(cfg.data_path) / "augmentations.json").exists():  # ARC: vote across augmentations
            dist.barrier(d)
            if d.main:
                from .arc_vote import vote_dir
                res |= vote_dir(out_dir, Path(cfg.data_path), split)
        if d.main:
            runs.atomic_write(out_dir / "metrics.json", json.dumps(res, indent=2))
    model.train(was_training)
    return res


DEPTHS = (1, 2, 4, 8, 16, 32, 64)
FACTORS = (2, 4, 8)  # the refinement gap's multiples of the trained segments


def by_limit(per_segment, limits=None) -> dict[int, float]:
    """{k: exact accuracy with arch.halt_max_steps=k} from the exact accuracy after each segment of a
    rollout that never halts early (a segment's output does not depend on the limit), for the limits
    it reaches (default: every segment)."""
    acc = [float(a) for a in per_segment]
    return {int(k): acc[k - 1] for k in (limits or range(1, len(acc) + 1)) if 1 <= k <= len(acc)}


def refinement_gap(per_segment, trained: int, factors=FACTORS) -> dict[int, float]:
    """{f: exact accuracy after f × the `trained` segments − after the trained number}, for the factors
    the list reaches: what running the refinement loop longer at test time buys."""
    acc = by_limit(per_segment)
    return {f: acc[f * trained] - acc[trained] for f in factors if f * trained in acc}


def depth_sweep(model, split, cfg, d: dist.Dist, depths=DEPTHS) -> dict:
    """Exact accuracy by halting limit T for each T in `depths`, as `arch.halt_max_steps=T` evaluates:
    every segment run (eval_halting=max, the originals') and Q-halting capped at T (eval_halting=q),
    with the segments that spends. In evaluation a segment's outputs do not depend on the limit, so
    one rollout of max(depths) segments per batch gives every T. Also the exact and token accuracy
    after each segment (`per_segment`), from which any other depth reads (a refinement gap, …)."""
    from ..data import eval_batches, to_torch
    T, T0 = max(depths), model.cfg.halt_max_steps
    # per segment t (0-based): exact, token accuracy; Q-halting capped at t+1: exact, segments; count
    sums = torch.zeros(5, T, dtype=torch.float64, device=d.device)
    was_training = model.training
    with torch.inference_mode():
        for batch, n in eval_batches(split, cfg.global_batch_size, d.rank, d.world):
            b = to_torch(batch, d.device)
            mask = b["labels"] != IGNORE
            valid = mask.any(-1) & (torch.arange(len(mask), device=d.device) < n)
            exact, token, halt = [], [], []
            for _, out in model.rollout(b, T):
                right = (out["logits"].argmax(-1) == b["labels"]) & mask
                exact.append(right.sum(-1) == mask.sum(-1))
                token.append(right.sum(-1) / mask.sum(-1).clamp_min(1))
                q = out["q_halt_logits"]
                halt.append(q > (out["q_continue_logits"] if model.cfg.continue_loss else 0))
            exact, token, halt = torch.stack(exact), torch.stack(token), torch.stack(halt)  # [T, B]
            first = torch.where(halt.any(0), halt.to(torch.int8).argmax(0), T)  # 0-based segment Q halts at
            used = torch.minimum(first.unsqueeze(0), torch.arange(T, device=d.device).unsqueeze(1))  # [T, B]
            w = valid.to(torch.float64)
            sums += torch.stack([exact.double() @ w, token.double() @ w, exact.gather(0, used).double() @ w,
                                 (used + 1).double() @ w, w.sum().expand(T)])
    model.train(was_training)
    if d.world > 1:
        tdist.all_reduce(sums)
    s = (sums[:4] / sums[4].clamp_min(1)).tolist()
    exact = by_limit(s[0])
    rows = [{"halt_max_steps": t, "exact_accuracy": exact[t], "exact_accuracy_q": s[2][t - 1],
             "segments_q": s[3][t - 1]} for t in sorted(depths)]
    return {"count": int(sums[4, 0]), "trained_segments": T0, "depths": rows,
            "per_segment": {"exact_accuracy": s[0], "token_accuracy": s[1]},
            "refinement_gap": {str(f): g for f, g in refinement_gap(s[0], T0).items()}}
