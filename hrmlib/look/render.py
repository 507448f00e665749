"""Pictures of dataset rows (token sequences as stored on disk), returned as matplotlib figures.

    fig = render.examples("sudoku", split.inputs[:4], split.labels[:4])
    fig = render.examples("arc", split.inputs[:3], split.labels[:3])   # input -> output pairs

Figures are closed after drawing, so a notebook shows each once (as the cell's value).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ..data.builders.arc import decode
from ..data.builders.maze import GOAL, OPEN, PATH, START, WALL
from .plots.curves import finish

# The standard ARC palette (colours 0..9), as on arcprize.org and in the ARC testing interface.
ARC_COLOURS = ["#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
               "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25"]
_MAZE = {0: "#ffffff", WALL: "#222222", OPEN: "#ffffff", START: "#2ca02c", GOAL: "#d62728", PATH: "#ff9f1c"}


def sudoku(ax, x, y=None):
    """Givens in black, cells filled from the solution (label) in blue."""
    x = np.asarray(x).reshape(9, 9).astype(int) - 1
    y = None if y is None else np.asarray(y).reshape(9, 9).astype(int) - 1
    ax.set_xlim(0, 9), ax.set_ylim(9, 0), ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
    for k in range(10):
        lw = 2 if k % 3 == 0 else 0.5
        ax.axhline(k, color="k", lw=lw), ax.axvline(k, color="k", lw=lw)
    for r, c in np.ndindex(9, 9):
        if x[r, c] > 0:
            ax.text(c + .5, r + .5, str(x[r, c]), ha="center", va="center", fontsize=10, weight="bold")
        elif y is not None and y[r, c] > 0:
            ax.text(c + .5, r + .5, str(y[r, c]), ha="center", va="center", fontsize=10, color="tab:blue")


def maze(ax, x, y=None):
    """Walls dark, start green, goal red, the label's path orange."""
    g = np.asarray(x if y is None else y).astype(int)
    n = int(round(np.sqrt(g.size)))
    ax.imshow(g.reshape(n, n), cmap=ListedColormap([_MAZE[k] for k in range(6)]), vmin=0, vmax=5,
              interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])


def arc_grid(ax, grid, title: str = ""):
    """One ARC grid (colours 0..9) in the standard palette, with cell borders."""
    g = np.asarray(grid)
    ax.imshow(g, cmap=ListedColormap(ARC_COLOURS), vmin=0, vmax=9, interpolation="nearest")
    ax.set_xticks(np.arange(-.5, g.shape[1]), minor=True), ax.set_yticks(np.arange(-.5, g.shape[0]), minor=True)
    ax.grid(which="minor", color="#555555", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title or f"{g.shape[0]}x{g.shape[1]}", fontsize=8)


def examples(task: str, inputs, labels, titles=None, size: float = 2.6):
    """Several rows side by side: sudoku/maze one panel each, ARC an input -> output pair each."""
    n = len(inputs)
    cols = 2 * n if task == "arc" else n
    fig, (axes,) = plt.subplots(1, cols, figsize=(size * cols, size + .4), squeeze=False)
    for k in range(n):
        title = titles[k] if titles is not None else f"#{k}"
        if task == "sudoku":
            sudoku(axes[k], inputs[k], labels[k]), axes[k].set_title(title, fontsize=9)
        elif task == "maze":
            maze(axes[k], inputs[k], labels[k]), axes[k].set_title(title, fontsize=9)
        elif task == "arc":
            arc_grid(axes[2 * k], decode(inputs[k]), f"{title} input")
            arc_grid(axes[2 * k + 1], decode(labels[k]), "-> output")
        else:
            raise ValueError(f"task must be sudoku, maze or arc, got {task!r}")
    return finish(fig)


def group(task: str, split, g: int = 0, limit: int = 4):
    """The first puzzles of group g (an original and its augmentations), first example of each."""
    p0, p1 = split.group_indices[g], min(split.group_indices[g + 1], split.group_indices[g] + limit)
    rows = split.puzzle_indices[p0:p1]
    titles = ["original"] + [f"augmentation {k}" for k in range(1, len(rows))]
    return examples(task, split.inputs[rows], split.labels[rows], titles)


def step(task: str, x, y, pred, changed=None, title: str = "", size: float = 4.2):
    """A model's prediction at one ACT step (token sequences). Sudoku: givens black, predicted
    digits blue, wrong ones red with a red cell, changed cells yellow. Maze: walls, predicted
    path orange, wrong cells red crosses, changed cells outlined. ARC: input, prediction, target.
    Another dataset: its tokens in a square, wrong red, changed yellow."""
    if task == "arc":
        x, y, pred = (np.asarray(a).astype(int) for a in (x, y, pred))
        fig, axes = plt.subplots(1, 3, figsize=(size * 2, size * 0.8))
        arc_grid(axes[0], decode(x), "input")
        arc_grid(axes[1], decode(pred), f"prediction{' (wrong)' if ((pred != y) & (y >= 0)).any() else ''}")
        arc_grid(axes[2], decode(np.where(y < 0, 0, y)), "target")
        fig.suptitle(title, fontsize=9)
    else:
        fig, ax = plt.subplots(figsize=(size, size))
        frame(ax, task, x, y, pred, changed)
        ax.set_title(title, fontsize=9)
    return finish(fig)


def frame(ax, task: str, x, y, pred, changed=None):
    """One prediction on one axis, marked as `step` marks it (ARC: the predicted grid alone)."""
    x, y, pred = (np.asarray(a).astype(int) for a in (x, y, pred))
    wrong = (pred != y) & (y >= 0)
    changed = np.zeros_like(wrong) if changed is None else np.asarray(changed, bool)
    if task == "sudoku":
        _sudoku_step(ax, x, pred, changed, wrong)
    elif task == "maze":
        _maze_step(ax, x, pred, changed, wrong)
    elif task == "arc":
        arc_grid(ax, decode(pred), "prediction")
    else:  # any other dataset ("tokens"): the sequence as a square of token numbers
        _tokens_step(ax, x, pred, changed, wrong)


def _tokens_step(ax, x, pred, changed, wrong):
    """Predicted tokens in rows of ⌈√S⌉: wrong red, changed on yellow, the input's token small above."""
    w = int(np.ceil(np.sqrt(len(pred))))
    for i, (t, xi) in enumerate(zip(pred, x)):
        r, c = divmod(i, w)
        if changed[i]:
            ax.add_patch(plt.Rectangle((c, r), 1, 1, color="#fff3a0", zorder=0))
        ax.text(c + .5, r + .6, str(t), ha="center", va="center", fontsize=10,
                color="tab:red" if wrong[i] else "tab:blue")
        ax.text(c + .5, r + .2, str(xi), ha="center", va="center", fontsize=6, color="grey")
    ax.set(xlim=(0, w), ylim=(-(-len(pred) // w), 0), xticks=[], yticks=[], aspect="equal")


def _sudoku_step(ax, x, pred, changed, wrong):
    sudoku(ax, x)  # grid lines and givens
    x, pred = x.reshape(9, 9) - 1, pred.reshape(9, 9) - 1
    changed, wrong = changed.reshape(9, 9), wrong.reshape(9, 9)
    for r, c in np.ndindex(9, 9):
        if changed[r, c]:
            ax.add_patch(plt.Rectangle((c, r), 1, 1, color="#fff3a0", zorder=0))
        if x[r, c] > 0:
            continue
        if wrong[r, c]:
            ax.add_patch(plt.Rectangle((c + .06, r + .06), .88, .88, fill=False, ec="tab:red", lw=1.5))
        digit = str(pred[r, c]) if 0 < pred[r, c] < 10 else "·"
        ax.text(c + .5, r + .5, digit, ha="center", va="center", fontsize=10,
                color="tab:red" if wrong[r, c] else "tab:blue")


def _maze_step(ax, x, pred, changed, wrong):
    n = int(round(np.sqrt(x.size)))
    g = np.where((pred == PATH) & (x == OPEN), PATH, x)
    maze(ax, g)
    rr, cc = np.divmod(np.flatnonzero(changed), n)
    ax.scatter(cc, rr, s=30, facecolors="none", edgecolors="tab:blue", lw=0.8)
    rr, cc = np.divmod(np.flatnonzero(wrong), n)
    ax.scatter(cc, rr, s=14, marker="x", color="tab:red", lw=1)


def arc_gallery(rows: list, size: float = 1.8):
    """ARC tasks, one row each: (title, input grid, predicted grid, target grid)."""
    fig, axes = plt.subplots(max(len(rows), 1), 3, figsize=(3 * size, size * max(len(rows), 1) + .3), squeeze=False)
    for k, (title, i, p, t) in enumerate(rows):
        arc_grid(axes[k, 0], i, f"{title}: input")
        if np.size(p):
            arc_grid(axes[k, 1], p, "top-voted prediction")
        else:
            axes[k, 1].axis("off"), axes[k, 1].set_title("no grid predicted", fontsize=8)
        arc_grid(axes[k, 2], t, "target")
    if not rows:
        axes[0, 0].set_title("no tasks"), [a.axis("off") for a in axes[0]]
    return finish(fig)
