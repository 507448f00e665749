"""Exact Sudoku solving and generation, vectorised over a batch of boards.

A board is 81 uint8 cells, 0 = blank, 1..9 = digit. A search state is 81 uint16 candidate
bitmasks. `propagate` applies naked and hidden singles to a fixed point for every state at once;
the search branches on the cell with the fewest candidates (MRV) and runs depth first over blocks
of states, so memory stays bounded and every puzzle is solved in the same few
numpy calls. Counting stops at `max_solutions` (2 is enough to tell "unique" from "several").
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


ALL = np.uint16(0x1FF)  # candidate bitmask: bit d-1 set <=> digit d still possible
POP = np.array([bin(i).count("1") for i in range(512)], np.int8)
DIGIT = np.array([i.bit_length() if POP[i] == 1 else 0 for i in range(512)], np.uint8)  # single bit -> digit
_R, _C = np.divmod(np.arange(81), 9)
_B = (_R // 3) * 3 + _C // 3
UNITS = np.array([np.flatnonzero(u == k) for u in (_R, _C, _B) for k in range(9)])  # [27, 9] cells
R, C, B = _R, _C + 9, _B + 18  # each cell's row, column and box unit


def _once_twice(x: np.ndarray):
    """Per state and unit: digits seen at least once / at least twice among the unit's 9 cells."""
    u = x[:, UNITS]
    once = np.zeros(u.shape[:2], np.uint16)
    twice = np.zeros_like(once)
    for j in range(9):
        twice |= once & u[:, :, j]
        once |= u[:, :, j]
    return once, twice


def _step(x: np.ndarray):
    """One round of singles on states x [S, 81]; returns (new x, dead mask)."""
    n = POP[x]
    fixed = n == 1
    placed, clash = _once_twice(np.where(fixed, x, 0))
    dead = (n == 0).any(1) | (clash != 0).any(1)
    x = np.where(fixed, x, x & ~(placed[:, R] | placed[:, C] | placed[:, B]))  # naked singles
    seen, dup = _once_twice(x)
    dead |= (seen != ALL).any(1)  # a digit with no place left in some unit
    only = seen & ~dup  # digits with exactly one place in the unit: hidden singles
    hidden = x & (only[:, R] | only[:, C] | only[:, B])
    return np.where(hidden != 0, hidden, x), dead


def propagate(x: np.ndarray):
    """Singles to a fixed point; only states that still change are recomputed."""
    x = x.copy()
    dead = np.zeros(len(x), bool)
    active = np.arange(len(x))
    while len(active):
        new, d = _step(x[active])
        changed = (new != x[active]).any(1) & ~d
        x[active], dead[active] = new, d
        active = active[changed]
    return x, dead


def candidates(boards: np.ndarray) -> np.ndarray:
    """[N, 81] boards -> [N, 81] uint16 candidate masks (givens fixed, blanks open)."""
    b = np.asarray(boards).reshape(-1, 81).astype(np.uint16)
    return np.where(b == 0, ALL, np.left_shift(1, np.maximum(b, 1) - 1)).astype(np.uint16)


def _branch(x: np.ndarray):
    """Split each state on its MRV cell: one child per candidate. Returns (children, parent idx)."""
    n = POP[x]
    cell = np.where(n > 1, n, 10).argmin(1)
    bits = (x[np.arange(len(x)), cell][:, None] >> np.arange(9, dtype=np.uint16)) & 1
    parent, digit = np.nonzero(bits)
    child = x[parent]
    child[np.arange(len(parent)), cell[parent]] = np.left_shift(1, digit).astype(np.uint16)
    return child, parent


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
    stack = [(candidates(boards[i:i + block]), np.arange(i, min(i + block, N))) for i in range(0, N, block)][::-1]
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
        solved = (POP[c] == 1).all(1)
        if solved.any():
            so, sc = owner[solved], c[solved]
            first = count[so] == 0
            sol[so[first]] = DIGIT[sc[first]]
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
    """n random solved grids: a random walk through the search (random open cell, random
    candidate, singles), restarting the walks that hit a dead end."""
    out = np.zeros((n, 81), np.uint8)
    todo = np.arange(n)
    while len(todo):
        x = candidates(np.zeros((len(todo), 81), np.uint8))
        while len(x):
            x, dead = propagate(x)
            done = (POP[x] == 1).all(1) & ~dead
            out[todo[done]] = DIGIT[x[done]]
            keep = ~dead & ~done
            x, todo = x[keep], todo[keep]
            n_c = POP[x]
            cell = np.argmax(np.where(n_c > 1, rng.random(n_c.shape), -1), 1)
            bits = (x[np.arange(len(x)), cell][:, None] >> np.arange(9, dtype=np.uint16)) & 1
            digit = np.argmax(np.where(bits == 1, rng.random(bits.shape), -1), 1)
            x[np.arange(len(x)), cell] = np.left_shift(1, digit).astype(np.uint16)
        todo = np.flatnonzero((out == 0).any(1))
    return out


def generate(n: int, rng: np.random.Generator, clues=26, progress: bool = False):
    """n uniquely-solvable puzzles: random grids, then clues removed in random order while the
    solution stays unique, down to `clues` givens where possible (fewer clues = harder; one
    target for all, or one per puzzle [n]). Returns (puzzles, solutions, guesses)."""
    grids = random_grids(n, rng)
    boards = grids.copy()
    order = np.argsort(rng.random((n, 81)), 1)
    clues = np.broadcast_to(np.asarray(clues), (n,))
    for step in tqdm(range(81), desc="remove clues", disable=not progress, leave=False):
        idx = np.flatnonzero((boards > 0).sum(1) > clues)
        if not len(idx):
            break
        trial = boards[idx].copy()
        trial[np.arange(len(idx)), order[idx, step]] = 0
        _, cnt, _ = solve(trial, max_solutions=2)
        boards[idx[cnt == 1]] = trial[cnt == 1]
    _, _, guesses = solve(boards, max_solutions=2)
    return boards, grids, guesses


def clashes(boards: np.ndarray) -> np.ndarray:
    """[N] bool: some digit is given twice in one row, column or box (a contradiction)."""
    b = np.asarray(boards).reshape(-1, 81).astype(np.uint16)
    return (_once_twice(np.where(b > 0, np.left_shift(1, np.maximum(b, 1) - 1), 0).astype(np.uint16))[1] != 0).any(1)


def is_solution(grids: np.ndarray) -> np.ndarray:
    """[N] bool: every row, column and box of the filled grid holds 1..9 exactly once."""
    g = np.asarray(grids).reshape(-1, 81).astype(np.int64)
    ok = (g >= 1).all(1) & (g <= 9).all(1)
    return ok & (np.sort(g[:, UNITS], -1) == np.arange(1, 10)).all((1, 2))
