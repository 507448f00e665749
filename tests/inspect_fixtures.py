"""The trained run the inspect/widget/notebook tests share: what notebooks use by default
(`hrmlib.inspect.default_run()`: newest runs/demo*, else runs/debug-notebook, trained once by the
debug preset on CPU in about a minute and reused afterwards)."""
import pytest

from hrmlib import inspect


@pytest.fixture(scope="session")
def notebook_run():
    return inspect.default_run(prefer_demo=False)  # the debug run, even where `make demo` has run
