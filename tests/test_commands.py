"""Every command README.md and docs/benchmarks.md document answers --help with its usage and its
options (a tiny real run of each is in the test of its module), and none of them is left out of this list."""
import dataclasses as dc
import re

import pytest

from hrmlib import config as C
from hrmlib.bench import Options
from conftest import ROOT, run_py

HELP = {  # module: (its arguments, what its help must name, the config whose every key it lists with value and doc)
    "hrmlib.data": (["--help"], ["usage: python -m hrmlib.data", "{sudoku,maze,arc}", "--output-dir", "--source"],
                    None),
    "hrmlib.train": (["debug", "--help"], ["python -m hrmlib.train debug", "resume=runs/<id>", "torchrun",
                                            f"presets: {', '.join(C.PRESETS)}", "with the values of debug"],
                     C.load("debug")),
    "hrmlib.evaluate": (["--help"], ["usage: python -m hrmlib.evaluate checkpoint=", "steps=all", "eval_halting=q",
                                     "data_path=DIR"], None),
    "hrmlib.bench": (["--help"], ["python -m hrmlib.bench debug", "modes=", "options:"], Options()),
    "hrmlib.parity": (["--help"], ["python -m hrmlib.parity DIR", "tests/fixtures/hrm-reference",
                                   "tests/fixtures/trm-reference"], None),
    "hrmlib.launch": (["--help"], ["launch/notebook NOTEBOOK", "python -m hrmlib.launch data PRESET", "seeds=0,1,2"],
                      None),
}


def test_every_documented_module_is_covered():
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "benchmarks.md").read_text()
    documented = set(re.findall(r"python -m (hrmlib(?:\.\w+)+)", text)) | set(re.findall(r"-m (hrmlib\.\w+)", text))
    assert documented <= set(HELP), documented - set(HELP)


@pytest.mark.parametrize("module", HELP)
def test_help(module):
    args, names, cfg = HELP[module]
    r = run_py("-m", module, *args)
    assert r.returncode == 0 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    for name in names:
        assert name in r.stdout, (name, r.stdout)
    if cfg is not None:  # one line per key: key=value, then its doc
        lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln.startswith("  ") and "=" in ln.split()[0]}
        docs = C.field_docs(type(cfg))
        for k, v in C.flat(dc.asdict(cfg)).items():
            assert f"{k}={v}" in lines and docs[k] in lines[f"{k}={v}"], (k, r.stdout)


@pytest.mark.parametrize("task", ["sudoku", "maze", "arc"])
def test_data_builder_help(task):
    r = run_py("-m", "hrmlib.data", task, "--help", check=True)
    assert "--output-dir" in r.stdout and "--overwrite" in r.stdout
