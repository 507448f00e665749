"""Interactive views in JupyterLab (ipywidgets 8, JupyterLab 4): every widget of the workbench.

    from hrmlib.look import trace, widgets
    tr = trace.trace_examples(trace.load(run), range(16), keep="updates")
    widgets.Replay(tr)        # Play ▸ steps through the ACT segments of the chosen puzzle (replay.py)
    widgets.Explorer(tr)      # level / step / update → PCA of positions and per-position norms
    widgets.Solve(m)          # your own Sudoku, maze or ARC task, solved segment by segment (solve_widget.py)
    widgets.Intervene(m)      # one change to the reasoning, original and intervened replay side by side
    widgets.RunPicker(rows)   # runs of a table: learning curves and diagnostics

Figures are PNG bytes rendered in the kernel (`png`), so widget state is testable without a browser.
"""
from __future__ import annotations

import ipywidgets as W
import numpy as np

from . import intervene as iv
from . import plots, render, solve
from . import trace as T
from .replay import Replay, _levels, _puzzle_label, png
from .solve_widget import Solve

__all__ = ["Explorer", "Intervene", "Replay", "RunPicker", "Solve", "png"]


class Explorer(W.VBox):
    """Hidden states of one puzzle: level (H/L), ACT step and update within it → the positions'
    PCA projection and the per-position norm heat map. Needs a trace with keep="updates"."""

    def __init__(self, tr):
        if tr.z_H_updates is None or tr.z_H_updates.ndim != 5:
            raise ValueError("the explorer needs full states of every update: trace with keep='updates', reduce=None")
        self.tr = tr
        self.level = W.ToggleButtons(options=_levels(tr), value="H", description="level")
        self.step_slider = W.IntSlider(min=1, max=tr.steps, value=tr.steps, description="ACT step")
        self.update = W.IntSlider(min=1, max=tr.z_H_updates.shape[1], value=tr.z_H_updates.shape[1],
                                  description="update")
        self.puzzle = W.Dropdown(options=[(_puzzle_label(tr, b), b) for b in range(tr.batch)], value=0,
                                 description="puzzle", layout=W.Layout(width="460px"))
        self.image = W.Image(format="png")
        super().__init__([W.HBox([self.level, self.puzzle]), W.HBox([self.step_slider, self.update]), self.image])
        for w in (self.step_slider, self.update, self.puzzle):
            w.observe(lambda _: self.draw(), "value")
        self.level.observe(lambda _: self.relevel(), "value")
        self.draw()

    def relevel(self):
        n = getattr(self.tr, f"z_{self.level.value}_updates").shape[1]
        with self.hold_trait_notifications():
            self.update.max = n
            self.update.value = min(self.update.value, n)
        self.draw()

    def state(self) -> np.ndarray:
        """[S', D] the state now chosen."""
        z = getattr(self.tr, f"z_{self.level.value}_updates")
        return z[self.step_slider.value - 1, self.update.value - 1, self.puzzle.value]

    def draw(self):
        self.image.value = png(plots.state_explorer(self.tr, self.puzzle.value, self.level.value,
                                                    self.step_slider.value - 1, self.update.value - 1))


class RunPicker(W.VBox):
    """Pick runs of a table (`hrmlib.runs.table`): their learning curves and diagnostics redraw."""

    def __init__(self, rows: list[dict], picked: int = 2):
        def label(r):
            best = f"best {r['best_exact']:.1%}" if r["best_exact"] is not None else "not evaluated"
            return f"{r['run']}  ({r['family']}, seed {r['seed']}, {best})"
        self.pick = W.SelectMultiple(options=[(label(r), r["path"]) for r in rows],
                                     value=tuple(r["path"] for r in rows[:picked]), description="runs",
                                     rows=min(10, max(len(rows), 2)), layout=W.Layout(width="720px"))
        self.curves, self.diag = W.Image(format="png"), W.Image(format="png")
        super().__init__([self.pick, self.curves, self.diag])
        self.pick.observe(lambda _: self.draw(), "value")
        self.draw()

    def draw(self):
        chosen = list(self.pick.value)
        self.curves.value = png(plots.learning_curves(chosen)) if chosen else b""
        self.diag.value = png(plots.diagnostics(chosen)) if chosen else b""


class Intervene(W.VBox):
    """One change to the reasoning (`hrmlib.look.intervene`) and what it does: pick a test puzzle and
    the change — reset or noise on a state, a given cell edited, the puzzle id blanked or randomised —
    at a segment (and an update within it), Run; the original and the intervened replay play side by
    side, the cells whose prediction differs outlined in both. Opens on the answer state (HRM z_H,
    TRM y) reset as segment 2 starts, on the showcase puzzle of `tr` (a trace of m's test rows to pick
    from; default: the first `puzzles`)."""

    def __init__(self, m, tr=None, puzzles: int = 32):
        self.m, model = m, m.model
        self.base = tr if tr is not None else T.trace_examples(m, limit=puzzles, keep="none")
        n, U = model.cfg.halt_max_steps, iv.updates(model, "H")
        b = self.base.showcase()
        self.puzzle = W.Dropdown(options=[(_puzzle_label(self.base, k), int(self.base.index[k]))
                                          for k in range(self.base.batch)], value=int(self.base.index[b]),
                                 description="puzzle", layout=W.Layout(width="460px"))
        self.kind = W.ToggleButtons(options=[("reset", "reset"), ("noise", "noise"), ("edit a cell", "cell"),
                                             ("puzzle id", "puzzle_id")], value="reset", description="change")
        self.state = W.ToggleButtons(options=_levels(self.base), value="H", description="state")
        self.segment = W.IntSlider(min=1, max=n, value=min(2, n), description="segment")
        self.update = W.IntSlider(min=0, max=U, value=0, description="update")
        self.sigma = W.BoundedFloatText(value=1.0, min=0, max=1e3, step=0.1, description="σ")
        what = {"sudoku": "digit (0 blank)", "maze": "1 wall 2 open", "arc": "colour"}.get(m.task, "token")
        self.cell = W.BoundedIntText(value=0, min=0, max=model.S - 1, description="cell")
        self.value = W.BoundedIntText(value=0, min=0, max=model.V, description=what)
        self.pid = W.ToggleButtons(options=["blank", "random"], value="blank", description="puzzle id")
        self.go = W.Button(description="Run", button_style="primary", icon="play")
        self.play = W.Play(min=1, max=n, value=1, interval=900, description="Play")
        self.step_slider = W.IntSlider(min=1, max=n, value=min(2, n), description="ACT step")
        W.jslink((self.play, "value"), (self.step_slider, "value"))
        self.left, self.right = W.Image(format="png"), W.Image(format="png")
        self.left.add_class("hrm-iv-original")
        self.right.add_class("hrm-iv-intervened")
        self.status, self.message = W.HTML(), W.HTML()
        self.status.add_class("hrm-iv-status")
        self.where = W.HBox([self.segment, self.update])
        self.knobs = W.HBox()
        super().__init__([self.puzzle, W.HBox([self.kind, self.state]), self.where, self.knobs, self.go, self.message,
                          W.HBox([self.play, self.step_slider]), W.HBox([self.left, self.right]), self.status])
        self.add_class("hrm-intervene")
        self.pair = None
        self.go.on_click(lambda _: self.run())
        self.step_slider.observe(lambda _: self.draw(), "value")
        self.state.observe(lambda _: setattr(self.update, "max", iv.updates(model, self.state.value)), "value")
        self.kind.observe(lambda _: self.show_knobs(), "value")
        self.show_knobs()
        self.run()

    def show_knobs(self):
        k = self.kind.value
        knobs = {"noise": [self.sigma], "cell": [self.cell, self.value], "puzzle_id": [self.pid]}
        self.knobs.children = knobs.get(k, [])
        self.state.disabled = k in ("cell", "puzzle_id")
        if k in ("cell", "puzzle_id"):
            self.update.value = 0
        self.update.disabled = k in ("cell", "puzzle_id")

    def change(self) -> iv.Change:
        """The change the controls describe (only the knobs of its kind are set)."""
        k = self.kind.value
        knobs = {"noise": {"sigma": self.sigma.value}, "puzzle_id": {"puzzle_id": self.pid.value},
                 "cell": {"cell": self.cell.value, "value": solve.token(self.m.task, self.value.value)}}
        return iv.Change(k, self.state.value, self.segment.value, self.update.value, **knobs.get(k, {}))

    def run(self):
        """Trace the chosen puzzle with and without the change; a change that cannot be made is a message."""
        try:
            self.pair = iv.intervene(self.m, [self.puzzle.value], self.change())
        except iv.InterventionError as e:
            self.message.value = f"<span style='color:#c62828'><b>{e}</b></span>"
            return None
        self.message.value = ""
        d = self.pair.differ[:, 0].sum(1)
        o, i = self.pair.original, self.pair.intervened
        self.status.value = (f"<b>{self.pair.change.describe(o.family, self.update.max)}</b> · cells that differ after "
                             f"each segment: {', '.join(map(str, d))} · exact: original "
                             f"{''.join('✓' if c else '✗' for c in o.correct[:, 0])}, intervened "
                             f"{''.join('✓' if c else '✗' for c in i.correct[:, 0])}")
        self.draw()
        return self.pair

    def draw(self):
        if self.pair is None:
            return
        t = self.step_slider.value - 1
        differ = self.pair.differ[t, 0]
        for img, tr, name in ((self.left, self.pair.original, "original"),
                              (self.right, self.pair.intervened, self.pair.change.kind.replace("_", " "))):
            title = (f"{name}, segment {t + 1}: {'correct' if tr.correct[t, 0] else 'wrong'}, "
                     f"{differ.sum()} cells differ")
            img.value = png(render.step(tr.task, tr.inputs[0], tr.labels[0], tr.preds[t, 0], differ, title))
