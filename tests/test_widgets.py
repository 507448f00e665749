"""hrmlib.look.widgets without a browser: widget values drive Python callbacks that redraw PNG bytes,
so the slider, the puzzle picker, the outcome/difficulty filters and the H/L toggle are checked
on widget state alone."""
import dataclasses as dc

import numpy as np
import pytest

from hrmlib.look import intervene as iv
from hrmlib.look import trace, widgets


@pytest.fixture(scope="module")
def tr(notebook_run):
    t = trace.trace_examples(trace.load(notebook_run), limit=6, keep="updates")
    # give the picker something to filter: pretend puzzle 2 is solved at every step, 4 has fewer blanks
    t.labels[2] = np.where(t.scored[2], t.preds[-1, 2], t.labels[2])
    t.preds[:, 2] = t.preds[-1, 2]
    t.labels[4, np.flatnonzero(t.labels[4] != t.inputs[4])[:5]] = -100
    return t


def test_slider_updates_the_rendered_step(tr):
    r = widgets.Replay(tr)
    assert r.t == 0 and bytes(r.grid.value).startswith(b"\x89PNG")
    before, side = r.grid.value, r.side.value
    r.step_slider.value = 3
    assert r.current()["step"] == 3 and r.grid.value != before and r.side.value != side
    np.testing.assert_array_equal(r.current()["prediction"], tr.preds[2, r.b])
    assert "step 3:" in r.status.value
    r.step_slider.value = 1
    assert r.grid.value == before  # the same step renders the same picture


def test_picker_filters_by_outcome_and_difficulty(tr):
    r = widgets.Replay(tr)
    assert [b for _, b in r.puzzle.options] == list(range(6))
    r.outcome.value = "correct"
    assert r.matching() == [2] and r.puzzle.value == 2 and tr.correct[-1, 2]
    r.outcome.value = "incorrect"
    assert 2 not in r.matching() and r.puzzle.value != 2
    r.outcome.value = "all"
    r.difficulty.value = (0, 40)
    assert r.matching() == [4] and r.puzzle.value == 4
    shown = r.grid.value
    r.puzzle.value = r.puzzle.value  # no change, no redraw needed
    r.outcome.value = "correct"  # nothing is both correct and easy
    assert r.matching() == [] and r.puzzle.value is None and "no puzzle matches" in r.status.value
    assert r.grid.value == shown


def test_level_toggle_switches_the_data(tr):
    r = widgets.Replay(tr)
    np.testing.assert_array_equal(r.current()["residuals"], tr.res_H[:, :, r.b])
    side = r.side.value
    r.level.value = "L"
    np.testing.assert_array_equal(r.current()["residuals"], tr.res_L[:, :, r.b])
    assert r.current()["residuals"].shape[1] == tr.res_L.shape[1] != tr.res_H.shape[1]
    assert r.side.value != side


def test_explorer_switches_level_step_and_update(tr):
    e = widgets.Explorer(tr)
    np.testing.assert_array_equal(e.state(), tr.z_H_updates[-1, -1, 0])
    img = e.image.value
    e.level.value = "L"
    assert e.update.max == tr.z_L_updates.shape[1] and e.image.value != img
    e.step_slider.value, e.update.value = 1, 1
    np.testing.assert_array_equal(e.state(), tr.z_L_updates[0, 0, 0])
    e.level.value = "H"
    assert e.update.max == tr.z_H_updates.shape[1] and e.update.value == 1
    with pytest.raises(ValueError, match="keep='updates'"):
        widgets.Explorer(dc.replace(tr, z_H_updates=None, z_L_updates=None))


def test_replay_opens_on_a_puzzle_solved_over_several_steps(tr):
    t = dc.replace(tr, preds=tr.preds.copy(), labels=tr.labels.copy())
    t.labels[5] = np.where(t.scored[5], t.preds[-1, 5], -100)  # puzzle 5: right after the last step...
    t.preds[0, 5] = np.where(t.scored[5], t.labels[5] % 9 + 2, t.preds[0, 5])  # ...wrong after the first
    r = widgets.Replay(t)
    assert t.showcase() == 5 and r.b == 5 and r.t == 0
    first = r.grid.value
    r.step_slider.value = t.steps
    assert r.grid.value != first


# ---------------------------------------------------------------------------- Solve and Intervene

PUZZLE = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"


@pytest.fixture(scope="module")
def loaded(notebook_run):
    return trace.load(notebook_run)


def test_solve_runs_a_pasted_sudoku_and_checks_every_frame(loaded):
    s = widgets.Solve(loaded)
    assert s.task == "sudoku" and s.tabs.selected_index == 0
    s.paste.value = PUZZLE
    assert s.sudoku_grid.grid[0].tolist() == [5, 3, 0, 0, 7, 0, 0, 0, 0] and s.message.value == ""
    tr = s.solve()
    assert tr.steps == loaded.model.cfg.halt_max_steps and tr.index.tolist() == [-1]
    assert "Sudoku with 30 givens: a unique solution" in s.check_line.value and "segment 1/4" in s.check_line.value
    first, img = s.check_line.value, s.replay.grid.value
    s.replay.step_slider.value = tr.steps
    assert f"segment {tr.steps}/{tr.steps}" in s.check_line.value and s.replay.grid.value != img
    ok, text = s.verdict(tr.steps - 1)
    assert text in s.check_line.value and ("hrm-verdict-ok" in s.check_line.value) == ok and first != s.check_line.value


@pytest.mark.parametrize("action, match", [
    (lambda s: setattr(s.paste, "value", "55" + PUZZLE[2:]), "contradictory givens: 5 is given twice in row 1"),
    (lambda s: setattr(s.paste, "value", PUZZLE[:50]), "a Sudoku has 81 cells, this text has 50"),
    (lambda s: setattr(s.tabs, "selected_index", 1) or s.solve(), "trained on sudoku, not maze"),
    (lambda s: setattr(s.tabs, "selected_index", 2) or s.load_example(), "trained on sudoku, not arc"),
])
def test_solve_says_what_is_wrong_in_the_widget(loaded, action, match):
    s = widgets.Solve(loaded)
    s._guard(lambda: action(s))
    assert match in s.message.value and s.result.children == ()


def test_solve_loads_an_example_and_clears(loaded):
    s = widgets.Solve(loaded)
    s.example.click()
    assert (s.sudoku_grid.grid > 0).sum() == 40 and s.message.value == ""  # the debug data: 40 givens
    s.clear.click()
    assert (s.sudoku_grid.grid == 0).all()


def test_solve_draws_a_maze_for_a_maze_model(tmp_path):
    """An untrained maze model (seeded initial weights) is enough to check the maze tab's plumbing."""
    import torch
    from hrmlib import config
    from hrmlib.data import ensure_data, load_split
    from hrmlib.data.builders import maze as M
    from hrmlib.model import build, dims
    data = ensure_data("debug", "data/maze-debug")
    torch.manual_seed(0)
    cfg, meta = config.load("debug"), load_split(data, "test").meta
    model = build(cfg.arch, meta).eval()
    s = widgets.Solve(trace.Loaded(model, cfg, dims(meta), data, tmp_path / "untrained", {"kind": "original"}))
    assert s.task == "maze" and s.maze_grid.rows == 9 and s.maze_grid.mode == "paint"
    s.solve()
    assert "exactly one start, this one has 0" in s.message.value
    g = s.maze_grid.grid
    g[1, 1], g[7, 7], g[1:6, 4] = M.START, M.GOAL, M.WALL
    s.maze_grid.grid = g
    tr = s.solve()
    assert s.message.value == "" and tr.task == "maze"
    assert "maze 9x9, 37 walls, S at r2c2, G at r8c8: shortest path 12 steps" in s.check_line.value
    assert "path from S to G" in s.check_line.value


def test_intervene_shows_two_replays_that_differ(loaded):
    w = widgets.Intervene(loaded, puzzles=6)
    p = w.pair
    assert p.change == iv.Change("reset", "H", 2, 0) and w.puzzle.value == int(w.base.index[w.base.showcase()])
    assert p.differ[1:].any() and not p.differ[0].any()
    assert "reset z_H as segment 2 starts" in w.status.value
    left, right = w.left.value, w.right.value
    w.step_slider.value = 3
    assert w.left.value != left and w.right.value != right
    w.kind.value = "cell"
    assert w.update.disabled and [c.description for c in w.knobs.children] == ["cell", "digit (0 blank)"]
    w.cell.value, w.value.value = 3, 9
    assert w.run().intervened.inputs[0, 3] == 10
    w.update.value = 1  # a cell changes only as a segment starts
    assert w.run() is None and "use update=0" in w.message.value
