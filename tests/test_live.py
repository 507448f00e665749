"""The live lens: the trainer's snapshot (hrmlib.train.live) holds exactly what a trace of the same
puzzles shows, only rank 0 writes and `live=false` writes nothing; the look side reads the
snapshots, draws the panel, and its display redraws only when a new snapshot appears."""
from types import SimpleNamespace

import numpy as np
import pytest

from hrmlib.data import load_split
from hrmlib.look import live as look_live
from hrmlib.look import trace
from hrmlib.train import live


@pytest.fixture(scope="module")
def loaded(notebook_run):
    return trace.load(notebook_run)


def write(m, run, step, live_on=True, main=True):
    cfg = SimpleNamespace(live=live_on, data_path=str(m.data_path))
    d = SimpleNamespace(main=main, device="cpu")
    return live.write(m.model, load_split(m.data_path, "test"), cfg, d, run, step)


def test_a_snapshot_is_the_trace_of_the_same_puzzles(loaded, tmp_path):
    path = write(loaded, tmp_path, 40)
    assert path == tmp_path / "live" / "step_40.npz" and not list(tmp_path.glob("live/.*"))
    step, snap = look_live.read(path)
    rows = live.rows(load_split(loaded.data_path, "test").num_examples)
    assert step == 40 and len(rows) == min(live.PUZZLES, 64) and (snap.index == rows).all()
    tr = trace.trace_examples(loaded, rows, keep="none")
    for k in ("inputs", "labels", "preds", "q_halt", "q_continue", "changed", "correct"):
        assert np.array_equal(getattr(snap, k), getattr(tr, k)), k
    assert snap.task == tr.task == "sudoku" and snap.halt_rule == tr.halt_rule
    assert (snap.halt_step == tr.halt_step).all()
    assert write(loaded, tmp_path, 41, live_on=False) is None and write(loaded, tmp_path, 42, main=False) is None
    assert [p.name for p in look_live.paths(tmp_path)] == ["step_40.npz"]


def test_the_panel_redraws_when_a_new_snapshot_appears(loaded, tmp_path):
    panel = look_live.Panel(tmp_path, every_s=0)
    assert panel.update() is False  # nothing yet
    write(loaded, tmp_path, 9)
    (tmp_path / "live" / "step_5.npz").write_bytes(b"torn")  # a damaged file is left out, not fatal
    assert panel.update() is True and panel.seen.name == "step_9.npz"
    assert panel.update() is False
    write(loaded, tmp_path, 19)
    assert panel.update() is True
    assert "class='hrm-live' data-step='19'" in panel.body and "data:image/png;base64," in panel.body
    assert [s for s, _ in look_live.snapshots(tmp_path)] == [9, 19]
