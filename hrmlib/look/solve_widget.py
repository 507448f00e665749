"""`widgets.Solve(m)`: put your own puzzle in and watch the model solve it, segment by segment.

    m = trace.load("runs/<id>")
    widgets.Solve(m)      # Sudoku: type into the grid or paste 81 characters; Maze: draw walls, S and G
                          # (click or drag); ARC: a task's JSON or a path to it. Then Solve.

The model runs every ACT segment as in evaluation (`trace.trace`); the replay shows each frame, Q's
halting confidence and where Q would stop, and every frame is checked (`hrmlib.look.solve`): Sudoku —
a valid grid consistent with the givens, and the unique solution when there is one (the built-in
solver says); Maze — a connected path from S to G through open cells; ARC — the expected output when
the task gives it. Bad input, and a puzzle of another task than the model's, is a message in the
widget, never a traceback.
"""
from __future__ import annotations

import html
import json

import ipywidgets as W
import numpy as np

from ..data.builders import arc as A
from ..data.builders import maze as M
from . import solve
from . import trace as T
from .grid_editor import GridEditor
from .replay import Replay

TASKS = ("sudoku", "maze", "arc")
MAZE_BRUSHES = [[M.WALL, "wall", "#222222"], [M.OPEN, "open", "#ffffff"], [M.START, "start S", "#2ca02c"],
                [M.GOAL, "goal G", "#d62728"]]


def empty_maze(n: int) -> np.ndarray:
    """Open cells inside a wall border: what the maze tab starts from."""
    g = np.full((n, n), M.WALL, np.int64)
    g[1:-1, 1:-1] = M.OPEN
    return g


class Solve(W.VBox):
    """Tabs for a Sudoku, a maze and an ARC task (opening on the model's task), Solve / Example /
    Clear, a message line, the check of the frame shown, and the replay of the model's segments."""

    def __init__(self, m, seed: int = 0):
        self.m = m if isinstance(m, T.Loaded) else T.load(T.resolve_run(str(m)))
        S, task = self.m.model.S, self.m.task
        n = int(round(np.sqrt(S))) if task == "maze" else 9
        self.sudoku_grid = GridEditor(rows=9, cols=9, mode="type", box=3)
        self.paste = W.Textarea(placeholder="or paste 81 characters, row by row: digits 1-9, 0 or . for a blank",
                                continuous_update=False, layout=W.Layout(width="420px", height="64px"))
        self.maze_grid = GridEditor(rows=n, cols=n, mode="paint", palette=MAZE_BRUSHES, brush=M.WALL,
                                    cell_px=max(12, min(28, 480 // n)))
        self.maze_grid.grid = empty_maze(n)
        self.arc_text = W.Textarea(placeholder='an ARC task: {"train": [{"input": [[…]], "output": [[…]]}, …], '
                                               '"test": [{"input": [[…]]}]}, or a path to its .json file',
                                   layout=W.Layout(width="640px", height="120px"))
        self.arc_pair = W.BoundedIntText(value=0, min=0, max=99, description="test pair")
        self.tabs = W.Tab([W.HBox([self.sudoku_grid, self.paste]),
                           W.VBox([W.HTML("pick a brush, then click or drag over the cells"), self.maze_grid]),
                           W.VBox([self.arc_text, self.arc_pair])])
        for k, name in enumerate(("Sudoku", "Maze", "ARC")):
            self.tabs.set_title(k, name)
        self.tabs.selected_index = TASKS.index(task) if task in TASKS else 0
        self.go = W.Button(description="Solve", button_style="primary", icon="play")
        self.example = W.Button(description="Example", tooltip="a puzzle of the model's own test split")
        self.clear = W.Button(description="Clear")
        self.message, self.check_line, self.result = W.HTML(), W.HTML(), W.VBox()
        self.message.add_class("hrm-solve-message")
        self.check_line.add_class("hrm-solve-check")
        self.puzzle, self.tr, self.replay = None, None, None
        self._rng = np.random.default_rng(seed)
        head = W.HTML(f"<b>Solve your own puzzle</b> with {html.escape(self.m.name)} — a {task} model, "
                      f"{self.m.model.cfg.halt_max_steps} ACT segments")
        super().__init__([head, self.tabs, W.HBox([self.go, self.example, self.clear]), self.message,
                          self.check_line, self.result])
        self.add_class("hrm-solve")
        self.go.on_click(lambda _: self.solve())
        self.example.on_click(lambda _: self._guard(self.load_example))
        self.clear.on_click(lambda _: self.reset())
        self.paste.observe(lambda _: self._guard(self.from_text), "value")

    # ------------------------------------------------------------------ input
    @property
    def task(self) -> str:
        return TASKS[self.tabs.selected_index or 0]

    def say(self, text: str = ""):
        self.message.value = f"<span style='color:#c62828'><b>{html.escape(text)}</b></span>" if text else ""

    def _guard(self, fn):
        """Run a callback; bad input, or anything unexpected, becomes the message line."""
        try:
            self.say()
            return fn()
        except solve.SolveError as e:
            self.say(str(e))
        except Exception as e:  # noqa: BLE001 — a widget shows the problem instead of a log-only traceback
            self.say(f"could not do that: {type(e).__name__}: {e}")

    def from_text(self):
        """The pasted Sudoku into the grid (a contradiction is said at once, and again on Solve)."""
        if self.paste.value.strip():
            board = solve.parse_sudoku(self.paste.value)
            self.sudoku_grid.values = board.astype(int).tolist()
            why = solve.clash(board)
            if why:
                raise solve.SolveError(f"contradictory givens: {why}; change or clear one of them")

    def read(self) -> solve.Puzzle:
        """The current tab's puzzle; SolveError when it is not one this model can take."""
        solve.fits(self.task, self.m.task, self.m.model.S)
        if self.task == "sudoku":
            p = solve.sudoku(self.sudoku_grid.grid.reshape(-1))
        elif self.task == "maze":
            p = solve.maze(self.maze_grid.grid)
        else:
            p = solve.arc(self.arc_text.value, self.arc_pair.value)
        solve.fits(p.task, self.m.task, self.m.model.S, p.inputs.size)
        return p

    def load_example(self):
        solve.fits(self.task, self.m.task, self.m.model.S)
        if self.m.data_path is None:
            raise solve.SolveError("this model came without its dataset, so there is no example to load: "
                                   "pass data_path")
        from ..data import load_split
        data = load_split(self.m.data_path, "test")
        k = int(self._rng.integers(data.num_examples))
        x, y = data.inputs[k].astype(np.int64), data.labels[k].astype(np.int64)
        if self.task == "sudoku":
            self.sudoku_grid.values = np.maximum(x - 1, 0).tolist()
        elif self.task == "maze":
            self.maze_grid.grid = np.where(x == M.PATH, M.OPEN, x).reshape(self.maze_grid.rows, -1)
        else:
            self.arc_text.value = json.dumps({"train": [], "test": [{"input": A.decode(x).tolist(),
                                                                   "output": A.decode(y).tolist()}]})
        self.say()

    def reset(self):
        self.sudoku_grid.values = [0] * 81
        self.paste.value = ""
        self.maze_grid.grid = empty_maze(self.maze_grid.rows)
        self.arc_text.value = ""
        self.say()

    # ------------------------------------------------------------------ solving
    def solve(self):
        """Run the model on the current puzzle; returns its Trace (None when the input was refused)."""
        return self._guard(self._solve)

    def _solve(self):
        self.check_line.value, self.result.children = "", ()
        p = self.read()
        tr = T.trace(self.m.model, p.batch(), keep="none", task=p.task)
        self.puzzle, self.tr = p, tr
        self.replay = Replay(tr, picker=False)
        self.replay.step_slider.observe(lambda _: self.show_check(), "value")
        self.result.children = (self.replay,)
        self.show_check()
        return tr

    def verdict(self, t: int):
        """(right or not, the check's line) for segment t (0-based)."""
        return solve.check(self.puzzle, self.tr.preds[t, 0])

    def show_check(self):
        tr, t = self.tr, self.replay.t
        ok, text = self.verdict(t)
        mark, colour = {True: ("✓", "#2e7d32"), False: ("✗", "#c62828")}.get(ok, ("·", "#555"))
        stop = int(tr.halt_step[0])
        self.check_line.value = (
            f"<div>{html.escape(self.puzzle.about)}</div><div class='hrm-verdict-{'ok' if ok else 'bad'}' "
            f"style='color:{colour}'><b>segment {t + 1}/{tr.steps}: {mark} {html.escape(text)}</b></div>"
            f"<div>halting confidence {tr.halt_confidence[t, 0]:.2f} ({tr.halt_rule} above 0.5); Q would stop "
            f"after segment {stop}{' — this one' if stop == t + 1 else ''}</div>")
