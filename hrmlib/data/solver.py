"""Exact Sudoku solving and generation, vectorised over a batch of boards.

A board is 81 uint8 cells, 0 = blank, 1..9 = digit. A search state is a boolean candidate cube
c[state, row, col, digit]. `propagate` applies naked and hidden singles to a fixed point for every
state at once; the search branches on the cell with the fewest candidates (MRV) and runs depth
first over blocks of states, so memory stays bounded and every puzzle is solved in the same few
numpy calls. Counting stops at `max_solutions` (2 is enough to tell "unique" from "several").
"""
from __future__ import annotations

import numpy as np


def _box_sum(x: np.ndarray) -> np.ndarray:
    """[S, 9, 9, 9] -> [S, 3, 3, 9]: per box and digit."""
    return x.reshape(len(x), 3, 3, 3, 3, 9).sum((2, 4), dtype=np.int8)


def _box_expand(b: np.ndarray) -> np.ndarray:
    """[S, 3, 3, 9] -> [S, 9, 9, 9]: each cell gets its box's value."""
    return np.broadcast_to(b[:, :, None, :, None], (len(b), 3, 3, 3, 3, 9)).reshape(len(b), 9, 9, 9)


def _step(c: np.ndarray):
    """One round of singles on states c; returns (new c, dead mask)."""
    n = c.sum(-1, dtype=np.int8)
    single = c & (n == 1)[..., None]
    row, col, box = single.sum(2, dtype=np.int8), single.sum(1, dtype=np.int8), _box_sum(single)
    dead = (n == 0).any((1, 2)) | (row > 1).any((1, 2)) | (col > 1).any((1, 2)) | (box > 1).any((1, 2, 3))
    placed = (row > 0)[:, :, None] | (col > 0)[:, None] | _box_expand(box > 0)
    c = c & (~placed | single)  # naked singles: a placed digit leaves the cell's peers
    row, col, box = c.sum(2, dtype=np.int8), c.sum(1, dtype=np.int8), _box_sum(c)
    dead |= (row == 0).any((1, 2)) | (col == 0).any((1, 2)) | (box == 0).any((1, 2, 3))
    hidden = c & ((row == 1)[:, :, None] | (col == 1)[:, None] | _box_expand(box == 1))
    c = np.where(hidden.any(-1, keepdims=True), hidden, c)  # hidden singles: the only place for d
    return c, dead


def propagate(c: np.ndarray):
    """Singles to a fixed point; only states that still change are recomputed."""
    c = c.copy()
    dead = np.zeros(len(c), bool)
    active = np.arange(len(c))
    while len(active):
        new, d = _step(c[active])
        changed = (new != c[active]).any((1, 2, 3)) & ~d
        c[active], dead[active] = new, d
        active = active[changed]
    return c, dead


def cube(boards: np.ndarray) -> np.ndarray:
    """[N, 81] boards -> [N, 9, 9, 9] candidate cubes (givens fixed, blanks open)."""
    b = np.asarray(boards).reshape(-1, 9, 9)
    c = b[..., None] == np.arange(1, 10, dtype=b.dtype)
    return c | (b == 0)[..., None]


def _branch(c: np.ndarray):
    """Split each state on its MRV cell: one child per candidate. Returns (children, parent idx)."""
    n = c.sum(-1).reshape(len(c), 81)
    cell = np.where(n > 1, n, 10).argmin(1)
    flat = c.reshape(len(c), 81, 9)
    parent, digit = np.nonzero(flat[np.arange(len(c)), cell])
    child = flat[parent].copy()
    child[np.arange(len(parent)), cell[parent]] = np.arange(9) == digit[:, None]
    return child.reshape(-1, 9, 9, 9), parent


def solve(boards: np.ndarray, max_solutions: int = 2, block: int = 4096, progress=None):
    """Count solutions (capped at max_solutions) of every board.

    Returns (solutions [N, 81] uint8 — the first solution found, 0 where none —, counts [N],
    guesses [N]: branch alternatives explored, a difficulty rating like tdoku's backtracks).
    """
    boards = np.asarray(boards, np.uint8).reshape(-1, 81)
    N = len(boards)
    sol = np.zeros((N, 81), np.uint8)
    count = np.zeros(N, np.int64)
    guesses = np.zeros(N, np.int64)
    stack = [(cube(boards[i:i + block]), np.arange(i, min(i + block, N))) for i in range(0, N, block)][::-1]
    while stack:
        c, owner = stack.pop()
        if len(c) > block:  # depth first: work on the newest states, keep the rest for later
            stack.append((c[:-block], owner[:-block]))
            c, owner = c[-block:], owner[-block:]
        keep = count[owner] < max_solutions  # owners already known to have several: stop
        c, owner = c[keep], owner[keep]
        if not len(c):
            continue
        c, dead = propagate(c)
        c, owner = c[~dead], owner[~dead]
        solved = (c.sum(-1) == 1).all((1, 2))
        if solved.any():
            so, sc = owner[solved], c[solved]
            first = count[so] == 0
            sol[so[first]] = (sc[first].argmax(-1) + 1).reshape(-1, 81)
            np.add.at(count, so, 1)
            c, owner = c[~solved], owner[~solved]
        if len(c):
            child, parent = _branch(c)
            np.add.at(guesses, owner, np.bincount(parent, minlength=len(c)) - 1)
            stack.append((child, owner[parent]))
        if progress is not None:
            progress(int((count >= 1).sum()))
    return sol, np.minimum(count, max_solutions), guesses


def random_grids(n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly-seeded random solved grids: a random walk through the search, restarting dead ends."""
    out = np.zeros((n, 81), np.uint8)
    todo = np.arange(n)
    while len(todo):
        c = cube(np.zeros((len(todo), 81), np.uint8))
        live = np.arange(len(todo))
        while len(live):
            c[live], dead = propagate(c[live])
            done = (c[live].sum(-1) == 1).all((1, 2)) & ~dead
            out[todo[live[done]]] = (c[live[done]].argmax(-1) + 1).reshape(-1, 81)
            live = live[~dead & ~done]  # dead ends restart in the next outer round
            if not len(live):
                break
            flat = c[live].reshape(len(live), 81, 9)
            k = flat.sum(-1)
            # a random open cell and a random candidate in it
            cell = np.argmax(np.where(k > 1, rng.random(k.shape), -1), 1)
            cand = flat[np.arange(len(live)), cell]
            digit = np.argmax(np.where(cand, rng.random(cand.shape), -1), 1)
            flat[np.arange(len(live)), cell] = np.arange(9) == digit[:, None]
            c[live] = flat.reshape(-1, 9, 9, 9)
        todo = todo[(out[todo] == 0).any(1)]
    return out


def generate(n: int, rng: np.random.Generator, clues: int = 26):
    """n uniquely-solvable puzzles: random grids, then clues removed in random order while the
    solution stays unique, down to `clues` givens where possible (fewer clues = harder).
    Returns (puzzles, solutions, guesses)."""
    grids = random_grids(n, rng)
    boards = grids.copy()
    order = np.argsort(rng.random((n, 81)), 1)
    for step in range(81):
        idx = np.flatnonzero((boards > 0).sum(1) > clues)
        if not len(idx):
            break
        trial = boards[idx].copy()
        trial[np.arange(len(idx)), order[idx, step]] = 0
        _, cnt, _ = solve(trial, max_solutions=2)
        boards[idx[cnt == 1]] = trial[cnt == 1]
    _, _, guesses = solve(boards, max_solutions=2)
    return boards, grids, guesses
