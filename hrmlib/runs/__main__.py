"""`python -m hrmlib.runs import SOURCE [data_path=DIR] [name=NAME] [config=all_config.yaml]`: a released
checkpoint (hf:<org>/<name>[/<subfolder>][@<revision>][@step_N], or an original checkpoint file) as
runs/<name>/, its weights linked from the Hugging Face cache (hrmlib/runs/imports.py)."""
from __future__ import annotations

import sys

from .. import config as C
from ..errors import UserError, cli
from .importer import import_run

USAGE = ("usage: python -m hrmlib.runs import hf:<org>/<name>[/<subfolder>][@<revision>][@step_N] [data_path=DIR] "
         "[name=NAME]")


def _main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "import" or "=" in argv[1]:
        raise UserError(f"expected import and a release; {USAGE}")
    kv = dict(C.split(a, "e.g. data_path=data/sudoku-extreme-1k-aug-1000") for a in argv[2:])
    if unknown := sorted(set(kv) - {"data_path", "name", "config"}):
        raise UserError(f"unknown option(s) {unknown}; {USAGE}")
    import_run(argv[1], kv.get("data_path"), kv.get("name"), kv.get("config"))
    return 0


def main(argv=None) -> int:
    return cli(_main, argv, __doc__.strip() + "\n\n" + USAGE)


if __name__ == "__main__":
    sys.exit(main())
