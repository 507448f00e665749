"""The live lens's data: after each evaluation the trainer traces a few fixed test puzzles and writes
what the model predicts after every ACT segment, with its Q values, to <run>/live/step_<N>.npz (one
small file per evaluation, written atomically), so a notebook can show learning while it happens
(`hrmlib.look.live` draws them; notebook 02 updates its panel at each one). `live=false` turns it off.

Only rank 0 writes, from the weights the evaluation used (the average with EMA). The model runs as
evaluation does (`ACT.rollout`: eval mode, every segment, no exploration) and draws no random numbers, so
training is the same with or without it.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .. import runs
from ..paths import resolve

PUZZLES = 64  # fixed test rows traced at each evaluation


def rows(n: int, k: int = PUZZLES) -> np.ndarray:
    """The fixed test rows: k spread evenly over a split of n, the same at every evaluation."""
    return np.unique(np.linspace(0, n - 1, min(k, n)).round().astype(np.int64))


def write(model, split, cfg, d, run: Path, step: int) -> Path | None:
    """Trace the fixed rows of `split` through every segment and write <run>/live/step_<step>.npz:
    index [B], inputs and labels [B, S], preds [T, B, S] (arg-max tokens), q_halt and q_continue [T, B],
    family and task."""
    if not cfg.live or not d.main:
        return None
    from ..data import task_of, to_torch
    from ..data.sampler import collate
    idx = rows(split.num_examples)
    batch = to_torch(collate(split, idx), d.device)
    out = {"preds": [], "q_halt": [], "q_continue": []}
    with torch.inference_mode():
        for _, o in model.rollout(batch):
            out["preds"].append(o["logits"].argmax(-1).to(torch.int16).cpu().numpy())
            out["q_halt"].append(o["q_halt_logits"].float().cpu().numpy())
            out["q_continue"].append(o["q_continue_logits"].float().cpu().numpy())
    buf = io.BytesIO()
    np.savez_compressed(buf, step=step, index=idx, inputs=batch["inputs"].cpu().numpy().astype(np.int16),
                        labels=batch["labels"].cpu().numpy().astype(np.int16), family=model.family,
                        task=task_of(split.meta, resolve(cfg.data_path)),
                        continue_loss=model.cfg.continue_loss, **{k: np.stack(v) for k, v in out.items()})
    (run / "live").mkdir(exist_ok=True)
    return runs.atomic_write(run / "live" / f"step_{step}.npz", buf.getvalue())
