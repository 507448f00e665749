"""Maze builder: V=6, S=n*n; 0 = PAD, 1 '#' wall, 2 ' ' open, 3 'S', 4 'G', 5 'o' path.

    python -m hrmlib.data maze --output-dir data/maze-demo --source generate --gen-count 200
    python -m hrmlib.data maze --output-dir data/maze-30x30-hard-1k --source hf:sapientinc/maze-30x30-hard-1k

The label is the question with 'o' on every cell of a shortest S->G path (S and G kept).
`aug` adds the 8 dihedral transforms of each training maze as one group (identity first); the
test split is never augmented.

The generator (no network): the original paper filters Lehnert et al.'s mazes to "difficulty
> 110", i.e. long shortest paths. Random-wall grids almost never have 30x30 paths that long, so we
carve a perfect maze (randomised depth-first search over rooms at odd coordinates), open a
fraction `loop_prob` of the remaining inner walls so that several routes exist and "shortest"
matters, then put S on a random open cell and G on a random cell at BFS distance >=
`min_path_len` (110 by default) from it. The label is the BFS shortest path, broken towards the
first neighbour in (up, left, down, right) order so it is deterministic.
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from ..dihedral import dihedral
from ..format import DataError, Summary, check_args, check_output, make_split, write_dataset
from .sources import csv_dir, lut, parse_source, read_csv

CHARSET = "# SGo"  # token = 1 + position
WALL, OPEN, START, GOAL, PATH = 1, 2, 3, 4, 5
SOURCES = ("hf", "csv", "generate")
DEFAULT_SOURCE = "hf:sapientinc/maze-30x30-hard-1k"
TABLE = lut({ch: i + 1 for i, ch in enumerate(CHARSET)})
_STEPS = ((-1, 0), (0, -1), (1, 0), (0, 1))  # up, left, down, right


def distances(passable: np.ndarray, start: np.ndarray) -> np.ndarray:
    """BFS step counts [N, n, n] from flat cell `start` [N] over passable cells; -1 = unreachable."""
    N, n, _ = passable.shape
    dist = np.full((N, n, n), -1, np.int32)
    front = np.zeros((N, n, n), bool)
    front.reshape(N, -1)[np.arange(N), start] = True
    d = 0
    while front.any():
        dist[front] = d
        grow = np.zeros_like(front)
        grow[:, 1:] |= front[:, :-1]
        grow[:, :-1] |= front[:, 1:]
        grow[:, :, 1:] |= front[:, :, :-1]
        grow[:, :, :-1] |= front[:, :, 1:]
        front = grow & passable & (dist < 0)
        d += 1
    return dist


def shortest_path_labels(grid: np.ndarray) -> np.ndarray:
    """Question tokens [N, n, n] (one S and one G each) -> labels with a BFS shortest path marked."""
    N, n, _ = grid.shape
    flat = grid.reshape(N, -1)
    s, g = (flat == START).argmax(1), (flat == GOAL).argmax(1)
    dist = distances(grid != WALL, s)
    dflat = dist.reshape(N, -1)
    if (dflat[np.arange(N), g] < 0).any():
        raise DataError(f"maze {np.flatnonzero(dflat[np.arange(N), g] < 0)[0]}: G is not reachable from S")
    labels = flat.copy()
    r, c = np.divmod(g, n)
    ar = np.arange(N)
    for _ in range(int(dflat[ar, g].max())):  # walk back from G, one step closer to S each time
        d = dist[ar, r, c]
        moving = d > 1
        nr, nc = r.copy(), c.copy()
        for dr, dc in _STEPS[::-1]:  # the last assignment wins: up is preferred
            rr, cc = np.clip(r + dr, 0, n - 1), np.clip(c + dc, 0, n - 1)
            ok = moving & (dist[ar, rr, cc] == d - 1) & (np.abs(rr - r) + np.abs(cc - c) == 1)
            nr, nc = np.where(ok, rr, nr), np.where(ok, cc, nc)
        r, c = nr, nc
        labels[ar[moving], r[moving] * n + c[moving]] = PATH
    return labels.reshape(N, n, n)


class _Inner(dict):
    """size -> mask of the walls between two rooms (one odd and one even coordinate, inside)."""
    def __missing__(self, n):
        r, c = np.indices((n, n))
        m = ((r % 2) != (c % 2)) & (r > 0) & (c > 0) & (r < n - 1) & (c < n - 1)
        self[n] = m
        return m


_INNER = _Inner()


def _carve(n: int, rng: np.random.Generator) -> np.ndarray:
    """A perfect maze: rooms at odd coordinates joined by a randomised depth-first search."""
    rooms = [(r, c) for r in range(1, n, 2) for c in range(1, n, 2)]
    grid = np.full((n, n), WALL, np.uint8)
    order = rng.permuted(np.tile(np.arange(4), (len(rooms), 1)), axis=1)
    index = {rc: i for i, rc in enumerate(rooms)}
    seen, stack = {rooms[0]}, [rooms[0]]
    grid[rooms[0]] = OPEN
    while stack:
        r, c = stack[-1]
        for k in order[index[(r, c)]]:
            dr, dc = _STEPS[k]
            nxt = (r + 2 * dr, c + 2 * dc)
            if nxt in index and nxt not in seen:
                grid[r + dr, c + dc] = grid[nxt] = OPEN
                seen.add(nxt)
                stack.append(nxt)
                break
        else:
            stack.pop()
    return grid


def generate(count: int, rng: np.random.Generator, size: int = 30, min_path_len: int = 110,
             loop_prob: float = 0.05, progress: bool = False):
    """`count` mazes with shortest S->G path >= min_path_len steps: (questions, labels) [count, size, size]."""
    if size < 3:
        raise DataError(f"--gen-size must be >= 3, got {size}")
    out = []
    bar = tqdm(total=count, desc="generate mazes", disable=not progress, leave=False)
    for _ in range(100):
        need = count - sum(map(len, out))
        if need <= 0:
            break
        g = np.stack([_carve(size, rng) for _ in range(need)])
        g[_INNER[size] & (g == WALL) & (rng.random(g.shape) < loop_prob)] = OPEN
        flat = g.reshape(need, -1)
        s = np.argmax(np.where(flat == OPEN, rng.random(flat.shape), -1), 1)
        d = distances(g == OPEN, s).reshape(need, -1)
        far = d >= max(min_path_len, 1)
        ok = far.any(1)
        goal = np.argmax(np.where(far, rng.random(far.shape), -1), 1)
        flat[np.arange(need), s] = START
        flat[np.arange(need), goal] = GOAL
        out.append(g[ok])
        bar.update(int(ok.sum()))
    bar.close()
    q = np.concatenate(out)[:count] if out else np.zeros((0, size, size), np.uint8)
    if len(q) < count:
        raise DataError(f"generate: no {size}x{size} mazes with a path of >= {min_path_len} steps; "
                        "lower --gen-min-path-len or --gen-loop-prob, or raise --gen-size")
    return q, shortest_path_labels(q)


def load_source(source: str, seed: int, gen_count: int, gen_test_count: int, gen_size: int,
                gen_min_path_len: int, gen_loop_prob: float, progress: bool = False):
    """-> {split: (questions, labels)} as token grids [N, n, n]."""
    kind, arg = parse_source(source, SOURCES)
    if kind == "generate":
        rng = np.random.default_rng([seed, 1])
        return {s: generate(k, rng, gen_size, gen_min_path_len, gen_loop_prob, progress)
                for s, k in (("train", gen_count), ("test", gen_test_count))}
    d = csv_dir(kind, arg)
    out = {}
    for split in ("train", "test"):
        path = d / f"{split}.csv"
        q, a, _, lines = read_csv(path, TABLE)
        n = int(round(np.sqrt(q.shape[1])))
        if n * n != q.shape[1]:
            raise DataError(f"{path}: line 2: question has {q.shape[1]} characters, expected a square grid (n*n)")
        out[split] = (q.reshape(-1, n, n), a.reshape(-1, n, n))
    return out


def build(output_dir, source: str = DEFAULT_SOURCE, aug: bool = False, subsample_size: Optional[int] = None,
          seed: int = 0, gen_count: int = 1000, gen_test_count: int = 1000, gen_size: int = 30,
          gen_min_path_len: int = 110, gen_loop_prob: float = 0.05, progress: bool = True,
          overwrite: bool = False) -> Summary:
    """Build a Maze dataset in the original format; returns the printed summary."""
    t0 = time.time()
    check_args("maze", subsample_size=subsample_size, seed=seed, gen_count=gen_count, gen_test_count=gen_test_count,
               gen_size=gen_size, gen_min_path_len=gen_min_path_len, gen_loop_prob=gen_loop_prob)
    check_output(output_dir, overwrite)
    data = load_source(source, seed, gen_count, gen_test_count, gen_size, gen_min_path_len, gen_loop_prob, progress)
    rng = np.random.default_rng(seed)
    splits = {}
    for split, (q, a) in data.items():
        if split == "train" and subsample_size is not None and subsample_size < len(q):
            idx = rng.choice(len(q), subsample_size, replace=False)
            q, a = q[idx], a[idx]
        if not len(q):
            raise DataError(f"{source}: no {split} mazes to write")
        k = 8 if aug and split == "train" else 1
        x = np.stack([dihedral(q, t) for t in range(k)], 1).reshape(len(q) * k, -1)
        y = np.stack([dihedral(a, t) for t in range(k)], 1).reshape(len(q) * k, -1)
        m = len(x)
        splits[split] = make_split(x, y, np.zeros(m, np.int32), np.arange(m + 1), np.arange(0, m + 1, k),
                                   vocab_size=6, num_puzzle_identifiers=1)
    out = write_dataset(output_dir, splits, ["<blank>"], overwrite=overwrite)
    return Summary.of("maze", out, splits, seconds=time.time() - t0)
