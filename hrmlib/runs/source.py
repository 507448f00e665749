"""Open anything that holds weights: the one way a checkpoint becomes a model.

    m = runs.open("runs/<id>")                                 # a run: its newest checkpoint (or step=N)
    m = runs.open("runs/<id>/checkpoints/step_500")            # one checkpoint of a run
    m = runs.open("ckpt/step_26040", data_path="data/…")       # an original HRM/TRM checkpoint file; its
                                                               # all_config.yaml beside it (or config=)
    m.model, m.config, m.dims, m.data_path, m.task, m.provenance

Everything is checked before a model is built and a failure is one line: a path that holds no
weights, a damaged file, a pickle that is not weights-only (refused, never run), a config that does
not fit, a dataset whose vocabulary or puzzle ids are not the checkpoint's. Relative paths are
under `hrmlib.paths.home()`.
"""
from __future__ import annotations

import dataclasses as dc
import re
from pathlib import Path
from typing import Optional

import torch

from ..compat import CompatError, arch_from_original, original_data_path, read_config, to_ours
from ..config import Config, apply, from_saved
from ..data import read_identifiers, read_metadata, task_of
from ..model import ACT, DIMS, build, forward_dtype
from ..paths import resolve
from .checkpoints import check_identifiers, checkpoints, find_checkpoint, load_file
from .files import RunError


@dc.dataclass
class Opened:
    """A model ready to use, with what is known about where it came from."""
    model: ACT
    config: Config  # the config it runs with (an original's translated; overrides applied)
    dims: dict  # vocab_size, seq_len, num_puzzle_identifiers
    data_path: Optional[Path]  # its dataset (given, or the one it was trained on)
    checkpoint: Path  # the checkpoint directory (hrmlib) or file (original)
    provenance: dict  # kind (run | original), source as given, step, file, …
    trained: Optional[Config] = None  # the config it was trained with (hrmlib checkpoints)
    state: Optional[dict] = None  # an hrmlib checkpoint's state.pt (progress, identifiers, …)

    @property
    def kind(self) -> str:
        return self.provenance["kind"]

    @property
    def run(self) -> Optional[Path]:
        """The run directory of an hrmlib checkpoint (None for an original file)."""
        return self.checkpoint.parent.parent if self.kind == "run" else None

    @property
    def task(self) -> str:
        return task_of(self.dims, self.data_path)

    @property
    def name(self) -> str:
        """A label for figures: family and run, e.g. "TRM 20261130-demo-ab12 step 2500"."""
        where = (f"{self.run.name} {self.checkpoint.name.replace('_', ' ')}" if self.run
                 else f"original {self.checkpoint.parent.name}/{self.checkpoint.name}")
        return f"{self.model.family.upper()} {where}"


def kind_of(source) -> str:
    """"run" (a run directory or one of its checkpoints) or "original" (a checkpoint file); a
    RunError naming what was found otherwise."""
    p = resolve(source)
    if p.is_file():
        return "original"
    if (p / "state.pt").is_file() or checkpoints(p):
        return "run"
    if not p.exists():
        raise RunError(f"{source}: no such run, checkpoint or file")
    what = "a dataset" if (p / "identifiers.json").exists() else "a run without a checkpoint yet" if (
        p / "config.json").exists() else "a folder without weights"
    raise RunError(f"{source} is {what}; expected a run (runs/<id>), one of its checkpoints "
                   f"(runs/<id>/checkpoints/step_<N>) or an original checkpoint file")


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


def check_fit(sd: dict, dims: dict, where, data) -> None:
    """The checkpoint's vocabulary and puzzle-table rows against a dataset's, in one line."""
    have = {"vocab_size": sd["embed.weight"].shape[0] if "embed.weight" in sd else None,
            "num_puzzle_identifiers": sd["puzzle_emb.weights"].shape[0] if "puzzle_emb.weights" in sd else None}
    for k, n in have.items():
        if n is not None and n != dims[k]:
            what = {"vocab_size": "a vocabulary of", "num_puzzle_identifiers": "puzzle ids numbering"}[k]
            raise CompatError(f"{where} was trained on a dataset with {what} {n:,}; {data} has {dims[k]:,}: "
                              f"use the dataset it was trained on (the same build: source, seed, subsample, "
                              f"augmentations)")


def open(source, step: Optional[int] = None, config=None, data_path=None, overrides=(), device="cpu") -> Opened:
    """Open a run, a checkpoint directory or an original checkpoint file (see the module doc).
    `config`: an original's all_config.yaml (default: beside the file) or an arch dict with sizes;
    `data_path`: the dataset to use (default: the one it was trained on); `overrides`: key=value."""
    device = torch.device(device)
    kind = kind_of(source)
    if kind == "run":
        return _open_run(source, step, data_path, overrides, device)
    return _open_original(source, config, data_path, overrides, device)


def _open_run(source, step, data_path, overrides, device) -> Opened:
    ck = find_checkpoint(resolve(source), step)
    state = load_file(ck / "state.pt")
    trained = from_saved(state["config"])
    cfg = apply(trained, [*overrides, *([f"data_path={data_path}"] if data_path else [])])
    data = resolve(cfg.data_path)
    # a checkpoint written without its sizes (before 2026-12): the dataset's
    dims = state.get("dims") or {k: getattr(read_metadata(data / "test" / "dataset.json"), k) for k in DIMS}
    if data_path or (data / "identifiers.json").exists():  # the dataset it was trained on may be gone
        check_identifiers(state["identifiers"], read_identifiers(data), ck)
    model = build(cfg.arch, dims, forward_dtype(cfg.arch.forward_dtype, device.type))
    load_checked(model, state["model"], ck)
    prov = {"kind": "run", "source": str(source), "checkpoint": str(ck), "step": int(ck.name[5:])}
    return Opened(model.to(device), cfg, dict(dims), data, ck, prov, trained, state)


def _open_original(source, config, data_path, overrides, device) -> Opened:
    ck = resolve(source)
    if config is None or config == "":
        config = ck.parent / "all_config.yaml"
        if not config.is_file():
            raise CompatError(f"{source} is an original checkpoint file, but there is no {config}; pass its "
                              f"all_config.yaml as config=PATH")
    full = read_config(config if isinstance(config, dict) else resolve(config))
    arch, cdims = arch_from_original(full)
    data = resolve(data_path or original_data_path(full)) if (data_path or original_data_path(full)) else None
    meta = data / "test" / "dataset.json" if data else None
    if meta is not None and meta.is_file():
        cdims = {k: getattr(read_metadata(meta), k) for k in DIMS}
    elif data_path:
        read_metadata(meta)  # the DataError that names what is missing
    if missing := [k for k in DIMS if k not in cdims]:
        raise CompatError(f"{source}: the sizes {missing} are in neither its config nor a dataset; pass "
                          f"data_path= (the dataset it was trained on)")
    cfg = apply(Config(arch=arch, data_path=str(data or ""), global_batch_size=int(full.get("global_batch_size", 768))),
                list(overrides))
    sd = to_ours(load_file(ck), cfg.arch.name)
    check_fit(sd, cdims, source, data)
    model = build(cfg.arch, cdims, forward_dtype(cfg.arch.forward_dtype, device.type))
    load_checked(model, sd, source)
    prov = {"kind": "original", "source": str(source), "file": str(ck),
            "config": str(config) if not isinstance(config, dict) else None,
            "step": int(m.group(1)) if (m := re.search(r"step_(\d+)$", ck.name)) else None}
    return Opened(model.to(device), cfg, dict(cdims), data, ck, prov)


def weights(source, family: str, identifiers: list[str]) -> dict:
    """The weights only (our key names) of a run, checkpoint or original file: what `init_from=`
    starts from (a run's averaged weights when it keeps an EMA), checked against the dataset's
    puzzle `identifiers` where the checkpoint records its own."""
    if kind_of(source) == "run":
        ck = find_checkpoint(resolve(source))
        state = load_file(ck / "state.pt")
        check_identifiers(state["identifiers"], identifiers, ck)
        return state["model"]
    return to_ours(load_file(resolve(source)), family)

