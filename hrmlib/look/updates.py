"""Every recurrent update, decoded: the answer the output head would give after each update, the
update at which a puzzle is solved, how far each update moves the states, where a puzzle gets stuck
on a wrong answer, an exit rule from the step size, and what running deeper than trained buys.

    from hrmlib.look import trace, updates
    m = trace.load("runs/<id>")
    up = updates.trace_updates(m, limit=256)        # every update of 256 test puzzles, decoded
    up.preds[k, b], up.correct[k, b]                # k: update in execution order (up.label(k))
    updates.critical(up.answers(up.correct))        # [B] answer update after which it stays right
    updates.attractors(up)                          # [B] where a puzzle stopped moving on a wrong answer
    updates.early_exit(up, 0.01)                    # exit when the answer state moves < 1 %

Decoding applies the model's own heads (`ACT.heads`) to the states the trace recorded with
keep="updates" — HRM: z_H, TRM: the answer y (= z_H); with `probe=True` also to z_L (TRM's latent z,
which the head was never trained to read). Within a segment the updates run as H_cycles cycles of
L_cycles z_L updates and one z_H update (`plots.inside.timeline`'s order), so the decoded answer
changes only at z_H updates; its value after a segment's last update is that segment's output
(tests/test_updates.py checks it for HRM and TRM).

Step size of a state at an update: ‖s_{k+1} − s_k‖ / ‖s_k‖ over all positions (the first update of
the rollout measured from H_init / L_init); cosine: between this update's change and the previous
one's of the same state (nan for the first).
"""
from __future__ import annotations

import dataclasses as dc
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from . import trace as T_

EPS, STILL = 0.01, 2  # a wrong attractor: step size of both states < EPS for STILL answer updates (docs/dynamics.md)


@dataclass
class Updates:
    """Every update of B puzzles over T segments, U updates each (K = T·U in execution order)."""
    trace: T_.Trace  # the segment view (halting, Q, each segment's output); states not kept
    kinds: list  # [U] "L" or "H": which state each update within a segment changes
    preds: np.ndarray  # [K, B, S] answer decoded from z_H after each update
    probe: Optional[np.ndarray]  # [K, B, S] the head applied to z_L after each update (probe=True)
    rel_H: np.ndarray  # [T, UH, B] relative step size of z_H at each of its updates
    rel_L: np.ndarray  # [T, UL, B]
    cos_H: np.ndarray  # [T, UH, B] cosine between successive changes of z_H (nan for the first)
    cos_L: np.ndarray  # [T, UL, B]

    @property
    def U(self) -> int:
        return len(self.kinds)

    @property
    def K(self) -> int:
        return self.preds.shape[0]

    @property
    def batch(self) -> int:
        return self.preds.shape[1]

    def label(self, k: int) -> str:
        """Update k (0-based, execution order) as "segment 2, update 3/3 (y)"."""
        t, u = divmod(k, self.U)
        return f"segment {t + 1}, update {u + 1}/{self.U} ({self.trace.level_name(self.kinds[u]).split()[0]})"

    @property
    def answer_updates(self) -> np.ndarray:  # [J] indices k of the z_H updates (where the answer can change)
        return np.flatnonzero(np.tile(np.array(self.kinds) == "H", self.steps))

    @property
    def steps(self) -> int:
        return self.K // self.U

    def answers(self, x: np.ndarray) -> np.ndarray:
        """[K, …] per update → [J, …] at the answer updates only."""
        return x[self.answer_updates]

    def _scores(self, preds):
        tr = self.trace
        right = (preds == tr.labels) | ~tr.scored
        hits = ((preds == tr.labels) & tr.scored).sum(-1)
        return right.all(-1) & tr.scored.any(-1), hits / np.maximum(tr.scored.sum(-1), 1)

    @property
    def wrong(self) -> np.ndarray:  # [K, B] scored cells of the decoded answer that are wrong
        tr = self.trace
        return ((self.preds != tr.labels) & tr.scored).sum(-1)

    @property
    def correct(self) -> np.ndarray:  # [K, B] every scored cell of the decoded answer right
        return self._scores(self.preds)[0]

    @property
    def token_accuracy(self) -> np.ndarray:  # [K, B]
        return self._scores(self.preds)[1]

    def probe_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """(correct [K, B], token accuracy [K, B]) of the z_L probe."""
        if self.probe is None:
            raise ValueError("no probe: decode with probe=True")
        return self._scores(self.probe)

    @property
    def changed(self) -> np.ndarray:  # [K, B, S] decoded answer differs from the previous update's (first: the input)
        return self.preds != np.concatenate([self.trace.inputs[None], self.preds[:-1]])

    def step_sizes(self) -> np.ndarray:
        """[K, B] relative step size of the state each update changes, in execution order."""
        return self._in_order(self.rel_H, self.rel_L)

    def cosines(self) -> np.ndarray:
        """[K, B] cosine between this update's change and the previous change of the same state."""
        return self._in_order(self.cos_H, self.cos_L)

    def _in_order(self, h, l):  # noqa: E741
        out = np.empty((self.steps, self.U, self.batch), np.float32)
        kinds = np.array(self.kinds)
        out[:, kinds == "H"], out[:, kinds == "L"] = h, l
        return out.reshape(self.K, self.batch)

    def motion(self) -> np.ndarray:
        """[J, B] at each answer update, the largest step size of either state in its cycle (the
        z_L updates before it and the z_H update itself): how far the whole state still moves."""
        T, UH, B = self.rel_H.shape
        n = self.rel_L.shape[1] // UH
        return np.maximum(self.rel_H, self.rel_L.reshape(T, UH, n, B).max(2)).reshape(T * UH, B)


# ---------------------------------------------------------------------------- decoding

def _head(model, z) -> np.ndarray:
    """Arg-max answer [B, S] of the output head on states z [B, S', D] (numpy or torch)."""
    z = torch.from_numpy(np.ascontiguousarray(z)) if isinstance(z, np.ndarray) else z
    with torch.inference_mode():
        logits = model.heads(z.to(next(model.parameters()).device, model.dtype))[0]
    return logits.float().argmax(-1).cpu().numpy()


def _steps(seq: np.ndarray, init: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative step sizes and cosines of successive changes along states seq [K, B, S', D] from init [D]."""
    prev = torch.from_numpy(np.broadcast_to(init, seq.shape[2:]).copy()).flatten().expand(seq.shape[1], -1)
    rel, cos, d0 = [], [], None
    for z in seq:  # one update at a time: the states of a deep rollout need not fit in memory twice
        z = torch.from_numpy(z).flatten(1)
        d = z - prev
        rel.append(d.norm(dim=-1) / prev.norm(dim=-1).clamp_min(1e-30))
        cos.append(torch.full_like(rel[-1], float("nan")) if d0 is None
                   else torch.cosine_similarity(d, d0, dim=-1, eps=1e-30))
        prev, d0 = z, d
    return torch.stack(rel).numpy(), torch.stack(cos).numpy()


def decode(model, tr: T_.Trace, probe: bool = False) -> Updates:
    """Decode every update of a trace recorded with keep="updates", reduce=None (its states are dropped
    from the returned Updates' trace)."""
    zH, zL = tr.z_H_updates, tr.z_L_updates
    if zH is None or zH.ndim != 5:
        raise ValueError("decoding needs full states of every update: trace with keep='updates', reduce=None")
    T, UH, B = zH.shape[:3]
    n = zL.shape[1] // UH
    kinds = (["L"] * n + ["H"]) * UH
    answer = _head(model, model.H_init.expand(*zH.shape[2:]))  # before any update
    preds, probes = [], []
    lat = None
    for t in range(T):
        for i in range(UH):
            for j in range(n):
                preds.append(answer)
                if probe:
                    lat = _head(model, zL[t, i * n + j])
                    probes.append(lat)
            answer = _head(model, zH[t, i])
            preds.append(answer)
            if probe:
                probes.append(lat)
    out = {}
    for lv, z in (("H", zH), ("L", zL)):
        init = getattr(model, f"{lv}_init").float().cpu().numpy()
        rel, cos = _steps(z.reshape(-1, *z.shape[2:]), init)
        out[f"rel_{lv}"], out[f"cos_{lv}"] = rel.reshape(T, -1, B), cos.reshape(T, -1, B)
    small = dc.replace(tr, z_H=None, z_L=None, z_H_updates=None, z_L_updates=None)
    dt = np.uint8 if model.V <= 256 else np.int32
    return Updates(small, kinds, np.stack(preds).astype(dt), np.stack(probes).astype(dt) if probe else None, **out)


def trace_updates(m: T_.Loaded, indices=None, limit: int = 0, max_steps: Optional[int] = None, probe: bool = False,
                  batch_size: int = 64, split: str = "test") -> Updates:
    """Trace and decode example rows of the model's dataset batch by batch (`trace.batches`: default the
    whole split, or its first `limit` rows), keeping only what is decoded: the full states of one batch at a time."""
    parts = [decode(m.model, T_.trace(m.model, b, max_steps=max_steps, keep="updates", task=m.task, index=rows), probe)
             for rows, b in tqdm(T_.batches(m, indices, limit, split, batch_size), desc="decode updates", leave=False)]
    return parts[0] if len(parts) == 1 else concat(parts)


def deepen(m: T_.Loaded, up: Updates, factor: int = 8) -> Optional[Updates]:
    """The puzzles of `up` wrong after its last segment, decoded again over `factor` × the trained
    segments: within the trained depth a wrong puzzle usually still moves; run longer, most stop on a
    wrong answer (docs/dynamics.md). None when every puzzle is right."""
    rows = up.trace.index[~up.trace.correct[-1]]
    if not len(rows):
        print(f"all {up.batch} puzzles are right after {up.steps} segments: nothing to run deeper")
        return None
    return trace_updates(m, indices=rows, max_steps=factor * m.model.cfg.halt_max_steps)


def concat(parts: list[Updates]) -> Updates:
    """Updates of different puzzles (same steps) joined along the puzzle axis."""
    p0 = parts[0]
    cat = lambda name, axis: np.concatenate([getattr(p, name) for p in parts], axis)  # noqa: E731
    return Updates(T_.concat([p.trace for p in parts]), p0.kinds, cat("preds", 1),
                   cat("probe", 1) if p0.probe is not None else None,
                   cat("rel_H", 2), cat("rel_L", 2), cat("cos_H", 2), cat("cos_L", 2))


# ---------------------------------------------------------------------------- when a puzzle is solved

def critical(correct: np.ndarray) -> np.ndarray:
    """[B] the first index from which `correct` [N, B] stays true to the end; -1 where the last is false."""
    c = np.asarray(correct, bool)
    stays = np.flip(np.cumprod(np.flip(c, 0), 0), 0).astype(bool)  # [N, B] right from here to the end
    return np.where(stays[-1], stays.argmax(0), -1)


ONSETS = ("first", "sudden", "gradual", "unsolved")


def onset(token_accuracy: np.ndarray, correct: np.ndarray, jump: float = 0.5) -> np.ndarray:
    """[B] how each puzzle was solved over a sequence of answers ([N, B] each): "first" (right from the
    first answer on), "sudden" (the critical answer alone raised token accuracy by at least `jump` of its
    whole rise, from the first answer's to 1), "gradual" (the rise was spread over several answers),
    "unsolved" (wrong at the end)."""
    acc = np.asarray(token_accuracy, float)
    c = critical(correct)
    b = np.arange(acc.shape[1])
    gain = acc[np.maximum(c, 0), b] - acc[np.maximum(c - 1, 0), b]
    out = np.where(gain >= jump * (1 - acc[0]), "sudden", "gradual").astype(object)
    out[c == 0], out[c < 0] = "first", "unsolved"
    return out


def attractors(up: Updates, eps: float = EPS, still: int = STILL) -> np.ndarray:
    """[B] wrong attractors: the answer update from which a puzzle's state has stopped moving (`motion`
    below `eps` at every answer update to the end, at least `still` of them) while its decoded answer is
    wrong at each of them; -1 for puzzles that are not stuck on a wrong answer."""
    return stuck(up.motion(), up.answers(up.correct), eps, still)


def stuck_rows(deep: Optional[Updates], eps: float = EPS, still: int = STILL) -> list[int]:
    """Test rows of the wrong attractors in `deep` (`deepen`'s run; none when it is None), to replay."""
    return [] if deep is None else deep.trace.index[attractors(deep, eps, still) >= 0].tolist()


def stuck(motion: np.ndarray, correct: np.ndarray, eps: float, still: int, wrong: bool = True) -> np.ndarray:
    """[B] start of the final run of `motion` [N, B] < eps when it is at least `still` long and `correct`
    [N, B] is false (`wrong`) or true (not `wrong`) all through it; -1 otherwise."""
    calm = np.asarray(motion) < eps
    N = calm.shape[0]
    run = np.flip(np.cumprod(np.flip(calm, 0), 0), 0).sum(0)  # [B] length of the final calm run
    start = N - run
    through = np.flip(np.cumprod(np.flip(~np.asarray(correct, bool) if wrong else np.asarray(correct, bool), 0), 0), 0)
    ok = (run >= max(still, 1)) & through[np.minimum(start, N - 1), np.arange(calm.shape[1])].astype(bool)
    return np.where(ok, start, -1)


def by_group(up: Updates, eps: float = EPS, still: int = STILL, jump: float = 0.5,
             deep: Optional[Updates] = None) -> list[dict]:
    """Per difficulty group (`Trace.groups`) and all: puzzles, right at the end, mean critical answer
    update, shares solved first/suddenly/gradually, wrong attractors (judged on `deep`, `deepen`'s
    longer run of the puzzles wrong at the end, where given) and puzzles settled on the right answer."""
    J = up.answers(up.correct)
    crit, how = critical(J), onset(up.answers(up.token_accuracy), J, jump)
    wrong_at = attractors(up, eps, still)
    if deep is not None:
        wrong_at = np.where(np.isin(up.trace.index, stuck_rows(deep, eps, still)), 0, -1)
    right_at = stuck(up.motion(), J, eps, still, wrong=False)
    rows = []
    for name, m in [*up.trace.groups(), (f"all {up.batch}", np.ones(up.batch, bool))]:
        solved = m & (crit >= 0)
        rows.append({"group": name, "puzzles": int(m.sum()), "right_at_end": int(solved.sum()),
                     "mean_critical": float(crit[solved].mean() + 1) if solved.any() else float("nan"),
                     **{k: int((m & (how == k)).sum()) for k in ONSETS},
                     "wrong_attractors": int((m & (wrong_at >= 0)).sum()),
                     "settled_right": int((m & (right_at >= 0)).sum())})
    return rows


def markdown(rows: list[dict]) -> str:
    """`by_group`'s rows as a Markdown table."""
    head = ["group", "puzzles", "right at end", "mean critical answer update", "first", "sudden", "gradual",
            "wrong attractors", "settled right"]
    keys = ["group", "puzzles", "right_at_end", "mean_critical", "first", "sudden", "gradual", "wrong_attractors",
            "settled_right"]
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows])


def table(up: Updates, eps: float = EPS, still: int = STILL, jump: float = 0.5, deep: Optional[Updates] = None):
    """`by_group` as a Markdown table (notebooks display it)."""
    from IPython.display import Markdown
    return Markdown(markdown(by_group(up, eps, still, jump, deep)))


def replay_rows(n: int, what="showcase", m=None) -> list[int]:
    """Test rows to trace for a replay: the first n (of the test split of `m`, when given, if it has
    fewer), and the row `what` names when it is a row number."""
    if m is not None:
        from ..data import load_split
        n = min(n, load_split(m.data_path, "test").num_examples)
    extra = [int(what)] if str(what).isdigit() and int(what) >= n else []
    return list(range(n)) + extra


def pick(up: Updates, what="showcase", eps: float = EPS, still: int = STILL) -> int:
    """A puzzle (row of the trace) to replay: "showcase" (`Trace.showcase`: solved over several segments),
    "attractor" (the first wrong attractor; the showcase when there is none, saying so), or a test-split
    row number among the traced puzzles."""
    if str(what).lstrip("-").isdigit():
        rows = np.flatnonzero(up.trace.index == int(what))
        if not len(rows):
            raise ValueError(f"test row {what} is not among the {up.batch} traced puzzles (rows "
                             f"{up.trace.index.min()}–{up.trace.index.max()}); trace more puzzles or pick one")
        return int(rows[0])
    if what == "attractor":
        stuck = np.flatnonzero(attractors(up, eps, still) >= 0)
        if len(stuck):
            return int(stuck[0])
        print(f"no wrong attractor among the {up.batch} puzzles (still below {eps:g} for {still} answer updates): "
              "showing the showcase puzzle")
    elif what != "showcase":
        raise ValueError(f"open on 'showcase', 'attractor' or a test row number, got {what!r}")
    return up.trace.showcase()


# ---------------------------------------------------------------------------- compute

def early_exit(up: Updates, threshold: float, level: str = "H") -> tuple[np.ndarray, np.ndarray]:
    """(exact-correct [B], segments used [B]) exiting after the first segment whose last update of the
    answer state z_H (level "H"; "both": `motion`, either state in its last cycle) moved it by less than `threshold`
    (relative step size), else after the last segment — the rule looped transformers use to stop."""
    move = up.rel_H[:, -1] if level == "H" else up.motion().reshape(up.steps, -1, up.batch)[:, -1]
    stop = move < threshold
    stop[-1] = True
    used = stop.argmax(0) + 1
    return up.trace.correct[used - 1, np.arange(up.batch)], used
