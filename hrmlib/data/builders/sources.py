"""Where raw Sudoku/Maze puzzles come from: `hf:REPO`, `csv:DIR`, plain puzzle-per-line files.

`hf:REPO` downloads `train.csv`/`test.csv` with huggingface_hub into its cache and then reads that
directory exactly as `csv:DIR` does, so the same parsing code serves both.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...paths import resolve
from ..format import DataError

COLUMNS = ["source", "question", "answer", "rating"]  # the original CSV header


def parse_source(spec: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """'csv:DIR' -> ('csv', 'DIR'); 'generate' -> ('generate', ''). Unknown kinds are an error."""
    kind, _, arg = spec.partition(":")
    if kind not in kinds or (kind != "generate" and not arg):
        forms = " | ".join(k if k == "generate" else f"{k}:{'REPO' if k == 'hf' else 'DIR'}" for k in kinds)
        raise DataError(f"--source {spec!r}: expected one of {forms}")
    return kind, arg


def hf_dir(repo: str) -> Path:
    """Download the dataset repo's train.csv and test.csv; return the local directory holding both."""
    from huggingface_hub import hf_hub_download
    try:
        paths = [Path(hf_hub_download(repo, f"{s}.csv", repo_type="dataset")) for s in ("train", "test")]
    except Exception as e:  # offline, unknown repo, auth: all end the build the same way
        raise DataError(f"hf:{repo}: download failed ({type(e).__name__}: {e}); without network use "
                        "--source csv:DIR or --source generate") from None
    return paths[0].parent


def csv_dir(spec_kind: str, arg: str) -> Path:
    d = hf_dir(arg) if spec_kind == "hf" else resolve(arg)
    for s in ("train", "test"):
        if not (d / f"{s}.csv").is_file():
            raise DataError(f"{d / f'{s}.csv'}: missing file (csv:DIR needs train.csv and test.csv)")
    return d


def lut(mapping: dict[str, int]) -> np.ndarray:
    """Byte -> token lookup table; 255 marks a character that is not allowed."""
    t = np.full(256, 255, np.uint8)
    for ch, v in mapping.items():
        t[ord(ch)] = v
    return t


def encode_rows(path, lines: list[int], col: str, strings: list[str], table: np.ndarray, length: int | None):
    """Strings of one length -> [N, L] tokens through `table`; errors name file, line and column."""
    if not strings:
        return np.zeros((0, length or 0), np.uint8)
    length = length or len(strings[0])
    for ln, s in zip(lines, strings):
        if len(s) != length:
            raise DataError(f"{path}: line {ln}: {col} has {len(s)} characters, expected {length}")
    allowed = "".join(chr(i) for i in np.flatnonzero(table != 255))
    text = "".join(strings)
    if not text.isascii():
        r, p = next((r, p) for r, s in enumerate(strings) for p, ch in enumerate(s) if not ch.isascii())
    else:
        tok = table[np.frombuffer(text.encode("ascii"), np.uint8).reshape(-1, length)]
        bad = np.argwhere(tok == 255)
        if not len(bad):
            return tok
        r, p = bad[0]
    raise DataError(f"{path}: line {lines[r]}: {col} has {strings[r][p]!r} at position {p}, "
                    f"expected one of {allowed!r}")


def read_csv(path: Path, table: np.ndarray, length: int | None = None, answer_table: np.ndarray | None = None):
    """Read an original-format CSV. Returns (questions [N, L], answers [N, L], ratings [N], lines [N])."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != COLUMNS:
            raise DataError(f"{path}: line 1: header {header}, expected {COLUMNS}")
        rows = list(reader)
    lines = list(range(2, len(rows) + 2))
    for ln, row in zip(lines, rows):
        if len(row) != 4:
            raise DataError(f"{path}: line {ln}: {len(row)} fields, expected 4 ({','.join(COLUMNS)})")
    q = encode_rows(path, lines, "question", [r[1] for r in rows], table, length)
    a = encode_rows(path, lines, "answer", [r[2] for r in rows], table if answer_table is None else answer_table,
                    q.shape[1])
    try:
        rating = np.array([int(r[3]) for r in rows], np.int64)
    except ValueError:
        ln, r = next((ln, r) for ln, r in zip(lines, rows) if not r[3].lstrip("-").isdigit())
        raise DataError(f"{path}: line {ln}: rating {r[3]!r} is not an integer") from None
    return q, a, rating, np.array(lines)


def read_lines(paths: list[Path], table: np.ndarray, length: int):
    """Puzzle-per-line files ('#' comments and blank lines skipped) -> (tokens, (file, line) per row)."""
    toks, where = [], []
    for p in paths:
        if not p.is_file():
            raise DataError(f"{p}: missing file")
        pairs = [(i + 1, s.strip()) for i, s in enumerate(p.read_text().splitlines())]
        pairs = [(i, s) for i, s in pairs if s and not s.startswith("#")]
        toks.append(encode_rows(p, [i for i, _ in pairs], "puzzle", [s for _, s in pairs], table, length))
        where += [(str(p), i) for i, _ in pairs]
    return np.concatenate(toks) if toks else np.zeros((0, length), np.uint8), where
