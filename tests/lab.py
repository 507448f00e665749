"""A real JupyterLab for the browser tests (one server per test session, conftest's `lab` fixture):
127.0.0.1, a token, isolated Jupyter directories in a temp directory, driven by headless Debian
Chromium through Python Playwright (no browser download). Notebooks are copied into its root with
`put`, opened and run with `run_all`; screenshots go to test-output/browser/ at the repo root."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
OUT = ROOT / "test-output" / "browser"
TOKEN = "hrm-browser-test-token"

# window.jupyterapp exists only once JupyterLab has started in the page: until then these say "not yet"
ALL_RAN = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return cells.every(c => c.model.executionCount !== null);
}"""
ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => c.model.type === 'code')
  .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue))"""
STARTED = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!(w && ((k && k.status === 'busy') ||
            w.content.widgets.some(c => c.model.type === 'code' && c.model.executionCount !== null))); }"""
KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle'); }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET"):
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


@contextmanager
def serve(root: Path, home: Path):
    """JupyterLab serving `root`, its settings and runtime files under `home`; yields the base URL."""
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
    log = open(home / "lab.log", "w")
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
            raise AssertionError("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:])
        yield base
    finally:
        try:
            _get(f"{base}/api/shutdown", "POST")
            proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a kernel still busy: the server's group goes down at once
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def put(root: Path, notebook: str, after_parameters: str = "", at_end: list[str] = ()) -> str:
    """Copy notebooks/<notebook> into the lab's root, with a cell of parameter values inserted after its
    parameters cell and cells appended; returns its name there."""
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    if after_parameters:
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(after_parameters))
    nb.cells += [nbformat.v4.new_code_cell(src) for src in at_end]
    nbformat.write(nb, root / notebook)
    return notebook


def open_notebook(page, base: str, name: str, run_all: bool = True):
    """Open a notebook of the lab's root in `page`, wait for its kernel, and start Run All."""
    # ?reset: a fresh workspace, or the lab would restore the notebooks earlier tests opened and the
    # current widget (what ALL_RAN and ERRORS read) could be one of theirs, already run
    page.goto(f"{base}/lab/tree/{name}?reset&token={TOKEN}")
    page.wait_for_function(f"""() => {{ const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
      return !!(w && w.context && w.context.path === {name!r}); }}""", timeout=90_000)
    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
    if not run_all:
        return
    for _ in range(3):  # not awaited: the command's promise resolves only when every cell has run
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:  # a Run All sent while the lab still settles (the shared server is busy) can be lost: resend
            page.wait_for_function(STARTED, timeout=30_000)
            return
        except Exception:
            continue
    raise AssertionError(f"Run All did not start in {name}")


def keep(page, full: str, grids: dict[str, bytes]):
    """Save a full-page screenshot as OUT/<full> and grid screenshots already taken as OUT/<name>."""
    page.screenshot(path=str(OUT / full), full_page=True)
    for name, png in grids.items():
        (OUT / name).write_bytes(png)


def shut_down(page):
    page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
    page.wait_for_timeout(500)
