"""The original HRM on-disk dataset format: an atomic writer and a validating reader.

    <out>/identifiers.json                 index -> puzzle name, index 0 = "<blank>"
    <out>/{train,test}/dataset.json        Metadata
    <out>/{train,test}/all__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy

inputs/labels are [E, S] token ids, one row per example; puzzle_indices [P+1] and group_indices
[G+1] are CSR offsets (puzzle p owns examples pi[p]:pi[p+1], group g owns puzzles gi[g]:gi[g+1]).
Token arrays are written as uint8 for every task. The original writes augmented sudoku-train as
int64 (its digit map is int64 and concatenation promotes: docs/pitfalls.md P13); the reader accepts
any integer dtype, so datasets built by the original scripts load here, and ours load in the
original (its loader casts to int32 anyway).
"""
from __future__ import annotations

import dataclasses as dc
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, io_error, write_file
from ..paths import alive, resolve

FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
SPLITS = ("train", "test")


class DataError(UserError, ValueError):
    """Bad input data or a bad dataset on disk; the message names the file and the row/task."""


@dataclass
class Metadata:
    """`dataset.json`, with the original's field names and order (PuzzleDatasetMetadata)."""
    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: list
    # TRM requires it, HRM ignores unknown keys: writing it makes our datasets load in both.
    total_puzzles: int | None = None


def task_of(meta, data_path=None) -> str:
    """sudoku, maze or arc from a dataset's metadata or sizes (a Metadata or a dict with vocab_size
    and seq_len); tokens when unrecognised. A dataset with augmentations.json is ARC."""
    if data_path is not None and (Path(data_path) / "augmentations.json").exists():
        return "arc"
    get = meta.get if isinstance(meta, dict) else lambda k: getattr(meta, k)
    V, S = get("vocab_size"), get("seq_len")
    if S == 81 and V == 11:
        return "sudoku"
    if V == 6:
        return "maze"
    return "arc" if (S, V) == (900, 12) else "tokens"


@dataclass
class Split:
    """One set of one split: the five arrays plus its metadata (arrays may be memory-mapped)."""
    meta: Metadata
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    @property
    def num_examples(self) -> int:
        return len(self.inputs)

    @property
    def num_groups(self) -> int:
        return len(self.group_indices) - 1


def make_split(inputs, labels, puzzle_identifiers, puzzle_indices, group_indices, *, vocab_size: int,
               num_puzzle_identifiers: int, ignore_label_id: int | None = 0) -> Split:
    """Pack arrays (token arrays cast to uint8) and derive the metadata the original computes."""
    pi = np.asarray(puzzle_indices, np.int32)
    n_puz = len(pi) - 1
    meta = Metadata(pad_id=0, ignore_label_id=ignore_label_id, blank_identifier_id=0,
                    vocab_size=vocab_size, seq_len=int(np.shape(inputs)[1]),
                    num_puzzle_identifiers=num_puzzle_identifiers, total_groups=len(group_indices) - 1,
                    mean_puzzle_examples=(len(inputs) / n_puz) if n_puz else 0.0, sets=["all"],
                    total_puzzles=n_puz)
    return Split(meta, np.asarray(inputs, np.uint8), np.asarray(labels, np.uint8),
                 np.asarray(puzzle_identifiers, np.int32), pi, np.asarray(group_indices, np.int32))


# The builders' numeric options: (least, most) allowed, None for no bound; `check_args` reads them.
ARG_RANGES = {"subsample_size": (1, None), "min_difficulty": (0, None), "num_aug": (0, None), "seed": (0, 2**32 - 1),
              "test_fraction": (0.0, 1.0), "gen_count": (1, None), "gen_test_count": (1, None), "gen_size": (3, None),
              "gen_min_path_len": (1, None), "gen_loop_prob": (0.0, 1.0)}


def check_args(task: str, **kw):
    """Every numeric builder option in its range, before any work: one DataError naming the option
    as the CLI spells it (and as the notebook and Python do) and what it must be."""
    for k, v in kw.items():
        if v is None or k not in ARG_RANGES:
            continue
        lo, hi = ARG_RANGES[k]
        want = "a number" if isinstance(lo, float) else "an integer"
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (isinstance(lo, float) or isinstance(v, int))
        if not ok or v < lo or (hi is not None and v > hi):
            bound = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise DataError(f"{task}: --{k.replace('_', '-')} ({k}) must be {want} {bound}, got {v!r}")


# What a dataset directory holds: anything else there is the user's, and is never replaced.
DATASET_ENTRIES = {"identifiers.json", "train", "test", "augmentations.json"}


def check_output(out_dir, overwrite: bool = False) -> Path:
    """The output directory may be new or empty, or — with `overwrite` — an existing dataset.
    Anything else (a folder of other files, the working directory) is refused before any work."""
    out = Path(out_dir).resolve()
    if out.parent.is_dir():
        clean_stale(out)
    if not out.exists():
        above = next(p for p in out.parents if p.exists())
        if not above.is_dir() or not os.access(above, os.W_OK):
            raise DataError(f"--output-dir {out_dir}: cannot be created under {above} (not a writable directory); "
                            f"choose another --output-dir")
        return out
    if not out.is_dir():
        raise DataError(f"--output-dir {out_dir}: a file is there, not a directory; choose another --output-dir")
    items = sorted(p.name for p in out.iterdir())
    if not items:
        return out
    if (out / "identifiers.json").is_file() and set(items) <= DATASET_ENTRIES:
        if not overwrite:
            raise DataError(f"--output-dir {out_dir} already holds a dataset; pass --overwrite to replace it "
                            f"(the new one is swapped in only once complete), or choose another --output-dir")
        return out
    shown = ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")
    raise DataError(f"--output-dir {out_dir} is not empty and not a dataset (it holds {shown}); nothing was "
                    f"changed: choose a new or empty directory")


def write_dataset(out_dir, splits: dict[str, Split], identifiers: list[str],
                  extra_files: dict[str, str] | None = None, overwrite: bool = False) -> Path:
    """Write everything into a temporary sibling directory, then rename it to `out_dir`: a crash or
    error leaves either the old `out_dir` or the new one, never half a dataset. `extra_files` maps
    relative paths to text (e.g. ARC's augmentations.json); `out_dir` is checked by `check_output`."""
    out = check_output(out_dir, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700: a dataset on shared storage must be readable
    try:
        (tmp / "identifiers.json").write_text(json.dumps(identifiers))
        for name, split in splits.items():
            (tmp / name).mkdir()
            (tmp / name / "dataset.json").write_text(json.dumps(dc.asdict(split.meta)))
            for f in FIELDS:
                a = getattr(split, f)
                write_file(tmp / name / f"all__{f}.npy", lambda w, a=a: np.save(w, a))
        for rel, text in (extra_files or {}).items():
            (tmp / rel).write_text(text)
        validate(tmp)
        old = None
        if out.exists():  # swap in two renames: a directory cannot be renamed over a non-empty one
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
            os.rename(out, old / out.name)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except OSError as e:  # a full disk: the temporary goes, the previous dataset (if any) stays
        shutil.rmtree(tmp, ignore_errors=True)
        if e.filename and str(e.filename).startswith(str(tmp)):  # the file as it would have been named
            e.filename = str(out) + str(e.filename)[len(str(tmp)):]
        raise DataError(str(io_error(e, f"nothing was changed in {out_dir}" if not out.exists() else
                                        f"the dataset in {out_dir} is unchanged"))) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def clean_stale(out: Path):
    """Temporaries a killed build left beside `out` (`.<name>.tmp-<pid>-…`, `.<name>.old-<pid>-…`) whose
    process is gone: a partial new dataset is removed; a previous dataset set aside by a build killed
    between its two renames is put back when `out` is missing, else removed."""
    for p in out.parent.glob(f".{out.name}.*-*-*"):
        kind, _, rest = p.name[len(out.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or alive(int(pid)):
            continue
        if kind == "old" and (p / out.name).is_dir() and not out.exists():
            os.rename(p / out.name, out)
            print(f"{out}: restored the dataset a killed build had set aside", flush=True)
        shutil.rmtree(p, ignore_errors=True)


def fingerprint(root, samples: int = 16, chunk: int = 4096) -> str:
    """A short hash of what a run depends on in a dataset directory, cheap whatever its size:
    identifiers.json, every split's dataset.json, and each array's name, size and `samples` chunks
    read at evenly spaced offsets (a rebuild with other puzzles changes them, even at the same sizes)."""
    import hashlib
    root, h = resolve(root), hashlib.sha256()
    for p in sorted([root / "identifiers.json", *root.glob("*/dataset.json")]):
        h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    for p in sorted(root.glob("*/*.npy")):
        size = p.stat().st_size
        h.update(f"{p.relative_to(root).as_posix()}:{size}".encode())
        with open(p, "rb") as f:
            for k in range(samples):
                f.seek(size * k // samples)
                h.update(f.read(chunk))
    return h.hexdigest()[:16]


def _fail(path: Path, msg: str):
    raise DataError(f"{path}: {msg}")


def _read(path: Path, missing: str = "missing file", load=None):
    """JSON, or `load(path)`; a DataError naming the file when it is missing or unreadable."""
    if not path.is_file():
        _fail(path, missing)
    try:
        return load(path) if load else json.loads(path.read_text())
    except ValueError as e:  # json.JSONDecodeError, or np.load's on a file that is not an array
        _fail(path, f"not {'a readable .npy array' if load else 'valid JSON'} ({e})")


def read_identifiers(path) -> list[str]:
    """A dataset's identifiers.json: the puzzle identifier names, index = id."""
    f = resolve(path) / "identifiers.json"
    ids = _read(f, "missing file (every dataset has one, naming its puzzle identifiers); build the dataset with "
                   "python -m hrmlib.data, or point data_path at one")
    if not (isinstance(ids, list) and all(isinstance(x, str) for x in ids)):
        _fail(f, "expected a JSON list of puzzle identifier names")
    return ids


def read_metadata(path: Path) -> Metadata:
    raw = _read(path, "missing file (expected the split's dataset.json)")
    if not isinstance(raw, dict):
        _fail(path, f"expected a JSON object of metadata fields, got {type(raw).__name__}")
    names = [f.name for f in dc.fields(Metadata)]
    missing = [k for k in names if k not in raw and k != "total_puzzles"]
    if missing:
        _fail(path, f"missing field(s) {missing}; expected {names}")
    for k, least in _META_INTS.items():  # the types the loaders rely on, checked once here
        v = raw.get(k)
        if (v is not None or k not in ("ignore_label_id", "total_puzzles")) and not (
                isinstance(v, int) and not isinstance(v, bool) and v >= least):
            _fail(path, f"field {k} is {json.dumps(v)}; expected an integer >= {least}")
    if not isinstance(raw["mean_puzzle_examples"], (int, float)) or isinstance(raw["mean_puzzle_examples"], bool):
        _fail(path, f"field mean_puzzle_examples is {json.dumps(raw['mean_puzzle_examples'])}; expected a number")
    if not (isinstance(raw["sets"], list) and raw["sets"] and all(isinstance(x, str) for x in raw["sets"])):
        _fail(path, f"field sets is {json.dumps(raw['sets'])}; expected a list of set names, e.g. [\"all\"]")
    return Metadata(**{k: raw[k] for k in names if k in raw})


# integer fields of dataset.json and their least value (ignore_label_id and total_puzzles may be null)
_META_INTS = {"pad_id": 0, "ignore_label_id": 0, "blank_identifier_id": 0, "vocab_size": 1, "seq_len": 1,
              "num_puzzle_identifiers": 1, "total_groups": 0, "total_puzzles": 0}


def _load(path: Path, mmap: bool) -> np.ndarray:
    return _read(path, load=lambda p: np.load(p, mmap_mode="r" if mmap else None))


def load_split(root, split: str, set_name: str = "all", mmap: bool = True, check_values: bool = True) -> Split:
    """Load and validate `<root>/<split>/<set_name>__*.npy`; raise DataError saying what is wrong."""
    d = resolve(root) / split
    meta = read_metadata(d / "dataset.json")
    if set_name not in meta.sets:
        _fail(d / "dataset.json", f"set {set_name!r} not in sets={meta.sets}")
    p = {f: d / f"{set_name}__{f}.npy" for f in FIELDS}
    a = {f: _load(p[f], mmap=mmap and f in ("inputs", "labels")) for f in FIELDS}
    S, V = meta.seq_len, meta.vocab_size
    for f in ("inputs", "labels"):
        x = a[f]
        if x.ndim != 2 or x.shape[1] != S or x.shape[0] != len(a["inputs"]):
            _fail(p[f], f"shape {x.shape}, expected [{len(a['inputs'])}, seq_len={S}]")
        if x.dtype.kind not in "iu":
            _fail(p[f], f"dtype {x.dtype}, expected an integer dtype (uint8)")
        if check_values and len(x):
            lo, hi = _minmax(x)
            if lo < 0 or hi >= V:
                _fail(p[f], f"token ids span [{lo}, {hi}], expected 0 <= id < vocab_size={V}")
    for f in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
        if a[f].ndim != 1 or a[f].dtype.kind not in "iu":
            _fail(p[f], f"shape {a[f].shape} dtype {a[f].dtype}, expected a 1-D integer (int32) array")
    E, P = len(a["inputs"]), len(a["puzzle_identifiers"])
    _check_csr(p["puzzle_indices"], a["puzzle_indices"], P, E, "puzzles", "examples")
    _check_csr(p["group_indices"], a["group_indices"], meta.total_groups, P, "groups", "puzzles")
    ids = a["puzzle_identifiers"]
    if P and (ids.min() < 0 or ids.max() >= meta.num_puzzle_identifiers):
        _fail(p["puzzle_identifiers"], f"ids span [{ids.min()}, {ids.max()}], expected "
              f"0 <= id < num_puzzle_identifiers={meta.num_puzzle_identifiers}")
    return Split(meta, a["inputs"], a["labels"], *(np.asarray(a[f], np.int32) for f in FIELDS[2:]))


def _minmax(x: np.ndarray, chunk: int = 1 << 16):
    """Min/max in row chunks, so validating a memory-mapped dataset never loads it whole."""
    chunks = (np.asarray(x[i:i + chunk]) for i in range(0, len(x), chunk))
    lo, hi = zip(*((c.min(), c.max()) for c in chunks))
    return int(min(lo)), int(max(hi))


def _check_csr(path: Path, ind: np.ndarray, n: int, total: int, what: str, of: str):
    if len(ind) != n + 1:
        _fail(path, f"length {len(ind)}, expected {n + 1} (one offset per {what[:-1]} plus one)")
    if ind[0] != 0 or ind[-1] != total:
        _fail(path, f"starts at {ind[0]} and ends at {ind[-1]}, expected 0 and {total} ({of})")
    bad = np.flatnonzero(np.diff(ind) <= 0)
    if len(bad):
        _fail(path, f"not strictly increasing at position {bad[0]} ({ind[bad[0]]} -> {ind[bad[0] + 1]}); "
              f"every one of the {what} must own at least one of the {of}")


def validate(root) -> dict[str, Split]:
    """Check a whole dataset directory (identifiers.json and every split present)."""
    root = Path(root)
    ids = read_identifiers(root)
    splits = {s: load_split(root, s) for s in SPLITS if (root / s).exists()}
    if not splits:
        _fail(root, f"no split directories, expected {list(SPLITS)}")
    for s, sp in splits.items():
        if sp.meta.num_puzzle_identifiers != len(ids):
            _fail(root / s / "dataset.json", f"num_puzzle_identifiers={sp.meta.num_puzzle_identifiers}, "
                  f"expected {len(ids)} (the length of identifiers.json)")
    return splits


@dataclass
class Summary:
    """What a builder did, printed by the CLI and shown by the notebook."""
    task: str
    output_dir: str
    splits: dict  # split -> {"groups", "puzzles", "examples"}
    vocab_size: int
    seq_len: int
    rejected: dict = dc.field(default_factory=dict)  # reason -> count
    notes: list = dc.field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def of(cls, task: str, out: Path, splits: dict[str, Split], **kw) -> "Summary":
        counts = {k: {"groups": s.num_groups, "puzzles": len(s.puzzle_identifiers), "examples": s.num_examples}
                  for k, s in splits.items()}
        m = next(iter(splits.values())).meta
        return cls(task, str(out), counts, m.vocab_size, m.seq_len, **kw)

    def __str__(self) -> str:
        lines = [f"{self.task} dataset -> {self.output_dir}",
                 f"  vocab_size={self.vocab_size} seq_len={self.seq_len}"]
        lines += [f"  {k:5s}: {v['groups']:>9,} groups {v['puzzles']:>11,} puzzles {v['examples']:>11,} examples"
                  for k, v in self.splits.items()]
        lines += [f"  rejected {n:,}: {why}" for why, n in self.rejected.items()] or ["  rejected: none"]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  time: {self.seconds:.1f} s")
        return "\n".join(lines)
