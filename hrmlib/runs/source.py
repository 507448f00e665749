"""Open anything that holds weights: the one way a checkpoint becomes a model.

    m = runs.open("runs/<id>")                                 # a run: its newest checkpoint (or step=N)
    m = runs.open("runs/<id>/checkpoints/step_500")            # one checkpoint of a run
    m = runs.open("ckpt/step_26040", data_path="data/…")       # an original HRM/TRM checkpoint file; its
                                                               # all_config.yaml beside it (or config=)
    m = runs.open("hf:sapientinc/HRM-checkpoint-sudoku-extreme")  # a release on the Hugging Face Hub,
                                                               # downloaded once into its cache (runs/hub.py)
    m = runs.open("runs/HRM-checkpoint-sudoku-extreme-step_N") # a release imported as a run (runs/imports.py)
    m.model, m.config, m.dims, m.data_path, m.task, m.provenance

Everything is checked before a model is built and a failure is one line: a path that holds no
weights, a damaged file, a pickle that is not weights-only (refused, never run), a config that does
not fit, a dataset whose vocabulary, sequence length or puzzle ids are not the checkpoint's
(`fit.check_fit`, from the shapes, before the weights are read). Relative paths are under
`hrmlib.paths.home()`.
"""
from __future__ import annotations

import dataclasses as dc
import os
import re
from pathlib import Path
from typing import Optional

import torch

from ..compat import CompatError, arch_from_original, original_data_path, read_config, to_ours
from ..config import Config, apply, from_saved
from ..data import read_identifiers, read_metadata, task_of
from ..model import ACT, DIMS, build, dims, forward_dtype
from ..paths import resolve, runs_dir
from . import hub
from .checkpoints import check_identifiers, checkpoints, eval_dir, find_checkpoint, load_file
from .files import RunError, new_run_id, read_json
from .fit import check_fit, read_shapes
from .imports import WEIGHTS, default_name, imported


@dc.dataclass
class Opened:
    """A model ready to use, with what is known about where it came from."""
    model: ACT
    config: Config  # the config it runs with (an original's translated; overrides applied)
    dims: dict  # vocab_size, seq_len, num_puzzle_identifiers
    data_path: Optional[Path]  # its dataset (given, or the one it was trained on)
    checkpoint: Path  # the checkpoint directory (hrmlib, imported) or file (original)
    provenance: dict  # kind (run | import | original), source as given, step, file, hub commit, …
    trained: Optional[Config] = None  # the config it was trained with (hrmlib checkpoints)
    state: Optional[dict] = None  # an hrmlib checkpoint's state.pt (progress, identifiers, …)

    @property
    def kind(self) -> str:
        return self.provenance["kind"]

    @property
    def run(self) -> Optional[Path]:
        """The run directory of an hrmlib checkpoint or an imported release (None for an original file)."""
        return self.checkpoint.parent.parent if self.kind in ("run", "import") else None

    def eval_dir(self) -> Path:
        """Where its evaluation goes: the run's <run>/eval/step_<N>/ (or a variant's beside it, an
        imported release's in its run); for an original file or an hf: name a new runs/<time>-eval-…/."""
        if self.run is not None:
            return eval_dir(self.checkpoint, self.config, self.trained)
        p = self.provenance
        ck = self.checkpoint
        name = default_name(p["source"], p["step"]) if "commit" in p else f"{ck.parent.name}-{ck.name}"
        return runs_dir() / new_run_id(re.sub(r"[^\w.-]+", "-", f"eval-{name}"))

    @property
    def task(self) -> str:
        return task_of(self.dims, self.data_path)

    @property
    def name(self) -> str:
        """A label for figures: family and run, e.g. "TRM 20261130-demo-ab12 step 2500"."""
        where = (f"{self.run.name} {self.checkpoint.name.replace('_', ' ')}" if self.run
                 else self.provenance["source"] if "commit" in self.provenance  # an hf: name
                 else f"original {self.checkpoint.parent.name}/{self.checkpoint.name}")
        return f"{self.model.family.upper()} {where}"


def kind_of(source) -> str:
    """"run" (a run directory or one of its checkpoints), "import" (a released model imported as a run,
    `python -m hrmlib.runs import`), "hf" (a name on the Hugging Face Hub, `hf:org/name…`) or
    "original" (a checkpoint file); a RunError naming what was found otherwise."""
    if hub.is_hf(source):
        return "hf"
    p = resolve(source)
    if p.is_file():
        return "original"
    if (p / "state.pt").is_file() or checkpoints(p):
        return "run"
    if imported(p):
        return "import"
    if not p.exists():
        raise RunError(f"{source}: no such run, checkpoint or file")
    what = "a dataset" if (p / "identifiers.json").exists() else "a run without a checkpoint yet" if (
        p / "config.json").exists() else "a folder without weights"
    raise RunError(f"{source} is {what}; expected a run (runs/<id>), one of its checkpoints "
                   f"(runs/<id>/checkpoints/step_<N>), an original checkpoint file or {hub.GRAMMAR}")


def load_checked(model: torch.nn.Module, sd: dict, where=""):
    """Strict load; one line listing every missing, unexpected and mis-shaped key (the first few)."""
    want = model.state_dict()
    problems = [f"{k} is {tuple(sd[k].shape)} in the checkpoint, {tuple(v.shape)} in the model"
                for k, v in want.items() if k in sd and sd[k].shape != v.shape]
    problems += [f"missing {k}" for k in want if k not in sd]
    problems += [f"unexpected {k}" for k in sd if k not in want]
    if problems:
        more = f" and {len(problems) - 4} more" if len(problems) > 4 else ""
        raise CompatError(f"{where or 'the checkpoint'} does not fit the model: {'; '.join(problems[:4])}{more}")
    # H_init/L_init come from the checkpoint too (the originals save them); cast to the model's dtype
    model.load_state_dict(sd)


def open(source, step: Optional[int] = None, config=None, data_path=None, overrides=(), device="cpu") -> Opened:
    """Open a run, a checkpoint directory, an imported release, an hf: name or an original checkpoint
    file (see the module doc). `config`: an original's all_config.yaml (default: beside the file) or
    an arch dict with sizes; `data_path`: the dataset to use (default: the one it was trained on);
    `overrides`: key=value."""
    device = torch.device(device)
    kind = kind_of(source)
    if kind == "run":
        return _open_run(source, step, data_path, overrides, device)
    if kind == "import":
        return _open_imported(source, data_path, overrides, device)
    return _open_original(source, config, data_path, overrides, device)


def _open_run(source, step, data_path, overrides, device) -> Opened:
    ck = find_checkpoint(resolve(source), step)
    state = load_file(ck / "state.pt")
    trained = from_saved(state["config"])
    cfg = apply(trained, [*overrides, *([f"data_path={data_path}"] if data_path else [])])
    data = resolve(cfg.data_path)
    beside = ck.parents[3] / cfg.data_path  # <home>/runs/<id>/checkpoints/step_N: where a relative one was
    if not data_path and not Path(cfg.data_path).is_absolute() and not data.exists() and beside.exists():
        data = beside  # opened from outside the home it was trained in (a lab rooted elsewhere)
    # a checkpoint written without its sizes (before 2026-12): the dataset's
    dims = state.get("dims") or data_dims(data)
    if data_path or (data / "identifiers.json").exists():  # the dataset it was trained on may be gone
        check_identifiers(state["identifiers"], read_identifiers(data), ck)
    if data_path:
        check_fit(state["model"], cfg.arch, data_dims(data), data, where=ck)
    model = build(cfg.arch, dims, forward_dtype(cfg.arch.forward_dtype, device.type))
    load_checked(model, state["model"], ck)
    prov = {"kind": "run", "source": str(source), "checkpoint": str(ck), "step": int(ck.name[5:])}
    return Opened(model.to(device), cfg, dict(dims), data, ck, prov, trained, state)


def data_dims(data: Path) -> dict:
    """vocab_size, seq_len, num_puzzle_identifiers of a dataset (its test split's dataset.json)."""
    return dims(read_metadata(data / "test" / "dataset.json"))


def _open_original(source, config, data_path, overrides, device) -> Opened:
    r = hub.resolve(source) if hub.is_hf(source) else None  # downloaded once, then read from the cache
    ck = r.file if r else resolve(source)
    if config is None or config == "":
        config = r.config if r else ck.parent / "all_config.yaml"
        if not config.is_file():
            raise CompatError(f"{source} is an original checkpoint file, but there is no {config}; pass its "
                              f"all_config.yaml as config=PATH")
    full = read_config(config if isinstance(config, dict) else resolve(config))
    arch, cdims = arch_from_original(full)
    data = resolve(data_path or original_data_path(full)) if (data_path or original_data_path(full)) else None
    meta = data / "test" / "dataset.json" if data else None
    if meta is not None and meta.is_file():
        cdims = data_dims(data)
    elif data_path:
        read_metadata(meta)  # the DataError that names what is missing
    if missing := [k for k in DIMS if k not in cdims]:
        raise CompatError(f"{source}: the sizes {missing} are in neither its config nor a dataset; pass "
                          f"data_path= (the dataset it was trained on)")
    cfg = apply(Config(arch=arch, data_path=str(data or ""), global_batch_size=int(full.get("global_batch_size", 768))),
                list(overrides))
    model, fit = _checked_model(ck, cfg, cdims, data, str(source), device)
    prov = {"kind": "original", "source": str(source), "file": str(ck), **fit,
            "config": str(config) if not isinstance(config, dict) else None,
            "step": int(m.group(1)) if (m := re.search(r"step_(\d+)$", ck.name)) else None}
    if r:
        prov |= {"repo": r.repo, "subfolder": r.subfolder, "commit": r.commit, "step": r.step, "pinned": r.pinned}
    return Opened(model, cfg, dict(cdims), data, ck, prov)


def _open_imported(source, data_path, overrides, device) -> Opened:
    """A release imported as a run: its config.json, the weights its link points to (in the cache)."""
    run, prov = imported(resolve(source))
    ck = run / "checkpoints" / f"step_{prov['step']}"
    trained = from_saved(read_json(run / "config.json")["config"])
    cfg = apply(trained, [*overrides, *([f"data_path={data_path}"] if data_path else [])])
    data = resolve(cfg.data_path)
    cdims = data_dims(data) if data_path or (data / "test" / "dataset.json").is_file() else prov["dims"]
    file = ck / WEIGHTS
    if not file.exists():
        raise RunError(f"{file} links to {os.readlink(file) if file.is_symlink() else 'nothing'}, which is gone "
                       f"(the Hugging Face cache cleaned?); import it again: python -m hrmlib.runs import "
                       f"{prov['source']} name={run.name}-again")
    model, fit = _checked_model(file, cfg, cdims, data, prov["source"], device)
    prov |= {"kind": "import", "source": str(source), "imported_from": prov["source"], **fit}
    return Opened(model, cfg, dict(cdims), data, ck, prov, trained)


def _checked_model(file: Path, cfg: Config, cdims: dict, data, where: str, device) -> tuple[ACT, dict]:
    """An original-form checkpoint file as a model: its shapes against the dataset first (one line
    naming the build it expects, a known release's by name), then a strict load. Returns the model
    and what the check found (its line, the parameter counts with and without the puzzle table)."""
    fit = check_fit(read_shapes(file), cfg.arch, cdims, data, release=where if hub.is_hf(where) else None,
                    where=where)
    model = build(cfg.arch, cdims, forward_dtype(cfg.arch.forward_dtype, device.type))
    load_checked(model, to_ours(load_file(file), cfg.arch.name), where)
    return model.to(device), {"fit": str(fit), "params": fit.params, "puzzle_table": fit.table}


def weights(source, family: str, identifiers: list[str]) -> dict:
    """The weights only (our key names) of a run, checkpoint, imported release, hf: name or original
    file: what `init_from=` starts from (a run's averaged weights when it keeps an EMA), checked
    against the dataset's puzzle `identifiers` where the checkpoint records its own."""
    kind = kind_of(source)
    if kind == "run":
        ck = find_checkpoint(resolve(source))
        state = load_file(ck / "state.pt")
        check_identifiers(state["identifiers"], identifiers, ck)
        return state["model"]
    if kind == "import":
        run, prov = imported(resolve(source))
        file = run / "checkpoints" / f"step_{prov['step']}" / WEIGHTS
    else:
        file = hub.resolve(source).file if kind == "hf" else resolve(source)
    return to_ours(load_file(file), family)
