"""Figures of a trace (hrmlib.look.trace.Trace): the states' convergence, trajectories and
dimensionality, halting, accuracy per segment and by difficulty, depth sweeps, models side by side,
and the replay and explorer panels."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .curves import finish


# Each takes an hrmlib.look.trace.Trace unless noted. Mean over puzzles with the 10–90 % band unless noted.

def effective_dim(x: np.ndarray) -> float:
    """Effective dimensionality (Σλ)² / Σλ² of the covariance of samples x [N, F]."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(0)
    s = np.linalg.svd(x, compute_uv=False) ** 2  # eigenvalues of the covariance, up to a factor
    return float(s.sum() ** 2 / max((s ** 2).sum(), 1e-300))


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(projection [N, k], explained variance ratio [k]) of samples x [N, F]."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    var = s ** 2 / max((s ** 2).sum(), 1e-300)
    return u[:, :k] * s[:k], var[:k]


def _band(ax, x, y, label, color=None, marker=None):
    y = np.asarray(y, dtype=float)
    line, = ax.plot(x, np.median(y, axis=-1), marker=marker, label=label, color=color)
    ax.fill_between(x, np.percentile(y, 10, axis=-1), np.percentile(y, 90, axis=-1), color=line.get_color(), alpha=0.2)
    return line


def timeline(tr):
    """Execution order of updates inside steps: (x of every L update, x of every H update)."""
    N = tr.res_H.shape[1]
    T = tr.res_L.shape[1] // N
    x = np.arange(tr.steps * N * (T + 1)).reshape(tr.steps, N, T + 1)  # each H cycle: T L updates, then H's
    return x[..., :T].ravel(), x[..., T].ravel(), N * (T + 1)


def convergence(tr):
    """Forward residuals ‖z_k − z_{k−1}‖ of z_H and z_L over every update, in execution order (the
    HRM paper's hierarchical convergence view: L settles within a cycle, H moves once per cycle;
    for TRM the latent z and the answer y of its one network)."""
    fig, ax = plt.subplots(figsize=(10, 3.6))
    _convergence(ax, tr)
    return finish(fig, [ax])


def _convergence(ax, tr, title: str = ""):
    xl, xh, per = timeline(tr)
    _band(ax, xl, tr.res_L.reshape(len(xl), -1), f"{tr.level_name('L')} (every update)", "tab:blue", ".")
    _band(ax, xh, tr.res_H.reshape(len(xh), -1), f"{tr.level_name('H')} (every update)", "tab:red", "o")
    for s in range(1, tr.steps):
        ax.axvline(s * per - 0.5, color="grey", lw=0.5, ls=":")
    ax.set(yscale="log", xlabel="update (dotted lines separate ACT steps)", ylabel="forward residual",
           title=title or f"convergence, {tr.batch} puzzles (median, 10–90 %)")


def _states(tr, level, updates: bool = True):
    """[K, B, F] states in execution order: every update if recorded (and `updates`), else every step."""
    zu = getattr(tr, f"z_{level}_updates")
    z = zu.reshape(-1, *zu.shape[2:]) if updates and zu is not None else getattr(tr, f"z_{level}")
    if z is None:
        raise ValueError("the trace holds no states: trace with keep='steps' or keep='updates'")
    return z.reshape(z.shape[0], z.shape[1], -1)


def pca_trajectories(tr, puzzles: int = 6):
    """Each puzzle's H and L state path projected on the top two principal components (fitted on
    all recorded states of all puzzles); circles mark the start, squares the end."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, lv in zip(axes, ("H", "L")):
        z = _states(tr, lv)
        K, B, F = z.shape
        proj, var = pca(z.reshape(K * B, F))
        proj = proj.reshape(K, B, 2)
        for b in range(min(puzzles, B)):
            line, = ax.plot(proj[:, b, 0], proj[:, b, 1], "-", lw=1, alpha=0.8)
            ax.plot(*proj[0, b], "o", color=line.get_color()), ax.plot(*proj[-1, b], "s", color=line.get_color())
        ax.set(title=f"{tr.level_name(lv)}: {K} states per puzzle", xlabel=f"PC1 ({var[0]:.0%})",
               ylabel=f"PC2 ({var[1]:.0%})")
    return finish(fig, axes)


def participation_ratio(tr):
    """Effective dimensionality of H vs L states (the paper's dimensionality hierarchy): the
    participation ratio of the final states of each step as more puzzles are included."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [2, 1]})
    final = {}
    for lv, color in (("H", "tab:red"), ("L", "tab:blue")):
        z = _states(tr, lv, updates=False)  # [T, B, F]
        ns = sorted({max(2, int(round(n))) for n in np.geomspace(2, z.shape[1], 8)})
        vals = [effective_dim(z[:, :n].reshape(-1, z.shape[-1])) for n in ns]
        ax.plot(ns, vals, "o-", color=color, label=tr.level_name(lv))
        final[lv] = vals[-1]
    ax.set(xlabel="puzzles", ylabel="participation ratio", title="effective dimensionality", xscale="log")
    bx.bar([tr.level_name(k) for k in final], list(final.values()), color=["tab:red", "tab:blue"])
    bx.set(title=f"all {tr.batch} puzzles", ylabel="participation ratio")
    for i, v in enumerate(final.values()):
        bx.text(i, v, f"{v:.1f}", ha="center", va="bottom")
    return finish(fig, [ax], fontsize=None)


def halting(tr):
    """Halting: where the Q head would stop (the training rule, `tr.halt_rule`), the Q values per
    step, accuracy per step, and accuracy vs compute for adaptive vs always-all-steps inference."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    _halt_hist(axes[0], tr)
    x = np.arange(1, tr.steps + 1)
    _band(axes[1], x, tr.q_halt, "q_halt", "tab:red", "o")
    if tr.continue_loss:
        _band(axes[1], x, tr.q_continue, "q_continue", "tab:green", "o")
    else:  # q_continue is never trained: the threshold is 0
        axes[1].axhline(0, color="tab:green", ls=":", lw=1, label="halt above 0")
    axes[1].set(xlabel="ACT step", ylabel="Q logit", title="Q values")
    _per_step(axes[2], tr)
    _compute(axes[3], tr)
    return finish(fig, axes[1:])


def _halt_hist(ax, tr, title: str = ""):
    h = tr.halt_step
    ax.hist(h, bins=np.arange(0.5, tr.steps + 1.5), rwidth=0.85)
    ax.set(xlabel=f"halting step ({tr.halt_rule})", ylabel="puzzles",
           title=title or f"would halt after {h.mean():.2f} steps on average")


def _per_step(ax, tr, title: str = "accuracy at each step"):
    x = np.arange(1, tr.steps + 1)
    ax.plot(x, tr.correct.mean(1), "o-", label="exact")
    ax.plot(x, tr.token_accuracy.mean(1), "o--", label="token")
    ax.set(xlabel="ACT step", ylabel="accuracy", title=title, ylim=(-0.02, 1.02))


def _compute(ax, tr):
    caps = np.arange(1, tr.steps + 1)
    ada = [tr.adaptive(c) for c in caps]
    ax.plot(caps, tr.correct.mean(1), "o-", label="always run all steps")
    ax.plot([u.mean() for _, u in ada], [ok.mean() for ok, _ in ada], "s--", label="halt adaptively")
    ax.axvline(tr.train_max_steps, color="grey", ls=":", lw=1, label=f"trained max {tr.train_max_steps}")
    ax.set(xlabel="mean ACT steps used", ylabel="exact accuracy", title="accuracy vs compute", ylim=(-0.02, 1.02))


def act_histogram(tr):
    """One panel: distribution of the steps at which the model would halt."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    _halt_hist(ax, tr)
    return finish(fig)


def depth_sweep(tr):
    """Inference-depth sweep from one trace run past the trained halt_max_steps: exact and token
    accuracy after each step, and with adaptive halting capped at each depth."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    _per_step(axes[0], tr, "accuracy vs depth")
    axes[0].axvline(tr.train_max_steps, color="grey", ls=":", label="trained halt_max_steps")
    axes[0].set(xlabel="inference steps (halt_max_steps)")
    _compute(axes[1], tr)
    return finish(fig, axes)


THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)  # halting confidences swept (0.5: the training rule)


def reasoning(tr, thresholds=THRESHOLDS):
    """Does the model reason over segments? Exact accuracy after each segment, overall and by
    difficulty (`tr.groups()`); where Q would halt, by difficulty; and accuracy against compute for
    fixed depths and for learned halting with its confidence threshold swept (0.5 is the training
    rule; lower halts earlier)."""
    fig, (ax, bx, cx) = plt.subplots(1, 3, figsize=(16, 3.8))
    x = np.arange(1, tr.steps + 1)
    groups = tr.groups()
    ax.plot(x, tr.correct.mean(1), "ko-", lw=2, label=f"all {tr.batch}")
    for name, m in groups:
        ax.plot(x, tr.correct[:, m].mean(1), "o--", label=f"{name} ({m.sum()})")
    ax.set(xlabel="ACT segment", ylabel="exact accuracy", title="accuracy after each segment", ylim=(-0.02, 1.02))
    w = 0.8 / len(groups)
    for k, (name, m) in enumerate(groups):
        counts = np.bincount(tr.halt_step[m], minlength=tr.steps + 1)[1:]
        bx.bar(x - 0.4 + w * (k + 0.5), counts / max(m.sum(), 1), w, label=f"{name}: mean {tr.halt_step[m].mean():.2f}")
    bx.set(xlabel=f"halting segment ({tr.halt_rule})", ylabel="share of the group", title="where Q would halt")
    cx.plot(x, tr.correct.mean(1), "o-", label="fixed depth")
    pts = [tr.adaptive(threshold=t) for t in thresholds]
    cx.plot([u.mean() for _, u in pts], [ok.mean() for ok, _ in pts], "s--", label="learned halting, threshold swept")
    for t, (ok, u) in zip(thresholds, pts):
        if t in (thresholds[0], 0.5, thresholds[-1]):
            cx.annotate(f"{t:g}", (u.mean(), ok.mean()), textcoords="offset points", xytext=(4, -10), fontsize=8)
    cx.set(xlabel="mean segments used", ylabel="exact accuracy", title="accuracy vs compute", ylim=(-0.02, 1.02))
    return finish(fig, (ax, bx, cx))


def compute_curves(traces: dict):
    """Accuracy against compute for each model ({name: Trace}): fixed depths (solid) and learned halting
    with its threshold swept (dashed)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, tr in traces.items():
        x = np.arange(1, tr.steps + 1)
        line, = ax.plot(x, tr.correct.mean(1), "o-", label=f"{name}: fixed depth")
        pts = [tr.adaptive(threshold=t) for t in THRESHOLDS]
        ax.plot([u.mean() for _, u in pts], [ok.mean() for ok, _ in pts], "s--", color=line.get_color(),
                label=f"{name}: learned halting")
    ax.set(xlabel="mean ACT segments used", ylabel="exact accuracy", ylim=(-0.02, 1.02), title="accuracy vs compute")
    return finish(fig, [ax], fontsize=7)


def compare(traces: dict):
    """Models side by side, one row each (e.g. {"HRM": tr_hrm, "TRM": tr_trm}): convergence of
    the two states over every update, where Q would halt, and accuracy after each ACT step."""
    fig, axes = plt.subplots(len(traces), 3, figsize=(16, 3.4 * len(traces)), squeeze=False,
                             gridspec_kw={"width_ratios": [2.2, 1, 1]})
    for row, (name, tr) in zip(axes, traces.items()):
        _convergence(row[0], tr, f"{name}: convergence, {tr.batch} puzzles")
        _halt_hist(row[1], tr, f"would halt after {tr.halt_step.mean():.2f} steps")
        _per_step(row[2], tr, "accuracy after each ACT step")
    return finish(fig, axes[:, [0, 2]].flat)


def replay_side(tr, b: int, step: int, level: str = "H", size=(4.2, 4.6)):
    """Replay's side panel for puzzle b: Q logits and the chosen level's residuals per step, with
    a marker at `step` (0-based)."""
    fig, (ax, bx) = plt.subplots(2, 1, figsize=size, sharex=True)
    x = np.arange(1, tr.steps + 1)
    ax.plot(x, tr.q_halt[:, b], "o-", color="tab:red", label="q_halt")
    if tr.continue_loss:
        ax.plot(x, tr.q_continue[:, b], "o-", color="tab:green", label="q_continue")
    else:
        ax.axhline(0, color="tab:green", ls=":", lw=1, label="halt above 0")
    ax.axvline(step + 1, color="k", lw=1)
    ax.axvline(tr.halt_step[b], color="tab:red", ls=":", lw=1, label="would halt")
    who = f"puzzle {tr.index[b]}" if tr.index[b] >= 0 else "your puzzle"
    ax.set(ylabel="Q logit", title=f"{who}: step {step + 1}/{tr.steps}")
    res = getattr(tr, f"res_{level}")[:, :, b]  # [T, U]
    u = res.shape[1]
    xs = (np.arange(tr.steps)[:, None] + (np.arange(u)[None] + 1) / u).ravel()
    bx.plot(xs, res.ravel(), ".-", color="tab:red" if level == "H" else "tab:blue", label=f"‖Δ{tr.level_name(level)}‖")
    bx.axvline(step + 1, color="k", lw=1)
    bx.set(yscale="log", xlabel="ACT step", ylabel="residual")
    return finish(fig, (ax, bx), fontsize=7)


def state_explorer(tr, b: int, level: str, step: int, update: int = -1):
    """One state z_level of puzzle b (step, update within it; -1: end of step): its positions on
    the top two principal components, and the per-position norm as a heat map on the grid."""
    zu = getattr(tr, f"z_{level}_updates")
    z = (zu[step, update, b] if zu is not None else getattr(tr, f"z_{level}")[step, b])
    if z.ndim != 2:
        raise ValueError("the explorer needs full states: trace with keep='updates' and reduce=None")
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 4))
    proj, var = pca(z)
    colors = np.where(np.arange(len(z)) < tr.P, -1, np.arange(len(z)) - tr.P)
    sc = ax.scatter(proj[:, 0], proj[:, 1], c=colors, cmap="viridis", s=14)
    at = update % zu.shape[1] + 1 if zu is not None else "-"
    ax.set(title=f"{tr.level_name(level)} positions (PCA), step {step + 1}, update {at}",
           xlabel=f"PC1 ({var[0]:.0%})", ylabel=f"PC2 ({var[1]:.0%})")
    fig.colorbar(sc, ax=ax, label="grid position (−1: puzzle slot)")
    norms = np.linalg.norm(z[tr.P:], axis=-1)
    n = int(round(np.sqrt(norms.size)))
    img = norms.reshape(n, n) if n * n == norms.size else norms[None]
    im = bx.imshow(img, cmap="magma")
    bx.set(title="‖z‖ per position", xticks=[], yticks=[])
    fig.colorbar(im, ax=bx)
    return finish(fig)


def interventions(*sweeps):
    """Exact accuracy over the test split against an intervention (`intervene.intervention_sweep`):
    σ of the noise (symmetric log scale) or the segment of a reset; after the last segment (bold)
    and after each earlier one (thin, lighter for earlier), the unchanged model dashed."""
    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.6 * len(sweeps), 3.8), squeeze=False)
    for ax, sw in zip(axes[0], sweeps):
        x, n = np.asarray(sw.x, float), sw.exact.shape[1]
        for t in range(n):
            last = t == n - 1
            ax.plot(x, sw.exact[:, t], "o-", color=plt.get_cmap("viridis")(t / max(n - 1, 1)), lw=2.2 if last else 0.8,
                    alpha=1 if last else 0.55, label=f"after segment {t + 1}" if t in (0, n - 1) else None)
        ax.axhline(sw.baseline[-1], color="k", ls="--", lw=1, label="no change, last segment")
        if sw.kind == "noise":
            ax.set_xscale("symlog", linthresh=min(x[x > 0], default=0.1))
        ax.set(xlabel="σ of the noise" if sw.kind == "noise" else "segment at which it is reset",
               ylabel="exact accuracy", title=f"{sw.label} ({sw.puzzles} puzzles)", ylim=(-0.02, 1.02))
    return finish(fig, axes[0], fontsize=7)


def live(snapshots: list, evals: list = (), title: str = ""):
    """Learning as it happens, from the live snapshots of a run ([(training step, Trace)], one small
    trace of the same few test puzzles per evaluation; `hrmlib.look.live`): the newest snapshot's showcase puzzle after
    every segment; exact accuracy after each segment against the training step (the evaluation of
    the whole test split as dots, `evals` = metrics.jsonl test rows); where Q would halt now."""
    from .. import render
    steps, traces = [s for s, _ in snapshots], [t for _, t in snapshots]
    tr, n = traces[-1], traces[-1].steps
    fig = plt.figure(figsize=(min(max(10.0, 1.7 * n), 24), 6.4))
    grid = fig.add_gridspec(2, n, height_ratios=(1, 1.25))
    b = tr.showcase()
    for t in range(n):
        ax = fig.add_subplot(grid[0, t])
        if tr.task in ("sudoku", "maze", "arc"):
            render.frame(ax, tr.task, tr.inputs[b], tr.labels[b], tr.preds[t, b], tr.changed[t, b])
        ax.set_title(f"segment {t + 1}{' ✓' if tr.correct[t, b] else ''}", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    half = max(n // 2 + n % 2, 1)
    ax, bx = fig.add_subplot(grid[1, :half]), fig.add_subplot(grid[1, half:] if n > 1 else grid[1, :])
    acc = np.array([t.correct.mean(1) for t in traces])  # [snapshots, T]
    for t in range(n):
        ax.plot(steps, acc[:, t], "o-" if len(steps) < 30 else "-", ms=3, lw=2 if t == n - 1 else 0.9,
                color=plt.get_cmap("viridis")(t / max(n - 1, 1)),
                label=f"after segment {t + 1}" if t in (0, n - 1) else None)
    ax.plot(steps, [t.token_accuracy[-1].mean() for t in traces], ":", color="grey",
            label="token accuracy, last segment")
    if evals:
        ax.plot([r["step"] for r in evals], [r["exact_accuracy"] for r in evals], "ks", ms=4,
                label="evaluation, whole test split")
    ax.set(xlabel="training step", ylabel="accuracy", ylim=(-0.02, 1.02),
           title=f"{tr.batch} fixed test puzzles, after each segment")
    _halt_hist(bx, tr, f"where Q would halt now (mean {tr.halt_step.mean():.2f})")
    fig.suptitle(title or f"live: step {steps[-1]}, puzzle #{tr.index[b]}", fontsize=10)
    return finish(fig, [ax], fontsize=7)
