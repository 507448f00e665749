"""Checkpoints: directories `checkpoints/step_<N>/` holding `state.pt` (weights, both optimizers,
progress, the dataset identifiers) and one `rank<r>.pt` per process (its ACT carry and RNG states),
so a killed run resumes exactly. They are written under `step_<N>.partial/` and renamed when
complete: a crash mid-write never leaves a checkpoint that looks whole. A damaged one is skipped on
resume, named by evaluation; a non-finite state is never written."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch

from ..dist import Dist, barrier, broadcast_object
from .files import RunError

# What the trainer writes into a run directory. Anything else there (the executed notebook that
# launched it, the user's notes) is never touched.
RUN_ENTRIES = ("config.json", "env.json", "metrics.jsonl", "checkpoints", "eval", "tensorboard", "wandb",
               "learning_curve.png", "diagnostics.png", "live")


def prepare(run: Path, resume: bool, overwrite: bool):
    """Two runs never mix in one directory: one holding a run is continued (`resume=`) or, with
    `overwrite=true`, cleared of the trainer's files first; `resume=` needs a checkpoint."""
    found = [n for n in RUN_ENTRIES if (run / n).exists()]
    if resume:
        if not checkpoints(run):
            raise RunError(f"resume={run}: no checkpoint there, so nothing to resume from; start a new run "
                           f"(without resume=), or start over in it with run_dir={run} overwrite=true")
        return
    if found and not overwrite:
        raise RunError(f"run_dir={run} already holds a run ({', '.join(found)}); continue it with resume={run}, "
                       f"start over in it with overwrite=true, or choose another run_dir")
    for n in found:
        shutil.rmtree(run / n) if (run / n).is_dir() else (run / n).unlink()


# ---------------------------------------------------------------------------- checkpoints

class IdentifierMismatch(ValueError):
    """A checkpoint's puzzle embeddings index another dataset's identifiers (HRM-SPEC P14)."""


def check_identifiers(ckpt_ids: list[str], data_ids: list[str], where):
    if ckpt_ids != data_ids:
        diff = next((i for i, (a, b) in enumerate(zip(ckpt_ids, data_ids)) if a != b), min(len(ckpt_ids), len(data_ids)))
        raise IdentifierMismatch(f"{where} was trained on a dataset with other puzzle identifiers ({len(ckpt_ids)} vs "
                         f"{len(data_ids)}; first difference at index {diff}); its puzzle embeddings would be "
                         f"meaningless here — use the dataset it was trained on (its identifiers.json)")


def checkpoints(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    found = [p for p in (run / "checkpoints").glob("step_*") if p.name[5:].isdigit() and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def save_checkpoint(run: Path, step: int, state: dict, rank_state: dict, d: Dist, keep_last: int,
                    best_step: int | None) -> Path:
    final = run / "checkpoints" / f"step_{step}"
    part = final.with_name(final.name + ".partial")
    if d.main:
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
    barrier(d)
    torch.save(rank_state, part / f"rank{d.rank}.pt")
    barrier(d)
    if d.main:
        torch.save(state, part / "state.pt")  # state.pt last: its presence marks completeness
        shutil.rmtree(final, ignore_errors=True)
        os.replace(part, final)
        for p in checkpoints(run)[:-keep_last]:
            if not best_step or p.name != f"step_{best_step}":
                shutil.rmtree(p, ignore_errors=True)
    barrier(d)
    return final


def finite(*trees) -> bool:
    """Every floating tensor in nested dicts/lists is finite (what a checkpoint may hold)."""
    for t in trees:
        if isinstance(t, (dict, list, tuple)) and not finite(*(t.values() if isinstance(t, dict) else t)):
            return False
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            return False
    return True


def _load(path: Path, device=None):
    try:
        return torch.load(path, map_location=device or "cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # a truncated or garbled file: zip, pickle and EOF errors alike
        raise RunError(f"{path} is damaged ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None


def find_checkpoint(path: Path, step: int | None = None) -> Path:
    """A checkpoint directory from a run directory (its newest, or `step`) or the checkpoint itself."""
    path = Path(path)
    if (path / "state.pt").exists():
        return path
    found = [ck for ck in checkpoints(path) if step is None or ck.name == f"step_{step}"]
    if not found:
        raise RunError(f"{path}: no hrmlib checkpoint there" + (f" for step {step}" if step is not None else "") +
                       " (expected runs/<id>, runs/<id>/checkpoints/step_<N>, or an original checkpoint file)")
    return found[-1]


def load_model(ck: Path, device="cpu", overrides=()):
    """(model with the checkpoint's weights, its config with `overrides` applied, state.pt) — the
    one way a checkpoint becomes a model (evaluation, notebooks)."""
    from ..config import apply, from_saved
    from ..data import load_split
    from ..model import build, forward_dtype, load_checked
    state = _load(ck / "state.pt")
    cfg = apply(from_saved(state["config"]), list(overrides))
    # a checkpoint written without its sizes: the dataset's
    dims = state["dims"] if "dims" in state else vars(load_split(Path(cfg.data_path), "test").meta)
    model = build(cfg.arch, dims, forward_dtype(cfg.arch.forward_dtype, torch.device(device).type))
    load_checked(model, state["model"])
    return model.to(device), cfg, state


def eval_dir(ck: Path, data_path, trained_on) -> Path:
    """Where an evaluation of checkpoint `ck` goes: <run>/eval/step_<N>/; on another dataset than the
    one it was trained on, beside it (step_<N>-<dataset>/), never over the run's own."""
    same = Path(data_path).resolve() == Path(trained_on).resolve()
    return ck.parent.parent / "eval" / (ck.name if same else f"{ck.name}-{Path(data_path).name}")


def evaluated(out: Path) -> bool:
    """An evaluation finished in `out`: its predictions, and metrics.json (written last)."""
    return (out / "metrics.json").exists() and any(out.glob("preds.rank*.npz"))


def usable(run: Path) -> tuple[list[Path], list[str]]:
    """(checkpoints whose state.pt loads, newest first; one line per damaged one)."""
    good, bad = [], []
    for ck in reversed(checkpoints(run)):
        try:
            _load(ck / "state.pt")
            good.append(ck)
        except RunError as e:
            bad.append(str(e))
    return good, bad


def set_aside_after(run: Path, step: int) -> Path | None:
    """Rewinding to `step`: later checkpoints belong to the abandoned continuation. They are moved
    (not deleted) to checkpoints/rewound-<time>/, where `resume=` no longer sees them."""
    later = [ck for ck in checkpoints(run) if int(ck.name[5:]) > step]
    if not later:
        return None
    aside = run / "checkpoints" / f"rewound-{time.strftime('%Y%m%d-%H%M%S')}-from-step_{step}"
    aside.mkdir()
    for ck in later:
        os.replace(ck, aside / ck.name)
    print(f"rewound to step {step}: {', '.join(ck.name for ck in later)} moved to {aside}", flush=True)
    return aside


def load_latest(run: Path, d: Dist, device, at: Path | None = None) -> tuple[Path, dict, dict]:
    """The newest checkpoint (or `at`) every file of which loads; damaged ones are skipped, saying
    so. Rank 0 decides, so every process resumes from the same one. Returns (checkpoint, state.pt on
    the CPU — loading copies it where it belongs —, this rank's file on `device`: its ACT carry)."""
    choice, state = None, None
    if d.main:
        for ck in [at] if at else reversed(checkpoints(run)):
            try:
                state = _load(ck / "state.pt")
                for r in range(state["world_size"]):
                    _load(ck / f"rank{r}.pt") if (ck / f"rank{r}.pt").exists() else None
                choice = str(ck)
                break
            except RunError as e:
                print(f"warning: {e}; trying the checkpoint before it", flush=True)
    choice = broadcast_object(choice, d)
    if choice is None:
        raise RunError(f"resume={run}: no checkpoint there loads (all damaged); start over with run_dir={run} "
                       f"overwrite=true")
    if d.main:
        print(f"resuming from {choice}", flush=True)
    ck, rank_file = Path(choice), Path(choice) / f"rank{d.rank}.pt"
    state = state if d.main else _load(ck / "state.pt")  # rank 0 loaded it while choosing
    if not rank_file.exists():
        raise RunError(f"{ck} was written by {state['world_size']} processes; resume it with the "
                       f"same --nproc-per-node (this process is rank {d.rank} of {d.world})")
    return ck, state, _load(rank_file, device)
