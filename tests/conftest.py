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
