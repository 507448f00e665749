"""Process-group setup in one place (nanochat's `compute_init`): rank, world size, device.

torchrun sets RANK/LOCAL_RANK/WORLD_SIZE; without them we run as a single process. NCCL on CUDA,
gloo on CPU; MPS when present and alone.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .config import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name != "auto":
        dev = torch.device(name)
        if ((dev.type == "cuda" and not torch.cuda.is_available())
                or (dev.type == "mps" and not torch.backends.mps.is_available())):
            raise ConfigError(f"device={name}: torch sees no such device on this machine; use device=cpu or auto")
        # a bare "cuda" means this local rank's GPU, as auto does: torch.cuda.set_device needs an
        # index, and without one every torchrun worker would share GPU 0
        return torch.device("cuda", local_rank) if dev.type == "cuda" and dev.index is None else dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("mps" if torch.backends.mps.is_available() else "cpu")


def init(device: str = "auto") -> Dist:
    """Join the torchrun process group if there is one; return who we are and where we run."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Dist(device=pick_device(device))
    exit_with_parent()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    dev = pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        # device_id binds NCCL to this rank's GPU (without it, torch guesses from the rank and warns)
        kw = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(minutes=30), **kw)
    return Dist(rank, local, world, dev)


def exit_with_parent():
    """A torchrun worker ends when its torchrun is gone (killed with SIGKILL, say), instead of holding
    its GPU until the process group's 30-minute timeout: it polls its parent once a second, as ipykernel does."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def barrier(d: Dist):
    if d.world > 1:
        dist.barrier()


def close():
    if dist.is_initialized():
        dist.barrier()  # leaving together avoids gloo aborting on a peer that already tore down
        dist.destroy_process_group()


def broadcast_object(obj, d: Dist):
    """Rank 0's Python object on every rank (used for run ids and resolved configs)."""
    if d.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(fn, d: Dist):
    """`fn()` on rank 0 only (building a dataset, say), its result — or the UserError it raised — on
    every rank, so no rank waits at a barrier for a peer that gave up."""
    from .errors import UserError, io_error
    out, err = None, None
    if d.main:
        try:
            out = fn()
        except UserError as e:
            err = e
        except OSError as e:  # a full disk, say: one line, on every rank
            err = io_error(e)
    out, err = broadcast_object((out, err), d)
    if err is not None:
        raise err
    return out
