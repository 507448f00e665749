"""hrmlib.look.widgets without a browser: widget values drive Python callbacks that redraw PNG bytes,
so the slider, the puzzle picker, the outcome/difficulty filters and the H/L toggle are checked
on widget state alone."""
import dataclasses as dc

import numpy as np
import pytest

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
