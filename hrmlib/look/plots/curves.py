"""Figures of runs, read from their files: learning curves, training diagnostics, the
evaluated-checkpoint curve, seeds of one configuration, accuracy against compute per run."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def save(fig, path, dpi: int = 120) -> Path:
    """Write a figure into a run atomically: a reader never sees half a PNG."""
    from ...runs import atomic_write
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    return atomic_write(Path(path), buf.getvalue())


def finish(fig, axes=(), fontsize=8):
    """Grid and legend (where something is labelled) on `axes`, tight layout; the figure is closed
    so a notebook shows it once, as the cell's value."""
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=fontsize)
    fig.tight_layout()
    plt.close(fig)
    return fig


def read_metrics(run) -> list[dict]:
    """A run's metrics.jsonl rows; a line the trainer is still writing is left out."""
    from ...runs import read_jsonl
    p = Path(run) / "metrics.jsonl"
    return read_jsonl(p) if p.exists() else []


def learning_curves(runs, smooth: int = 20):
    """Train loss and exact accuracy (smoothed) with eval exact accuracy, several runs overlaid."""
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in runs:
        rows = read_metrics(run)
        name = Path(run).name
        tr = [r for r in rows if r.get("split") == "train"]
        te = [r for r in rows if r.get("split") == "test"]
        if tr:
            steps = [r["step"] for r in tr]
            line, = ax_l.plot(steps, _smooth([r["loss"] for r in tr], smooth), label=name)
            ax_a.plot(steps, _smooth([r["exact_accuracy"] for r in tr], smooth), color=line.get_color(),
                      alpha=0.5, label=f"{name} train (halted rows)")
            if te:
                ax_a.plot([r["step"] for r in te], [r["exact_accuracy"] for r in te], "o-",
                          color=line.get_color(), label=f"{name} test exact")
                ax_a.plot([r["step"] for r in te], [r["accuracy"] for r in te], "s--",
                          color=line.get_color(), alpha=0.7, label=f"{name} test token")
    ax_l.set(xlabel="step", ylabel="loss per example", title="training loss", yscale="log")
    ax_a.set(xlabel="step", ylabel="accuracy", title="exact (headline) and token accuracy", ylim=(-0.02, 1.02))
    return finish(fig, (ax_l, ax_a))


def _smooth(xs, k):
    if k <= 1 or len(xs) < 2:
        return xs
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x - (xs[i - k] if i >= k else 0.0)
        out.append(acc / min(i + 1, k))
    return out


# what plots.diagnostics draws, panel by panel: (title, keys or key prefixes, log scale)
PANELS = [("gradient norm by part", ["grad_norm"], True), ("parameter norm", ["param_norm"], False),
          ("update / parameter norm", ["update_ratio"], True), ("learning rates", ["lr", "lr_puzzle_emb"], True),
          ("loss terms", ["lm_loss", "q_halt_loss", "q_continue_loss"], True),
          ("halting", ["q_halt_accuracy", "act_steps", "explore_blocked"], False),
          ("throughput", ["examples_per_s"], False), ("peak memory (GB)", ["peak_mem_gb"], False)]


def diagnostics(runs, smooth: int = 10):
    """Training diagnostics of one run or several (overlaid): gradient norms (global solid, per part
    dashed), parameter norm, update ratio, learning rates, loss terms, Q-halt accuracy / segments per
    finished puzzle / share of halts exploration blocked, throughput and memory."""
    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    fig, axes = plt.subplots(2, 4, figsize=(18, 7))
    styles = ["-", "--", ":", "-."]
    for run in runs:
        tr = [r for r in read_metrics(run) if r.get("split") == "train"]
        if not tr:
            continue
        x = [r["step"] for r in tr]
        for ax, (title, keys, log) in zip(axes.flat, PANELS):
            found = [k for k in tr[-1] if k in keys or any(k.startswith(p + ".") for p in keys)]
            for j, k in enumerate(found):
                y = [r.get(k, np.nan) for r in tr]
                ax.plot(x, _smooth(y, smooth), styles[min(j, 3)] if title.startswith("gradient") else "-",
                        lw=1.5 if k in keys else 1, label=k if len(runs) == 1 else f"{Path(run).name} {k}")
            ax.set(title=title, xlabel="step", yscale="log" if log else "linear")
    return finish(fig, axes.flat, fontsize=7)


def checkpoint_curve(run):
    """Exact accuracy (and ARC pass@K) of every evaluated checkpoint against its step, the best
    marked — `python -m hrmlib.evaluate checkpoint=RUN steps=all` fills it in."""
    from ...runs import best, checkpoint_evals
    rows = checkpoint_evals(run)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    if rows:
        steps = [r["step"] for r in rows]
        for key in ["exact_accuracy", "accuracy"] + sorted(k for k in rows[0] if k.startswith("pass@")):
            ax.plot(steps, [r.get(key, np.nan) for r in rows], "o-" if key == "exact_accuracy" else "s--", label=key)
        top = best(rows)
        ax.plot(top["step"], top["exact_accuracy"], "*", ms=16, color="gold", mec="k",
                label=f"best: step {top['step']} ({top['exact_accuracy']:.1%})")
    ax.set(xlabel="checkpoint step", ylabel="accuracy", ylim=(-0.02, 1.02),
           title=f"{Path(run).name}: {len(rows)} evaluated checkpoints")
    return finish(fig, [ax])


def seed_groups(groups: dict):
    """Best exact accuracy per configuration, mean ± spread over its seeds (`runs.seed_groups`), each
    seed a dot."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 3.8))
    for i, g in enumerate(groups.values()):
        if g["mean"] is None:
            continue
        ax.bar(i, g["mean"], yerr=g["std"], capsize=6, alpha=0.6)
        ax.plot([i] * len(g["best_exact"]), g["best_exact"], "ko", ms=4)
        ax.text(i, g["mean"], f"{g['mean']:.1%} ± {g['std']:.1%}\n{len(g['seeds'])} seed(s)", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(range(len(groups)), [n[:40] for n in groups], rotation=15, ha="right", fontsize=8)
    ax.set(ylabel="best exact accuracy", ylim=(0, 1.1), title="seeds of one configuration")
    ax.grid(alpha=0.3, axis="y")
    return finish(fig)
