"""Training diagnostics, on by default (`diagnostics=false` turns them off; their cost is measured in
docs/benchmarks.md): the gradient norm, globally and per part of the model, the parameter norm, the
update-to-parameter ratio, the share of halts exploration blocked, peak memory — and warnings, as
log lines, when a norm explodes or the Q head collapses.

What a maintainer asks first when a model does not learn ("check the gradient magnitude, the
parameter norm and the loss trends") is then in metrics.jsonl, TensorBoard and wandb for every run.
"""
from __future__ import annotations

import math
import resource
import statistics

import torch
import torch.distributed as tdist

# model part of each parameter, by the first component of its name
PARTS = {"H": "H", "L": "L", "net": "net", "embed": "embed", "pos": "embed", "lm_head": "lm_head", "q_head": "q_head"}


class Diagnostics:
    """Call `grads()` after backward (before the optimizer step: DDP has averaged the gradients, so
    every rank agrees) and `update()` after it; each returns metrics for the step's row."""

    def __init__(self, model: torch.nn.Module, world: int = 1):
        self.model, self.world = model, world
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        self.part = [PARTS.get(n.split(".")[0], "other") for n, _ in named]
        self.before: list[torch.Tensor] = []

    @torch.no_grad()
    def grads(self) -> dict:
        have = [(p.grad, k) for p, k in zip(self.params, self.part) if p.grad is not None]
        sq = torch.stack(torch._foreach_norm([g for g, _ in have])).double() ** 2 if have else torch.zeros(0)
        out = {"grad_norm": sq.sum().sqrt().item()}
        sqs = sq.tolist()  # one copy to the host for every part
        for k in dict.fromkeys(self.part):
            out[f"grad_norm.{k}"] = sum(s for s, (_, kk) in zip(sqs, have) if kk == k) ** 0.5
        emb = getattr(self.model, "puzzle_emb", None)
        if emb is not None and (found := emb.gradient()) is not None:
            g2 = found[0].double().square().sum()
            if self.world > 1:  # each rank holds the rows of its own share of the batch
                tdist.all_reduce(g2)
            out["grad_norm.puzzle_emb"] = g2.sqrt().item()
        self.before = [p.detach().clone() for p in self.params]
        return out

    @torch.no_grad()
    def update(self) -> dict:
        """After the optimizer step: parameter norm and ‖Δθ‖ / ‖θ‖ of this step's update."""
        p_norm = torch.stack(torch._foreach_norm(self.params)).double().square().sum().sqrt()
        delta = torch._foreach_sub([p.detach() for p in self.params], self.before)
        d_norm = torch.stack(torch._foreach_norm(delta)).double().square().sum().sqrt()
        self.before, dev = [], self.params[0].device
        # peak memory of this process: CUDA's allocator on a GPU, the resident set (Linux: KiB) on a CPU
        mem = (torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        return {"param_norm": p_norm.item(), "update_ratio": (d_norm / p_norm.clamp_min(1e-30)).item(),
                "peak_mem_gb": mem}


class Watch:
    """Early warnings from the rows the trainer logs: a norm far above its recent median (or not
    finite), and a Q head that halts every puzzle after one segment, or none before the limit."""
    window, factor = 50, 10.0  # the steps a median and a Q streak look back over; "far above" the median

    def __init__(self, halt_max_steps: int):
        self.max = halt_max_steps
        self.history: dict[str, list[float]] = {"grad_norm": [], "param_norm": []}
        self.act_steps: list[float] = []
        self.quiet_until: dict[str, int] = {}

    def __call__(self, row: dict) -> list[str]:
        step, out = row["step"], []
        for k, hist in self.history.items():
            if (v := row.get(k)) is None:
                continue
            med = statistics.median(hist or [0.0])
            if len(hist) >= 20 and (not math.isfinite(v) or v > self.factor * med):
                self._say(out, k, step, f"{k} is {v:.3g} at step {step}, {v / max(med, 1e-30):.0f}× its median over "
                                        f"the last {len(hist)} steps: the run may be diverging "
                                        f"(a lower lr, or arch.forward_dtype=float32)")
            hist.append(v)
            del hist[:-self.window]
        if self.max > 1 and row.get("count"):
            self.act_steps.append(row["act_steps"])
            del self.act_steps[:-self.window]
            full = len(self.act_steps) == self.window
            if full and all(a == 1 for a in self.act_steps):
                self._say(out, "q_first", step, f"Q head collapse: every puzzle halted after its first segment "
                                                f"for the last {self.window} steps (step {step})")
            if full and step > 4 * self.window and all(a == self.max for a in self.act_steps):
                self._say(out, "q_never", step, f"Q halted no puzzle before the limit of {self.max} segments in "
                                                f"the last {self.window} steps (step {step})")
        return out

    def _say(self, out: list, key: str, step: int, msg: str):
        if step >= self.quiet_until.get(key, 0):  # once per condition per 10 windows
            self.quiet_until[key] = step + 10 * self.window
            out.append("warning: " + msg)
