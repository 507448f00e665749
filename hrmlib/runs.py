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

import torch

from .config import ConfigError
from .dist import Dist, barrier

ROOT = Path(__file__).resolve().parents[1]


def new_run_id(preset: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{preset}-{secrets.token_hex(2)}"


def atomic_write(path: Path, text: str):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


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
        """On resume, drop lines logged after the checkpoint so the curve continues seamlessly."""
        if not (self.enabled and self.path.exists()):
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        atomic_write(self.path, "".join(ln + "\n" for ln in keep))

    def close(self):
        for kind, sink in self.sinks:
            (sink.close if kind == "tb" else sink.finish)()


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


def load_checkpoint(path: Path, d: Dist, device) -> tuple[dict, dict]:
    state = torch.load(path / "state.pt", map_location=device, weights_only=True)
    rank_file = path / f"rank{d.rank}.pt"
    if not rank_file.exists():
        raise FileNotFoundError(f"{path} was written by {state['world_size']} processes; resume it with the "
                                f"same --nproc-per-node (this process is rank {d.rank} of {d.world})")
    return state, torch.load(rank_file, map_location=device, weights_only=True)
