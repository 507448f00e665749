"""`import_run`: a released checkpoint (an hf: name or an original file) written as runs/<name>/ — the
layout is `imports.py`'s; `python -m hrmlib.runs import` runs it."""
from __future__ import annotations

import dataclasses as dc
import json
import os
import shutil
import time
from pathlib import Path

from ..paths import resolve, runs_dir, shown
from . import hub
from .files import RunError
from .imports import CONFIG, PROVENANCE, WEIGHTS, default_name, imported
from .releases import find
from .source import open as open_


def import_run(source: str, data_path=None, name: str | None = None, config=None) -> Path:
    """Open `source` (an hf: name or an original checkpoint file: resolved, downloaded once, checked
    against the dataset, loaded) and write it as runs/<name>/. An existing run of the same name is left
    alone: the same release pinned the same way is reported as imported already, anything else refused."""
    if not (hub.is_hf(source) or resolve(source).is_file()):
        raise RunError(f"import {source}: expected {hub.GRAMMAR} or an original checkpoint file")
    if name is not None and (Path(name).name != name or name in ("", ".", "..")):
        raise RunError(f"name={name}: a run name, not a path (it goes under {runs_dir()})")
    m = open_(source, config=config, data_path=data_path)
    p = m.provenance
    step = p["step"] or 0
    run = runs_dir() / (name or default_name(source, step))
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
    r = find(source) if hub.is_hf(source) else None
    return dc.asdict(r) if r else None
