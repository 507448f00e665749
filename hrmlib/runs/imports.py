"""A released checkpoint imported as a run (the layout, and reading it; `importer.import_run` writes
it), so every lens (notebooks 03–06, `runs.table`, replay,
compare, `python -m hrmlib.evaluate`) works on it as on a run trained here:

    python -m hrmlib.runs import hf:sapientinc/HRM-checkpoint-sudoku-extreme [data_path=DIR] [name=NAME]

    runs/<name>/config.json                       the original's config, translated (preset "import")
    runs/<name>/provenance.json                   where it came from: the hf: name, the exact commit and
                                                  step (`pinned`), the cached files, the fit check, the
                                                  parameter counts, the known release it is, when
    runs/<name>/checkpoints/step_<N>/weights      a symbolic link to the cached step file (no copy)
    runs/<name>/checkpoints/step_<N>/all_config.yaml   a link to the original's config beside it

An original checkpoint file (not on the Hub) imports the same way. The run holds weights only, no
optimizer state or ACT carry, so it cannot be resumed; training starts from it with `init_from=`.
The directory appears whole or not at all (written under a temporary name, then renamed).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..paths import shown
from .files import RunError

WEIGHTS, CONFIG, PROVENANCE = "weights", "all_config.yaml", "provenance.json"


def imported(p: Path) -> tuple[Path, dict] | None:
    """(run, its provenance) when `p` is an imported run or its checkpoint folder; else None."""
    for run in (p, p.parent.parent):
        f = run / PROVENANCE
        if f.is_file() and (run / "config.json").is_file():
            try:
                prov = json.loads(f.read_text())
            except ValueError:
                raise RunError(f"{f}: not valid JSON; import the release again (python -m hrmlib.runs import "
                               f"SOURCE name=NEW)") from None
            if prov.get("kind") == "import" and (run == p or p == run / "checkpoints" / f"step_{prov['step']}"):
                return run, prov
    return None


def refuse_resume(run: Path, as_given) -> None:
    """An imported run has weights only: resuming it is one line pointing at init_from=."""
    if found := imported(run):
        raise RunError(f"resume={as_given}: {found[0].name} is a released model imported from {found[1]['source']}; "
                       f"it holds no optimizer state or ACT carry to resume: start a new run from its weights with "
                       f"init_from={shown(found[0])}")


def default_name(source: str, step: int) -> str:
    """runs/<name> for a release: its repository's name, the folder in it, the step."""
    from . import hub
    if hub.is_hf(source):
        s = hub.parse(source)
        base = "-".join(p for p in (s.repo.split("/")[1], s.subfolder.replace("/", "-")) if p)
    else:
        base = f"{Path(source).parent.name}-{Path(source).name}"
    return re.sub(r"[^\w.-]+", "-", f"{base}-step_{step}").strip("-")
