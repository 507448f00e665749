"""Shared test helpers. `../shared` (read-only reference material) sits beside the repo in CI; in a
user's clone it does not, and tests that need it skip with that reason. Small copies of the parity
and dataset-format fixtures are committed under tests/fixtures/ so the core checks always run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"
# metrics.jsonl columns that differ between identical runs by nature: timing, the process's peak memory
STEADY = ("wall_time", "examples_per_s", "seconds", "puzzles_per_s", "peak_mem_gb")


def pytest_collection_modifyitems(config, items):
    """`gpu` tests need a CUDA device; without one they skip, saying so."""
    import torch
    if not torch.cuda.is_available():
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device (none here)"))


def shared(rel: str) -> Path:
    """A path under ../shared, or skip the test with the reason."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"needs ../shared/{rel} (reference material beside the repo in CI; absent here)")
    return p


def run_py(*args, env=None, cwd=ROOT, timeout=600, check=False) -> subprocess.CompletedProcess:
    """Run `python *args` with this interpreter, capturing text output."""
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    r = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=e, text=True,
                       capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
    return r


# ---------------------------------------------------------------------------- data and runs the tests share

@pytest.fixture(scope="session")
def sudoku(tmp_path_factory):
    """A small generated Sudoku dataset (120 puzzles with 40 givens ×3, 32 test puzzles) for the trainer tests."""
    from hrmlib.data import build
    out = tmp_path_factory.mktemp("data") / "sudoku"
    build("sudoku", out, source="generate", gen_count=120, gen_test_count=32, gen_clues=40, num_aug=2, seed=0,
          progress=False)
    return out


# ---------------------------------------------------------------------------- trained runs
# The debug run is what notebooks use by default (`trace.default_run()`: newest runs/demo*, else
# runs/debug-notebook, trained once by the debug preset in about a minute and reused afterwards).

@pytest.fixture(scope="session")
def notebook_run():
    from hrmlib.look import trace
    return trace.default_run(prefer_demo=False)  # the debug run, even where `make demo` has run


@pytest.fixture(scope="session")
def trm_run(tmp_path_factory):
    """A trm_debug run (EMA on), trained once per session on the debug data."""
    from hrmlib.data import ensure_data
    run = tmp_path_factory.mktemp("trm") / "run"
    run_py("-m", "hrmlib.train", "trm_debug", f"data_path={ensure_data('trm_debug')}", f"run_dir={run}",
           "max_steps=60", check=True)
    return run


@pytest.fixture(scope="session")
def maze_run(tmp_path_factory):
    """A tiny HRM (`debug`) trained for 20 steps on 9x9 generated mazes (data/maze-debug): a maze
    model for the Solve widget; it needs to exist, not to be good."""
    from hrmlib.data import ensure_data
    run = tmp_path_factory.mktemp("maze") / "run"
    run_py("-m", "hrmlib.train", "debug", f"data_path={ensure_data('debug', 'data/maze-debug')}", f"run_dir={run}",
           "max_steps=20", "global_batch_size=16", check=True)
    return run


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A run of the `demo` preset (the TRM `make demo` trains), cut to 400 of its 1,500 steps so the
    suite stays short (about a minute and a half): it already solves many 40-givens puzzles only
    after several segments, which is what the replay must show. HRM_DEMO_RUN=runs/demo-… uses a
    full run that `make demo` wrote instead."""
    from hrmlib.data import ensure_data
    if os.environ.get("HRM_DEMO_RUN"):
        from hrmlib.look import trace
        return trace.resolve_run(os.environ["HRM_DEMO_RUN"])
    run = tmp_path_factory.mktemp("demo") / "run"
    run_py("-m", "hrmlib.train", "demo", f"data_path={ensure_data('demo')}", f"run_dir={run}", "max_steps=400",
           check=True, env={"OMP_NUM_THREADS": "2"})
    return run


# ---------------------------------------------------------------------------- the real browser (tests/lab.py)

@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One JupyterLab for every browser test of the session: yields (base URL, its root directory)."""
    import lab as L
    if not os.path.exists(L.CHROMIUM):
        pytest.skip(f"{L.CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium; "
                    ".ci/run does this) to run the real-browser tests")
    pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    tmp = tmp_path_factory.mktemp("lab")
    (tmp / "root").mkdir()
    with L.serve(tmp / "root", tmp / "jupyter") as base:
        yield base, tmp / "root"


@pytest.fixture(scope="session")
def browser(lab):
    """Headless Debian Chromium through Playwright, one for the session."""
    import lab as L
    from playwright.sync_api import sync_playwright
    L.OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=L.CHROMIUM, headless=True, args=L.ARGS)
        try:
            yield b
        finally:
            b.close()
