"""Interventions: continue the reasoning from a chosen point with one change, and see what it does.

    from hrmlib.look import intervene as iv
    ch = iv.Change("reset", state="H", segment=2)         # y = z_H back to its initial value as segment 2 starts
    pair = iv.intervene(m, [0, 1, 2], ch)                  # test rows of m (trace.load), or a batch dict
    pair.original, pair.intervened, pair.differ            # two Traces; [T, B, S] cells whose prediction differs
    sw = iv.intervention_sweep(m, "noise", state="H", values=[0, .1, .3, 1, 3], segment=1)
    plots.interventions(sw)                                # exact accuracy over the test split against σ

Where a change applies: ACT segment `segment` (1-based), at `update` — 0: as the segment starts (the
carry it begins from; the only place for an input or puzzle-id change), k ≥ 1: right after the k-th
update of `state` in that segment (HRM: H_cycles updates of z_H and H_cycles·L_cycles of z_L; TRM:
T of the answer y = z_H and T·n of the latent z = z_L), -1: after its last one, i.e. on the state the
segment answers from and hands on. States are RMS-normalised per position by the blocks, so σ = 1
is noise as large as the state itself. A change of size 0 (σ = 0, a cell set to its own value, a
reset as the first segment starts) reproduces the original trace exactly.

The change goes through `ACT.rollout`'s hooks: `before` every segment (on the carry) and the
model's own `trace` hook after every update (z changed in place, under inference mode), so the model
runs its evaluation code path unchanged.
"""
from __future__ import annotations

import dataclasses as dc
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from ..model import Carry
from . import trace as T

KINDS = ("reset", "noise", "cell", "puzzle_id")


class InterventionError(ValueError):
    """A change that cannot be made; the message says what to choose instead."""


def updates(model, state: str) -> int:
    """Updates of `state` ("H" or "L") in one ACT segment (the same count for HRM and TRM)."""
    return model.cfg.H_cycles * (model.cfg.L_cycles if state == "L" else 1)


@dataclass(frozen=True)
class Change:
    kind: str  # reset | noise | cell | puzzle_id
    state: str = "H"  # H: z_H (TRM: the answer y); L: z_L (TRM: the latent z) — for reset and noise
    segment: int = 1  # the ACT segment (1-based) at which it applies
    update: int = 0  # 0: as the segment starts; k: after the k-th update of `state` in it; -1: after its last
    sigma: float = 0.0  # noise: standard deviation of the Gaussian added to every element
    cell: int = 0  # cell: grid position (0-based, row-major) whose input token changes
    value: int = 0  # cell: the new input token
    puzzle_id: str = "blank"  # puzzle_id: "blank" (identifier 0) or "random" (a random trained one)
    seed: int = 0  # noise and random puzzle ids

    def check(self, model, seq_len: Optional[int] = None):
        U = updates(model, self.state)
        if self.kind not in KINDS:
            raise InterventionError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.state not in ("H", "L"):
            raise InterventionError(f"state must be 'H' (z_H; TRM: y) or 'L' (z_L; TRM: z), got {self.state!r}")
        if self.segment < 1:
            raise InterventionError(f"segment counts from 1, got {self.segment}")
        if not -1 <= self.update <= U:
            raise InterventionError(f"update must be 0 (segment start), 1..{U} or -1 (after the last), "
                                    f"got {self.update}")
        if self.kind in ("cell", "puzzle_id") and self.update != 0:
            raise InterventionError(f"a {self.kind} change applies as a segment starts: use update=0")
        if self.kind == "noise" and not self.sigma >= 0:
            raise InterventionError(f"sigma must be >= 0, got {self.sigma}")
        if self.kind == "cell" and not 0 <= self.cell < (seq_len or model.S):
            raise InterventionError(f"cell must be a grid position 0..{(seq_len or model.S) - 1}, got {self.cell}")
        if self.kind == "cell" and not 0 <= self.value < model.V:
            raise InterventionError(f"value must be a token 0..{model.V - 1}, got {self.value}")
        if self.kind == "puzzle_id" and self.puzzle_id not in ("blank", "random"):
            raise InterventionError(f"puzzle_id must be 'blank' or 'random', got {self.puzzle_id!r}")

    def describe(self, family: str = "hrm", U: Optional[int] = None) -> str:
        """E.g. "reset y (z_H) as segment 2 starts", "noise σ=0.3 on z_L after update 2 of segment 1"."""
        name = T.STATE_NAMES[family][self.state]
        at = (f"as segment {self.segment} starts" if self.update == 0 else
              f"at the end of segment {self.segment}" if self.update == -1 or self.update == U else
              f"after update {self.update} of segment {self.segment}")
        what = {"reset": f"reset {name}", "noise": f"noise σ={self.sigma:g} on {name}",
                "cell": f"cell {self.cell} set to token {self.value}", "puzzle_id": f"puzzle id {self.puzzle_id}"}
        return f"{what[self.kind]} {at}"


class _Edit:
    """The hooks `ACT.rollout` calls (through `trace.trace`): `segment` before every ACT segment (it
    may return another carry) and the call after every update (it may change z in place)."""

    def __init__(self, change: Change, model):
        self.c, self.model = change, model
        self.at = updates(model, change.state) if change.update == -1 else change.update
        self.gen = torch.Generator().manual_seed(change.seed)
        self.t, self.k = -1, 0

    def new_state(self, z: torch.Tensor) -> torch.Tensor:
        if self.c.kind == "reset":
            return getattr(self.model, f"{self.c.state}_init").to(z.dtype).expand_as(z)
        noise = torch.randn(z.shape, generator=self.gen) * self.c.sigma
        return z + noise.to(z.device, z.dtype)

    def segment(self, t: int, carry: Carry, batch: dict) -> Carry:
        self.t, self.k = t, 0
        c, model = self.c, self.model
        if t + 1 != c.segment or self.at != 0:
            return carry
        if t == 0:  # the carry the first segment would start from, built here so that it can be changed
            shape = carry.z_H.shape
            carry = Carry(model.H_init.expand(shape).clone(), model.L_init.expand(shape).clone(),
                          torch.zeros_like(carry.steps), torch.zeros_like(carry.halted),
                          {k: batch[k].clone() for k in carry.data})
        data = dict(carry.data)
        if c.kind in ("reset", "noise"):
            return dc.replace(carry, **{f"z_{c.state}": self.new_state(getattr(carry, f"z_{c.state}"))})
        if c.kind == "cell":
            data["inputs"] = data["inputs"].clone()
            data["inputs"][:, c.cell] = c.value
        else:
            ids = data["puzzle_identifiers"]
            n = model.puzzle_emb.weights.shape[0] if model.puzzle_emb is not None else 1
            data["puzzle_identifiers"] = (torch.zeros_like(ids) if c.puzzle_id == "blank" or n < 2 else
                                          torch.randint(1, n, ids.shape, generator=self.gen).to(ids))
        return dc.replace(carry, data=data)

    def __call__(self, level, i, j, z):
        if level != self.c.state or self.c.kind not in ("reset", "noise"):
            return
        self.k += 1
        if self.t + 1 == self.c.segment and self.k == self.at:
            z.copy_(self.new_state(z))


# ---------------------------------------------------------------------------- one intervention

@dataclass
class Pair:
    """The original and the intervened trace of the same puzzles."""
    original: T.Trace
    intervened: T.Trace
    change: Change

    @property
    def differ(self) -> np.ndarray:  # [T, B, S] cells whose prediction differs
        return self.original.preds != self.intervened.preds

    def summary(self) -> dict:
        return {"change": self.change.describe(self.original.family),
                "exact_original": self.original.correct.mean(1).round(4).tolist(),
                "exact_intervened": self.intervened.correct.mean(1).round(4).tolist(),
                "cells_differing": self.differ.sum((1, 2)).tolist()}


def _model_task(m):
    return (m.model, m.task) if isinstance(m, T.Loaded) else (m, "tokens")


def intervene(m, puzzles, change: Change, max_steps: Optional[int] = None, keep: str = "none") -> Pair:
    """Trace `puzzles` (test rows of a loaded run `m`, or a batch dict) twice: as they are, and with
    `change`; keyword arguments as `trace.trace`."""
    model, task = _model_task(m)
    if isinstance(puzzles, dict):
        batch, index = puzzles, None
    else:
        from ..data import load_split
        index = np.asarray(puzzles, np.int64)
        batch = T.select(load_split(m.data_path, "test"), index)
    change.check(model, np.shape(batch["inputs"])[-1])
    kw = dict(max_steps=max_steps, keep=keep, task=task, index=index)
    original = T.trace(model, batch, **kw)
    changed = T.trace(model, batch, edit=_Edit(change, model), **kw)
    if change.kind == "cell":  # show the edited input
        x = changed.inputs.copy()
        x[:, change.cell] = change.value
        changed = dc.replace(changed, inputs=x)
    return Pair(original, changed, change)


# ---------------------------------------------------------------------------- sweeps over the test split

@dataclass
class Sweep:
    """Exact accuracy over the test split with one kind of change at each of `x` (σ or segment)."""
    kind: str
    label: str  # what was changed, where; for the figure
    x: list  # σ values (noise) or reset segments (reset)
    exact: np.ndarray  # [len(x), T] exact accuracy after each ACT segment
    baseline: np.ndarray  # [T] without any change
    puzzles: int

    def rows(self) -> list[dict]:
        key = "sigma" if self.kind == "noise" else "segment"
        return [{key: v, "exact_accuracy": float(e[-1]), "after_each_segment": e.round(4).tolist()}
                for v, e in zip(self.x, self.exact)]


def intervention_sweep(m, kind: str = "noise", state: str = "H", values=None, segment: int = 1,
                       update: Optional[int] = None, limit: int = 0, seed: int = 0, batch_size: int = 0) -> Sweep:
    """Exact accuracy over the test split (its first `limit` rows; 0: all) against the change's size:
    kind="noise": σ in `values` (default 0, 0.1, 0.3, 1, 3) added to `state` at `segment` (default
    update -1: on the state that segment answers from); kind="reset": `state` reset to its initial
    value at each segment in `values` (default all; update 0: as that segment starts). Batches are
    the run's global batch (at most 256 rows), as its evaluation."""
    from ..data import load_split
    model = m.model
    if kind not in ("noise", "reset"):
        raise InterventionError(f"a sweep varies noise (σ) or reset (segment), got kind={kind!r}")
    Tn = model.cfg.halt_max_steps
    values = list(values if values is not None else (0, 0.1, 0.3, 1, 3) if kind == "noise" else range(1, Tn + 1))
    update = (-1 if kind == "noise" else 0) if update is None else update
    changes = [Change(kind, state, segment=v if kind == "reset" else segment, update=update,
                      sigma=v if kind == "noise" else 0.0, seed=seed) for v in values]
    for c in changes:
        c.check(model)
    data = load_split(m.data_path, "test")
    idx = np.arange(data.num_examples)[:limit or None]
    bs = batch_size or min(m.config.global_batch_size if m.config else 64, 256)
    chunks = [idx[k:k + bs] for k in range(0, len(idx), bs)]
    correct = np.zeros((len(changes) + 1, Tn))
    with tqdm(total=(len(changes) + 1) * len(chunks), desc=f"{kind} sweep", unit="batch", leave=False) as bar:
        for k, c in enumerate([None] + changes):
            edit = _Edit(c, model) if c is not None else None  # one generator per point, over all batches
            for rows in chunks:
                tr = T.trace(model, T.select(data, rows), keep="none", task=m.task, edit=edit)
                correct[k] += tr.correct.sum(1)
                bar.update()
    acc = correct / max(len(idx), 1)
    name = T.STATE_NAMES[model.family][state]
    at = {0: "as the segment starts", -1: "at the end of the segment"}.get(update, f"after its update {update}")
    label = f"noise on {name} in segment {segment}, {at.replace('the segment', 'it')}" if kind == "noise" \
        else f"{name} reset {at}"
    return Sweep(kind, label, values, acc[1:], acc[0], len(idx))
