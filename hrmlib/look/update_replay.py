"""The replay at update granularity: `widgets.Replay` with a slider over the updates within each
segment and a Play that runs through every update of every segment, drawing the answer the output
head decodes after that update (`hrmlib.look.updates`).

    up = updates.trace_updates(trace.load(run), limit=32)
    UpdateReplay(up)                                     # opens on Trace.showcase's puzzle
    UpdateReplay(up, puzzle=int(np.flatnonzero(updates.attractors(up) >= 0)[0]))   # on a wrong attractor

"frames" switches between segments (exactly `widgets.Replay`) and updates.
"""
from __future__ import annotations

import ipywidgets as W

from . import plots, render
from .widgets import Replay, png


class UpdateReplay(Replay):
    """Replay of an `updates.Updates`: segment slider, update slider (1..U within the segment), a
    Play over all updates, and the segment/update frames toggle; the rest as `widgets.Replay`."""

    def __init__(self, up, puzzle=None, frames: str = "updates", interval_ms: int = 500):
        self.up, self._moving = up, False
        ok = frames in ("segments", "updates")
        self.frames = W.ToggleButtons(options=["segments", "updates"], value=frames if ok else "updates",
                                      description="frames")
        self.update = W.IntSlider(min=1, max=up.U, value=up.U, description="update")
        self.uplay = W.Play(min=1, max=up.K, step=1, value=up.U, interval=interval_ms, description="Play updates")
        super().__init__(up.trace)
        self.add_class("hrm-update-replay")
        self.children = (*self.children[:1], W.HBox([self.uplay, self.update, self.frames]), *self.children[1:])
        self.update.observe(lambda _: self._moved(), "value")
        self.step_slider.observe(lambda _: self._follow(), "value")
        self.uplay.observe(lambda ch: self._play(ch["new"]), "value")
        self.frames.observe(lambda _: self.draw(), "value")
        if puzzle is not None and puzzle in self.matching():
            self.puzzle.value = puzzle
        if not ok:
            self.status.value = f"<b>frames must be 'segments' or 'updates', got {frames!r}: showing updates</b>"

    @property
    def k(self) -> int:  # 0-based update in execution order
        return self.t * self.up.U + self.update.value - 1

    def _play(self, k: int):  # the Play's update (1-based over all) → segment and update sliders, one redraw
        if self._moving:
            return
        self._moving = True
        try:
            self.step_slider.value, self.update.value = divmod(k - 1, self.up.U)[0] + 1, (k - 1) % self.up.U + 1
        finally:
            self._moving = False
        self.draw()

    def _moved(self):
        if not self._moving:
            self._follow()
            self.draw()

    def _follow(self):  # keep the Play's position on the sliders' update
        if not self._moving:
            self._moving = True
            try:
                self.uplay.value = self.k + 1
            finally:
                self._moving = False

    def current(self) -> dict:
        out = super().current()
        if self.b is None or self.frames.value == "segments":
            return out | {"frames": self.frames.value}
        k, b = self.k, self.b
        return out | {"frames": "updates", "update": self.update.value, "label": self.up.label(k),
                      "decoded": self.up.preds[k, b], "changed": self.up.changed[k, b],
                      "correct": bool(self.up.correct[k, b])}

    def draw(self):
        if getattr(self, "_moving", False):
            return
        if self.frames.value == "segments" or self.b is None:
            self.update.disabled = self.uplay.disabled = self.frames.value == "segments"
            return super().draw()
        self.update.disabled = self.uplay.disabled = False
        up, b, k = self.up, self.b, self.k
        key = ("update", b, k)
        tr = up.trace
        if key not in self._cache:
            title = (f"puzzle #{tr.index[b]}, {up.label(k)}: {'correct' if up.correct[k, b] else 'wrong'}, "
                     f"{up.changed[k, b].sum()} changed, {up.wrong[k, b]} wrong")
            fig = render.step(tr.task, tr.inputs[b], tr.labels[b], up.preds[k, b], up.changed[k, b], title)
            self._cache[key] = png(fig)
        self.grid.value = self._cache[key]
        self.side.value = png(plots.update_side(up, b, k))
        step, cos = up.step_sizes()[k, b], up.cosines()[k, b]
        self.status.value = (f"{up.label(k)}: decoded token accuracy {up.token_accuracy[k, b]:.3f}; this update moved "
                             f"{tr.level_name(up.kinds[k % up.U])} by {step:.2e} of its norm "
                             f"(cosine with its last change {cos:+.2f})")

    def draw_side(self):
        if self.frames.value == "segments":
            super().draw_side()
