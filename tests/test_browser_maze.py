"""The update replay of notebook 05 in a real browser on a maze run (tests/lab.py: JupyterLab in
headless Chromium, the server shared with test_browser.py): a `demo_maze` TRM cut to 600 steps, whose
decoded path already grows over the updates. Run All at the notebook's defaults (replay every
recurrent update, opening on the showcase puzzle); "Play updates" must reach the last update of the
last segment, the drawn maze must differ between the first and the last frame, no cell may raise.
Screenshots go to test-output/browser/maze-*.png.

    .venv/bin/python -m pytest -m browser tests/test_browser_maze.py   # HRM_MAZE_RUN=runs/demo_maze-… uses a full run
"""
import numpy as np
import pytest

import lab as L
from hrmlib.data.builders.maze import OPEN, PATH
from hrmlib.look import trace, updates

pytestmark = pytest.mark.browser


def test_maze_replay_plays_every_update_in_jupyterlab(lab, browser, demo_maze_run):
    base, root = lab
    up = updates.trace_updates(trace.load(demo_maze_run), limit=32)  # the notebook's default puzzles
    b = up.trace.showcase()
    path = lambda k: int(((up.preds[k, b] == PATH) & (up.trace.inputs[b] == OPEN)).sum())  # noqa: E731
    assert up.trace.task == "maze" and path(up.K - 1) > path(0)  # the decoded path grows over the updates
    name = L.put(root, "05_replay.ipynb", f"run = {str(demo_maze_run)!r}")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    try:
        L.open_notebook(page, base, name)
        grid = page.locator(".hrm-update-replay .hrm-replay-grid").first
        grid.wait_for(state="visible", timeout=180_000)
        page.wait_for_function(L.ALL_RAN, timeout=180_000)
        assert page.evaluate(L.ERRORS) == []
        picked = page.locator(".hrm-update-replay select").first
        assert picked.evaluate("s => s.options[s.selectedIndex].text").split()[0] == f"#{up.trace.index[b]}"
        readouts = page.locator(".hrm-update-replay .widget-slider .widget-readout")
        segment, update = readouts.nth(0), readouts.nth(1)
        grid.scroll_into_view_if_needed()
        play = page.locator(".hrm-update-replay .widget-play").nth(1)  # the first is the segments' Play
        play.locator("button:has(i.fa-stop)").click()  # stop: back to the first update
        page.wait_for_function(L.KERNEL_IDLE, timeout=30_000)
        page.wait_for_timeout(500)
        assert (segment.inner_text().strip(), update.inner_text().strip()) == ("1", "1")
        shot0 = grid.screenshot()
        play.locator("button:has(i.fa-play)").click()
        page.wait_for_function("""([n, u]) => {
            const r = document.querySelectorAll('.hrm-update-replay .widget-slider .widget-readout');
            return r.length > 1 && r[0].textContent.trim() === n && r[1].textContent.trim() === u; }""",
                               arg=[str(up.steps), str(up.U)], timeout=120_000)
        page.wait_for_function(L.KERNEL_IDLE, timeout=30_000)
        page.wait_for_timeout(500)
        shot1 = grid.screenshot()
        assert shot1 != shot0, "the drawn maze did not change between the first and the last update"
        assert page.evaluate(L.ERRORS) == []
        L.keep(page, "maze-replay.png", {"maze-update1.png": shot0, "maze-last.png": shot1})
        L.shut_down(page)
    finally:
        page.close()
    assert np.isfinite(up.step_sizes()).all()
