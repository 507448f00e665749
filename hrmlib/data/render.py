"""Pictures of dataset rows (token sequences as stored on disk), returned as matplotlib figures.

    fig = render.examples("sudoku", split.inputs[:4], split.labels[:4])
    fig = render.examples("arc", split.inputs[:3], split.labels[:3])   # input -> output pairs

Figures are closed after drawing, so a notebook shows each once (as the cell's value).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from .arc import decode
from .maze import GOAL, OPEN, PATH, START, WALL

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
    for r in range(9):
        for c in range(9):
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
    fig, axes = plt.subplots(1, cols, figsize=(size * cols, size + .4), squeeze=False)
    axes = axes[0]
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
    fig.tight_layout()
    plt.close(fig)
    return fig


def group(task: str, split, g: int = 0, limit: int = 4):
    """The first puzzles of group g (an original and its augmentations), first example of each."""
    p0, p1 = split.group_indices[g], min(split.group_indices[g + 1], split.group_indices[g] + limit)
    rows = split.puzzle_indices[p0:p1]
    titles = ["original"] + [f"augmentation {k}" for k in range(1, len(rows))]
    return examples(task, split.inputs[rows], split.labels[rows], titles)
