"""Nothing left running (issue 13, item 3): `launch/notebook` → papermill → kernel → torchrun → 2
workers. Whatever ends the launcher — SIGTERM (a scheduler), SIGINT, SIGHUP (an ssh hang-up),
SIGKILL — or the kernel dying, at start-up, rendezvous, training or a checkpoint write: within
seconds no process of the tree is left, checked by PID."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from hrmlib.paths import alive as _alive

pytestmark = pytest.mark.slow


def descendants(pid: int) -> dict[int, str]:
    """{pid: command line} of every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = {}, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                try:
                    out[c] = (Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    out[c] = ""
                todo.append(c)
    return out


def naming(run: Path) -> dict[int, str]:
    """Every live process whose command line names the run directory (torchrun and its workers
    carry run_dir=…): catches what was started after a snapshot and reparented to init."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(run) in cmd and _alive(int(d.name)):
                out[int(d.name)] = cmd
    return out


def wait_for(cond, what: str, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def metrics_lines(run: Path) -> int:
    m = run / "metrics.jsonl"
    return len(m.read_text().splitlines()) if m.exists() else 0


MOMENTS = {
    "start-up": lambda tree, run: any("ipykernel" in c for c in tree.values()),
    "rendezvous": lambda tree, run: any("torchrun" in c for c in tree.values()),
    "training": lambda tree, run: metrics_lines(run) >= 3,
    "checkpoint": lambda tree, run: (run / "checkpoints").exists() and any((run / "checkpoints").glob("*.partial")),
}


@pytest.mark.parametrize("moment, sig", [("start-up", signal.SIGTERM), ("rendezvous", signal.SIGINT),
                                         ("training", signal.SIGTERM), ("checkpoint", signal.SIGHUP),
                                         ("training", signal.SIGKILL), ("training", "kernel")])
def test_nothing_outlives_the_launcher(tmp_path, moment, sig):
    run = tmp_path / "R"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    launcher = subprocess.Popen([str(ROOT / "launch" / "notebook"), "notebooks/02_train.ipynb", "preset=debug",
                                 "nproc=2", f"run_dir={run}", "threads=1", "epochs=400", "eval_interval=400",
                                 "checkpoint_every=1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    tree = {}
    try:
        wait_for(lambda: MOMENTS[moment](descendants(launcher.pid), run), moment)
        tree = descendants(launcher.pid)
        if sig == "kernel":  # the kernel dies under the launcher, which then reports the failure
            kernel = next(p for p, c in tree.items() if "ipykernel" in c)
            os.kill(kernel, signal.SIGKILL)
            assert launcher.wait(timeout=60) != 0
        else:
            launcher.send_signal(sig)
            launcher.wait(timeout=60)
        assert any("torchrun" in c for c in tree.values()) or moment == "start-up"
        left = lambda: {**{p: c for p, c in tree.items() if _alive(p)}, **naming(run)}  # noqa: E731
        deadline = time.time() + 20
        while time.time() < deadline and left():
            time.sleep(0.2)
        assert not left(), f"still running after {moment} + {sig}: {json.dumps(left(), indent=1)}"
    finally:  # whatever happened, leave nothing behind for the next test
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for p in {**tree, **naming(run)}:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
