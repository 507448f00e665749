"""A grid to type into or draw on, in JupyterLab: `GridEditor` (an anywidget, so no front-end build).

    ed = GridEditor(rows=9, cols=9, mode="type", box=3)                 # a Sudoku: type digits, arrows move
    ed = GridEditor(rows=n, cols=n, mode="paint", palette=[[1, "wall", "#222"], [2, "open", "#fff"]])
    ed.grid                                                              # [rows, cols] int array, both ways

`values` (flat, row-major) is synced both ways: typing or drawing sets it in the kernel, and setting
it from Python redraws the cells. In "paint" mode a click paints one cell with the chosen brush and a
drag paints every cell the pointer passes over.
"""
from __future__ import annotations

import anywidget
import numpy as np
import traitlets

_ESM = r"""
function render({ model, el }) {
  el.classList.add("hrm-grid-editor");
  const bar = document.createElement("div"), grid = document.createElement("div");
  bar.className = "hrm-ge-bar"; grid.className = "hrm-ge-grid";
  el.append(bar, grid);
  let down = false;
  const typing = () => model.get("mode") === "type";
  const colour = v => (model.get("palette").find(p => p[0] === v) || [v, "", "#ffffff"])[2];
  const put = (i, v) => {
    const a = model.get("values").slice();
    if (a[i] === v) return;
    a[i] = v; model.set("values", a); model.save_changes();
  };
  function buildBar() {
    bar.innerHTML = "";
    if (typing()) return;
    for (const [v, label, col] of model.get("palette")) {
      const b = document.createElement("button");
      b.className = "hrm-ge-brush" + (model.get("brush") === v ? " hrm-ge-picked" : "");
      b.dataset.value = v; b.textContent = label; b.style.borderLeft = `14px solid ${col}`;
      b.addEventListener("click", () => { model.set("brush", v); model.save_changes(); });
      bar.appendChild(b);
    }
  }
  function build() {
    const rows = model.get("rows"), cols = model.get("cols"), px = model.get("cell_px"), box = model.get("box");
    grid.innerHTML = "";
    grid.style.gridTemplateColumns = `repeat(${cols}, ${px}px)`;
    for (let i = 0; i < rows * cols; i++) {
      const r = Math.floor(i / cols), c = i % cols;
      const cell = document.createElement(typing() ? "input" : "div");
      cell.className = "hrm-ge-cell"; cell.dataset.i = i;
      cell.style.width = cell.style.height = px + "px";
      if (box) {
        if (c % box === box - 1 && c < cols - 1) cell.style.borderRight = "2px solid #000";
        if (r % box === box - 1 && r < rows - 1) cell.style.borderBottom = "2px solid #000";
      }
      if (typing()) {
        cell.maxLength = 1;
        cell.addEventListener("input", () => {
          const d = parseInt(cell.value.slice(-1), 10), v = d >= 1 && d <= 9 ? d : 0;
          cell.value = v ? String(v) : "";
          put(i, v);
          if (v && i + 1 < rows * cols) grid.children[i + 1].focus();
        });
        cell.addEventListener("keydown", e => {
          const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols }[e.key];
          if (step && grid.children[i + step]) { grid.children[i + step].focus(); e.preventDefault(); }
        });
      } else {
        cell.addEventListener("mousedown", e => { down = true; put(i, model.get("brush")); e.preventDefault(); });
        cell.addEventListener("mouseenter", () => { if (down) put(i, model.get("brush")); });
      }
      grid.appendChild(cell);
    }
    refresh(); buildBar();
  }
  function refresh() {
    const vals = model.get("values");
    for (const cell of grid.children) {
      const v = vals[+cell.dataset.i] || 0;
      if (typing()) { if (document.activeElement !== cell) cell.value = v ? String(v) : ""; }
      else cell.style.background = colour(v);
    }
  }
  const up = () => { down = false; };
  window.addEventListener("mouseup", up);
  build();
  model.on("change:values", refresh);
  model.on("change:brush", buildBar);
  model.on("change:rows change:cols change:mode change:palette change:box change:cell_px", build);
  return () => window.removeEventListener("mouseup", up);
}
export default { render };
"""

_CSS = """
.hrm-grid-editor .hrm-ge-grid { display: grid; gap: 0; border: 2px solid #000; width: max-content; user-select: none; }
.hrm-grid-editor .hrm-ge-cell { box-sizing: border-box; border: 1px solid #bbb; margin: 0; padding: 0;
  text-align: center; font: bold 15px sans-serif; color: #000; background: #fff; cursor: pointer; }
.hrm-grid-editor .hrm-ge-bar { margin-bottom: 4px; }
.hrm-grid-editor .hrm-ge-brush { margin-right: 4px; padding: 2px 8px; cursor: pointer; }
.hrm-grid-editor .hrm-ge-picked { font-weight: bold; outline: 2px solid #1976d2; }
"""


class GridEditor(anywidget.AnyWidget):
    """An editable grid of integers: `mode="type"` takes digits 1-9 (0 = empty) from the keyboard,
    `mode="paint"` paints `brush` (one of `palette`'s [value, label, colour]) by click or drag."""
    _esm = _ESM
    _css = _CSS
    rows = traitlets.Int(9).tag(sync=True)
    cols = traitlets.Int(9).tag(sync=True)
    values = traitlets.List(traitlets.Int()).tag(sync=True)  # rows·cols values, row-major
    mode = traitlets.Unicode("type").tag(sync=True)  # "type" | "paint"
    palette = traitlets.List().tag(sync=True)  # [[value, label, css colour], …] for "paint"
    brush = traitlets.Int(0).tag(sync=True)  # the value a click paints
    box = traitlets.Int(0).tag(sync=True)  # thick lines every `box` cells (3 for Sudoku; 0: none)
    cell_px = traitlets.Int(28).tag(sync=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        if len(self.values) != self.rows * self.cols:
            self.values = [0] * (self.rows * self.cols)

    @property
    def grid(self) -> np.ndarray:
        return np.array(self.values, np.int64).reshape(self.rows, self.cols)

    @grid.setter
    def grid(self, a):
        a = np.asarray(a, np.int64)
        with self.hold_sync():
            self.rows, self.cols = a.shape
            self.values = a.reshape(-1).tolist()
