"""Notebook 02 in a real browser (JupyterLab in headless Chromium, tests/lab.py, the server shared with
test_browser.py): a debug training started by Run All updates the live panel in place at its
evaluations — at least two different training steps are seen in the panel while it trains — and the
panel ends on the last one. A screenshot goes to test-output/browser/live.png."""
import json
import time

import pytest

import lab as L

pytestmark = pytest.mark.browser

STEPS = """() => [...document.querySelectorAll('.hrm-live')].map(e => +e.dataset.step)"""


def test_live_panel_updates_while_training(lab, browser, sudoku, tmp_path):
    base, root = lab
    run = tmp_path / "run"
    # the suite's small Sudoku set (120 puzzle groups, 32 a batch): 3 steps an epoch, so an evaluation (and a
    # snapshot) every 30 steps, a few seconds apart: the panel has time to show each
    name = L.put(root, "02_train.ipynb", f'preset = "debug"\ndata_path = {str(sudoku)!r}\nrun_dir = {str(run)!r}\n'
                                         'overrides = ["epochs=20", "eval_interval=10"]')
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        L.open_notebook(page, base, name)
        seen, t0 = [], time.time()
        while time.time() - t0 < 600:
            seen += [s for s in page.evaluate(STEPS) if s > 0 and s not in seen]
            if page.evaluate(L.ALL_RAN):
                break
            page.wait_for_timeout(200)
        assert page.evaluate(L.ERRORS) == []
        evals = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
                 if r["split"] == "test"]
        assert len(evals) == 2 and sorted(p.name for p in (run / "live").iterdir()) == sorted(
            f"step_{s}.npz" for s in evals)
        assert len(seen) >= 2 and set(seen) <= set(evals), (seen, evals)  # updated in place while training
        assert page.evaluate(STEPS) == [evals[-1]]  # one panel, on the last evaluation
        page.locator(".hrm-live").scroll_into_view_if_needed()
        page.locator(".hrm-live").screenshot(path=str(L.OUT / "live.png"))
        L.shut_down(page)
    finally:
        page.close()
