"""Batches for training and evaluation, with the world-size bug fixed (docs/pitfalls.md P12).

Training: iteration `it` draws from ONE Generator(Philox(seed + it)): `epochs_per_iter` seeded
permutations of the groups, one random puzzle per group, its examples in a random order, filling
global batches of `global_batch_size` rows; the puzzle that overflows a batch is cut (a random
subset of its examples, like the original) and the incomplete last batch is dropped. The global
batch is computed identically on every rank and each rank takes its slice, so batches do not
depend on the world size, the DataLoader or its workers' seeds (the original drew the in-puzzle
order from the unseeded global NumPy RNG).

Evaluation: every example once, in order; the last global batch is padded with padding rows
(inputs pad_id, labels -100, puzzle id blank_identifier_id).

    s = TrainSampler(hrmlib.data.load_split("data/sudoku-demo", "train"), global_batch_size=64, seed=0)
    for batch in s.iteration(0): x = to_torch(local_slice(batch, rank, world_size), "cpu")
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from .format import Split

IGNORE = -100  # the label value the losses ignore


def collate(data: Split, rows: np.ndarray, size: int | None = None) -> dict:
    """Example rows -> int32 batch; labels == ignore_label_id become -100; pad to `size` rows."""
    m = data.meta
    x = np.asarray(data.inputs[rows], dtype=np.int32)
    y = np.asarray(data.labels[rows], dtype=np.int32)
    if m.ignore_label_id is not None:
        y[y == m.ignore_label_id] = IGNORE
    p = np.asarray(puzzle_ids(data, rows), np.int32)
    pad = 0 if size is None else size - len(rows)
    if pad > 0:
        x = np.concatenate([x, np.full((pad, x.shape[1]), m.pad_id, np.int32)])
        y = np.concatenate([y, np.full((pad, y.shape[1]), IGNORE, np.int32)])
        p = np.concatenate([p, np.full(pad, m.blank_identifier_id, np.int32)])
    return {"inputs": x, "labels": y, "puzzle_identifiers": p}


class TrainSampler:
    """Global training batches; `iteration(it, start=k)` resumes at batch k of iteration it."""

    def __init__(self, data: Split, global_batch_size: int, seed: int, epochs_per_iter: int = 1):
        self.data, self.batch, self.seed, self.epochs = data, global_batch_size, seed, epochs_per_iter

    def plan(self, it: int) -> list[np.ndarray]:
        """The example rows of every global batch of iteration `it` (cheap: index arrays only)."""
        d, B = self.data, self.batch
        rng = np.random.Generator(np.random.Philox(self.seed + it))
        groups = np.concatenate([rng.permutation(d.num_groups) for _ in range(self.epochs)])
        gi, pi = d.group_indices, d.puzzle_indices
        puzzles = rng.integers(gi[groups], gi[groups + 1])  # one puzzle per visited group
        sizes = (pi[puzzles + 1] - pi[puzzles]).astype(np.int64)
        # every example gets a random key: sorting by (puzzle slot, key) shuffles within puzzles
        slot = np.repeat(np.arange(len(puzzles)), sizes)
        first = np.repeat(np.cumsum(sizes) - sizes, sizes)  # stream position of each puzzle's start
        rows = np.repeat(pi[puzzles].astype(np.int64), sizes) + np.arange(len(slot)) - first
        order = np.lexsort((rng.random(len(slot)), slot))
        rows, ends = rows[order], np.cumsum(sizes)
        batches, base = [], 0
        # the first puzzle whose examples overflow the batch is cut; the next batch starts after it.
        # The incomplete final batch is dropped.
        while (last := int(np.searchsorted(ends, base + B, side="left"))) < len(puzzles):
            batches.append(rows[base:base + B])
            base = ends[last]
        return batches

    def steps(self, iterations: int) -> int | None:
        """Global batches over `iterations` iterations, when that is cheap to know exactly: with one
        example per puzzle (Sudoku, Maze) every iteration has floor(epochs · groups / batch) of
        them (the incomplete last batch is dropped, as in the original). None otherwise (ARC)."""
        d = self.data
        if (np.diff(d.puzzle_indices) != 1).any():
            return None
        return iterations * (self.epochs * d.num_groups // self.batch)

    def iteration(self, it: int, start: int = 0) -> Iterator[dict]:
        """Global batches {inputs, labels, puzzle_identifiers} (int32 numpy) of iteration `it`."""
        for rows in self.plan(it)[start:]:
            yield collate(self.data, rows)


def puzzle_ids(data: Split, rows: np.ndarray) -> np.ndarray:
    """The puzzle identifier of each example row (a puzzle's examples are a contiguous range)."""
    return data.puzzle_identifiers[np.searchsorted(data.puzzle_indices, rows, side="right") - 1]


def local_slice(batch: dict, rank: int, world_size: int) -> dict:
    """Rank's contiguous share of a global batch (global size must divide by world_size)."""
    n = len(batch["inputs"])
    if n % world_size:
        raise ValueError(f"global batch of {n} rows does not split over {world_size} ranks")
    k = n // world_size
    return {key: v[rank * k:(rank + 1) * k] for key, v in batch.items()}


def eval_batches(data: Split, global_batch_size: int, rank: int = 0, world_size: int = 1):
    """(local batch padded to global/world rows, number of real rows) over every example once."""
    if global_batch_size % world_size:
        raise ValueError(f"global batch {global_batch_size} does not split over {world_size} ranks")
    local = global_batch_size // world_size
    for start in range(0, data.num_examples, global_batch_size):
        rows = np.arange(start + rank * local, min(start + (rank + 1) * local, data.num_examples))  # empty past the end
        yield collate(data, rows, local), len(rows)


def to_torch(batch: dict, device="cpu") -> dict:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device, non_blocking=True) for k, v in batch.items()}
