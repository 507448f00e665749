"""A released checkpoint imported as a run, so every lens (notebooks 03–06, `runs.table`, replay,
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

import dataclasses as dc
import json
import os
import re
import shutil
import time
from pathlib import Path

from ..paths import resolve, runs_dir, shown
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


def import_run(source: str, data_path=None, name: str | None = None, config=None) -> Path:
    """Open `source` (an hf: name or an original checkpoint file: resolved, downloaded once, checked
    against the dataset, loaded) and write it as runs/<name>/. An existing run of the same name is left
    alone: the same release pinned the same way is reported as imported already, anything else refused."""
    from . import hub
    from .source import open as open_
    if not (hub.is_hf(source) or resolve(source).is_file()):
        raise RunError(f"import {source}: expected {hub.GRAMMAR} or an original checkpoint file")
    m = open_(source, config=config, data_path=data_path)
    p = m.provenance
    step = p["step"] or 0
    run = runs_dir() / name if name else runs_dir() / default_name(source, step)
    if name and (Path(name).name != name or name in (".", "..")):
        raise RunError(f"name={name}: a run name, not a path (it goes under {runs_dir()})")
    prov = {**p, "kind": "import", "source": source, "pinned": p.get("pinned", str(m.checkpoint)), "step": step,
            "dims": m.dims, "data_path": str(m.data_path or ""), "release": _release(source),
            "imported": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if run.exists():
        was = imported(run)
        if was and was[1]["pinned"] == prov["pinned"] and was[1]["data_path"] == prov["data_path"]:
            print(f"{shown(run)}: imported already ({prov['pinned']})", flush=True)
            return run
        raise RunError(f"{run} exists already; choose another name=NAME (nothing was changed)")
    tmp = run.with_name(f".{run.name}.importing{os.getpid()}")
    ck = tmp / "checkpoints" / f"step_{step}"
    try:
        ck.mkdir(parents=True)
        (ck / WEIGHTS).symlink_to(Path(m.checkpoint).absolute())
        if p.get("config"):
            (ck / CONFIG).symlink_to(Path(p["config"]).absolute())
        cfg = m.config.to_dict() | {"run_dir": str(run)}
        (tmp / "config.json").write_text(json.dumps({"preset": "import", "config": cfg, "history": []}, indent=2))
        (tmp / PROVENANCE).write_text(json.dumps(prov, indent=2))
        os.replace(tmp, run)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"imported {source} as {shown(run)}: {p['fit']}; the weights stay in {Path(m.checkpoint).parent} "
          f"(linked, not copied)", flush=True)
    return run


def _release(source: str) -> dict | None:
    from . import hub
    from .releases import find
    r = find(source) if hub.is_hf(source) else None
    return dc.asdict(r) if r else None
