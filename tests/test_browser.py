"""The replay widget in a real browser: JupyterLab (127.0.0.1, token, isolated Jupyter dirs in a temp
directory) serving notebooks/05_replay.ipynb on a run of the `demo` preset, driven by headless
Debian Chromium through Python Playwright (no browser download). Run all cells: the replay must open
on the puzzle `Trace.showcase` picks (wrong after the first segment, right after the last); press
Play, and the rendered grid must differ between the first and the last frame, with no cell raising.
Screenshots go to test-output/browser/ at the repo root.

    make test-browser        # or: .venv/bin/python -m pytest -m browser tests/test_browser.py
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from conftest import ROOT
from hrmlib.look import trace

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
OUT = ROOT / "test-output" / "browser"
TOKEN = "hrm-browser-test-token"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


@pytest.fixture
def lab(tmp_path, demo_run):
    """JupyterLab on 127.0.0.1 in tmp_path (the notebook copied there, set to the demo run); yields its base URL."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; "
                    ".ci/run does this) to run the real-browser test")
    pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "05_replay.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(f"run = {str(demo_run)!r}"))
    nbformat.write(nb, root / "05_replay.ipynb")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("IPYTHONDIR", "ipython"), ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        env[var] = str(home / sub)
        (home / sub).mkdir(parents=True)
    note = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if _get(f"{base}/api/status") == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
        yield base
    finally:
        try:
            _get(f"{base}/api/shutdown", "POST")
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        log.close()


ALL_RAN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return cells.every(c => c.model.executionCount !== null);
}"""
ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))"""
KERNEL_IDLE = """() => { const w = window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle'); }"""


def test_replay_plays_in_jupyterlab(lab, demo_run):
    from playwright.sync_api import sync_playwright
    OUT.mkdir(parents=True, exist_ok=True)
    tr = trace.trace_examples(trace.load(demo_run), limit=32, keep="none")  # the notebook's default puzzles
    b = tr.showcase()
    assert tr.correct[-1, b] and not tr.correct[0, b]  # the demo run has a puzzle solved over several segments
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{lab}/lab/tree/05_replay.ipynb?token={TOKEN}")
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            grid = page.locator(".hrm-replay-grid").first
            grid.wait_for(state="visible", timeout=120_000)
            page.wait_for_function(ALL_RAN, timeout=120_000)
            assert page.evaluate(ERRORS) == []
            readout = page.locator(".hrm-replay .widget-slider .widget-readout").first
            grid.scroll_into_view_if_needed()
            assert readout.inner_text().strip() == "1"
            picked = page.locator(".hrm-replay select").first
            assert picked.evaluate("s => s.options[s.selectedIndex].text").split()[0] == f"#{tr.index[b]}"
            shot0 = grid.screenshot()
            page.locator(".hrm-replay .widget-play button:has(i.fa-play)").first.click()
            page.wait_for_function("""(n) => { const r = document.querySelector('.hrm-replay .widget-readout');
                                      return r && r.textContent.trim() === n; }""", arg=str(tr.steps), timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)  # the last frame's picture has been drawn
            page.wait_for_timeout(500)
            shot1 = grid.screenshot()
            assert shot1 != shot0, "the rendered grid did not change between the first and the last frame"
            page.wait_for_function(KERNEL_IDLE, timeout=30_000)
            assert page.evaluate(ERRORS) == []
            page.screenshot(path=str(OUT / "replay.png"), full_page=True)
            (OUT / "grid-step1.png").write_bytes(shot0)
            (OUT / "grid-last.png").write_bytes(shot1)
            page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
            page.wait_for_timeout(500)
        finally:
            browser.close()
    assert (OUT / "replay.png").stat().st_size > 10_000
