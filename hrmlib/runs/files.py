"""The files of a run directory besides checkpoints: its id, config/env JSON, metrics.jsonl (plus
optional TensorBoard/wandb sinks), evaluation predictions, and the lock that keeps one trainer per
run. Every write is atomic (a temporary name renamed when complete)."""
from __future__ import annotations

import importlib
import json
import os
import platform
import secrets
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from ..errors import UserError
from ..dist import Dist
from ..paths import SOURCE, alive


def new_run_id(preset: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-{secrets.token_hex(2)}"


def atomic_write(path: Path, content: str | bytes):
    """Write under a temporary name, then rename: a reader (or a kill) never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(content) if isinstance(content, bytes) else tmp.write_text(content)
    os.replace(tmp, path)
    return path


def write_jsonl(path: Path, rows: list[dict]):
    """A whole JSON-lines file, atomically."""
    return atomic_write(path, "".join(json.dumps(r) + "\n" for r in rows))


def read_json(path: Path) -> dict:
    """A JSON file of a run (an evaluation's metrics.json, arc_votes.json)."""
    return json.loads(Path(path).read_text())


class RunError(UserError, RuntimeError):
    """A run directory that cannot be used as asked (another run in it, locked by a live trainer,
    nothing to resume, damaged files): the message says what to do."""


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
        except (OSError, ValueError):
            other = None
        if not (isinstance(other, dict) and isinstance(other.get("pid"), int) and isinstance(other.get("host"), str)):
            # not what a Lock writes (it appears whole, by a hard link): no trainer holds it
            other = {"host": self.me["host"], "pid": -1, "started": "?"}
        if other["host"] == self.me["host"] and (other["pid"] < 0 or not alive(other["pid"])):
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
            return subprocess.run(["git", *args], cwd=SOURCE, capture_output=True, text=True, timeout=10).stdout.strip()
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


def check_sinks(cfg):
    """The optional sinks a config asks for are installed (checked before a run directory is made)."""
    if cfg.tensorboard:
        _optional("torch.utils.tensorboard", "tensorboard=true", "tensorboard")
    if cfg.wandb:
        _optional("wandb", f"wandb={cfg.wandb}", "wandb")


class Metrics:
    """metrics.jsonl (always, appended line by line) plus optional wandb / TensorBoard sinks."""

    def __init__(self, run: Path, cfg, enabled: bool):
        self.path, self.enabled, self.sinks = run / "metrics.jsonl", enabled, []
        if enabled and cfg.tensorboard:
            SummaryWriter = _optional("torch.utils.tensorboard", "tensorboard=true", "tensorboard").SummaryWriter
            self.sinks.append(("tb", SummaryWriter(str(run / "tensorboard"))))
        if enabled and cfg.wandb:
            wandb = _optional("wandb", f"wandb={cfg.wandb}", "wandb")
            wandb.init(project="hrm-workbench", name=run.name, dir=str(run), config=cfg.to_dict(),
                       mode=cfg.wandb, resume="allow", id=run.name)
            self.sinks.append(("wandb", wandb))

    def log(self, row: dict):
        if not self.enabled:
            return
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:  # a full disk: name the file (a torn last line is dropped on resume)
            e.filename = e.filename or str(self.path)
            raise
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
        write_jsonl(self.path, [r for r in read_jsonl(self.path, torn_ok=True) if r["step"] <= step])

    def close(self):
        for kind, sink in self.sinks:
            (sink.close if kind == "tb" else sink.finish)()


def read_jsonl(path: Path, torn_ok: bool = False) -> list[dict]:
    """Rows of a metrics.jsonl. Its last line may be torn — cut by a kill mid-write, or still being written
    by a running trainer: it is skipped (with `torn_ok`, saying so). A bad line elsewhere: a RunError naming it."""
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
