"""On-disk format: the original-built fixtures load, our writer round-trips, the reader names what is wrong,
and a failed write leaves nothing behind."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrmlib.data import DataError, load_split, validate, write_dataset
from hrmlib.data.format import FIELDS, make_split
from conftest import digest

FIX = Path(__file__).parent / "fixtures" / "dataset-format"


def tiny_split(n=4, vocab=11):
    x = np.full((n, 81), 2, np.uint8)
    return make_split(x, x, np.zeros(n, np.int32), np.arange(n + 1), np.arange(0, n + 1, 2), vocab_size=vocab,
                      num_puzzle_identifiers=1)


@pytest.mark.parametrize("name", ["sudoku-tiny-aug2", "maze-tiny-aug"])
def test_original_fixtures_load(name):
    splits = validate(FIX / name)
    tr = splits["train"]
    assert tr.meta.seq_len == 81 and tr.meta.sets == ["all"] and tr.meta.total_puzzles is None
    if name.startswith("sudoku"):
        assert tr.inputs.dtype == np.int64  # the original's augmented sudoku-train quirk still loads


def test_roundtrip_uint8_and_metadata(tmp_path):
    out = write_dataset(tmp_path / "d", {"train": tiny_split(), "test": tiny_split(2)}, ["<blank>"])
    s = load_split(out, "train")
    assert s.inputs.dtype == np.uint8 and s.puzzle_indices.dtype == np.int32
    meta = json.loads((out / "train" / "dataset.json").read_text())
    assert list(meta)[:9] == ["pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len",
                              "num_puzzle_identifiers", "total_groups", "mean_puzzle_examples", "sets"]
    assert meta["total_groups"] == 2 and meta["total_puzzles"] == 4


def _corrupt(tmp_path, field, value):
    d = tmp_path / "bad"
    shutil.copytree(FIX / "maze-tiny-aug", d)
    np.save(d / "train" / f"all__{field}.npy", value)
    return d


@pytest.mark.parametrize("field,value,msg", [
    ("inputs", np.zeros((40, 80), np.uint8), "expected [40, seq_len=81]"),
    ("labels", np.full((40, 81), 6, np.uint8), "expected 0 <= id < vocab_size=6"),
    ("puzzle_indices", np.array([0, 2, 1] + list(range(3, 41)), np.int32), "not strictly increasing"),
    ("puzzle_indices", np.arange(40, dtype=np.int32), "length 40, expected 41"),
    ("group_indices", np.array([0, 8, 16, 24, 32, 39], np.int32), "ends at 39, expected 0 and 40"),
    ("puzzle_identifiers", np.ones(40, np.int32), "num_puzzle_identifiers=1"),
])
def test_reader_names_the_problem(tmp_path, field, value, msg):
    d = _corrupt(tmp_path, field, value)
    with pytest.raises(DataError) as e:
        validate(d)
    assert f"all__{field}.npy" in str(e.value) and msg in str(e.value)


def test_missing_file(tmp_path):
    d = tmp_path / "bad"
    shutil.copytree(FIX / "maze-tiny-aug", d)
    (d / "test" / "all__labels.npy").unlink()
    with pytest.raises(DataError, match=r"test/all__labels\.npy: missing file"):
        validate(d)


def test_failed_write_leaves_old_dataset_and_no_temp(tmp_path):
    out = write_dataset(tmp_path / "d", {"train": tiny_split()}, ["<blank>"])
    before = digest(out)
    bad = tiny_split()
    bad.puzzle_indices = bad.puzzle_indices[:-1]  # inconsistent CSR: validation fails after writing
    with pytest.raises(DataError, match="train"):
        write_dataset(out, {"train": bad}, ["<blank>"], overwrite=True)
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    with pytest.raises(DataError):
        write_dataset(tmp_path / "new", {"train": bad}, ["<blank>"])
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert set(FIELDS) == {p.name[5:-4] for p in (out / "train").glob("all__*.npy")}
