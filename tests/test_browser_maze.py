"""The replay in a real browser on a maze run: tests/test_browser.py's JupyterLab + Chromium fixture
(imported, with `demo_run` overridden here by a run of the `demo_maze` preset) serving
notebooks/05_replay.ipynb at its defaults, which replay every recurrent update. Run all cells; press
"Play updates": the segment and update sliders must reach the last update, the grid must differ
between the first and the last frame and the decoded path must have grown, with no cell raising.
Screenshots go to test-output/browser/maze-*.png.

    .venv/bin/python -m pytest -m browser tests/test_browser_maze.py     # HRM_MAZE_RUN=runs/demo_maze-… uses a full run
"""
import os

import numpy as np
import pytest

from conftest import run_py
from hrmlib.data.builders.maze import OPEN, PATH
from hrmlib.look import trace, updates
from test_browser import ALL_RAN, ARGS, CHROMIUM, ERRORS, KERNEL_IDLE, OUT, TOKEN, lab  # noqa: F401 (lab: the fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A `demo_maze` run cut to 300 steps (its path already grows over segments), or HRM_MAZE_RUN."""
    from hrmlib.data import ensure_data
    if os.environ.get("HRM_MAZE_RUN"):
        return trace.resolve_run(os.environ["HRM_MAZE_RUN"])
    run = tmp_path_factory.mktemp("maze") / "run"
    run_py("-m", "hrmlib.train", "demo_maze", f"data_path={ensure_data('demo_maze')}", f"run_dir={run}",
           "max_steps=300", check=True, env={"OMP_NUM_THREADS": "2"})
    return run


def test_maze_replay_plays_every_update_in_jupyterlab(lab, demo_run):  # noqa: F811
    from playwright.sync_api import sync_playwright
    OUT.mkdir(parents=True, exist_ok=True)
    up = updates.trace_updates(trace.load(demo_run), limit=32)  # the notebook's default puzzles
    b = up.trace.showcase()
    path = lambda k: int(((up.preds[k, b] == PATH) & (up.trace.inputs[b] == OPEN)).sum())  # noqa: E731
    assert up.trace.task == "maze" and path(up.K - 1) > path(0)  # the decoded path grows over the updates
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{lab}/lab/tree/05_replay.ipynb?token={TOKEN}")
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            grid = page.locator(".hrm-update-replay .hrm-replay-grid").first
            grid.wait_for(state="visible", timeout=120_000)
            page.wait_for_function(ALL_RAN, timeout=120_000)
            assert page.evaluate(ERRORS) == []
            picked = page.locator(".hrm-replay select").first
            assert picked.evaluate("s => s.options[s.selectedIndex].text").split()[0] == f"#{up.trace.index[b]}"
            readouts = page.locator(".hrm-update-replay .widget-slider .widget-readout")
            segment, update = readouts.nth(0), readouts.nth(1)
            grid.scroll_into_view_if_needed()
            play = page.locator(".hrm-update-replay .widget-play").nth(1)
            play.locator("button:has(i.fa-stop)").click()  # to update 1
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)
            page.wait_for_timeout(500)
            assert (segment.inner_text().strip(), update.inner_text().strip()) == ("1", "1")
            shot0 = grid.screenshot()
            play.locator("button:has(i.fa-play)").click()
            page.wait_for_function("""([n, u]) => {
                const r = document.querySelectorAll('.hrm-update-replay .widget-slider .widget-readout');
                return r.length > 1 && r[0].textContent.trim() === n && r[1].textContent.trim() === u; }""",
                                   arg=[str(up.steps), str(up.U)], timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)
            page.wait_for_timeout(500)
            shot1 = grid.screenshot()
            assert shot1 != shot0, "the rendered maze did not change between the first and the last update"
            assert page.evaluate(ERRORS) == []
            page.screenshot(path=str(OUT / "maze-replay.png"), full_page=True)
            (OUT / "maze-update1.png").write_bytes(shot0)
            (OUT / "maze-last.png").write_bytes(shot1)
            page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
            page.wait_for_timeout(500)
        finally:
            browser.close()
    assert (OUT / "maze-replay.png").stat().st_size > 10_000
    assert np.isfinite(up.step_sizes()).all()
