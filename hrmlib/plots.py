"""Figures, each one call returning a matplotlib Figure. Notebooks show them; runs save them."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt


def read_metrics(run) -> list[dict]:
    p = Path(run) / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


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
                          color=line.get_color(), label=f"{name} test")
    ax_l.set(xlabel="step", ylabel="loss per example", title="training loss", yscale="log")
    ax_a.set(xlabel="step", ylabel="exact accuracy", title="exact accuracy", ylim=(-0.02, 1.02))
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _smooth(xs, k):
    if k <= 1 or len(xs) < 2:
        return xs
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x - (xs[i - k] if i >= k else 0.0)
        out.append(acc / min(i + 1, k))
    return out
