"""Sudoku-Extreme builder: V=11, S=81; 0 = PAD, 1 = blank, 2..10 = digits 1..9.

    python -m hrmlib.data sudoku --output-dir data/sudoku-demo --source generate --num-aug 8
    python -m hrmlib.data sudoku --output-dir data/sudoku-extreme-1k-aug-1000 \
        --source hf:sapientinc/sudoku-extreme --subsample-size 1000 --num-aug 1000

Each training puzzle is a group of 1 + num_aug puzzles of one example each (the original first);
the test split is never subsampled or augmented. Unlike the original (docs/pitfalls.md P13)
everything is seeded: by default one numpy Generator(seed) draws the subsample and all augmentations
at once (vectorised, no Python loop per puzzle). `legacy_rng=True` instead replays the original's
draw order on np.random.RandomState(seed), which reproduces the original builder run after
`np.random.seed(seed)` bit for bit (tests/fixtures/dataset-format/README.md).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from ...paths import resolve
from . import solver
from ..format import DataError, Summary, check_args, check_output, make_split, write_dataset
from .sources import csv_dir, lut, parse_source, read_csv, read_lines

SOURCES = ("hf", "csv", "lines", "generate")
DEFAULT_SOURCE = "hf:sapientinc/sudoku-extreme"
PUZZLE = lut({".": 0, "0": 0, **{str(d): d for d in range(1, 10)}})
SOLUTION = lut({str(d): d for d in range(1, 10)})
_CHUNK = 1 << 16  # rows per vectorised augmentation step: bounds the int64 index temporaries


def _permutations(rng: np.random.Generator, shape: tuple, n: int) -> np.ndarray:
    return rng.permuted(np.broadcast_to(np.arange(n, dtype=np.uint8), shape + (n,)), axis=-1)


def draw_transforms(m: int, rng):
    """m random symmetries: digit maps [m, 10] (0 fixed), transpose flags [m], row and column
    orders [m, 9] (bands/stacks permuted, then rows/columns within each)."""
    if isinstance(rng, np.random.RandomState):
        return _draw_legacy(m, rng)
    digits = np.concatenate([np.zeros((m, 1), np.uint8), _permutations(rng, (m,), 9) + 1], 1)
    transpose = rng.random(m) < 0.5
    rows = (_permutations(rng, (m,), 3)[:, :, None] * 3 + _permutations(rng, (m, 3), 3)).reshape(m, 9)
    cols = (_permutations(rng, (m,), 3)[:, :, None] * 3 + _permutations(rng, (m, 3), 3)).reshape(m, 9)
    return digits, transpose, rows, cols


def _draw_legacy(m: int, rs: np.random.RandomState):
    """The original's `shuffle_sudoku` draws, in its order, one puzzle at a time (fixture README)."""
    digits = np.zeros((m, 10), np.uint8)
    transpose = np.zeros(m, bool)
    rows, cols = np.zeros((m, 9), np.uint8), np.zeros((m, 9), np.uint8)
    for k in range(m):
        digits[k, 1:] = rs.permutation(np.arange(1, 10))
        transpose[k] = rs.rand() < 0.5
        rows[k] = np.concatenate([b * 3 + rs.permutation(3) for b in rs.permutation(3)])
        cols[k] = np.concatenate([s * 3 + rs.permutation(3) for s in rs.permutation(3)])
    return digits, transpose, rows, cols


def apply_transforms(grids: np.ndarray, digits, transpose, rows, cols) -> np.ndarray:
    """New cell (i, j) = digit map of the (maybe transposed) old cell (rows[i], cols[j]); [m, 81]."""
    r, c = rows[:, :, None].astype(np.intp), cols[:, None, :].astype(np.intp)
    src = np.where(transpose[:, None, None], c * 9 + r, r * 9 + c).reshape(len(grids), 81)
    vals = np.take_along_axis(np.asarray(grids), src, 1)
    return np.take_along_axis(digits, vals.astype(np.intp), 1)


def augment(q: np.ndarray, a: np.ndarray, num_aug: int, rng, progress: bool = False):
    """[n, 81] puzzles/solutions -> [n * (1 + num_aug), 81] each, every original followed by its copies."""
    n = len(q)
    out_q = np.empty((n, 1 + num_aug, 81), np.uint8)
    out_a = np.empty_like(out_q)
    out_q[:, 0], out_a[:, 0] = q, a
    if num_aug:
        t = draw_transforms(n * num_aug, rng)
        src = np.repeat(np.arange(n), num_aug)
        flat_q, flat_a = out_q[:, 1:].reshape(-1, 81), out_a[:, 1:].reshape(-1, 81)
        for i in tqdm(range(0, len(src), _CHUNK), desc="augment", disable=not progress, leave=False):
            s = slice(i, i + _CHUNK)
            part = [x[s] for x in t]
            flat_q[s] = apply_transforms(q[src[s]], *part)
            flat_a[s] = apply_transforms(a[src[s]], *part)
        out_q[:, 1:], out_a[:, 1:] = flat_q.reshape(n, num_aug, 81), flat_a.reshape(n, num_aug, 81)
    return out_q.reshape(-1, 81), out_a.reshape(-1, 81)


def check_pairs(path, lines, q: np.ndarray, a: np.ndarray):
    """Every answer must be a valid grid whose givens agree with the question."""
    bad = np.flatnonzero(~solver.is_solution(a))
    if len(bad):
        raise DataError(f"{path}: line {lines[bad[0]]}: answer is not a valid Sudoku solution")
    wrong = (q != 0) & (q != a)
    bad = np.flatnonzero(wrong.any(1))
    if len(bad):
        raise DataError(f"{path}: line {lines[bad[0]]}: question contradicts its answer "
                        f"(the given at cell {np.flatnonzero(wrong[bad[0]])[0]} differs from the solution)")


def _solve_lines(files: list[Path], progress: bool, rejected: dict):
    q, where = read_lines(files, PUZZLE, 81)
    clash = np.flatnonzero(solver.clashes(q))
    if len(clash):
        f, ln = where[clash[0]]
        raise DataError(f"{f}: line {ln}: puzzle has a contradiction (a digit given twice in a row, column or box)")
    bar = tqdm(total=len(q), desc="solve", disable=not progress, leave=False)
    sol, count, guesses = solver.solve(q, progress=lambda k: bar.update(k - bar.n))
    bar.close()
    for c, why in ((0, "no solution"), (2, "several solutions")):
        if (count == c).any():
            rejected[why] = int((count == c).sum())
    ok = count == 1
    return q[ok], sol[ok], guesses[ok]


def parse_clues(spec) -> list[int]:
    """`--gen-clues`: one number (26), a list (40,60) or a range (35-60) of target givens."""
    text = str(spec).replace(" ", "")
    try:
        if "-" in text:
            lo, hi = map(int, text.split("-"))
            values = list(range(lo, hi + 1))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(17 <= v <= 81 for v in values):
        raise DataError(f"--gen-clues: expected a number of givens (26), a list (40,60) or a range (35-60), "
                        f"each from 17 to 81; got {spec!r}")
    return values


def _generate(n: int, rng, clues: list[int], min_difficulty: Optional[int], progress: bool):
    """Uniquely-solvable puzzles; with min_difficulty, keep generating until n reach that rating.
    Several clue targets: each puzzle draws its own, uniformly (a graded mix of difficulties)."""
    qs, sols, gs = [], [], []
    for _ in range(50):
        want = max(n - sum(map(len, qs)), 1) * (1 if min_difficulty is None else 4)
        target = clues[0] if len(clues) == 1 else rng.choice(clues, want)  # one target: no draw, as before
        q, s, g = solver.generate(want, rng, target, progress)
        keep = np.ones(len(q), bool) if min_difficulty is None else g >= min_difficulty
        qs.append(q[keep]), sols.append(s[keep]), gs.append(g[keep])
        if sum(map(len, qs)) >= n:
            return np.concatenate(qs)[:n], np.concatenate(sols)[:n], np.concatenate(gs)[:n]
    raise DataError(f"generate: could not reach {n} puzzles with rating >= {min_difficulty} at "
                    f"--gen-clues {','.join(map(str, clues))}; lower --min-difficulty or --gen-clues")


def load_source(source: str, seed: int, test_fraction: float, gen_count: int, gen_test_count: int,
                gen_clues, min_difficulty: Optional[int], progress: bool, rejected: dict):
    """-> {split: (questions, answers, ratings)} with 0 = blank, digits 1..9."""
    kind, arg = parse_source(source, SOURCES)
    if kind in ("hf", "csv"):
        d = csv_dir(kind, arg)
        out = {}
        for split in ("train", "test"):
            q, a, r, lines = read_csv(d / f"{split}.csv", PUZZLE, 81, SOLUTION)
            check_pairs(d / f"{split}.csv", lines, q, a)
            out[split] = (q, a, r)
        return out
    rng = np.random.default_rng([seed, 1])  # its own stream: the augmentation stream stays put
    if kind == "lines":
        q, a, r = _solve_lines([resolve(p) for p in arg.split(",")], progress, rejected)
        perm = rng.permutation(len(q))
        n_test = int(round(len(q) * test_fraction))
        return {"train": tuple(x[perm[n_test:]] for x in (q, a, r)),
                "test": tuple(x[perm[:n_test]] for x in (q, a, r))}
    clues = parse_clues(gen_clues)
    return {s: _generate(n, rng, clues, min_difficulty, progress)
            for s, n in (("train", gen_count), ("test", gen_test_count))}


def build(output_dir, source: str = DEFAULT_SOURCE, subsample_size: Optional[int] = None,
          min_difficulty: Optional[int] = None, num_aug: int = 0, seed: int = 0, legacy_rng: bool = False,
          test_fraction: float = 0.1, gen_count: int = 1000, gen_test_count: int = 200, gen_clues=26,
          progress: bool = True, overwrite: bool = False) -> Summary:
    """Build a Sudoku dataset in the original format; returns the printed summary. `gen_clues`: a
    number of givens, or a list / range (`"40,60"`, `"35-60"`) for a graded mix. Every puzzle's
    givens are in its input (81 − blanks): notebooks group by them (`Trace.difficulty`), and the
    summary lists how many puzzles of each split have how many givens."""
    t0 = time.time()
    check_args("sudoku", subsample_size=subsample_size, min_difficulty=min_difficulty, num_aug=num_aug, seed=seed,
               test_fraction=test_fraction, gen_count=gen_count, gen_test_count=gen_test_count)
    parse_clues(gen_clues)
    check_output(output_dir, overwrite)  # before any work: refuse a folder that is not ours
    rejected: dict = {}
    data = load_source(source, seed, test_fraction, gen_count, gen_test_count, gen_clues, min_difficulty,
                       progress, rejected)
    rng = np.random.RandomState(seed) if legacy_rng else np.random.default_rng(seed)
    splits = {}
    for split, (q, a, r) in data.items():
        if min_difficulty is not None:  # like the original: keep rating >= min_difficulty, both splits
            keep = r >= min_difficulty
            if (~keep).any():
                rejected[f"{split}: rating < {min_difficulty}"] = int((~keep).sum())
            q, a = q[keep], a[keep]
        if split == "train" and subsample_size is not None and subsample_size < len(q):
            idx = rng.choice(len(q), subsample_size, replace=False)
            q, a = q[idx], a[idx]
        k = num_aug if split == "train" else 0
        if not len(q):
            raise DataError(f"{source}: no {split} puzzles left to write")
        x, y = augment(q, a, k, rng, progress)
        n = len(x)
        splits[split] = make_split(x + 1, y + 1, np.zeros(n, np.int32), np.arange(n + 1),
                                   np.arange(0, n + 1, 1 + k), vocab_size=11, num_puzzle_identifiers=1)
    out = write_dataset(output_dir, splits, ["<blank>"], overwrite=overwrite)
    notes = [_givens(k, v.inputs) for k, v in splits.items()]
    return Summary.of("sudoku", out, splits, rejected=rejected, notes=notes, seconds=time.time() - t0)


def _givens(split: str, inputs: np.ndarray) -> str:
    """How many puzzles have how many givens (tokens 2..10), for the build summary."""
    g, c = np.unique((inputs > 1).sum(1), return_counts=True)
    if len(g) > 8:
        return f"{split} givens: {g.min()}–{g.max()}, mean {np.repeat(g, c).mean():.1f}"
    return f"{split} givens: " + ", ".join(f"{a} ×{b:,}" for a, b in zip(g, c))
