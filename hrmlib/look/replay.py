"""The step-by-step replay of a trace (ipywidgets 8, JupyterLab 4), and the PNG helper every widget
here draws with. `widgets.Replay` is this class; `widgets.Solve` and `widgets.Intervene` embed it.

Figures are rendered in Python into `ipywidgets.Image` PNG bytes: a widget change calls back into
the kernel, which redraws. So the state is testable without a browser (set a control's `value`,
read `.grid.value`), and the browser only displays images. Play is linked to the step slider in
the front end (jslink), so playing works without a round trip per tick.
"""
from __future__ import annotations

import io

import ipywidgets as W
import numpy as np

from . import plots, render


def png(fig, dpi: int = 80) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _name(tr, b: int) -> str:
    """"puzzle #17" for a row of the split, "your puzzle" for one traced from a raw batch."""
    return f"puzzle #{tr.index[b]}" if tr.index[b] >= 0 else "your puzzle"


def _puzzle_label(tr, b: int) -> str:
    ok = "correct" if tr.correct[-1, b] else "wrong"
    name = f"#{tr.index[b]}" if tr.index[b] >= 0 else "your puzzle"
    return f"{name}  ({ok}, {tr.difficulty[b]} cells to fill, halts at {tr.halt_step[b]})"


def _levels(tr) -> list[tuple[str, str]]:
    """Level toggle options: the paper's names (HRM: H, L; TRM: y (z_H), z (z_L)), values "H" / "L"."""
    return [(lv if tr.family == "hrm" else tr.level_name(lv), lv) for lv in ("H", "L")]


class Replay(W.VBox):
    """Step replay of a trace: Play/step slider, puzzle picker (correct/incorrect filter and a
    difficulty range), H/L toggle; the puzzle at the chosen step beside its Q and residual curves.
    picker=False leaves out the puzzle picker and its filters (one puzzle, e.g. in `Solve`)."""

    def __init__(self, tr, interval_ms: int = 900, picker: bool = True):
        self.tr = tr
        T = tr.steps
        self.play = W.Play(min=1, max=T, step=1, value=1, interval=interval_ms, description="Play")
        self.step_slider = W.IntSlider(min=1, max=T, value=1, description="ACT step", continuous_update=True)
        W.jslink((self.play, "value"), (self.step_slider, "value"))
        self.outcome = W.ToggleButtons(options=["all", "correct", "incorrect"], value="all", description="show")
        lo, hi = int(tr.difficulty.min()), int(max(tr.difficulty.max(), tr.difficulty.min() + 1))
        self.difficulty = W.IntRangeSlider(min=lo, max=hi, value=(lo, hi), description="cells to fill")
        self.puzzle = W.Dropdown(description="puzzle", layout=W.Layout(width="460px"))
        self.level = W.ToggleButtons(options=_levels(tr), value="H", description="residuals")
        self.grid, self.side = W.Image(format="png"), W.Image(format="png")
        self.grid.add_class("hrm-replay-grid")
        self.status = W.HTML()
        self._cache: dict = {}
        rows = [W.HBox([self.puzzle, self.outcome]), W.HBox([self.difficulty, self.level])] if picker else [self.level]
        super().__init__([W.HBox([self.play, self.step_slider]), *rows, W.HBox([self.grid, self.side]), self.status])
        self.add_class("hrm-replay")
        self.step_slider.observe(lambda _: self.draw(), "value")
        self.puzzle.observe(lambda _: self.draw(), "value")
        self.level.observe(lambda _: self.draw_side(), "value")
        self.outcome.observe(lambda _: self.refilter(), "value")
        self.difficulty.observe(lambda _: self.refilter(), "value")
        self.refilter()
        if tr.showcase() in self.matching():  # open on a puzzle solved over several segments
            self.puzzle.value = tr.showcase()

    # ------------------------------------------------------------------ state
    def matching(self) -> list[int]:
        """Puzzles (trace rows) that pass the outcome filter and the difficulty range."""
        ok = self.tr.correct[-1]
        keep = {"all": np.ones_like(ok), "correct": ok, "incorrect": ~ok}[self.outcome.value]
        lo, hi = self.difficulty.value
        d = self.tr.difficulty
        return [int(b) for b in np.flatnonzero(keep & (d >= lo) & (d <= hi))]

    @property
    def b(self):
        return self.puzzle.value

    @property
    def t(self) -> int:  # 0-based step
        return self.step_slider.value - 1

    def current(self) -> dict:
        """What is shown now: puzzle row, step, level and the data the panels draw."""
        tr, b, t = self.tr, self.b, self.t
        if b is None:
            return {"puzzle": None}
        return {"puzzle": b, "index": int(tr.index[b]), "step": t + 1, "level": self.level.value,
                "prediction": tr.preds[t, b], "changed": tr.changed[t, b], "wrong": tr.wrong[t, b],
                "q_halt": tr.q_halt[:, b], "q_continue": tr.q_continue[:, b],
                "residuals": getattr(tr, f"res_{self.level.value}")[:, :, b]}

    # ------------------------------------------------------------------ drawing
    def refilter(self):
        rows = self.matching()
        old = self.puzzle.value
        self.puzzle.options = [(_puzzle_label(self.tr, b), b) for b in rows]
        if rows:
            self.puzzle.value = old if old in rows else rows[0]
        self.draw()

    def draw(self):
        if self.b is None:
            self.status.value = "<b>no puzzle matches the filter</b>"
            return
        tr, b, t = self.tr, self.b, self.t
        key = (b, t)
        if key not in self._cache:
            title = (f"{_name(tr, b)}, step {t + 1}/{tr.steps}: {'correct' if tr.correct[t, b] else 'wrong'}, "
                     f"{tr.changed[t, b].sum()} changed, {tr.wrong[t, b].sum()} wrong"
                     + (" · Q would halt here" if tr.halt_step[b] == t + 1 else ""))
            fig = render.step(tr.task, tr.inputs[b], tr.labels[b], tr.preds[t, b], tr.changed[t, b], title)
            self._cache[key] = png(fig)
        self.grid.value = self._cache[key]
        self.draw_side()
        conf = tr.confidence[t, b][tr.scored[b]]
        self.status.value = (f"step {t + 1}: token accuracy {tr.token_accuracy[t, b]:.3f}, mean confidence "
                             f"{conf.mean() if conf.size else float('nan'):.3f}, q_halt {tr.q_halt[t, b]:+.2f}, "
                             f"q_continue {tr.q_continue[t, b]:+.2f} (halts when {tr.halt_rule})")

    def draw_side(self):
        if self.b is None:
            return
        self.side.value = png(plots.replay_side(self.tr, self.b, self.t, self.level.value))
