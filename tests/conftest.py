"""Shared test helpers. `../shared` (read-only reference material) sits beside the repo in CI; in a
user's clone it does not, and tests that need it skip with that reason. Small copies of the parity
and dataset-format fixtures are committed under tests/fixtures/ so the core checks always run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A suite started in the background by a non-interactive shell (`make test &`, `nohup …`) inherits SIGINT
# (and under nohup SIGHUP) as ignored, and an ignored signal stays ignored across exec: the trainers and
# launchers the tests interrupt would never see Ctrl-C or a hang-up (seen: the Ctrl-C and launcher-signal
# tests timed out). A handler, unlike "ignore", is reset to the default by exec, so the children get the
# defaults; the suite itself still ignores a hang-up (nohup's point).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
    signal.signal(signal.SIGHUP, lambda *_: None)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"
# nbstripout's options for our notebooks (as the Makefile's NB_EXTRA)
NB_EXTRA = ["--extra-keys", "metadata.papermill cell.metadata.papermill metadata.language_info"]
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


def run_py(*args, env=None, cwd=ROOT, timeout=600, check=False, **kw) -> subprocess.CompletedProcess:
    """Run `python *args` with this interpreter, capturing text output (`kw`: more subprocess.run options)."""
    e = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    r = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=e, text=True,
                       capture_output=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
    return r


def train(data, *over, preset="debug", **kw) -> subprocess.CompletedProcess:
    """`python -m hrmlib.train PRESET data_path=DATA …` in a real process."""
    return run_py("-m", "hrmlib.train", preset, f"data_path={data}", *over, **kw)


def torchrun(nproc: int, module: str, *args, check=False, timeout=600) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N -m MODULE …`: real processes, gloo on the CPU."""
    return torchrun_script(nproc, "-m", module, *args, check=check, timeout=timeout)


def torchrun_script(nproc: int, *args, check=False, timeout=600) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc-per-node N SCRIPT …` (or `-m MODULE …`)."""
    exe = Path(sys.executable).with_name("torchrun")
    r = subprocess.run([str(exe), "--standalone", f"--nproc-per-node={nproc}", *map(str, args)],
                       cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, text=True, capture_output=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
    return r


def start(*args, env=None) -> subprocess.Popen:
    """`python -m hrmlib.train …` started in the background (to be killed or interrupted)."""
    return subprocess.Popen([sys.executable, "-m", "hrmlib.train", *map(str, args)], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def rows(run, split="train", all_columns=False) -> list[dict]:
    """A run's metrics.jsonl rows of one split, without the columns that vary between identical runs
    (STEADY) unless `all_columns`."""
    out = [json.loads(ln) for ln in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if all_columns or k not in STEADY} for r in out if r["split"] == split]


def one_line_error(r, *needles, code=2):
    """A command that refused: its exit status, one line on stderr (no traceback) holding `needles`."""
    assert r.returncode == code, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def random_batch(B=3, S=9, V=6, N=2) -> dict:
    """A seeded batch of random puzzle-shaped tokens (int32, as the sampler makes them)."""
    import torch
    g = torch.Generator().manual_seed(0)
    return {"inputs": torch.randint(0, V, (B, S), generator=g, dtype=torch.int32),
            "labels": torch.randint(1, V, (B, S), generator=g, dtype=torch.int32),
            "puzzle_identifiers": torch.randint(0, N, (B,), generator=g, dtype=torch.int32)}


def digest(root) -> dict:
    """Every file under `root` with the hash of its bytes: equal digests mean byte-identical trees."""
    import hashlib
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def snapshot(*roots) -> dict:
    """Every file under `roots` (the project without .git, .venv and caches) with its size and time:
    equal snapshots before and after a command mean it created or changed nothing there."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache", "test-output"}
    out = {}
    for root in roots:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in skip]
            for f in [*files, *dirs]:
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                out[p] = (st.st_size, st.st_mtime_ns) if f in files else "dir"
    return out


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
    train(ensure_data("trm_debug"), f"run_dir={run}", "max_steps=60", preset="trm_debug", check=True)
    return run


@pytest.fixture(scope="session")
def maze_run(tmp_path_factory):
    """A tiny HRM (`debug`) trained for 20 steps on 9x9 generated mazes (data/maze-debug): a maze
    model for the Solve widget; it needs to exist, not to be good."""
    from hrmlib.data import ensure_data
    run = tmp_path_factory.mktemp("maze") / "run"
    train(ensure_data("debug", "data/maze-debug"), f"run_dir={run}", "max_steps=20", "global_batch_size=16", check=True)
    return run


def _preset_run(factory, preset: str, steps: int, env_var: str) -> Path:
    """A run of `preset` cut to `steps` steps on its built-in dataset, or the run named by `env_var`."""
    from hrmlib.data import ensure_data
    if os.environ.get(env_var):
        from hrmlib.look import trace
        return trace.resolve_run(os.environ[env_var])
    run = factory.mktemp(preset) / "run"
    train(ensure_data(preset), f"run_dir={run}", f"max_steps={steps}", preset=preset, check=True,
          env={"OMP_NUM_THREADS": "2"})
    return run


@pytest.fixture(scope="session")
def demo_maze_run(tmp_path_factory):
    """A run of the `demo_maze` preset cut to 600 of its 4,000 steps (under a minute): its decoded path
    already grows over the updates, which is what the maze replay must show. HRM_MAZE_RUN=runs/demo_maze-…
    uses a full run instead."""
    return _preset_run(tmp_path_factory, "demo_maze", 600, "HRM_MAZE_RUN")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A run of the `demo` preset (the TRM `make demo` trains), cut to 400 of its 1,500 steps so the
    suite stays short (about a minute and a half): it already solves many 40-givens puzzles only
    after several segments, which is what the replay must show. HRM_DEMO_RUN=runs/demo-… uses a
    full run that `make demo` wrote instead."""
    return _preset_run(tmp_path_factory, "demo", 400, "HRM_DEMO_RUN")


# ---------------------------------------------------------------------------- released checkpoints, offline

@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory):
    """A Hugging Face cache holding original-form HRM and TRM checkpoints (tests/hub_cache.py)."""
    from hub_cache import make
    return make(tmp_path_factory.mktemp("hf"))


@pytest.fixture
def hf_offline(hub_cache, monkeypatch):
    """HF_HOME / HF_HUB_CACHE at the fixture cache and HF_HUB_OFFLINE=1, for this process (huggingface_hub
    reads them at import, so its constants are set too) and the processes it starts."""
    import huggingface_hub.constants as c
    for k, v in {"HF_HOME": hub_cache.home, "HF_HUB_CACHE": hub_cache.cache, "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.setattr(c, "HF_HOME", str(hub_cache.home))
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(hub_cache.cache))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    return hub_cache


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
