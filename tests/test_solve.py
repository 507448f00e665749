"""hrmlib.look.solve: your own puzzle as a model input and the checks of an answer (pure functions,
no model) — Sudoku grids valid and not, contradictions, mazes with and without a path, ARC JSON."""
import json

import numpy as np
import pytest

from hrmlib.data.builders import arc as A
from hrmlib.data.builders import maze as M
from hrmlib.data.sampler import IGNORE
from hrmlib.look import solve

PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def tokens(text: str) -> np.ndarray:
    return np.array([int(c) for c in text]) + 1


def test_sudoku_text_is_parsed_in_its_usual_forms():
    drawn = "\n".join("|".join(PUZZLE[r * 9:r * 9 + 9][k:k + 3] for k in (0, 3, 6)) for r in range(9))
    b = solve.parse_sudoku(drawn.replace(".", "0"))
    assert solve.sudoku_text(b) == PUZZLE and (solve.parse_sudoku(PUZZLE) == b).all()
    with pytest.raises(solve.SolveError, match="81 cells, this text has 80"):
        solve.parse_sudoku(PUZZLE[:-1])
    with pytest.raises(solve.SolveError, match="not 'x'"):
        solve.parse_sudoku(PUZZLE[:-1] + "x")


@pytest.mark.parametrize("i, j, where", [(2, 3, "row 1"), (2, 29, "column 3"), (2, 10, "box 1")])
def test_contradictory_givens_are_refused_saying_where(i, j, where):
    b = np.zeros(81, np.uint8)
    b[i] = b[j] = 4
    with pytest.raises(solve.SolveError, match=f"contradictory givens: 4 is given twice in {where}"):
        solve.sudoku(b)


def test_sudoku_checks_valid_and_invalid_grids():
    p = solve.sudoku(solve.parse_sudoku(PUZZLE))
    assert p.info["count"] == 1 and (p.labels == tokens(SOLUTION)).all() and "30 givens: a unique solution" in p.about
    ok, text = solve.check(p, tokens(SOLUTION))
    assert ok and text == "valid grid, consistent with the givens, the unique solution"
    swapped = np.array(list(SOLUTION))
    swapped[[2, 3]] = swapped[[3, 2]]  # two blanks of row 1 swapped: rows fine, columns broken
    ok, text = solve.check(p, tokens("".join(swapped)))
    assert not ok and "not a valid grid (6 appears twice in column 3" in text and "in 2 cells" in text
    blank = tokens(SOLUTION).copy()
    blank[5] = 1  # the blank token
    assert "1 cells without a digit" in solve.check(p, blank)[1]
    relabelled = tokens("".join(str(int(c) % 9 + 1) for c in SOLUTION))  # a valid grid, but not these givens
    ok, text = solve.check(p, relabelled)
    assert not ok and text.startswith("valid grid, changes 30 given(s), e.g. r1c1")


def test_sudoku_with_several_or_no_solutions_is_said_so():
    b = solve.parse_sudoku(PUZZLE)
    b[np.flatnonzero(b)[:3]] = 0  # three givens fewer: no longer unique
    several = solve.sudoku(b)
    assert several.info["count"] == 2 and (several.labels == IGNORE).all()
    ok, text = solve.check(several, tokens(SOLUTION))
    assert ok and "several solutions: any valid grid" in text
    b = np.zeros(81, np.uint8)
    b[:8] = np.arange(1, 9)
    b[9 * 5 + 8] = 9  # r1c9 can only be 9, but column 9 holds a 9 already: no solution, no direct clash
    none = solve.sudoku(b)
    assert none.info["count"] == 0 and "no solution" in none.about
    assert solve.check(none, tokens(SOLUTION))[1].endswith("no solution, so no grid can be right")


def small_maze() -> np.ndarray:
    rows = ["#####", "#S..#", "#.#.#", "#..G#", "#####"]
    return np.array([[M.CHARSET.index(c) + 1 for c in r.replace(".", " ")] for r in rows])


def test_maze_inputs_need_one_start_and_one_goal():
    g = small_maze()
    p = solve.maze(g)
    assert "maze 5x5, 17 walls, S at r2c2, G at r4c4: shortest path 4 steps" == p.about
    for tok, name in ((M.START, "start"), (M.GOAL, "goal")):
        with pytest.raises(solve.SolveError, match=f"exactly one {name}, this one has 0"):
            solve.maze(np.where(g == tok, M.OPEN, g))
    two = g.copy()
    two[1, 3] = M.GOAL
    with pytest.raises(solve.SolveError, match="exactly one goal, this one has 2"):
        solve.maze(two)
    with pytest.raises(solve.SolveError, match="square"):
        solve.maze(g[:4])


def test_maze_checks_a_connected_path_through_open_cells():
    p = solve.maze(small_maze())
    ok, text = solve.check(p, p.labels)
    assert ok and text.startswith("a connected path from S to G through open cells (3 path cells")
    broken = p.labels.copy()
    broken[np.flatnonzero(broken == M.PATH)[1]] = M.OPEN
    assert solve.check(p, broken)[0] is False
    through_wall = p.inputs.copy()  # the right path, plus one wall cell marked as path
    through_wall[np.flatnonzero(p.inputs == M.WALL)[0]] = M.PATH
    ok, text = solve.check(p, np.where(p.labels == M.PATH, M.PATH, through_wall))
    assert not ok and "1 path cells on walls" in text
    shut = small_maze()
    shut[1:4, 2] = M.WALL
    shut[2, 1:4] = M.WALL  # the goal walled off
    q = solve.maze(shut)
    assert "cannot be reached" in q.about and (q.labels == IGNORE).all()
    assert "no path can be right" in solve.check(q, q.inputs)[1]


TASK = {"train": [{"input": [[1, 0], [0, 0]], "output": [[0, 1], [0, 0]]}],
        "test": [{"input": [[0, 0], [2, 0]], "output": [[0, 0], [0, 2]]}, {"input": [[3]]}]}


def test_arc_json_is_read_from_text_or_a_file(tmp_path):
    p = solve.arc(json.dumps(TASK))
    assert (p.inputs == A.encode(np.array([[0, 0], [2, 0]]))).all() and "1 demonstration pairs, test pair 0" in p.about
    f = tmp_path / "task.json"
    f.write_text(json.dumps(TASK))
    q = solve.arc(str(f), pair=1)
    assert (q.labels == IGNORE).all() and "no output given" in q.about
    assert solve.check(q, A.encode(np.array([[3]])))[0] is None


@pytest.mark.parametrize("text, match", [
    ("{'train': []}", "invalid ARC JSON: Expecting property name"),
    ('{"train": []}', "not an ARC task"),
    ('{"train": [], "test": [{"input": [[10]]}]}', "cells must be integers 0..9"),
    ('{"train": [], "test": [{"input": [[1, 2], [3]]}]}', "not a grid"),
    ('{"train": [], "test": []}', "has no test pair"),
    ("no/such/task.json", "no such file"),
    ("", "paste an ARC task"),
])
def test_bad_arc_input_is_one_line(text, match):
    with pytest.raises(solve.SolveError, match=match) as e:
        solve.arc(text)
    assert "\n" not in str(e.value)


def test_arc_checks_the_predicted_grid():
    p = solve.arc(json.dumps(TASK))
    target = A.encode(np.array([[0, 0], [0, 2]]))
    assert solve.check(p, target) == (True, "a 2x2 grid, the expected output")
    ok, text = solve.check(p, A.encode(np.array([[0, 0], [2, 2]])))
    assert not ok and "1 cells differ" in text
    assert "the expected output is 2x2" in solve.check(p, A.encode(np.array([[0]])))[1]
    assert solve.check(p, np.zeros(900, int)) == (False, "no grid predicted (no colour cells)")


def test_a_model_of_another_task_or_size_is_refused():
    solve.fits("sudoku", "sudoku", 81, 81)
    with pytest.raises(solve.SolveError, match="trained on maze, not sudoku: it cannot solve this puzzle"):
        solve.fits("sudoku", "maze", 900)
    with pytest.raises(solve.SolveError, match="solves 30x30 grids .* has 25 cells: draw a 30x30 one"):
        solve.fits("maze", "maze", 900, 25)
