"""notebooks/03_evaluate, 04_internals and 05_replay: shaped as the style guide asks (parameters cell
first, typed and commented; one import cell; no def/class), stored stripped, and executed by
papermill at their default parameters (the default run: demo if present, else the debug run)."""
import json

import pytest

from conftest import NB_EXTRA, ROOT, run_py
from hrmlib.look import trace

NBS = ["03_evaluate.ipynb", "04_internals.ipynb", "05_replay.ipynb"]


@pytest.mark.parametrize("name", NBS + ["06_compare_runs.ipynb"])
def test_notebook_shape_and_stripped(name):
    path = ROOT / "notebooks" / name
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"]["tags"] and nb["cells"].index(code[0]) <= 1
    for line in "".join(code[0]["source"]).splitlines():
        assert ": " in line.split("=")[0] and "  # " in line, line
    assert "".join(code[1]["source"]).startswith("from hrmlib")
    assert not any("import " in "".join(c["source"]) for c in code[2:])
    for c in code:
        src = "".join(c["source"])
        assert "def " not in src and "class " not in src and len(src.splitlines()) <= 15
    r = run_py("-m", "nbstripout", "--verify", *NB_EXTRA, path)
    assert r.returncode == 0, f"{name} is not stored stripped"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb")))
def test_every_parameter_line_is_one_papermill_reads(name):
    """A parameter papermill cannot parse (an `=` in its comment, say) is silently not a parameter."""
    import papermill
    nb = json.loads((ROOT / "notebooks" / name).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    names = [ln.split(":")[0] for ln in "".join(cell["source"]).splitlines() if ln.strip()]
    assert list(papermill.inspect_notebook(str(ROOT / "notebooks" / name))) == names


@pytest.mark.slow
@pytest.mark.parametrize("name", NBS)
def test_notebook_runs_at_defaults(name, notebook_run, tmp_path):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / name
    papermill.execute_notebook(str(ROOT / "notebooks" / name), str(out), cwd=str(ROOT / "notebooks"),
                               progress_bar=False, kernel_name="python3")
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    want = "application/vnd.jupyter.widget-view+json" if name == "05_replay.ipynb" else "image/png"
    assert want in kinds
    assert str(trace.default_run()) in json.dumps(nb)  # it used the default run (demo, else debug)


@pytest.mark.slow
@pytest.mark.parametrize("name", NBS)
def test_notebook_runs_on_a_trm_run(name, trm_run, notebook_run, tmp_path):
    """03-05 on a TRM run; 04 draws it beside the HRM debug run (compare_run)."""
    papermill = pytest.importorskip("papermill")
    out = tmp_path / name
    params = {"run": str(trm_run)} | ({"compare_run": str(notebook_run)} if name == "04_internals.ipynb" else {})
    papermill.execute_notebook(str(ROOT / "notebooks" / name), str(out), parameters=params,
                               cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = json.dumps(nb)
    assert "'trm'" in text or "TRM" in text
    if name == "04_internals.ipynb":
        src = [("".join(c["source"]), c.get("outputs", [])) for c in nb["cells"] if c["cell_type"] == "code"]
        compare = next(o for s, o in src if s.startswith("plots.compare("))
        assert any("image/png" in o.get("data", {}) for o in compare)  # HRM and TRM side by side
    if name == "05_replay.ipynb":
        assert "y (z_H)" in text  # the TRM state names on the level toggle
