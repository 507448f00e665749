"""The trained run the inspect/widget/notebook tests share: what notebooks use by default
(`hrmlib.inspect.default_run()`: newest runs/demo*, else runs/debug-notebook, trained once by the
debug preset on CPU in about a minute and reused afterwards)."""
import pytest

from hrmlib import inspect


@pytest.fixture(scope="session")
def notebook_run():
    return inspect.default_run(prefer_demo=False)  # the debug run, even where `make demo` has run


@pytest.fixture(scope="session")
def trm_run(tmp_path_factory):
    """A trm_debug run (EMA on), trained once per session on the debug data."""
    from conftest import run_py
    from hrmlib.launch import ensure_data
    run = tmp_path_factory.mktemp("trm") / "run"
    run_py("-m", "hrmlib.train", "trm_debug", f"data_path={ensure_data('trm_debug')}", f"run_dir={run}",
           "max_steps=60", check=True)
    return run


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """A run of the `demo` preset (the TRM `make demo` trains), cut to 400 of its 1,500 steps so the
    suite stays short (about a minute and a half): it already solves many 40-givens puzzles only
    after several segments, which is what the replay must show. HRM_DEMO_RUN=runs/demo-… uses a
    full run that `make demo` wrote instead."""
    import os

    from conftest import run_py
    from hrmlib.launch import ensure_data
    if os.environ.get("HRM_DEMO_RUN"):
        return inspect.resolve_run(os.environ["HRM_DEMO_RUN"])
    run = tmp_path_factory.mktemp("demo") / "run"
    run_py("-m", "hrmlib.train", "demo", f"data_path={ensure_data('demo')}", f"run_dir={run}", "max_steps=400",
           check=True, env={"OMP_NUM_THREADS": "2"})
    return run
