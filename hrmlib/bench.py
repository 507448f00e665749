"""Time training steps and evaluation on random puzzle-shaped data; print a table, write JSON.

    python -m hrmlib.bench debug batch=32                                   # CPU, eager
    python -m hrmlib.bench sudoku_extreme_1k batch=768 device=cuda compile=true
    python -m hrmlib.bench sudoku_extreme_1k batch=64 seq_len=900 vocab=12  # Maze/ARC shape
    python -m hrmlib.bench sudoku_extreme_1k batch=768 device=cuda compile=true modes=train profile=prof.txt

A train step is the trainer's own (`hrmlib.train.step.train_step` on a `TrainState` built as the
trainer builds it): one ACT segment (forward with the bootstrap pass) on a global batch, the loss,
backward, both optimizer steps, and the diagnostics unless diagnostics=false. Eval is all
halt_max_steps segments of a batch; eval_q streams `stream` batches' worth of puzzles through the
batch's slots with eval_halting=q (a row stops when Q halts it and its slot takes the next puzzle;
random weights rarely halt early).
matmul times one square matmul (8192 on CUDA, 1024 on CPU) at the forward dtype: the ceiling
that the other rows' TFLOP/s are read against.
Warm-up steps are excluded, devices are synchronised, the median of `repeats` is reported, and
achieved FLOP/s come from counting the matmuls (`flops`).
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import torch

import numpy as np

from . import config as C
from .dist import Dist, pick_device
from .errors import cli
from .model.layers import swiglu_width
from .paths import writable
from .runs import atomic_write
from .train.evaluation import refill
from .train.step import TrainState, train_step


@dataclass(frozen=True)
class Options:
    """What to measure, set with the same key=value grammar as the config (the other keys are config overrides)."""
    batch: int = 32  # rows per train step / eval batch
    seq_len: int = 81  # grid tokens of the random puzzles (81 Sudoku, 900 Maze/ARC)
    vocab: int = 11  # token vocabulary of the random puzzles
    puzzle_ids: int = 1  # puzzle identifiers in the random batch
    device: str = "cpu"  # cpu, cuda, cuda:N, mps
    compile: bool = False  # torch.compile the model
    warmup: int = 3  # untimed calls first
    repeats: int = 10  # timed calls (the median is reported)
    modes: str = "train,eval"  # comma-separated: train, eval, eval_q, matmul
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # forward dtype (auto: the config's)
    out: str = ""  # write the rows as JSON here
    stream: int = 4  # eval_q: batches' worth of puzzles streamed through the slots
    profile: str = ""  # also profile `repeats` more calls per mode; the top kernels and their share go here (text)

    def __post_init__(self):
        for k, least in (("batch", 1), ("seq_len", 1), ("vocab", 2), ("puzzle_ids", 1), ("warmup", 0), ("repeats", 1),
                         ("stream", 1)):
            if getattr(self, k) < least:
                raise C.ConfigError(f"{k}: must be >= {least}, got {getattr(self, k)}")


def layer_flops(cfg: C.ArchConfig, B: int, S: int) -> float:
    """Matmul FLOPs of one block on [B, S, D] (forward): attention or TRM's token-mixing MLP, then
    the channel SwiGLU."""
    D, I = cfg.hidden_size, swiglu_width(cfg.hidden_size, cfg.expansion)
    if cfg.mlp_t:  # SwiGLU across the S positions of each of the D channels
        It = swiglu_width(S, cfg.expansion)
        mix = B * D * (2 * S * 2 * It + 2 * It * S)
    else:
        mix = B * S * (2 * D * 3 * D + 2 * D * D) + 4 * B * S * S * D
    return mix + B * S * (2 * D * 2 * I + 2 * I * D)


def flops(cfg: C.ArchConfig, B: int, S: int, V: int, mode: str) -> float:
    """FLOPs of one train step (the inner pass, the bootstrap pass if any, backward of the
    differentiated part) or one eval batch. HRM differentiates its last L and H update; TRM its
    whole last recursion (L_cycles + 1 calls of its network)."""
    if cfg.name == "trm":
        per_pass = cfg.H_cycles * (cfg.L_cycles + 1) * cfg.L_layers  # layer passes in one inner call
        grad_layers = (cfg.L_cycles + 1) * cfg.L_layers
    else:
        per_pass = cfg.H_cycles * (cfg.L_cycles * cfg.L_layers + cfg.H_layers)
        grad_layers = cfg.L_layers + cfg.H_layers
    lf, head = layer_flops(cfg, B, S), 2 * B * S * cfg.hidden_size * V
    if mode.startswith("eval"):  # all halt_max_steps segments of the batch
        return cfg.halt_max_steps * (per_pass * lf + head)
    passes = 2 if cfg.halt_max_steps > 1 and cfg.continue_loss else 1
    return passes * (per_pass * lf + head) + 2 * (grad_layers * lf + head)  # backward ≈ 2× forward


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def profile(fn, dev, n: int, title: str, top: int = 20) -> str:
    """`n` calls of fn under torch.profiler: the operators and kernels with the most self time on the
    device (on CPU: on the host), per call and as a share of the total, as a text table."""
    from torch.profiler import ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(n):
            fn()
        _sync(dev)
    key = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    ev = sorted(((getattr(e, key), e) for e in prof.key_averages() if getattr(e, key) > 0), key=lambda te: -te[0])
    total = sum(t for t, _ in ev) or 1
    lines = [f"== {title}: {total / 1e3 / n:.2f} ms of {'device' if dev.type == 'cuda' else 'host'} time per call",
             f"{'ms/call':>9} {'share':>6} {'calls':>6}  name"]
    lines += [f"{t / 1e3 / n:9.3f} {100 * t / total:5.1f}% {e.count / n:6.0f}  {e.key[:110]}" for t, e in ev[:top]]
    return "\n".join(lines) + "\n"


def _write(path: str, text: str):
    """Bench outputs may name a folder that does not exist yet (gpu-check's do)."""
    path = writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)


MODES = ("train", "eval", "eval_q", "matmul", "memory")
START_RSS = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB (Linux): the process before any model


def memory_row(s, preset: str, overrides: list[str], opts: "Options") -> dict:
    """Peak memory of the training step: on CUDA the allocator's peak over two steps; on a CPU the peak
    resident set of a child process that runs them (this process holds other modes' memory), less
    what that process held before building the model. Beside it, the trainer's start-up estimate."""
    from .train import memory
    est = memory.estimate(s)
    row = {"preset": preset, "overrides": overrides, "mode": "memory", "batch": opts.batch, "seq_len": opts.seq_len,
           "device": str(s.d.device), "dtype": str(s.model.dtype).removeprefix("torch."), "compile": opts.compile,
           "micro_batch": s.micro, "estimate_gb": (est["fixed"] + est["per_row"] * s.micro) / 2**30}
    if s.d.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(s.d.device)
        for _ in range(2):
            train_step(s, random_batch(opts))
        torch.cuda.synchronize(s.d.device)
        return row | {"peak_mem_gb": torch.cuda.max_memory_allocated(s.d.device) / 2**30}
    with tempfile.TemporaryDirectory() as tmp:
        args = [f"{f.name}={getattr(opts, f.name)}" for f in fields(Options)
                if f.name not in ("modes", "out", "profile")]
        subprocess.run([sys.executable, "-m", "hrmlib.bench", preset, *overrides, *args, "modes=train", "warmup=1",
                        "repeats=1", f"out={tmp}/train.json"], check=True, capture_output=True, text=True)
        child = json.loads(Path(tmp, "train.json").read_text())[0]
    return row | {"peak_mem_gb": child["peak_mem_gb"], "step_mem_gb": child["peak_mem_gb"] - child["start_mem_gb"]}


def random_batch(opts: "Options") -> dict:
    """A seeded global batch of random puzzle-shaped tokens (numpy, as the sampler yields it)."""
    g = np.random.default_rng(0)
    B, S, V, N = opts.batch, opts.seq_len, opts.vocab, opts.puzzle_ids
    return {"inputs": g.integers(1, V, (B, S), dtype=np.int32), "labels": g.integers(1, V, (B, S), dtype=np.int32),
            "puzzle_identifiers": g.integers(0, N, B, dtype=np.int32)}


def prepare(preset: str, overrides: list[str], opts: Options) -> TrainState:
    """The training state the bench times: built by the trainer's `TrainState.create` from the preset,
    the overrides and the bench's batch, on puzzle-shaped sizes instead of a dataset."""
    cfg = C.load(preset, [*overrides, f"global_batch_size={opts.batch}", f"compile={opts.compile}"]
                 + ([f"arch.forward_dtype={opts.dtype}"] if opts.dtype != "auto" else []))
    dims = {"vocab_size": opts.vocab, "seq_len": opts.seq_len, "num_puzzle_identifiers": opts.puzzle_ids}
    return TrainState.create(cfg, {"dims": dims}, Dist(device=pick_device(opts.device)), total=10**6)


def train(s: TrainState, batch: dict):
    """What mode=train times: the trainer's step, diagnostics included unless diagnostics=false."""
    train_step(s, batch)


def measure(preset: str, overrides: list[str], opts: Options = Options()) -> list[dict]:
    if bad := [m for m in opts.modes.split(",") if m not in MODES]:  # before minutes of compiling and timing
        raise C.ConfigError(f"modes: {bad[0]!r} is not one of {', '.join(MODES)}")
    for out in (opts.out, opts.profile):  # before minutes of timing
        if out:
            writable(out, out)
    s = prepare(preset, overrides, opts)
    cfg, dev, model, fwd, dtype = s.cfg, s.d.device, s.model, s.fwd, s.model.dtype
    B, S, V = opts.batch, opts.seq_len, opts.vocab
    batch = random_batch(opts)
    on_dev = {k: torch.from_numpy(v).to(dev) for k, v in batch.items()}
    S_all = S + model.P
    out_rows, profiles = [], []
    for mode in opts.modes.split(","):
        state, mm, mm_out = {}, None, None
        if mode == "memory":
            out_rows.append(memory_row(s, preset, overrides, opts))
            continue
        n_q = B * opts.stream
        n_mm = 8192 if dev.type == "cuda" else 1024
        if mode == "matmul":
            mm = [torch.randn(n_mm, n_mm, generator=torch.Generator().manual_seed(0)).to(dev, dtype) for _ in range(2)]
            mm_out = torch.empty_like(mm[0])

        def eval_batch():
            with torch.inference_mode():
                for _ in model.rollout(on_dev, call=fwd):
                    pass

        # every slot refilled from the same random batch: which puzzle is irrelevant here
        def eval_q(state=state, n_q=n_q):
            model.eval()
            with torch.inference_mode():
                segs = [int((p >= 0).sum()) for p, *_ in refill(fwd, lambda new: on_dev, n_q, B)]
            state["segs"], state["calls"] = sum(segs), len(segs)

        def matmul(mm=mm, mm_out=mm_out):
            torch.mm(*mm, out=mm_out)

        fn = {"train": lambda: train(s, batch), "eval": eval_batch, "eval_q": eval_q, "matmul": matmul}[mode]
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        t_first = time.perf_counter()
        for _ in range(opts.warmup):
            fn()
        _sync(dev)
        warm_s = time.perf_counter() - t_first
        times = []
        for _ in range(opts.repeats):
            t = time.perf_counter()
            fn()
            _sync(dev)
            times.append(time.perf_counter() - t)
        med = statistics.median(times)
        if opts.profile:
            profiles.append(profile(fn, dev, opts.repeats, f"{preset} {mode} batch {B} compile={opts.compile}"))
        fl = 2 * n_mm**3 if mode == "matmul" else flops(cfg.arch, B, S_all, V, mode)
        if mode == "eval_q":  # per_s counts puzzles; FLOPs are those of the calls made (idle slots too)
            fl *= state["calls"] / cfg.arch.halt_max_steps
        out_rows.append({
            "preset": preset, "overrides": overrides, "mode": mode, "batch": B, "seq_len": S, "device": str(dev),
            "dtype": str(dtype).removeprefix("torch."), "compile": opts.compile,
            "ms": med * 1e3, "ms_min": min(times) * 1e3,
            "per_s": (n_q if mode == "eval_q" else 1 if mode == "matmul" else B) / med,
            "steps_per_s": 1 / med, "segments": state["segs"] / n_q if mode == "eval_q" else None,
            "tflops": fl / med / 1e12, "gflop": fl / 1e9, "warmup_s": warm_s, "threads": torch.get_num_threads(),
            "micro_batch": s.micro,
            # the allocator's peak on CUDA; on a CPU this process's peak resident set (and what it held at start)
            "peak_mem_gb": (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**30,
            "start_mem_gb": None if dev.type == "cuda" else START_RSS * 1024 / 2**30,
        })
    if opts.profile:
        _write(opts.profile, "".join(profiles))
    return out_rows


def table(rows: list[dict]) -> str:
    head = f"{'preset':<20}{'mode':<8}{'batch':>6}{'micro':>6}{'S':>5}{'dtype':>10}{'compile':>8}{'ms':>10}" \
           f"{'ex/s':>10}{'TFLOP/s':>9}{'peak GB':>9}"
    lines = [head, "-" * len(head)]
    num = lambda r, k, f: format(r[k], f) if r.get(k) is not None else "-"
    for r in rows:
        lines.append(f"{r['preset']:<20}{r['mode']:<8}{r['batch']:>6}{r['micro_batch']:>6}{r['seq_len']:>5}"
                     f"{r['dtype']:>10}{str(r['compile']):>8}{num(r, 'ms', '.1f'):>10}{num(r, 'per_s', '.1f'):>10}"
                     f"{num(r, 'tflops', '.4f'):>9}{num(r, 'peak_mem_gb', '.3f'):>9}"
                     + (f"  (the step {num(r, 'step_mem_gb', '.3f')} GB; estimated {r['estimate_gb']:.3f} GB)"
                        if r["mode"] == "memory" else ""))
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    if not argv or "=" in argv[0]:
        raise C.ConfigError("give a preset first: python -m hrmlib.bench PRESET [option=value …] (--help lists them)")
    if argv[0] not in C.PRESETS:
        raise C.ConfigError(f"unknown preset {argv[0]!r}; choose one of: {', '.join(C.PRESETS)}")
    names = {f.name for f in fields(Options)}
    mine = [a for a in argv[1:] if C.split(a, "e.g. batch=32")[0] in names]
    try:
        opts = C.apply(Options(), mine)  # strict types: compile=ture is an error, not "eager"
        rows = measure(argv[0], [a for a in argv[1:] if a not in mine], opts)
    except C.ConfigError as e:
        hint = f" (bench options: {', '.join(sorted(names))})" if "unknown key" in str(e) else ""
        raise C.ConfigError(f"{e}{hint}") from None
    print(table(rows))
    if opts.out:
        _write(opts.out, json.dumps(rows, indent=2))
    return 0


def main(argv=None) -> int:
    return cli(run, argv, lambda _: __doc__ + "\noptions:\n" + C.describe(Options()))


if __name__ == "__main__":
    sys.exit(main())
