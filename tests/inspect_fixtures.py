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
