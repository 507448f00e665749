"""notebooks/01_build_dataset.ipynb runs top to bottom under papermill at its small (offline) defaults,
and the renderers return figures for all three tasks."""
import json

import numpy as np
import pytest

from hrmlib.data import load_split
from hrmlib.look import render
from conftest import FIXTURES, NB_EXTRA, ROOT, run_py

FIX = FIXTURES / "dataset-format"
NB = ROOT / "notebooks" / "01_build_dataset.ipynb"


def test_notebook_shape_and_stripped():
    nb = json.loads(NB.read_text())
    first = nb["cells"][0]
    assert "parameters" in first["metadata"]["tags"] and nb["metadata"]["kernelspec"]["name"] == "python3"
    for line in "".join(first["source"]).splitlines():  # every parameter has a type and a comment
        assert ": " in line.split("=")[0] and "  # " in line, line
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all("def " not in "".join(c["source"]) and "class " not in "".join(c["source"]) for c in code)
    r = run_py("-m", "nbstripout", "--verify", *NB_EXTRA, NB)
    assert r.returncode == 0, "notebook is not stored stripped"


def test_notebook_runs_with_papermill(tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "ds"
    papermill.execute_notebook(str(NB), str(tmp_path / "out.ipynb"), parameters={"output_dir": str(out)},
                               cwd=str(NB.parent), progress_bar=False, kernel_name="python3")
    assert load_split(out, "train").num_groups == 100
    nb = json.loads((tmp_path / "out.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("sudoku dataset ->" in "".join(o.get("text", "")) for o in outputs)


@pytest.mark.parametrize("task,name", [("sudoku", "sudoku-tiny-aug2"), ("maze", "maze-tiny-aug")])
def test_renderers_return_figures(task, name):
    d = load_split(FIX / name, "train")
    fig = render.group(task, d, g=1, limit=3)
    assert len(fig.axes) == 3


def test_arc_renderer_pairs():
    from hrmlib.data.builders import arc
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) % 10
    x = np.stack([arc.encode(g), arc.encode(g.T, 2, 3)])
    fig = render.examples("arc", x, x[::-1])
    assert len(fig.axes) == 4
