"""Checkpoints: directories `checkpoints/step_<N>/` holding `state.pt` (weights, both optimizers,
progress, the dataset identifiers and fingerprint) and one `rank<r>.pt` per process (its ACT carry
and RNG states), so a killed run resumes exactly. They are written under `step_<N>.partial/` and
renamed when complete: a crash mid-write never leaves a checkpoint that looks whole. A damaged one
is skipped on resume, named by evaluation; a non-finite state is never written. Rewinding moves the
abandoned continuation aside; branching starts a new run from another run's checkpoint, which is
only read."""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import torch

from ..config import diff, roles
from ..dist import Dist, barrier, broadcast_object
from ..errors import io_error, write_file
from ..paths import resolve
from .files import RunError, read_jsonl, write_jsonl

# What the trainer writes into a run directory. Anything else there (the executed notebook that
# launched it, the user's notes) is never touched.
RUN_ENTRIES = ("config.json", "env.json", "metrics.jsonl", "checkpoints", "eval", "tensorboard", "wandb", "live",
               "learning_curve.png", "diagnostics.png")
FIGURES = ("learning_curve.png", "diagnostics.png")


def prepare(run: Path, resume: bool, overwrite: bool):
    """Two runs never mix in one directory: one holding a run is continued (`resume=`) or, with
    `overwrite=true`, cleared of the trainer's files first; `resume=` needs a checkpoint. A trainer
    entry that is a symbolic link is unlinked; what it points to is left alone."""
    found = [n for n in RUN_ENTRIES if (run / n).exists() or (run / n).is_symlink()]
    found += sorted(p.name for p in run.glob("rewound-*"))
    if resume:
        if not checkpoints(run):
            raise RunError(f"resume={run}: no checkpoint there, so nothing to resume from; start a new run "
                           f"(without resume=), or start over in it with run_dir={run} overwrite=true")
        return
    if found and not overwrite:
        raise RunError(f"run_dir={run} already holds a run ({', '.join(found)}); continue it with resume={run}, "
                       f"start over in it with overwrite=true, or choose another run_dir")
    for n in found:
        p = run / n
        if p.is_symlink():
            print(f"overwrite: removed the link {p} (its target {os.readlink(p)} is left alone)", flush=True)
            p.unlink()
        else:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


# ---------------------------------------------------------------------------- checkpoints

class IdentifierMismatch(RunError):
    """A checkpoint's puzzle embeddings index another dataset's identifiers (docs/pitfalls.md, P14)."""


def check_identifiers(ckpt_ids: list[str], data_ids: list[str], where):
    if ckpt_ids != data_ids:
        diff_at = next((i for i, (a, b) in enumerate(zip(ckpt_ids, data_ids)) if a != b),
                       min(len(ckpt_ids), len(data_ids)))
        raise IdentifierMismatch(f"{where} was trained on a dataset with other puzzle identifiers ({len(ckpt_ids)} "
                                 f"vs {len(data_ids)}; first difference at index {diff_at}); its puzzle embeddings "
                                 f"would be meaningless here — use the dataset it was trained on (its "
                                 f"identifiers.json)")


def checkpoints(run: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    found = [p for p in (Path(run) / "checkpoints").glob("step_*")
             if p.name[5:].isdigit() and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def save(obj, path: Path):
    """torch.save to `path`; a failed write (a full disk) raises its OSError."""
    write_file(path, lambda f: torch.save(obj, f))


def save_checkpoint(run: Path, step: int, state: dict, rank_state: dict, d: Dist, keep_last: int,
                    best_step: int | None) -> Path:
    final = run / "checkpoints" / f"step_{step}"
    part = final.with_name(final.name + ".partial")
    done = checkpoints(run)
    try:
        if d.main:
            shutil.rmtree(part, ignore_errors=True)
            part.mkdir(parents=True)
        barrier(d)
        save(rank_state, part / f"rank{d.rank}.pt")
        barrier(d)
        if d.main:
            save(state, part / "state.pt")  # state.pt last: its presence marks completeness
            shutil.rmtree(final, ignore_errors=True)
            os.replace(part, final)
    except OSError as e:  # a full disk: the partial checkpoint goes, the complete ones stay
        shutil.rmtree(part, ignore_errors=True)
        safe = f"the last complete checkpoint, {done[-1]}, is intact" if done else "no checkpoint was complete yet"
        e.filename = e.filename or str(part)
        raise io_error(e, f"{safe}; free space, then resume with python -m hrmlib.train resume={run}") from None
    if d.main:
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


def load_file(path: Path, device=None, mmap: bool = False) -> dict:
    """torch.load with weights_only: a pickle that would run code is refused (never run), a missing or
    damaged file is a RunError naming it. `mmap`: tensors stay on disk until read (a file in torch's
    old, non-zip format is read whole)."""
    try:
        try:
            return torch.load(path, map_location=device or "cpu", weights_only=True, mmap=mmap)
        except RuntimeError as e:
            if not (mmap and "mmap" in str(e)):
                raise
            return torch.load(path, map_location=device or "cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RunError(f"{path}: a directory, not a checkpoint file") from None
    except Exception as e:  # pickle, zip and EOF errors alike
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
        if "weights only load failed" in lines[0].lower() and "GLOBAL" in str(e):
            raise RunError(f"not a weights-only checkpoint: {path} (it holds Python objects, which are never "
                           f"unpickled here; save its state_dict with torch.save to use it)") from None
        why = next((ln for ln in lines if "Unsupported operand" in ln), lines[0])
        raise RunError(f"{path} is damaged or not a checkpoint ({type(e).__name__}: {why[:100]})") from None


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


def eval_variant(cfg, trained) -> str:
    """"" for an evaluation equal to the trainer's; else what differs from it (another dataset, a
    halting mode, a depth, any arch.* or "eval" field), e.g. "eval_halting=q", "sudoku-other"."""
    parts = [Path(cfg.data_path).name] if resolve(cfg.data_path) != resolve(trained.data_path) else []
    parts += [f"{k}={b}" for k, (a, b) in diff(trained, cfg).items()
              if k.startswith("arch.") or roles().get(k) == "eval"]
    return re.sub(r"[^\w.,=+-]+", "-", ",".join(parts))


def eval_dir(ck: Path, cfg, trained) -> Path:
    """Where an evaluation of checkpoint `ck` with config `cfg` goes: <run>/eval/step_<N>/ when it is
    the trainer's evaluation; a variant goes beside it, named by what differs
    (step_<N>-eval_halting=q/), never over the run's own."""
    v = eval_variant(cfg, trained)
    return ck.parent.parent / "eval" / (f"{ck.name}-{v}" if v else ck.name)


def evaluated(out: Path) -> bool:
    """An evaluation finished in `out`: its predictions, and metrics.json (written last)."""
    return (out / "metrics.json").exists() and any(out.glob("preds.rank*.npz"))


def usable(run: Path) -> tuple[list[Path], list[str]]:
    """(checkpoints whose state.pt loads, newest first; one line per damaged one)."""
    good, bad = [], []
    for ck in reversed(checkpoints(run)):
        try:
            load_file(ck / "state.pt")
            good.append(ck)
        except RunError as e:
            bad.append(str(e))
    return good, bad


def _step_of(name: str) -> int | None:
    m = re.match(r"step_(\d+)(?:$|-)", name)
    return int(m.group(1)) if m else None


def set_aside_after(run: Path, step: int) -> Path | None:
    """Rewinding to `step`: what the abandoned continuation wrote — later checkpoints, evaluations of
    later steps (variants too) and their live snapshots, the curve of evaluated checkpoints, the
    figures, and its metrics.jsonl as it was — is moved (not deleted) to
    <run>/rewound-<time>-from-step_<N>/, where resume and the run's readers no longer see it; with a
    copy of config.json it stays readable as a run itself."""
    later = [ck for ck in checkpoints(run) if int(ck.name[5:]) > step]
    evals = [p for p in (run / "eval").glob("step_*") if (_step_of(p.name) or 0) > step]
    lives = [p for p in (run / "live").glob("step_*.npz") if (_step_of(p.stem) or 0) > step]
    rows = read_jsonl(run / "metrics.jsonl", torn_ok=True) if (run / "metrics.jsonl").exists() else []
    if not (later or evals or lives or any(r["step"] > step for r in rows)):
        return None
    aside = run / f"rewound-{time.strftime('%Y%m%d-%H%M%S')}-from-step_{step}"
    (aside / "checkpoints").mkdir(parents=True)
    (aside / "eval").mkdir()
    moved = [(p, aside / "checkpoints" / p.name) for p in later] + [(p, aside / "eval" / p.name) for p in evals]
    moved += [(p, aside / "eval" / p.name) for p in (run / "eval").glob("checkpoints*.jsonl")]
    moved += [(run / f, aside / f) for f in FIGURES if (run / f).exists()]
    if lives:
        (aside / "live").mkdir()
        moved += [(p, aside / "live" / p.name) for p in lives]
    for src, dst in moved:
        os.replace(src, dst)
    for f in ("config.json", "env.json"):
        if (run / f).exists():
            shutil.copy2(run / f, aside / f)
    write_jsonl(aside / "metrics.jsonl", rows)
    print(f"rewound to step {step}: the later checkpoints, evaluations, figures and metrics rows are in {aside}",
          flush=True)
    return aside


def branch(ck: Path, run: Path) -> Path:
    """Start run directory `run` from checkpoint `ck` of another run: the checkpoint (hard links where
    the file system allows, else copies; checkpoint files are never written in place), the source's
    metrics rows up to the checkpoint and its evaluations (and live snapshots) of those steps. The source
    is only read."""
    src, step = ck.parent.parent, int(ck.name[5:])
    link = lambda a, b: _link_or_copy(a, b)  # noqa: E731
    shutil.copytree(ck, run / "checkpoints" / ck.name, copy_function=link)
    for p in (src / "eval").glob("step_*"):
        if (_step_of(p.name) or 0) <= step:
            shutil.copytree(p, run / "eval" / p.name, copy_function=link)
    for p in (src / "live").glob("step_*.npz"):
        if (_step_of(p.stem) or 0) <= step:
            (run / "live").mkdir(exist_ok=True)
            link(p, run / "live" / p.name)
    if (src / "metrics.jsonl").exists():
        write_jsonl(run / "metrics.jsonl", [r for r in read_jsonl(src / "metrics.jsonl") if r["step"] <= step])
    return run / "checkpoints" / ck.name


def _link_or_copy(a, b):
    try:
        os.link(a, b)
    except OSError:
        shutil.copy2(a, b)


def load_latest(run: Path, d: Dist, device, at: Path | None = None) -> tuple[Path, dict, dict]:
    """The newest checkpoint (or `at`) every file of which loads; damaged ones are skipped, saying
    so. Rank 0 decides, so every process resumes from the same one. Returns (checkpoint, state.pt on
    the CPU — loading copies it where it belongs —, this rank's file: its ACT carry on `device`).
    A checkpoint written by another number of processes is re-sharded: the ranks' carries, in rank
    order, are the global batch's rows, split again over this world (the caller has made sure that
    was asked for)."""
    choice, state = None, None
    if not at and not checkpoints(run):
        raise RunError(f"resume={run}: no checkpoint there, so nothing to resume from; start a new run "
                       f"(without resume=), or start over in it with run_dir={run} overwrite=true")
    if d.main:
        for ck in [at] if at else reversed(checkpoints(run)):
            try:
                state = load_file(ck / "state.pt")
                for r in range(state["world_size"]):
                    load_file(ck / f"rank{r}.pt")
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
    ck = Path(choice)
    state = state if d.main else load_file(ck / "state.pt")  # rank 0 loaded it while choosing
    if state["world_size"] == d.world:
        return ck, state, load_file(ck / f"rank{d.rank}.pt", device)
    return ck, state, reshard([load_file(ck / f"rank{r}.pt", device) for r in range(state["world_size"])], d)


def reshard(parts: list[dict], d: Dist) -> dict:
    """This rank's share of the carries of `parts` (the old ranks' files, in rank order)."""
    mine = dict(parts[min(d.rank, len(parts) - 1)])
    if parts[0]["carry"] is None:
        return mine
    cat = lambda xs: torch.cat(xs) if isinstance(xs[0], torch.Tensor) else {  # noqa: E731
        k: cat([x[k] for x in xs]) for k in xs[0]}
    full = {k: cat([p["carry"][k] for p in parts]) for k in parts[0]["carry"]}
    n = len(full["steps"]) // d.world
    take = lambda v: v[d.rank * n:(d.rank + 1) * n] if isinstance(v, torch.Tensor) else {  # noqa: E731
        k: take(x) for k, x in v.items()}
    return mine | {"carry": {k: take(v) for k, v in full.items()}}
