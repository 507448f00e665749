"""Your own puzzle as a model input, and checks of the model's answer (no model, no widgets: pure
functions that `widgets.Solve` calls and tests call directly).

    p = solve.sudoku(solve.parse_sudoku(text))   # 81 characters: 1-9 givens, . or 0 blanks
    p = solve.maze(grid)                     # tokens [n, n]: walls, open cells, one S and one G
    p = solve.arc(text_or_path, pair=0)      # an ARC task as JSON; the test pair's input is solved
    solve.fits("maze", model_task, seq_len, p.inputs.size)   # a model of another task or size is refused
    ok, text = solve.check(p, pred)          # pred: the model's tokens after a segment

Bad input raises `SolveError` with one line: what is wrong, what is expected, how to fix it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..data.builders import arc as A
from ..data.builders import maze as M
from ..data.builders import solver
from ..data.format import DataError
from ..data.sampler import IGNORE

SUDOKU_IGNORED = " \t\r\n|+-"  # grid drawing characters a pasted puzzle may hold


class SolveError(ValueError):
    """The puzzle cannot be given to the model; the message says why and how to fix it."""


@dataclass
class Puzzle:
    """One puzzle as the model sees it, plus what its checks need."""
    task: str  # sudoku | maze | arc
    inputs: np.ndarray  # [S] tokens
    labels: np.ndarray  # [S] tokens of the known answer, IGNORE where unknown
    about: str  # one line describing the puzzle
    info: dict = field(default_factory=dict)  # sudoku: givens, count; maze: grid, S, G, shortest; arc: target

    def batch(self, puzzle_id: int = 0) -> dict:
        """A one-row int32 batch for `trace.trace` (the blank puzzle identifier: a new puzzle has none)."""
        return {"inputs": self.inputs[None].astype(np.int32), "labels": self.labels[None].astype(np.int32),
                "puzzle_identifiers": np.array([puzzle_id], np.int32)}


def _cell(k: int, n: int = 9) -> str:
    return f"r{k // n + 1}c{k % n + 1}"


# ---------------------------------------------------------------------------- Sudoku

def parse_sudoku(text: str) -> np.ndarray:
    """81 characters, row by row: digits 1-9, and 0 or . for a blank; spaces, newlines and | + -
    (a drawn grid) are ignored. Returns [81] digits, 0 = blank."""
    s = "".join(ch for ch in str(text) if ch not in SUDOKU_IGNORED)
    bad = sorted({ch for ch in s if ch not in "0123456789."})
    if bad:
        raise SolveError(f"a Sudoku holds digits 1-9 and 0 or . for blanks, not {' '.join(map(repr, bad))}: "
                         "remove those characters")
    if len(s) != 81:
        raise SolveError(f"a Sudoku has 81 cells, this text has {len(s)}: give 9 rows of 9 characters "
                         "(digits 1-9, 0 or . for a blank)")
    return np.array([0 if ch == "." else int(ch) for ch in s], np.uint8)


def sudoku_text(board) -> str:
    """[81] digits → the 81-character form (. for a blank)."""
    return "".join("." if d == 0 else str(int(d)) for d in np.asarray(board).reshape(-1))


def clash(board, verb: str = "is given") -> Optional[str]:
    """The first contradiction among the givens (a digit twice in a row, column or box), said in words."""
    b = np.asarray(board).reshape(-1)
    for u in solver.UNITS:
        for d in range(1, 10):
            at = u[b[u] == d]
            if len(at) > 1:
                r, c = at[0] // 9, at[0] % 9
                where = (f"row {r + 1}" if (at // 9 == r).all() else f"column {c + 1}" if (at % 9 == c).all()
                         else f"box {(r // 3) * 3 + c // 3 + 1}")
                return f"{d} {verb} twice in {where} ({_cell(at[0])} and {_cell(at[1])})"
    return None


def sudoku(board) -> Puzzle:
    """A Sudoku from [81] digits (0 = blank): refused when its givens contradict each other; the
    built-in solver says whether it has no, one or several solutions (the label is the unique one)."""
    b = np.asarray(board, np.uint8).reshape(-1)
    if b.size != 81 or b.max(initial=0) > 9:
        raise SolveError(f"a Sudoku is 81 digits 0-9, got {b.size} values up to {b.max(initial=0)}")
    why = clash(b)
    if why:
        raise SolveError(f"contradictory givens: {why}; each digit may appear once per row, column and box: "
                         "change or clear one of them")
    sol, count, _ = solver.solve(b[None], max_solutions=2)
    n = int(count[0])
    labels = sol[0].astype(np.int64) + 1 if n == 1 else np.full(81, IGNORE)
    kind = {0: "no solution", 1: "a unique solution", 2: "several solutions"}[n]
    return Puzzle("sudoku", b.astype(np.int64) + 1, labels, f"Sudoku with {int((b > 0).sum())} givens: {kind}",
                  {"givens": b, "count": n, "solution": sol[0] if n == 1 else None})


def _check_sudoku(p: Puzzle, pred) -> tuple[bool, str]:
    g = np.asarray(pred).astype(np.int64) - 1  # tokens 2..10 → digits 1..9; blank or pad → 0 or -1
    givens = p.info["givens"]
    valid = bool(solver.is_solution(g)[0])
    changed = np.flatnonzero((givens > 0) & (g != givens))
    parts = ["valid grid" if valid else f"not a valid grid ({_invalid(g)})",
             "consistent with the givens" if not len(changed) else
             f"changes {len(changed)} given(s), e.g. {_cell(changed[0])}"]
    if p.info["count"] == 1:
        wrong = int((g != p.info["solution"]).sum())
        parts.append("the unique solution" if not wrong else f"differs from the unique solution in {wrong} cells")
    elif p.info["count"] == 2:
        parts.append("the puzzle has several solutions: any valid grid consistent with the givens is right")
    else:
        parts.append("the puzzle has no solution, so no grid can be right")
    return valid and not len(changed), ", ".join(parts)


def _invalid(g: np.ndarray) -> str:
    blank = int(((g < 1) | (g > 9)).sum())
    if blank:
        return f"{blank} cells without a digit"
    return clash(g, "appears") or "a unit lacks a digit"


# ---------------------------------------------------------------------------- Maze

def maze(grid) -> Puzzle:
    """A maze from tokens [n, n] (1 wall, 2 open, 3 start, 4 goal; a path token 5 counts as open):
    exactly one S and one G. The label is a shortest S→G path when G can be reached."""
    g = np.asarray(grid, np.int64)
    if g.ndim != 2 or g.shape[0] != g.shape[1]:
        raise SolveError(f"a maze is a square grid, got shape {g.shape}")
    g = np.where(g == M.PATH, M.OPEN, g)
    bad = np.setdiff1d(np.unique(g), [M.WALL, M.OPEN, M.START, M.GOAL])
    if len(bad):
        raise SolveError(f"maze cells are walls, open cells, one start and one goal; got token(s) {bad.tolist()}")
    for tok, name in ((M.START, "start"), (M.GOAL, "goal")):
        k = int((g == tok).sum())
        if k != 1:
            raise SolveError(f"a maze needs exactly one {name}, this one has {k}: "
                             f"pick the {name} brush and click {'a cell' if k == 0 else 'over the extra ones'}")
    n = g.shape[0]
    flat = g.reshape(-1)
    s, t = int(np.argmax(flat == M.START)), int(np.argmax(flat == M.GOAL))
    dist = int(M.distances((g != M.WALL)[None], np.array([s]))[0].reshape(-1)[t])
    labels = M.shortest_path_labels(g[None].astype(np.uint8))[0].reshape(-1).astype(np.int64) if dist >= 0 \
        else np.full(n * n, IGNORE)
    reach = f"shortest path {dist} steps" if dist >= 0 else "the goal cannot be reached from the start"
    return Puzzle("maze", flat.copy(), labels, f"maze {n}x{n}, {int((g == M.WALL).sum())} walls, S at "
                  f"{_cell(s, n)}, G at {_cell(t, n)}: {reach}", {"n": n, "S": s, "G": t, "shortest": dist})


def _check_maze(p: Puzzle, pred) -> tuple[bool, str]:
    n, x = p.info["n"], p.inputs
    pred = np.asarray(pred)
    path = pred == M.PATH
    on_wall = int((path & (x == M.WALL)).sum())
    cells = (path & (x == M.OPEN)) | (x == M.START) | (x == M.GOAL)
    reach = M.distances(cells.reshape(1, n, n), np.array([p.info["S"]]))[0].reshape(-1)
    ok = reach[p.info["G"]] >= 0 and not on_wall
    k = int((path & (x == M.OPEN)).sum())
    text = (f"a connected path from S to G through open cells ({k} path cells, shortest {p.info['shortest']} steps)"
            if ok else "no connected path from S to G" + (f" ({on_wall} path cells on walls)" if on_wall else
                                                          f" ({k} path cells)"))
    if p.info["shortest"] < 0:
        text += "; the goal cannot be reached, so no path can be right"
    return bool(ok), text


# ---------------------------------------------------------------------------- ARC

def arc(source: str, pair: int = 0) -> Puzzle:
    """An ARC task as JSON text or a path to a .json file: {"train": [{"input", "output"}…], "test":
    [{"input"[, "output"]}…]}; the model answers test pair `pair` (its output, when given, is the label)."""
    text = str(source).strip()
    if not text:
        raise SolveError('paste an ARC task as JSON ({"train": [...], "test": [{"input": [[...]]}]}) '
                         'or a path to a .json file')
    if not text.startswith(("{", "[")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise SolveError(f"{text}: not JSON and no such file; paste the task's JSON or give a path to a .json file")
        text = path.read_text()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise SolveError(f"invalid ARC JSON: {e.msg} at line {e.lineno} column {e.colno}; "
                         'expected {"train": [...], "test": [...]}') from None
    tests = obj.get("test") if isinstance(obj, dict) else None
    if isinstance(tests, list):  # a test pair may come without its output: give the parser a blank one
        obj = {**obj, "test": [{"output": [[0]], **t} if isinstance(t, dict) else t for t in tests]}
    try:
        task = A.parse_task(obj, "your task", "evaluation", "ARC JSON")
    except DataError as e:
        raise SolveError(str(e)) from None
    if not task.test:
        raise SolveError('the ARC task has no test pair: add "test": [{"input": [[...]]}]')
    if not 0 <= pair < len(task.test):
        raise SolveError(f"test pair {pair} does not exist: the task has {len(task.test)} (0 to {len(task.test) - 1})")
    x = task.test[pair][0]
    has_out = isinstance(tests[pair], dict) and "output" in tests[pair]
    y = task.test[pair][1] if has_out else None
    labels = A.encode(y).astype(np.int64) if y is not None else np.full(A.MAX * A.MAX, IGNORE)
    return Puzzle("arc", A.encode(x).astype(np.int64), labels,
                  f"ARC task, {len(task.train)} demonstration pairs, test pair {pair}: {x.shape[0]}x{x.shape[1]} input"
                  + ("" if y is not None else " (no output given to compare with)"), {"target": y})


def _check_arc(p: Puzzle, pred) -> tuple[Optional[bool], str]:
    g = A.decode(pred)
    if not g.size:
        return False, "no grid predicted (no colour cells)"
    well = np.array_equal(A.encode(g), np.asarray(pred))
    shape = f"a {g.shape[0]}x{g.shape[1]} grid" + ("" if well else " (not cleanly bounded by end markers)")
    y = p.info["target"]
    if y is None:
        return None, shape + "; no output was given to compare with"
    if g.shape != y.shape:
        return False, f"{shape}, the expected output is {y.shape[0]}x{y.shape[1]}"
    wrong = int((g != y).sum())
    return wrong == 0 and well, shape + (", the expected output" if not wrong else
                                         f", {wrong} cells differ from the expected output")


# ---------------------------------------------------------------------------- the model and the checks

def fits(task: str, model_task: str, seq_len: int, cells: Optional[int] = None):
    """Refuse a puzzle the model was not trained for: another task, or (given `cells`) another grid size."""
    if model_task != task:
        trained = {"tokens": "an unrecognised task"}.get(model_task, model_task)
        raise SolveError(f"this model was trained on {trained}, not {task}: it cannot solve this puzzle; "
                         f"load a run trained on {task} (widgets.Solve(trace.load('runs/<{task} run>')))")
    if cells is not None and cells != seq_len:
        side = int(round(np.sqrt(seq_len)))
        raise SolveError(f"this model solves {side}x{side} grids ({seq_len} cells), the puzzle has {cells} "
                         f"cells: draw a {side}x{side} one")


def check(p: Puzzle, pred) -> tuple[Optional[bool], str]:
    """(right or not — None when nothing can say —, one line) for the model's tokens `pred` [S]."""
    return {"sudoku": _check_sudoku, "maze": _check_maze, "arc": _check_arc}[p.task](p, pred)


def token(task: str, value: int) -> int:
    """A cell value as users give it → the model's token: Sudoku digit (0 blank), ARC colour, maze token."""
    return {"sudoku": int(value) + 1, "arc": int(value) + A.COLOUR0}.get(task, int(value))
