"""ARC scoring by voting across augmentations — the original `arc_eval.ipynb` method.

For every test example of every task version: crop the input and the predicted grid, map both
back to the original task's frame through the stored inverse transform (`augmentations.json`),
and count one vote for the predicted grid under (task, test input). Candidates are ranked by votes,
then by mean sigmoid(q_halt). A test input is solved at K when its true output is among the top K;
a task counts only when **all** its test inputs are solved (all-or-nothing, as the original, not
TRM's partial credit: docs/pitfalls.md P25). pass@K = solved tasks / tasks with ground truth; pass@2 is the headline.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..runs import atomic_write, load_preds

KS = (1, 2, 10, 100, 1000)


def crop(seq: np.ndarray) -> np.ndarray:
    """30×30 tokens → grid: the largest top-left rectangle of colour tokens (2…11), minus 2. Rows are
    scanned from the top, a row's width cut at its first non-colour token, and the area-maximising
    row count wins — the original's rule, so EOS/PAD end the grid."""
    g = np.asarray(seq).reshape(30, 30).astype(np.int64)
    width, best, size = 30, 0, (0, 0)
    for r in range(30):
        bad = np.flatnonzero((g[r, :width] < 2) | (g[r, :width] > 11))
        width = int(bad[0]) if len(bad) else width
        if (r + 1) * width > best:
            best, size = (r + 1) * width, (r + 1, width)
    # one pinned dtype, so hashes never depend on the input's (docs/pitfalls.md P18)
    return (g[:size[0], :size[1]] - 2).astype(np.uint8)


def grid_hash(g: np.ndarray) -> str:
    g = np.ascontiguousarray(g, dtype=np.uint8)
    return hashlib.sha256(bytes(g.shape) + g.tobytes()).hexdigest()


def vote(inputs: np.ndarray, labels: np.ndarray, preds: np.ndarray, q_halt: np.ndarray,
         puzzle_ids: np.ndarray, augmentations: list) -> dict:
    """Score predictions of the test split. Arrays are per example; augmentations[pid] is
    [task, dihedral id, colour map] (None for the blank id). Returns pass@K and per-task results."""
    from ..data.builders.arc import invert
    truth: dict[str, dict[str, str]] = defaultdict(dict)  # task → input hash → output hash
    for x, y, pid in zip(inputs, labels, puzzle_ids):
        aug = augmentations[pid]
        if aug is not None and aug[1] == 0 and aug[2] == "0123456789":
            truth[aug[0]][grid_hash(crop(x))] = grid_hash(crop(y))
    votes: dict = defaultdict(lambda: defaultdict(list))  # (task, input hash) → pred hash → [q …]
    for x, p, q, pid in zip(inputs, preds, q_halt, puzzle_ids):
        aug = augmentations[pid]
        if aug is None or aug[0] not in truth:
            continue  # padding, or a task whose original version is not in this split
        task, tid, colours = aug
        key = (task, grid_hash(invert(crop(x), tid, colours)))
        if key[1] not in truth[task]:
            continue  # cannot happen for a consistent dataset; never let it score
        votes[key][grid_hash(invert(crop(p), tid, colours))].append(1 / (1 + np.exp(-float(q))))
    per_task = {}
    for task, inputs_truth in sorted(truth.items()):
        ranks = []
        for h_in, h_out in sorted(inputs_truth.items()):
            v = votes[(task, h_in)]
            order = sorted(v, key=lambda h: (len(v[h]), np.mean(v[h])), reverse=True)
            ranks.append(order.index(h_out) + 1 if h_out in order else None)
        per_task[task] = {"test_inputs": len(ranks), "rank_of_truth": ranks}
    solved = lambda k: sum(all(r is not None and r <= k for r in t["rank_of_truth"]) for t in per_task.values())
    return {**{f"pass@{k}": solved(k) / max(len(truth), 1) for k in KS}, "tasks": len(truth), "per_task": per_task}


def vote_dir(eval_dir: Path, data_path: Path, split=None) -> dict:
    """Vote on an evaluation's saved predictions; writes arc_votes.json beside them. `split`: the
    test split of `data_path` when the caller holds it already (else it is loaded)."""
    from ..data import load_split
    pr = load_preds(eval_dir)
    split = load_split(Path(data_path), "test") if split is None else split
    augs = json.loads((Path(data_path) / "augmentations.json").read_text())
    idx = pr["index"].astype(np.int64)
    res = vote(np.asarray(split.inputs[idx]), np.asarray(split.labels[idx]), pr["preds"], pr["q_halt"],
               pr["puzzle_identifiers"].astype(np.int64), augs)
    atomic_write(Path(eval_dir) / "arc_votes.json", json.dumps(res, indent=1))
    return {k: v for k, v in res.items() if k.startswith("pass@")} | {"arc_tasks": res["tasks"]}
