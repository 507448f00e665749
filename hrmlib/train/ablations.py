"""The ablations researchers publish beside a score, on one checkpoint and its test split:

    depth   exact accuracy by halting limit (arch.halt_max_steps = 1, 2, 4, … 64), every segment run and
            Q-halting (`evaluation.depth_sweep`)
    votes   ARC: pass@K against the number of versions of each task that vote (1: no test-time
            augmentation, 8, 64, all; `arc_vote.vote_ablation`)
    ids     the puzzle-id embedding as trained, blank (every id reads the blank id's row) and random
            (every id reads another id's row, seeded): what the model owes to knowing which puzzle it sees

    python -m hrmlib.evaluate checkpoint=… ablations=all        # or ablations=depth,votes,ids; depths=1,2,4
    res = ablations.run(model, split, cfg, d, out, evaluation)  # `out`: the evaluation's folder

Results go to <out>/ablations.json; the id ablation's evaluations to <out>/ids-blank/, ids-random/.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch

from ..config import ConfigError
from ..runs import atomic_write
from .arc_vote import vote_ablation
from .evaluation import DEPTHS, depth_sweep, evaluate

KINDS = ("depth", "votes", "ids")
IDS = ("true", "blank", "random")


def parse(which: str, depths: str | None = None) -> tuple[tuple, tuple]:
    """`ablations=` (all, or some of depth,votes,ids) and `depths=` (limits ≥ 1) as given to the CLI."""
    kinds = KINDS if which == "all" else tuple(w.strip() for w in which.split(","))
    if bad := [k for k in kinds if k not in KINDS]:
        raise ConfigError(f"ablations={which}: unknown {bad}; expected all or some of {','.join(KINDS)}")
    try:
        ts = tuple(sorted({int(t) for t in depths.split(",")})) if depths else DEPTHS
    except ValueError:
        ts = ()
    if not ts or ts[0] < 1:
        raise ConfigError(f"depths={depths}: expected halting limits ≥ 1, e.g. depths=1,2,4,8,16,32,64")
    return kinds, ts


@contextmanager
def puzzle_ids(model, mode: str, blank: int = 0, seed: int = 0):
    """Meanwhile every puzzle id reads another row of the puzzle table: "blank" the blank id's, "random"
    a random real id's (one draw per id, seeded); "true" changes nothing. The table is restored after."""
    t = model.puzzle_emb
    if mode == "true" or t is None:
        yield
        return
    saved = t.weights.clone()
    n = len(saved)
    rows = (torch.full((n,), blank) if mode == "blank"
            else torch.randint(min(1, n - 1), n, (n,), generator=torch.Generator().manual_seed(seed)))
    with torch.no_grad():
        t.weights.copy_(saved[rows.to(saved.device)])
    try:
        yield
    finally:
        with torch.no_grad():
            t.weights.copy_(saved)


def run(model, split, cfg, d, out: Path, evaluation: dict, kinds=KINDS, depths=DEPTHS) -> dict:
    """The ablations `kinds` of `model` on `split`; `out` holds its evaluation (`evaluation`, its
    metrics), whose predictions the vote ablation re-reads. Writes <out>/ablations.json."""
    arc = (Path(cfg.data_path) / "augmentations.json").exists()
    res = {}
    if "depth" in kinds:
        res["depth"] = depth_sweep(model, split, cfg, d, depths)
    if "votes" in kinds and arc and d.main:
        res["votes"] = vote_ablation(out, Path(cfg.data_path), split=split)
    if "ids" in kinds and model.puzzle_emb is not None:
        rows = []
        for mode in IDS:
            with puzzle_ids(model, mode, split.meta.blank_identifier_id, cfg.seed):
                r = evaluation if mode == "true" else evaluate(model, split, cfg, d, out / f"ids-{mode}")
            rows.append({"puzzle_ids": mode, **{k: v for k, v in r.items()
                                                if k in ("exact_accuracy", "accuracy", "pass@1", "pass@2")}})
        res["puzzle_ids"] = rows
    if d.main:
        atomic_write(out / "ablations.json", json.dumps(res, indent=1))
    return res


def markdown(res: dict) -> str:
    """The ablations as Markdown tables (the CLI prints them)."""
    parts = []
    if "depth" in res:
        r = res["depth"]
        parts.append(f"depth ({r['count']} examples; trained with halt_max_steps={r['trained_segments']})\n\n"
                     "| halt_max_steps | exact, every segment | exact, Q-halting | segments, Q-halting |\n"
                     "|---|---|---|---|\n"
                     + "\n".join(f"| {x['halt_max_steps']} | {x['exact_accuracy']:.2%} | {x['exact_accuracy_q']:.2%} | "
                                 f"{x['segments_q']:.2f} |" for x in r["depths"]))
    if "votes" in res:
        parts.append("votes\n\n| versions voting | examples | pass@1 | pass@2 |\n|---|---|---|---|\n"
                     + "\n".join(f"| {x['voters']} | {x['examples']} | {x['pass@1']:.2%} | {x['pass@2']:.2%} |"
                                 for x in res["votes"]))
    if "puzzle_ids" in res:
        keys = [k for k in ("exact_accuracy", "pass@2") if k in res["puzzle_ids"][0]]
        parts.append(f"puzzle ids\n\n| ids | {' | '.join(keys)} |\n|---|{'---|' * len(keys)}\n"
                     + "\n".join(f"| {x['puzzle_ids']} | " + " | ".join(f"{x[k]:.2%}" for k in keys) + " |"
                                 for x in res["puzzle_ids"]))
    return "\n\n".join(parts)
