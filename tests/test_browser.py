"""Notebook 05's widgets in a real browser (JupyterLab in headless Chromium, tests/lab.py) on a run of
the `demo` preset, all in one kernel: the replay opens on the showcase puzzle and plays; Solve takes a
typed 40-givens Sudoku, plays frames that change and marks the final grid valid, and answers a
contradictory pasted one with a message; a maze drawn by drag and click on a small maze model is
solved and checked; the intervention (answer state reset as segment 2 starts) shows two replays that
differ. Screenshots go to test-output/browser/ at the repo root.

    make test-browser   # or: .venv/bin/python -m pytest -m browser tests/test_browser.py tests/test_browser_live.py
"""
import re

import numpy as np
import pytest

import lab as L
from hrmlib.look import trace

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(lab, browser, demo_run, maze_run):
    """05_replay.ipynb on the demo run, all cells run, plus a Solve widget on the maze run at the end."""
    base, root = lab
    name = L.put(root, "05_replay.ipynb", f"run = {str(demo_run)!r}",
                 at_end=[f"maze = widgets.Solve(trace.load({str(maze_run)!r}))\nmaze"])
    pg = browser.new_page(viewport={"width": 1400, "height": 1100})
    L.open_notebook(pg, base, name)
    pg.locator(".hrm-replay-grid").first.wait_for(state="visible", timeout=120_000)
    pg.wait_for_function(L.ALL_RAN, timeout=180_000)
    assert pg.evaluate(L.ERRORS) == []
    yield pg
    L.shut_down(pg)
    pg.close()


@pytest.fixture(scope="module")
def demo_trace(demo_run):
    return trace.trace_examples(trace.load(demo_run), limit=32, keep="none")  # the notebook's default puzzles


def idle(page):
    page.wait_for_function(L.KERNEL_IDLE, timeout=60_000)
    page.wait_for_timeout(300)


def test_replay_plays_in_jupyterlab(page, demo_trace):
    tr = demo_trace
    b = tr.showcase()
    assert tr.correct[-1, b] and not tr.correct[0, b]  # the demo run has a puzzle solved over several segments
    grid = page.locator(".hrm-replay-grid").first
    readout = page.locator(".hrm-replay .widget-slider .widget-readout").first
    grid.scroll_into_view_if_needed()
    assert readout.inner_text().strip() == "1"
    picked = page.locator(".hrm-replay select").first
    assert picked.evaluate("s => s.options[s.selectedIndex].text").split()[0] == f"#{tr.index[b]}"
    shot0 = grid.screenshot()
    page.locator(".hrm-replay .widget-play button:has(i.fa-play)").first.click()
    page.wait_for_function("""(n) => { const r = document.querySelector('.hrm-replay .widget-readout');
                              return r && r.textContent.trim() === n; }""", arg=str(tr.steps), timeout=60_000)
    idle(page)  # the last frame's picture has been drawn
    shot1 = grid.screenshot()
    assert shot1 != shot0, "the rendered grid did not change between the first and the last frame"
    assert page.evaluate(L.ERRORS) == []
    L.keep(page, "replay.png", {"grid-step1.png": shot0, "grid-last.png": shot1})


def test_solve_a_typed_sudoku_and_refuse_a_contradictory_one(page, demo_trace):
    tr = demo_trace
    ok = (tr.difficulty == 41) & tr.correct[-1]  # 40 givens, solved at the last segment…
    b = int(np.flatnonzero(ok & ~tr.correct[0])[0] if (ok & ~tr.correct[0]).any() else np.flatnonzero(ok)[0])
    givens = tr.inputs[b] - 1  # tokens → digits, 0 = blank
    w = page.locator(".hrm-solve").first
    w.scroll_into_view_if_needed()
    cells = w.locator(".hrm-grid-editor").first.locator("input.hrm-ge-cell")
    assert cells.count() == 81
    for k in np.flatnonzero(givens):  # typed one by one, as a user would
        cells.nth(int(k)).fill(str(givens[k]))
    w.get_by_role("button", name="Solve").click()
    check = w.locator(".hrm-solve-check")
    check.locator("text=segment 1/").wait_for(timeout=60_000)
    assert "Sudoku with 40 givens: a unique solution" in check.inner_text()
    grid = w.locator(".hrm-replay-grid")
    idle(page)
    shot0 = grid.screenshot()
    w.locator(".widget-play button:has(i.fa-play)").click()
    check.locator(f"text=segment {tr.steps}/{tr.steps}").wait_for(timeout=60_000)
    idle(page)
    assert grid.screenshot() != shot0, "the solved puzzle's frames did not change"
    assert "✓ valid grid, consistent with the givens, the unique solution" in check.inner_text()
    w.screenshot(path=str(L.OUT / "solve.png"))
    bad = "".join(str(d) for d in givens)
    bad = bad[0] + bad[0] + bad[2:] if bad[0] != "0" else "11" + bad[2:]  # the first two cells of row 1 alike
    paste = w.locator("textarea").first
    paste.fill(bad)
    paste.press("Tab")  # the text box sends its value when it loses focus
    msg = w.locator(".hrm-solve-message")
    msg.locator("text=contradictory givens").wait_for(timeout=30_000)
    w.get_by_role("button", name="Solve").click()
    idle(page)
    assert re.search(r"contradictory givens: \d is given twice in row 1 \(r1c1 and r1c2\)", msg.inner_text())
    assert w.locator(".hrm-replay-grid").count() == 0  # no replay of a refused puzzle
    assert page.evaluate(L.ERRORS) == []
    w.screenshot(path=str(L.OUT / "solve-contradiction.png"))


def test_solve_a_maze_drawn_by_drag_and_click(page):
    w = page.locator(".hrm-solve").nth(1)  # the maze model's
    w.scroll_into_view_if_needed()
    ed = w.locator(".hrm-grid-editor", has=page.locator(".hrm-ge-brush"))
    cells = ed.locator(".hrm-ge-cell")
    assert cells.count() == 81

    def centre(k):
        box = cells.nth(k).bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(*centre(1 * 9 + 4))  # a wall dragged down column 5, rows 2 to 6
    page.mouse.down()
    page.mouse.move(*centre(5 * 9 + 4), steps=12)
    page.mouse.up()
    ed.locator(".hrm-ge-brush", has_text="start").click()
    cells.nth(1 * 9 + 1).click()
    ed.locator(".hrm-ge-brush", has_text="goal").click()
    cells.nth(7 * 9 + 7).click()
    w.get_by_role("button", name="Solve").click()
    check = w.locator(".hrm-solve-check")
    check.locator("text=segment 1/").wait_for(timeout=60_000)
    idle(page)
    text = check.inner_text()
    assert "maze 9x9, 37 walls, S at r2c2, G at r8c8: shortest path 12 steps" in text
    assert "path from S to G" in text and w.locator(".hrm-solve-message").inner_text().strip() == ""
    w.screenshot(path=str(L.OUT / "solve-maze.png"))


def test_intervention_shows_two_replays_that_differ(page):
    w = page.locator(".hrm-intervene").first
    w.scroll_into_view_if_needed()
    status = w.locator(".hrm-iv-status").inner_text()
    assert "reset y (z_H) as segment 2 starts" in status
    differ = [int(n) for n in re.search(r"differ after each segment: ([\d, ]+)", status).group(1).split(",")]
    assert differ[0] == 0 and max(differ[1:]) > 0, status
    left, right = w.locator(".hrm-iv-original"), w.locator(".hrm-iv-intervened")
    assert left.is_visible() and right.is_visible() and left.screenshot() != right.screenshot()
    w.screenshot(path=str(L.OUT / "intervene.png"))
