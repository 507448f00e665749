"""Evaluation reports for notebooks: headline numbers, and for ARC the voting results per task and a
gallery of solved and failed tasks (notebooks/03_evaluate.ipynb).

    m = trace.load("runs/<id>")
    res = report.evaluate(m)             # the trainer's evaluation code; reuses <run>/eval/step_<N>/
    report.headline(res)
    report.arc_tasks(m), report.arc_gallery(m)

Numbers come from `hrmlib.train.evaluation.evaluate` and ARC scores from `hrmlib.train.arc_vote.vote_dir`, the
code the trainer runs, so a notebook and the trainer agree on the same predictions.
"""
from __future__ import annotations

import dataclasses as dc
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..runs import evaluated, read_json
from .trace import Loaded, eval_dir


def evaluate(m: Loaded, reuse: bool = True, global_batch_size: int = 0, out_dir=None) -> dict:
    """Metrics of the checkpoint on its test split. With `reuse`, an evaluation the trainer already
    wrote for this checkpoint is read back instead of recomputed."""
    from .. import dist
    from ..data import load_split
    from ..train.evaluation import evaluate as run_eval
    out = Path(out_dir) if out_dir else (eval_dir(m) if m.run else None)
    if reuse and out is not None and evaluated(out):
        res = read_json(out / "metrics.json")
        print(f"read the trainer's evaluation {out}")
        return res | {"eval_dir": str(out)}
    cfg = dc.replace(m.config, data_path=str(m.data_path),
                     global_batch_size=global_batch_size or min(m.config.global_batch_size, 256))
    device = next(m.model.parameters()).device
    res = run_eval(m.model, load_split(m.data_path, "test"), cfg, dist.Dist(device=device), out)
    print(f"evaluated {m.checkpoint or 'the model'} on {res['count']} test examples"
          + (f" → {out}" if out else ""))
    return res | ({"eval_dir": str(out)} if out else {})


def headline(res: dict):
    """Markdown: exact accuracy (the headline), token accuracy, ACT steps, and pass@K for ARC."""
    from IPython.display import Markdown
    rows = [("exact accuracy", res.get("exact_accuracy")), ("token accuracy", res.get("accuracy")),
            ("ACT steps per example", res.get("act_steps")), ("q-halt accuracy", res.get("q_halt_accuracy")),
            ("test examples", res.get("count"))]
    rows += [(k, v) for k, v in res.items() if k.startswith("pass@")]
    body = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                     for k, v in rows if v is not None)
    head = f"**exact accuracy {res.get('exact_accuracy', float('nan')):.2%}**"
    return Markdown(f"{head}\n\n| metric | value |\n|---|---|\n{body}")


def votes(m: Loaded, res: dict):
    """ARC voting on the evaluation's predictions (arc_vote.vote_dir, as the trainer); None when
    the dataset is not ARC."""
    from ..train.arc_vote import vote_dir
    if m.task != "arc":
        return None
    d = Path(res["eval_dir"])
    vote_dir(d, m.data_path)
    return read_json(d / "arc_votes.json")


def arc_tasks(v: dict, limit: int = 50):
    """Markdown table: pass@1 and pass@2 per task (all test inputs solved within the top K)."""
    from IPython.display import Markdown
    if v is None:
        return Markdown("*Not an ARC dataset: no voting.*")
    lines = ["| task | test inputs | rank of the truth | pass@1 | pass@2 |", "|---|---|---|---|---|"]
    for task, t in list(v["per_task"].items())[:limit]:
        r = t["rank_of_truth"]
        ok = [all(x is not None and x <= k for x in r) for k in (1, 2)]
        lines.append(f"| {task} | {t['test_inputs']} | {', '.join('-' if x is None else str(x) for x in r)} | "
                     f"{'✓' if ok[0] else '✗'} | {'✓' if ok[1] else '✗'} |")
    head = f"**pass@1 {v['pass@1']:.2%}, pass@2 {v['pass@2']:.2%}** over {v['tasks']} tasks\n\n"
    return Markdown(head + "\n".join(lines))


def arc_gallery(m: Loaded, res: dict, v: dict, n: int = 3):
    """Up to n solved (pass@2) and n failed tasks: first test input, top-voted grid, target."""
    from ..data import load_split
    from ..data.builders.arc import invert
    from ..runs import load_preds
    from ..train.arc_vote import crop, grid_hash
    from .render import arc_gallery as draw
    if v is None:
        return None
    pr = load_preds(Path(res["eval_dir"]))
    split = load_split(m.data_path, "test")
    augs = json.loads((Path(m.data_path) / "augmentations.json").read_text())
    idx = pr["index"].astype(np.int64)
    grids, cands, truth = {}, defaultdict(lambda: defaultdict(list)), {}
    for r, p, q, pid in zip(idx, pr["preds"], pr["q_halt"], pr["puzzle_identifiers"].astype(np.int64)):
        aug = augs[pid]
        if aug is None:
            continue
        task, tid, colours = aug
        x = invert(crop(split.inputs[r]), tid, colours)
        if tid == 0 and colours == "0123456789":
            truth.setdefault(task, (x, crop(split.labels[r])))
        g = invert(crop(p), tid, colours)
        grids[grid_hash(g)] = g
        cands[(task, grid_hash(x))][grid_hash(g)].append(1 / (1 + np.exp(-float(q))))
    solved = [t for t, s in v["per_task"].items() if all(x is not None and x <= 2 for x in s["rank_of_truth"])]
    failed = [t for t in v["per_task"] if t not in solved]
    rows = []
    for label, tasks in (("solved", solved[:n]), ("failed", failed[:n])):
        for t in tasks:
            x, y = truth[t]
            c = cands[(t, grid_hash(x))]
            top = max(c, key=lambda h: (len(c[h]), np.mean(c[h]))) if c else None
            rows.append((f"{label} {t}", x, grids[top] if top else np.zeros((1, 1), np.uint8), y))
    return draw(rows)


def runs_table(rows: list[dict]):
    """Markdown: runs side by side (`hrmlib.runs.table`), the settings that differ as columns."""
    from IPython.display import Markdown

    from ..runs import markdown
    return Markdown(markdown(rows) if rows else "*No run found.*")
