"""Figures of every update decoded (hrmlib.look.updates.Updates): accuracy after each update, the
critical update by difficulty, step sizes and cosines, accuracy against compute for a step-size exit,
Q-halting and fixed depth, and the replay's side panel at update granularity."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .curves import finish
from .inside import THRESHOLDS, _band

EXITS = tuple(np.geomspace(1e-4, 1, 13))  # relative step sizes swept for the early exit


def _segments(ax, up):
    for s in range(1, up.steps):
        ax.axvline(s * up.U + 0.5, color="grey", lw=0.5, ls=":")


def decoded(up):
    """Exact accuracy of the answer decoded after every update (execution order; dotted lines separate
    segments), overall and by difficulty; token accuracy; with a probe, the head read from z_L too."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 3.8))
    x = np.arange(1, up.K + 1)
    ax.plot(x, up.correct.mean(1), "k.-", lw=2, label=f"all {up.batch}")
    for name, m in up.trace.groups():
        ax.plot(x, up.correct[:, m].mean(1), ".--", label=f"{name} ({m.sum()})")
    bx.plot(x, up.token_accuracy.mean(1), "k.-", label=f"answer from {up.trace.level_name('H')}")
    if up.probe is not None:
        ok, acc = up.probe_scores()
        ax.plot(x, ok.mean(1), "x:", color="tab:purple", label=f"probe: head on {up.trace.level_name('L')}")
        bx.plot(x, acc.mean(1), "x:", color="tab:purple", label=f"probe: head on {up.trace.level_name('L')}")
    for a, what in ((ax, "exact accuracy"), (bx, "token accuracy")):
        _segments(a, up)
        a.set(xlabel=f"update ({up.U} per segment: {'·'.join(up.kinds)})", ylabel=what,
              title=f"{what} decoded after every update")
    ax.set_ylim(-0.02, 1.02)
    return finish(fig, (ax, bx))


def critical(up, jump: float = 0.5):
    """When each puzzle is solved: the critical answer update (after which the decoded answer is right
    to the end) by difficulty, and the share of each group solved at the first answer update, suddenly
    (one update does at least `jump` of the rise in token accuracy) or gradually (`updates.onset`)."""
    from .. import updates as U
    J = up.answers(up.correct)
    crit, how = U.critical(J), U.onset(up.answers(up.token_accuracy), J, jump)
    groups = up.trace.groups()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    n = J.shape[0]
    w = 0.8 / len(groups)
    for k, (name, m) in enumerate(groups):
        counts = np.bincount(crit[m & (crit >= 0)], minlength=n)
        ax.bar(np.arange(1, n + 1) - 0.4 + w * (k + 0.5), counts / max(m.sum(), 1), w,
               label=f"{name}: {(m & (crit >= 0)).sum()}/{m.sum()} solved")
    per = n // up.steps
    for s in range(1, up.steps):
        ax.axvline(s * per + 0.5, color="grey", lw=0.5, ls=":")
    ax.set(xlabel=f"critical answer update ({per} per segment)", ylabel="share of the group",
           title="the update after which the answer stays right")
    left = np.zeros(len(groups))
    colors = {"first": "tab:green", "sudden": "tab:orange", "gradual": "tab:blue", "unsolved": "lightgrey"}
    for kind in U.ONSETS:
        share = np.array([(how[m] == kind).mean() for _, m in groups])
        bx.barh(range(len(groups)), share, left=left, color=colors[kind], label=kind)
        left += share
    bx.set_yticks(range(len(groups)), [name.split(" (")[0] for name, _ in groups])
    bx.set(xlabel="share of the group", title=f"how it was solved (sudden: one update ≥ {jump:.0%})", xlim=(0, 1))
    return finish(fig, (ax, bx))


def dynamics(up, eps: float | None = None):
    """Relative step size ‖s_{k+1} − s_k‖/‖s_k‖ of each state at its updates, and the cosine between its
    successive changes, for puzzles right and wrong at the end (median, 10–90 %); `eps`: the still
    threshold of the wrong-attractor and early-exit rules."""
    from .. import updates as U
    eps = U.EPS if eps is None else eps
    fig, axes = plt.subplots(2, 2, figsize=(14, 6), sharex="col")
    ok = up.trace.correct[-1]
    for col, lv in enumerate(("H", "L")):
        rel, cos = (getattr(up, f"{q}_{lv}").reshape(-1, up.batch) for q in ("rel", "cos"))
        x = np.arange(1, len(rel) + 1) / (len(rel) / up.steps)
        for sel, name, color in ((ok, "right at the end", "tab:green"), (~ok, "wrong at the end", "tab:red")):
            if sel.any():
                _band(axes[0, col], x, rel[:, sel], f"{name} ({sel.sum()})", color, ".")
                _band(axes[1, col], x[1:], cos[1:, sel], name, color, ".")
        axes[0, col].axhline(eps, color="k", ls=":", lw=1, label=f"still below {eps:g}")
        axes[0, col].set(yscale="log", ylabel="relative step size",
                         title=f"{up.trace.level_name(lv)}: how far each update moves it")
        axes[1, col].set(xlabel="segment (its updates spread over it)", ylabel="cosine of successive changes",
                         ylim=(-1.05, 1.05))
    return finish(fig, axes.flat)


def early_exit(up, exits=EXITS, thresholds=THRESHOLDS):
    """Accuracy against compute: fixed depth, Q-halting with its confidence threshold swept, and the
    step-size exit (`updates.early_exit`) with its threshold swept."""
    from .. import updates as U
    tr = up.trace
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x = np.arange(1, tr.steps + 1)
    ax.plot(x, tr.correct.mean(1), "o-", color="k", label="fixed depth")
    q = [tr.adaptive(threshold=t) for t in thresholds]
    ax.plot([u.mean() for _, u in q], [ok.mean() for ok, _ in q], "s--", label="Q-halting, confidence swept")
    for level, marker in (("H", "^"), ("both", "v")):
        pts = [U.early_exit(up, e, level) for e in exits]
        name = tr.level_name("H") if level == "H" else "both states"
        line, = ax.plot([u.mean() for _, u in pts], [ok.mean() for ok, _ in pts], marker + "-.",
                        label=f"step-size exit ({name}), threshold swept")
        for e, (ok, u) in zip(exits, pts):
            if level == "H" and e in (exits[0], exits[len(exits) // 2], exits[-1]):
                ax.annotate(f"{e:.0e}", (u.mean(), ok.mean()), textcoords="offset points", xytext=(4, -12),
                            fontsize=7, color=line.get_color())
    ax.set(xlabel="mean segments used", ylabel="exact accuracy", title=f"accuracy vs compute, {tr.batch} puzzles",
           ylim=(-0.02, 1.02))
    return finish(fig, [ax])


def update_side(up, b: int, k: int, size=(4.2, 4.6)):
    """Replay's side panel at update granularity for puzzle b: token accuracy of the decoded answer
    and the step size of every update, with a marker at update k (0-based)."""
    fig, (ax, bx) = plt.subplots(2, 1, figsize=size, sharex=True)
    x = np.arange(1, up.K + 1)
    ax.plot(x, up.token_accuracy[:, b], ".-", color="tab:blue", label="token accuracy")
    ax.plot(x, up.correct[:, b], ":", color="tab:green", label="exact")
    steps, kinds = up.step_sizes()[:, b], np.tile(np.array(up.kinds), up.steps)
    for lv, color in (("H", "tab:red"), ("L", "tab:blue")):
        sel = kinds == lv
        bx.plot(x[sel], steps[sel], ".-", color=color, label=up.trace.level_name(lv))
    for a in (ax, bx):
        a.axvline(k + 1, color="k", lw=1)
        _segments(a, up)
    ax.set(ylabel="decoded answer", title=f"puzzle {up.trace.index[b]}: {up.label(k)}", ylim=(-0.05, 1.05))
    bx.set(yscale="log", xlabel="update", ylabel="relative step size")
    return finish(fig, (ax, bx), fontsize=7)


def frames(up, b: int, ks=None, size: float = 3.2):
    """A replay on paper: puzzle b's answer decoded after each update in `ks` (0-based; default every
    answer update, at most 12), as the replay draws them, side by side."""
    import io

    from ..render import step
    ks = list(up.answer_updates[:12] if ks is None else ks)
    tr = up.trace
    cols = min(len(ks), 6)
    rows = -(-len(ks) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows * 1.05), squeeze=False)
    for ax, k in zip(axes.flat, ks):
        buf = io.BytesIO()
        title = f"{up.label(k)}\n{'right' if up.correct[k, b] else f'{up.wrong[k, b]} wrong'}"
        fig_k = step(tr.task, tr.inputs[b], tr.labels[b], up.preds[k, b], up.changed[k, b], title, size)
        fig_k.savefig(buf, format="png", dpi=80)
        ax.imshow(plt.imread(io.BytesIO(buf.getvalue())))
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"puzzle {tr.index[b]}: the answer decoded after each update", fontsize=10)
    return finish(fig)
