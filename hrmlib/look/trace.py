"""Looking inside a model: record what HRM or TRM does at every ACT step and every state update.

    from hrmlib.look import trace
    m = trace.load("runs/<id>")                         # anything `hrmlib.runs.open` opens: a run, a
    m = trace.load("ckpt/step_26040", data_path="data/…")   # checkpoint dir, an original checkpoint file
    tr = trace.trace_examples(m, [0, 1, 2], keep="updates")     # example rows of the test split
    tr = trace.trace(m.model, batch, max_steps=32)      # any batch; raise halt_max_steps at inference

The trace hooks into the model's `trace` attribute, which it calls after every recurrent update
(HRM: every H and L update; TRM: every update of y = z_H and z = z_L), and otherwise runs the model
exactly as evaluation does (`ACT.rollout`, segment by segment): it is the training code path, so
the fixture test reproduces the original's eval rollout through it. In eval the model never halts
early (the originals' rule); the trace also records where it *would* halt under the training rule
(q_halt > q_continue, or q_halt > 0 without the continue target as in TRM; no exploration), so
adaptive halting can be judged at inference.
"""
from __future__ import annotations

import dataclasses as dc
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .. import runs
from ..data.sampler import IGNORE
from ..paths import resolve, runs_dir
from ..runs import Opened as Loaded  # what `load` returns: model, config, dims, data_path, task, provenance


STATE_NAMES = {"hrm": {"H": "z_H", "L": "z_L"}, "trm": {"H": "y (z_H)", "L": "z (z_L)"}}  # the papers' names


@dataclass
class Trace:
    """Everything recorded for B puzzles over T ACT steps. States are float32 numpy.

    Shapes: T steps, B puzzles, S grid tokens, S' = P + S positions, D hidden (or fewer after a
    reduction), UL = H_cycles·L_cycles L updates and UH = H_cycles H updates per step."""
    task: str
    inputs: np.ndarray  # [B, S] tokens
    labels: np.ndarray  # [B, S] tokens, -100 where not scored
    index: np.ndarray  # [B] example rows in the split (-1 when traced from a raw batch)
    P: int  # puzzle-embedding slots in front of the grid positions
    train_max_steps: int  # halt_max_steps of the model's config (what it was trained with)
    logits: np.ndarray  # [T, B, S, V]
    preds: np.ndarray  # [T, B, S] arg-max tokens
    confidence: np.ndarray  # [T, B, S] softmax probability of the arg-max
    changed: np.ndarray  # [T, B, S] prediction differs from the previous step's (step 0: from the input)
    q_halt: np.ndarray  # [T, B] logits
    q_continue: np.ndarray  # [T, B]
    res_H: np.ndarray  # [T, UH, B] ‖z_H after update − z_H before it‖ over all positions
    res_L: np.ndarray  # [T, UL, B]
    pos_res_H: np.ndarray  # [T, B, S'] per-position ‖Δz_H‖ over the whole step
    pos_res_L: np.ndarray  # [T, B, S']
    z_H: Optional[np.ndarray]  # [T, B, S', D] state after each step (keep="steps"/"updates")
    z_L: Optional[np.ndarray]
    z_H_updates: Optional[np.ndarray]  # [T, UH, B, S', D] after every update (keep="updates")
    z_L_updates: Optional[np.ndarray]  # [T, UL, B, S', D]
    family: str = "hrm"  # hrm | trm
    continue_loss: bool = True  # the halting rule: q_halt > q_continue (true) or q_halt > 0 (false)

    def level_name(self, level: str) -> str:
        """How the paper calls the state of `level` ("H" or "L")."""
        return STATE_NAMES[self.family][level]

    @property
    def halt_rule(self) -> str:
        return "q_halt > q_continue" if self.continue_loss else "q_halt > 0"

    @property
    def steps(self) -> int:
        return self.preds.shape[0]

    @property
    def batch(self) -> int:
        return self.preds.shape[1]

    @property
    def scored(self) -> np.ndarray:  # [B, S] positions that count
        return self.labels != IGNORE

    @property
    def correct(self) -> np.ndarray:  # [T, B] every scored cell right at that step
        return ((self.preds == self.labels) | ~self.scored).all(-1) & self.scored.any(-1)

    @property
    def token_accuracy(self) -> np.ndarray:  # [T, B]
        n = np.maximum(self.scored.sum(-1), 1)
        return ((self.preds == self.labels) & self.scored).sum(-1) / n

    @property
    def wrong(self) -> np.ndarray:  # [T, B, S] scored cells predicted wrong
        return (self.preds != self.labels) & self.scored

    @property
    def would_halt(self) -> np.ndarray:  # [T, B] the training rule without exploration
        return self.q_halt > (self.q_continue if self.continue_loss else 0)

    @property
    def halt_confidence(self) -> np.ndarray:
        """[T, B] sigmoid of what the training rule compares with 0 (q_halt, or q_halt − q_continue):
        above 0.5 the model would halt."""
        x = self.q_halt.astype(np.float64) - (self.q_continue if self.continue_loss else 0)
        return 1 / (1 + np.exp(-x))

    def halt_steps(self, threshold: Optional[float] = None) -> np.ndarray:
        """[B] 1-based step at which the model halts: the first whose halting confidence exceeds `threshold`
        (None: the training rule, `would_halt`), else the last step (halt_max_steps limits training too)."""
        h = (self.would_halt if threshold is None else self.halt_confidence > threshold).copy()
        h[-1] = True
        return h.argmax(0) + 1

    @property
    def halt_step(self) -> np.ndarray:  # [B] where the training rule halts
        return self.halt_steps()

    @property
    def difficulty(self) -> np.ndarray:
        """[B] cells to fill: scored cells whose label differs from the input (sudoku: blanks,
        maze: path cells, ARC: cells that change)."""
        return ((self.labels != self.inputs) & self.scored).sum(-1)

    def groups(self, n: int = 3) -> list[tuple[str, np.ndarray]]:
        """Puzzles by difficulty, easiest first, as (label, mask [B]): one group per value when there
        are at most n (a graded generator's 40 and 60 givens), else n equal-size groups by rank."""
        d = self.difficulty
        if len(np.unique(d)) <= n:
            return [(f"{v} cells to fill", d == v) for v in np.unique(d)]
        names = (["easiest third", "middle third", "hardest third"] if n == 3
                 else [f"group {i + 1} of {n}" for i in range(n)])
        parts = np.array_split(np.argsort(d, kind="stable"), n)
        return [(f"{name} ({d[i].min()}–{d[i].max()} to fill)", np.isin(np.arange(self.batch), i))
                for name, i in zip(names, parts)]

    def showcase(self) -> int:
        """A puzzle worth replaying: wrong after the first segment and right after the last, the one
        that settles latest (ties: most cells to fill); else the first puzzle right at the end."""
        settled = self.steps - np.flip(self.correct, 0).cumprod(0).sum(0)  # [B] 0-based step from which it stays right
        ok = self.correct[-1] & ~self.correct[0]
        if not ok.any():
            return int(np.argmax(self.correct[-1]))
        return int(np.lexsort((self.difficulty, settled, ok))[-1])

    def adaptive(self, cap: Optional[int] = None, threshold: Optional[float] = None) -> tuple[np.ndarray, np.ndarray]:
        """(exact-correct [B], steps used [B]) halting adaptively (`halt_steps(threshold)`), at most `cap` steps."""
        used = np.minimum(self.halt_steps(threshold), cap or self.steps)
        return self.correct[used - 1, np.arange(self.batch)], used

    def summary(self) -> dict:
        ok, used = self.adaptive()
        return {"puzzles": self.batch, "steps": self.steps,
                "exact_accuracy_last_step": float(self.correct[-1].mean()),
                "token_accuracy_last_step": float(self.token_accuracy[-1].mean()),
                "exact_accuracy_adaptive": float(ok.mean()), "mean_halt_step": float(used.mean())}


# ---------------------------------------------------------------------------- tracing

class _Recorder:
    """The model's `trace` callable: residuals per update, states when asked."""

    def __init__(self, keep: str, reduce, edit=None):
        self.keep, self.reduce, self.edit = keep, reduce, edit

    def begin(self, z_H, z_L):  # at the start of every step
        self.prev = {"H": z_H.detach().float(), "L": z_L.detach().float()}
        self.start = dict(self.prev)
        self.res = {"H": [], "L": []}
        self.states = {"H": [], "L": []}

    def __call__(self, level, i, j, z):
        if self.edit is not None:  # an intervention may change z in place first (hrmlib.look.intervene)
            self.edit(level, i, j, z)
        z = z.detach().float()
        self.res[level].append((z - self.prev[level]).flatten(1).norm(dim=1).cpu())
        self.prev[level] = z
        if self.keep == "updates":
            self.states[level].append(_reduce(z, self.reduce))


def _reduce(z: torch.Tensor, how) -> np.ndarray:
    """[B, S', D] → as requested: None full, "mean" over positions [B, D], "puzzle" slot 0 [B, D]."""
    if how == "mean":
        z = z.mean(1)
    elif how == "puzzle":
        z = z[:, 0]
    elif how is not None:
        raise ValueError(f"reduce must be None, 'mean' or 'puzzle', got {how!r}")
    return z.cpu().numpy().astype(np.float32)


def trace(model, batch: dict, max_steps: Optional[int] = None, keep: str = "steps", reduce=None,
          task: str = "tokens", index=None, edit=None) -> Trace:
    """Run `model` (eval mode) on `batch` for max_steps ACT segments (default: its halt_max_steps)
    and record every step. keep: "none" (no states), "steps" (states after each step), "updates"
    (states after every H and L update too); reduce: None, "mean" or "puzzle" (see `_reduce`);
    edit: one change to the reasoning (`hrmlib.look.intervene`)."""
    if keep not in ("none", "steps", "updates"):
        raise ValueError(f"keep must be 'none', 'steps' or 'updates', got {keep!r}")
    dev = next(model.parameters()).device
    batch = {k: torch.as_tensor(v).to(dev) for k, v in batch.items()}
    rec, rows = _Recorder(keep, reduce, edit), defaultdict(list)
    with torch.inference_mode():  # beyond the trained depth for a sweep: rollout's `steps`
        for carry, out in model.rollout(batch, max_steps or model.cfg.halt_max_steps, trace=rec,
                                        before=edit and edit.segment):
            rows["logits"].append(out["logits"].float().cpu().numpy())
            rows["q_halt"].append(out["q_halt_logits"].float().cpu().numpy())
            rows["q_continue"].append(out["q_continue_logits"].float().cpu().numpy())
            for lv, z in (("H", carry.z_H), ("L", carry.z_L)):
                rows[f"res_{lv}"].append(torch.stack(rec.res[lv]).numpy())
                rows[f"pos_{lv}"].append((z.float() - rec.start[lv]).norm(dim=-1).cpu().numpy())
                if keep != "none":
                    rows[f"z_{lv}"].append(_reduce(z.float(), reduce))
                if keep == "updates":
                    rows[f"zu_{lv}"].append(np.stack(rec.states[lv]))
    return _assemble(rows, batch, model, task, index)


def _assemble(rows, batch, model, task, index) -> Trace:
    logits = np.stack(rows["logits"])
    preds = logits.argmax(-1)
    inputs = batch["inputs"].cpu().numpy().astype(np.int64)
    prev = np.concatenate([inputs[None], preds[:-1]])
    st = lambda k: np.stack(rows[k]) if rows[k] else None  # noqa: E731
    return Trace(task=task, inputs=inputs, labels=batch["labels"].cpu().numpy().astype(np.int64),
                 index=np.asarray(index if index is not None else np.full(len(inputs), -1)), P=model.P,
                 train_max_steps=model.cfg.halt_max_steps, logits=logits, preds=preds,
                 confidence=torch.softmax(torch.from_numpy(logits), -1).amax(-1).numpy(), changed=preds != prev,
                 q_halt=st("q_halt"), q_continue=st("q_continue"), res_H=st("res_H"), res_L=st("res_L"),
                 pos_res_H=st("pos_H"), pos_res_L=st("pos_L"), z_H=st("z_H"), z_L=st("z_L"),
                 z_H_updates=st("zu_H"), z_L_updates=st("zu_L"), family=model.family,
                 continue_loss=model.cfg.continue_loss)


# ---------------------------------------------------------------------------- loading

def load(source, config="", data_path="", step: Optional[int] = None, device: str = "cpu") -> Loaded:
    """A model from anything `hrmlib.runs.open` opens: a run directory (its last checkpoint, or
    `step`), a `checkpoints/step_<N>` directory, or an original HRM or TRM checkpoint file (its
    all_config.yaml beside it, or `config`). `data_path` overrides the dataset; "" means not given,
    for notebooks. Built in the device's forward dtype, as the trainer's, in eval mode."""
    m = runs.open(source, step=step, config=config or None, data_path=data_path or None, device=device)
    m.model.eval()
    return m


def select(split, indices) -> dict:
    """Example rows of a split as an int32 batch (labels 0 → -100 as in training)."""
    from ..data.sampler import collate
    return collate(split, np.asarray(indices, dtype=np.int64))


def batches(m: Loaded, indices=None, limit: int = 0, split: str = "test", batch_size: int = 64):
    """(rows, batch) over example rows of the model's dataset (default: the whole split, or its first
    `limit` rows), `batch_size` at a time."""
    from ..data import load_split
    data = load_split(m.data_path, split)
    idx = np.arange(data.num_examples) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(bad := idx[(idx < 0) | (idx >= data.num_examples)]):
        raise ValueError(f"row {bad[0]} is not in the {split} split of {m.data_path} (rows 0–{data.num_examples - 1})")
    idx = idx[:limit] if limit else idx
    for k in range(0, len(idx), batch_size):
        yield idx[k:k + batch_size], select(data, idx[k:k + batch_size])


def trace_examples(m: Loaded, indices=None, limit: int = 0, split: str = "test", batch_size: int = 64,
                   **kw) -> Trace:
    """Trace example rows of the model's dataset (`batches`), batch by batch; keyword arguments as
    `trace` (keep, reduce, max_steps)."""
    parts = [trace(m.model, b, task=m.task, index=rows, **kw)
             for rows, b in batches(m, indices, limit, split, batch_size)]
    return parts[0] if len(parts) == 1 else concat(parts)


def concat(parts: list[Trace]) -> Trace:
    """Traces of different puzzles (same steps) joined along the puzzle axis."""
    puzzle_axis = {"inputs": 0, "labels": 0, "index": 0, "res_H": 2, "res_L": 2, "z_H_updates": 2, "z_L_updates": 2}
    kw = {}
    for f in dc.fields(Trace):
        vals = [getattr(p, f.name) for p in parts]
        kw[f.name] = np.concatenate(vals, puzzle_axis.get(f.name, 1)) if isinstance(vals[0], np.ndarray) else vals[0]
    return Trace(**kw)


def trace_depth(m: Loaded, depth: int = 0, limit: int = 0) -> Trace:
    """Trace run to `depth` ACT steps (default twice the trained halt_max_steps): eval never halts
    early, so its first steps equal a normal evaluation and the rest show what more depth buys."""
    return trace_examples(m, limit=limit, keep="none", max_steps=depth or 2 * m.model.cfg.halt_max_steps)


# ---------------------------------------------------------------------------- default run

def default_run(max_steps: int = 150, force_train: bool = False, prefer_demo: bool = True) -> Path:
    """The run notebooks use when none is given: the newest `runs/demo*` with a checkpoint, else
    `runs/debug-notebook` (trained here by the `debug` preset on CPU, once; reused afterwards).
    `prefer_demo=False` always gives the debug run (what tests use, whatever demos exist)."""
    demos = sorted((p for p in runs_dir().glob("demo*") if runs.checkpoints(p)), key=lambda p: p.stat().st_mtime)
    if demos and prefer_demo and not force_train:
        return demos[-1]
    run = runs_dir() / "debug-notebook"
    if runs.checkpoints(run) and not force_train:
        return run
    from ..data import ensure_data
    shutil.rmtree(run, ignore_errors=True)  # a run killed before its first checkpoint starts afresh
    data = ensure_data("debug")
    cmd = [sys.executable, "-m", "hrmlib.train", "debug", f"data_path={data}", f"run_dir={run}",
           f"max_steps={max_steps}"]
    print("training a small model for the notebooks:", " ".join(cmd[1:]), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"training failed (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "done", flush=True)
    return run


def resolve_run(run: str = ""):
    """`run` as an absolute path (relative paths are under `hrmlib.paths.home()`), an hf: name as it
    is (`runs.open` resolves it), or the default run."""
    return run if runs.is_hf(run) else resolve(run) if run else default_run()


def eval_dir(m: Loaded) -> Path:
    """Where the evaluation of this checkpoint goes: the trainer's <run>/eval/step_<N>/, or beside it
    for a variant (other data, …), as `hrmlib.evaluate` writes it (`hrmlib.runs.eval_dir`)."""
    return m.eval_dir()
