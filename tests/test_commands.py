"""Every command README.md and docs/benchmarks.md document answers --help (a tiny real run of each
is in the test of its module), and none of them is left out of this list."""
import re

import pytest

from conftest import ROOT, run_py

HELP = {"hrmlib.data": ["--help"], "hrmlib.train": ["debug", "--help"], "hrmlib.evaluate": ["--help"],
        "hrmlib.bench": ["--help"], "hrmlib.parity": ["--help"], "hrmlib.launch": ["--help"]}


def test_every_documented_module_is_covered():
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "benchmarks.md").read_text()
    documented = set(re.findall(r"python -m (hrmlib(?:\.\w+)+)", text)) | set(re.findall(r"-m (hrmlib\.\w+)", text))
    assert documented <= set(HELP), documented - set(HELP)


@pytest.mark.parametrize("module", HELP)
def test_help(module):
    r = run_py("-m", module, *HELP[module])
    assert r.returncode == 0 and len(r.stdout) > 100 and "Traceback" not in r.stderr, (r.stdout, r.stderr)


@pytest.mark.parametrize("task", ["sudoku", "maze", "arc"])
def test_data_builder_help(task):
    r = run_py("-m", "hrmlib.data", task, "--help", check=True)
    assert "--output-dir" in r.stdout and "--overwrite" in r.stdout
