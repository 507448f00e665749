"""The live lens: a run's learning while it trains, from the small snapshots the trainer writes at
each evaluation (<run>/live/step_<N>.npz, `hrmlib.train.live`; off with `live=false`).

    live.snapshots(run)      # [(step, Trace)] of the same few test puzzles, one per evaluation so far
    live.figure(run)         # the showcase puzzle after each segment, exact accuracy per segment over
                             # training, where Q would halt now (plots.live)
    p = live.Panel(run)      # a notebook display; p.update() redraws it in place when a new snapshot
                             # is there (notebook 02's launcher calls it while torchrun runs)

In JupyterLab the panel changes in place; papermill keeps its last state in the executed notebook.
"""
from __future__ import annotations

import base64
import io
import time
import zipfile
from pathlib import Path

import numpy as np

from . import plots
from . import trace as T


def paths(run) -> list[Path]:
    """The run's snapshot files, oldest first."""
    return sorted(Path(run).glob("live/step_*.npz"), key=lambda p: int(p.stem.split("_")[1]))


def read(path) -> tuple[int, T.Trace]:
    """One snapshot as (training step, Trace) — predictions and Q values only (no states, no logits)."""
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    preds, inputs = a["preds"].astype(np.int64), a["inputs"].astype(np.int64)
    none = dict.fromkeys(("logits", "confidence", "res_H", "res_L", "pos_res_H", "pos_res_L", "z_H", "z_L",
                          "z_H_updates", "z_L_updates"))
    changed = preds != np.concatenate([inputs[None], preds[:-1]])
    tr = T.Trace(task=str(a["task"]), inputs=inputs, labels=a["labels"].astype(np.int64), index=a["index"], P=0,
                 train_max_steps=preds.shape[0], preds=preds, changed=changed,
                 q_halt=a["q_halt"], q_continue=a["q_continue"], family=str(a["family"]),
                 continue_loss=bool(a["continue_loss"]), **none)
    return int(a["step"]), tr


def snapshots(run) -> list[tuple[int, T.Trace]]:
    """Every readable snapshot of the run, oldest first (a damaged file is left out)."""
    out = []
    for p in paths(run):
        try:
            out.append(read(p))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue
    return out


def figure(run):
    """The live panel's figure (None before the first snapshot)."""
    snaps = snapshots(run)
    if not snaps:
        return None
    evals = [r for r in plots.read_metrics(run) if r.get("split") == "test"]
    return plots.live(snaps, evals)


def _html(run) -> str:
    """The panel: the figure as an inline PNG, the newest snapshot's step in data-step."""
    fig = figure(run)
    if fig is None:
        return ("<div class='hrm-live' data-step='-1'>live panel: no snapshot yet (one is written at each evaluation; "
                "live=false turns them off)</div>")
    step = int(paths(run)[-1].stem.split("_")[1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    img = base64.b64encode(buf.getvalue()).decode()
    return (f"<div class='hrm-live' data-step='{step}' data-snapshots='{len(paths(run))}'>"
            f"<img src='data:image/png;base64,{img}' style='max-width:100%'/></div>")


class Panel:
    """A display of the newest snapshot that redraws in place when another appears (at most every
    `every_s` seconds). It never raises: a problem is shown in the panel, training goes on. `body`
    is the HTML shown (outside a notebook nothing is displayed)."""

    def __init__(self, run, every_s: float = 1.0):
        from IPython.display import HTML, display
        self.run, self.every_s, self.seen, self.last = Path(run), every_s, None, 0.0
        self.body = "<div class='hrm-live' data-step='-1'>live panel: waiting for the first evaluation…</div>"
        self.handle = display(HTML(self.body), display_id=True)

    def update(self, final: bool = False) -> bool:
        """Redraw if there is a new snapshot; True when it did."""
        from IPython.display import HTML
        if not final and time.time() - self.last < self.every_s:
            return False
        self.last = time.time()
        try:
            found = paths(self.run)
            if (found[-1] if found else None) == self.seen and not (final and not found):
                return False
            body = _html(self.run)
            self.seen = found[-1] if found else None
        except Exception as e:  # noqa: BLE001 — the panel must never stop the training it watches
            body = f"<div class='hrm-live' data-step='-1'>live panel: could not draw ({type(e).__name__}: {e})</div>"
        self.body = body
        if self.handle is not None:
            self.handle.update(HTML(body))
        return True
