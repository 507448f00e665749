"""Run directories: `runs/<id>/` with config.json, env.json, metrics.jsonl, checkpoints/, eval/.

Checkpoints are directories `checkpoints/step_<N>/` holding `state.pt` (weights, both optimizers,
progress, the dataset identifiers) and one `rank<r>.pt` per process (its ACT carry and RNG
states), so a killed run resumes exactly. They are written under `step_<N>.partial/` and renamed
when complete: a crash mid-write never leaves a checkpoint that looks whole.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from . import ROOT
from .config import ConfigError
from .dist import Dist, barrier, broadcast_object

def new_run_id(preset: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-{secrets.token_hex(2)}"


def atomic_write(path: Path, content: str | bytes):
    """Write under a temporary name, then rename: a reader (or a kill) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(content) if isinstance(content, bytes) else tmp.write_text(content)
    os.replace(tmp, path)
    return path


def read_json(path: Path) -> dict:
    """A JSON file of a run (an evaluation's metrics.json, arc_votes.json)."""
    return json.loads(Path(path).read_text())


class RunError(RuntimeError):
    """A run directory that cannot be used as asked (another run in it, locked by a live trainer,
    nothing to resume, damaged files): the message says what to do."""


# What the trainer writes into a run directory. Anything else there (the executed notebook that
# launched it, the user's notes) is never touched.
RUN_ENTRIES = ("config.json", "env.json", "metrics.jsonl", "checkpoints", "eval", "tensorboard", "wandb",
               "learning_curve.png")


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet is a zombie: gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Lock:
    """`<run>/.lock` while a trainer writes the run ({host, pid, started}): a second trainer on the
    same directory is refused; a lock whose process is gone (same host) is taken over, saying so."""

    def __init__(self, run: Path):
        self.path = run / ".lock"
        self.me = {"host": platform.node(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def __enter__(self):
        tmp = self.path.with_name(f".lock.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.me))
            for _ in range(3):
                try:
                    os.link(tmp, self.path)  # appears whole, or not at all (a kill never leaves it empty)
                    return self
                except FileExistsError:
                    self._stale_or_raise()
        except OSError as e:
            raise RunError(f"cannot write the run directory {self.path.parent}: {e.strerror}") from None
        finally:
            tmp.unlink(missing_ok=True)
        raise RunError(f"could not take {self.path}; delete it if no trainer is running on this run")

    def _stale_or_raise(self):
        try:
            other = json.loads(self.path.read_text())
        except (OSError, ValueError):  # not written by a Lock
            other = {"host": self.me["host"], "pid": -1, "started": "?"}
        if other.get("host") == self.me["host"] and (other["pid"] < 0 or not _alive(other["pid"])):
            print(f"taking over {self.path}: pid {other['pid']} (started {other.get('started')}) is no longer "
                  f"running", flush=True)
            self.path.unlink(missing_ok=True)
            return
        raise RunError(f"{self.path.parent} is being written by pid {other.get('pid')} on {other.get('host')} "
                       f"(since {other.get('started')}); wait for it or stop it — if that process is gone, "
                       f"delete {self.path}")

    def __exit__(self, *exc):
        try:
            if json.loads(self.path.read_text()).get("pid") == self.me["pid"]:
                self.path.unlink()
        except (OSError, ValueError):
            pass


def env_info(d: Dist) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dev = d.device
    return {
        "git_commit": git("rev-parse", "HEAD") or None,
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "host": platform.node(), "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or dev.type,
        "world_size": d.world, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _optional(module: str, key: str, package: str):
    """Import an optional sink's module, or fail with one line that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{key} needs the {package} package, which is not installed: pip install {package}, "
                          f"or train without {key}") from None


class Metrics:
    """metrics.jsonl (always, appended line by line) plus optional wandb / TensorBoard sinks."""

    def __init__(self, run: Path, cfg, enabled: bool):
        self.path, self.enabled, self.sinks = run / "metrics.jsonl", enabled, []
        if not enabled:
            return
        if cfg.tensorboard:
            SummaryWriter = _optional("torch.utils.tensorboard", "tensorboard=true", "tensorboard").SummaryWriter
            self.sinks.append(("tb", SummaryWriter(str(run / "tensorboard"))))
        if cfg.wandb:
            wandb = _optional("wandb", f"wandb={cfg.wandb}", "wandb")
            wandb.init(project="hrm-workbench", name=run.name, dir=str(run), config=cfg.to_dict(),
                       mode=cfg.wandb, resume="allow", id=run.name)
            self.sinks.append(("wandb", wandb))

    def log(self, row: dict):
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        split, step = row.get("split", "train"), row["step"]
        nums = {f"{split}/{k}": v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
        for kind, sink in self.sinks:
            if kind == "tb":
                for k, v in nums.items():
                    sink.add_scalar(k, v, step)
            else:
                sink.log(nums, step=step)

    def truncate_after(self, step: int):
        """On resume, drop lines logged after the checkpoint so the curve continues seamlessly. A
        torn last line (a kill mid-write) is dropped, saying so; a bad line elsewhere is an error."""
        if not (self.enabled and self.path.exists()):
            return
        rows = read_jsonl(self.path, torn_ok=True)
        keep = [json.dumps(r) for r in rows if r["step"] <= step]
        atomic_write(self.path, "".join(ln + "\n" for ln in keep))

    def close(self):
        for kind, sink in self.sinks:
            (sink.close if kind == "tb" else sink.finish)()


def read_jsonl(path: Path, torn_ok: bool = False) -> list[dict]:
    """Rows of a metrics.jsonl. Its last line may be torn — cut by a kill mid-write, or still being
    written by a running trainer: it is skipped (with `torn_ok`, saying so). A bad line elsewhere
    is a RunError naming its line number."""
    lines = path.read_text().split("\n")
    rows = []
    for i, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        try:
            rows.append(json.loads(ln))
        except json.JSONDecodeError as e:
            if i == len(lines):  # no newline after it: the write never finished
                if torn_ok:
                    print(f"{path}: dropped a torn last line (a write cut short): {ln[:60]!r}", flush=True)
                break
            raise RunError(f"{path}: line {i} is not valid JSON ({e.msg}); remove or repair that line") from None
    return rows


# ---------------------------------------------------------------------------- predictions

def save_preds(out_dir: Path, arrays: dict, d: Dist):
    """One evaluation's predictions of this rank: `<out_dir>/preds.rank<r>.npz`, written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".preds.rank{d.rank}.tmp.npz"
    np.savez(tmp, **arrays)
    tmp.replace(out_dir / f"preds.rank{d.rank}.npz")
    if d.main:  # files of ranks beyond this world size are from an earlier, larger evaluation
        for p in out_dir.glob("preds.rank*.npz"):
            if int(p.stem.removeprefix("preds.rank")) >= d.world:
                p.unlink()


def load_preds(eval_dir: Path) -> dict[str, np.ndarray]:
    """All ranks' predictions of one evaluation, in example order."""
    parts = [dict(np.load(p)) for p in sorted(Path(eval_dir).glob("preds.rank*.npz"))]
    if not parts:
        raise FileNotFoundError(f"no preds.rank*.npz in {eval_dir}")
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cat["index"], kind="stable")
    return {k: v[order] for k, v in cat.items()}


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
    d = run / "checkpoints"
    if not d.is_dir():
        return []
    found = [p for p in d.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()
             and (p / "state.pt").exists()]
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
        keep = {p.name for p in checkpoints(run)[-keep_last:]} | ({f"step_{best_step}"} if best_step else set())
        for p in checkpoints(run):
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
    barrier(d)
    return final


def finite(*trees) -> bool:
    """Every floating tensor in nested dicts/lists is finite (what a checkpoint may hold)."""
    def walk(x):
        if isinstance(x, torch.Tensor):
            return not x.is_floating_point() or bool(torch.isfinite(x).all())
        if isinstance(x, dict):
            return all(walk(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(walk(v) for v in x)
        return True
    return all(walk(t) for t in trees)


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
    from .config import apply, from_saved
    from .model import build, forward_dtype, load_checked
    state = load_state(ck)
    cfg = apply(from_saved(state["config"]), list(overrides))
    if "dims" in state:
        dims = state["dims"]
    else:  # a checkpoint written without its sizes: the dataset's
        from .data import load_split
        dims = vars(load_split(Path(cfg.data_path), "test").meta)
    model = build(cfg.arch, dims, forward_dtype(cfg.arch.forward_dtype, torch.device(device).type))
    load_checked(model, state["model"])
    return model.to(device), cfg, state


def load_state(ck: Path) -> dict:
    """A checkpoint's state.pt (weights, config, identifiers) on the CPU; RunError when damaged."""
    return _load(ck / "state.pt")


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


def load_checkpoint(path: Path, d: Dist, device) -> tuple[dict, dict]:
    state = _load(path / "state.pt", device)
    rank_file = path / f"rank{d.rank}.pt"
    if not rank_file.exists():
        raise RunError(f"{path} was written by {state['world_size']} processes; resume it with the "
                       f"same --nproc-per-node (this process is rank {d.rank} of {d.world})")
    return state, _load(rank_file, device)


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
    so. Rank 0 decides, so every process resumes from the same one."""
    choice = None
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
    if d.main and choice:
        print(f"resuming from {choice}", flush=True)
    if choice is None:
        raise RunError(f"resume={run}: no checkpoint there loads (all damaged); start over with run_dir={run} "
                       f"overwrite=true")
    return Path(choice), *load_checkpoint(Path(choice), d, device)
