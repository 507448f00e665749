"""hrmlib installed as a user installs a wheel (non-editable, into a fresh venv), run from a folder
that is not a checkout: runs go under the user's data directory, never inside site-packages."""
import shutil
import subprocess
import sys
import sysconfig

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_non_editable_install_trains_from_another_directory(sudoku, tmp_path):
    src = tmp_path / "src"  # a copy, so the build's build/ and egg-info never land in the checkout
    shutil.copytree(ROOT / "hrmlib", src / "hrmlib", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / f, src / f)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    # the dependencies (torch, numpy, …) from this environment; hrmlib itself only from the wheel
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(src)], check=True, capture_output=True)
    assert not (site / "hrmlib" / "__editable__").exists() and (site / "hrmlib" / "train" / "loop.py").is_file()
    elsewhere, home = tmp_path / "elsewhere", tmp_path / "home"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import hrmlib; print(hrmlib.__file__)"], cwd=elsewhere,
                       env=env, text=True, capture_output=True, check=True)
    assert r.stdout.strip() == str(site / "hrmlib" / "__init__.py")
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "hrmlib.train", "debug", f"data_path={sudoku}",
                        "max_steps=2", "run_dir=runs/installed"], cwd=elsewhere, env=env, text=True,
                       capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    run = home / ".local" / "share" / "hrm-workbench" / "runs" / "installed"
    assert (run / "metrics.jsonl").is_file() and (run / "checkpoints" / "step_2" / "state.pt").is_file()
    assert not (site / "runs").exists() and not list(elsewhere.iterdir())
