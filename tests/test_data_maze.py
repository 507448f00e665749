"""Maze builder: parity with the original-built fixture, every generated label is a valid shortest path,
bad CSVs give one clear error."""
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from hrmlib.data import DataError, load_split
from hrmlib.data.builders import maze
from hrmlib.data.format import FIELDS

FIX = Path(__file__).parent / "fixtures" / "dataset-format"


def test_fixture_parity(tmp_path):
    maze.build(tmp_path / "o", f"csv:{FIX / 'inputs' / 'maze'}", aug=True, progress=False)
    for split in ("train", "test"):
        ours, orig = load_split(tmp_path / "o", split), load_split(FIX / "maze-tiny-aug", split)
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(ours, f), getattr(orig, f), err_msg=f"{split}/{f}")


def bfs_len(grid, s, g):
    n = len(grid)
    seen, todo = {s: 0}, deque([s])
    while todo:
        r, c = todo.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < n and 0 <= nc < n and grid[nr, nc] != maze.WALL and (nr, nc) not in seen:
                seen[nr, nc] = seen[r, c] + 1
                todo.append((nr, nc))
    return seen.get(g)


def assert_shortest_path(q, y):
    """Label = question + 'o' on a connected S->G path whose length is the BFS distance."""
    assert ((y == q) | ((q == maze.OPEN) & (y == maze.PATH))).all()
    s, g = tuple(np.argwhere(q == maze.START)[0]), tuple(np.argwhere(q == maze.GOAL)[0])
    cells = {tuple(p) for p in np.argwhere(y == maze.PATH)} | {s, g}
    steps, cur, prev = 0, s, None
    while cur != g:
        nxt = [p for p in cells if abs(p[0] - cur[0]) + abs(p[1] - cur[1]) == 1 and p != prev]
        assert len(nxt) == 1, "path branches or breaks"
        prev, cur, steps = cur, nxt[0], steps + 1
    assert steps == len(cells) - 1 == bfs_len(q, s, g)
    return steps


def test_generated_labels_are_shortest_paths(tmp_path):
    s = maze.build(tmp_path / "o", "generate", aug=True, gen_count=12, gen_test_count=4, seed=5, progress=False)
    assert s.splits["train"]["puzzles"] == 96 and s.seq_len == 900
    for split in ("train", "test"):
        d = load_split(tmp_path / "o", split)
        for q, y in zip(np.asarray(d.inputs).reshape(-1, 30, 30), np.asarray(d.labels).reshape(-1, 30, 30)):
            assert assert_shortest_path(q, y) >= 110


def test_generator_size_and_min_path_knobs():
    q, y = maze.generate(6, np.random.default_rng(0), size=15, min_path_len=30)
    assert q.shape == (6, 15, 15)
    assert all(assert_shortest_path(a, b) >= 30 for a, b in zip(q, y))
    with pytest.raises(DataError, match="--gen-min-path-len"):
        maze.generate(2, np.random.default_rng(0), size=7, min_path_len=200)


def test_generated_test_mazes_are_held_out():
    """On 7×7 grids draws repeat often: the test split still holds no training maze (nor a transform of
    one) and no maze twice; when too few distinct mazes exist (5×5), one line says what to change."""
    d = maze.load_source("generate", 0, 600, 100, 7, 6, 0.0)
    train = {maze.dihedral(x, t).tobytes() for x in d["train"][0] for t in range(8)}
    test = [x.tobytes() for x in d["test"][0]]
    assert len(test) == 100 == len(set(test)) and not train & set(test)
    with pytest.raises(DataError, match="fewer than 50 test mazes"):
        maze.load_source("generate", 0, 100, 50, 5, 3, 0.0)


def test_fixture_labels_match_our_bfs():
    d = load_split(FIX / "maze-tiny-aug", "train")
    q, y = np.asarray(d.inputs).reshape(-1, 9, 9), np.asarray(d.labels).reshape(-1, 9, 9)
    ours = maze.shortest_path_labels(q)
    assert ((ours == maze.PATH).sum((1, 2)) == (y == maze.PATH).sum((1, 2))).all()
    for a, b in zip(q, ours):
        assert_shortest_path(a, b)


def test_bad_character_names_file_and_line(tmp_path):
    src = FIX / "inputs" / "maze"
    (tmp_path / "in").mkdir()
    rows = (src / "train.csv").read_text().splitlines()
    rows[2] = rows[2].replace("S", "X", 1)
    (tmp_path / "in" / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "in" / "test.csv").write_text((src / "test.csv").read_text())
    with pytest.raises(DataError, match=r"train\.csv: line 3: question has 'X'"):
        maze.build(tmp_path / "o", f"csv:{tmp_path / 'in'}", progress=False)
    assert not (tmp_path / "o").exists()
