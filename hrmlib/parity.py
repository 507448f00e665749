"""`python -m hrmlib.parity DIR`: recompute every number of a parity fixture made by running the
original HRM or TRM, print one line per quantity (max abs / max rel error over all calls), and exit 1
if any exceeds its tolerance or any integer/boolean differs.

    python -m hrmlib.parity tests/fixtures/hrm-reference      # CPU, seconds
    python -m hrmlib.parity tests/fixtures/trm-reference

The fixture layouts are described in tests/fixtures/{hrm,trm}-reference/README.md; the family is
read from its config.json (TRM's has mlp_t / puzzle_emb_len / no_ACT_continue). Nothing here
assumes the fixture's sizes: the model is built from its config (opened by `hrmlib.runs.open`), the
training calls are the trainer's (`hrmlib.train.step.forward_backward`) and the evaluation is
`ACT.rollout`. Quantities whose file is absent are skipped (TRM fixtures have no stablemax_check.pt,
HRM fixtures no ema_check.pt). Runs with the original loss behaviour (padding rows scored in the
q-halt loss, docs/pitfalls.md P1): the fixtures' batches hold padding rows.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from . import runs
from .compat import arch_from_original, original_key_to_ours, to_ours
from .config import LossConfig
from .errors import UserError, cli
from .model import ACT, DTYPES, build, explore_draws, losses
from .train.ema import EMA
from .train.step import forward_backward

ORIGINAL_LOSS = LossConfig(mask_padding_rows=False)  # padding rows scored as the original does (P1)

# (rtol, atol) for forward tensors and losses, then for gradients: each fixture README's suggestion
TOLERANCES = {"hrm": ((1e-4, 1e-4), (1e-4, 2e-5)), "trm": ((1e-4, 2e-4), (1e-4, 5e-5))}
FWD, GRAD = "forward", "gradient"


class Report:
    def __init__(self, family: str = "hrm"):
        self.rows: dict[str, list] = {}  # name → [max_abs, max_rel, ok, kind, n]
        self.notes: list[str] = []
        self.tol = dict(zip((FWD, GRAD), TOLERANCES[family]))

    def check(self, name: str, ours, ref, tol=FWD):
        tol = self.tol.get(tol, tol)  # a kind's tolerance, or an explicit (rtol, atol)
        ours, ref = torch.as_tensor(ours).detach().cpu(), torch.as_tensor(ref).detach().cpu()
        row = self.rows.setdefault(name, [0.0, 0.0, True, "", 0])
        row[4] += 1
        if ours.shape != ref.shape:
            row[2], row[3] = False, f"shape {tuple(ours.shape)} vs {tuple(ref.shape)}"
            return
        if ref.dtype in (torch.bool, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
            diff = (ours.long() != ref.long()).sum().item()
            row[2] &= diff == 0
            row[3] = "exact" if row[2] else f"{diff} differ"
            return
        o, r = ours.double(), ref.double()
        err = (o - r).abs()
        row[0] = max(row[0], err.max().item() if err.numel() else 0.0)
        row[1] = max(row[1], (err / r.abs().clamp_min(1e-12)).max().item() if err.numel() else 0.0)
        row[2] &= bool((err <= tol[1] + tol[0] * r.abs()).all())
        row[3] = f"rtol {tol[0]:g} atol {tol[1]:g}"

    def print(self) -> bool:
        ok = all(r[2] for r in self.rows.values())
        w = max(len(k) for k in self.rows)
        for k, (a, rel, good, kind, n) in self.rows.items():
            calls = f"×{n}" if n > 1 else ""
            print(f"{'ok  ' if good else 'FAIL'} {k:<{w}} {calls:>4}  max_abs {a:.3e}  max_rel {rel:.3e}  ({kind})")
        for note in self.notes:
            print(f"info {note}")
        off = sum(not r[2] for r in self.rows.values())
        print(f"parity: {'PASS' if ok else 'FAIL'} ({off} of {len(self.rows)} quantities off)")
        return ok


def _load(d: Path, name: str):
    return torch.load(d / name, map_location="cpu", weights_only=True)


def fixture_model(fixture_dir, weights="state_dict.eager.pt") -> ACT:
    """The model of a parity fixture directory (config.json, with the sizes, and a state dict)."""
    d = Path(fixture_dir)
    return runs.open(d / weights, config=json.loads((d / "config.json").read_text())).model


def check_init(d: Path, cfg: dict, meta: dict, rep: Report):
    """Seeded construction reproduces the original's initial weights (same draws, same order)."""
    torch.manual_seed(meta["seeds"]["init"])
    arch, dims = arch_from_original(cfg)
    m = build(arch, dims, dtype=DTYPES[cfg.get("forward_dtype", "bfloat16")])
    ref = to_ours(_load(d, "init_state_dict.eager.pt"), m.family)
    ours = m.state_dict()
    for k, v in ref.items():
        rep.check("init weights from the seed", ours[k], v)
    same = sum((ours[k] == v).sum().item() for k, v in ref.items())
    total = sum(v.numel() for v in ref.values())
    # erfinv goes through MKL's vector math, whose last bit depends on the CPU code path it picks;
    # with MKL_CBWR=COMPATIBLE the build is bit-identical (tests/test_parity.py checks that).
    rep.notes.append(f"init weights bit-identical: {same:,} of {total:,} elements")
    compiled = to_ours(_load(d, "init_state_dict.compiled.pt"), m.family)  # `_orig_mod.` key form
    for k, v in compiled.items():
        rep.check("init compiled-key form equals eager", v, ref[k], (0, 0))
    n = sum(p.numel() for p in m.parameters())
    rep.check("trainable parameters", torch.tensor(n), torch.tensor(meta["derived"]["num_parameters"]))


def _compare_call(rep: Report, tag: str, carry, out, terms, metrics, ref: dict):
    for k in ("logits", "q_halt_logits", "q_continue_logits", "target_q_continue"):
        if k in ref:
            rep.check(f"{tag} {k}", out[k], ref[k])
    if "preds" in ref:  # TRM's loss head adds the arg-max
        rep.check(f"{tag} preds", out["logits"].argmax(-1), ref["preds"])
    rep.check(f"{tag} z_H", carry.z_H, ref["z_H"])
    rep.check(f"{tag} z_L", carry.z_L, ref["z_L"])
    rep.check(f"{tag} halted", carry.halted, ref["halted"])
    rep.check(f"{tag} steps", carry.steps, ref["steps"])
    rep.check(f"{tag} all_finish", carry.halted.all(), ref["all_finish"])
    rep.check(f"{tag} loss", terms["total"], ref["loss"])
    for k, v in ref["metrics"].items():
        rep.check(f"{tag} metric {k}", metrics[k], v)
    for k, v in ref.get("current_data", {}).items():
        rep.check(f"{tag} current_data {k}", carry.data[k], v)


def check_eval(d: Path, cfg: dict, rep: Report):
    m = fixture_model(d)
    steps = _load(d, "eval_rollout.pt")["steps"]
    batch = _load(d, "batch.pt")
    calls = None  # the first call after which every row has halted
    with torch.inference_mode():
        for i, (carry, out) in enumerate(m.rollout(batch)):
            terms, metrics = losses.act_loss(out, carry, mask_padding_rows=False)
            if i < len(steps):
                _compare_call(rep, "eval", carry, out, terms, metrics, steps[i])
            if calls is None and carry.halted.all():
                calls = i + 1
    rep.check("eval calls until all halted", torch.tensor(calls), torch.tensor(len(steps)))


def train_call(m: ACT, carry, batch):
    """One training-mode call as the fixture protocol makes it: the trainer's forward and backward with
    the original loss (padding rows scored) and the exploration draws from torch's generator, as the
    original; no optimizer step (the protocol records gradients). Also returns those draws, replayed
    from the generator's prior state."""
    for p in m.parameters():
        p.grad = None
    if m.puzzle_emb is not None:
        m.puzzle_emb.leaves = []  # each call's rows alone, as the original's buffer holds them
    rng = torch.get_rng_state()
    carry, out, terms, metrics = forward_backward(m, carry, batch, None, ORIGINAL_LOSS, 1.0)
    g = torch.Generator()
    g.set_state(rng)
    return carry, out, terms, metrics, explore_draws(carry.halted.shape[0], m.cfg.halt_max_steps, g)


def check_train(d: Path, cfg: dict, rep: Report):
    """The 8-call training rollout: exploration draws reproduced by seeding as the original did."""
    m = fixture_model(d).train()
    roll = _load(d, "train_rollout.pt")
    first = _load(d, "train_step.pt")
    batches = _load(d, "train_batches.pt")["batches"]
    params = dict(m.named_parameters())
    to_key = lambda name: original_key_to_ours(name, m.family)  # noqa: E731
    torch.manual_seed(roll["rng_seed"])
    carry = m.initial_carry(batches[0])
    for t, ref in enumerate(roll["steps"]):
        carry, out, terms, metrics, draws = train_call(m, carry, batches[t])
        refs = [("train", ref)] + ([("train_step", first)] if t == 0 else [])
        for tag, r in refs:
            _compare_call(rep, tag, carry, out, terms, metrics, r)
            rep.check(f"{tag} explore_rand", draws[0], r["explore_rand"])
            rep.check(f"{tag} explore_min_halt_draw", draws[1], r["explore_min_halt_draw"])
            for name, gref in r["grads"].items():
                rep.check(f"{tag} grads", params[to_key(name)].grad, gref, GRAD)
            rep.check(f"{tag} grads present", torch.tensor(sum(p.grad is not None for p in m.parameters())),
                      torch.tensor(len(r["grads"])))
            for gref in r.get("buffer_grads", {}).values():
                rep.check(f"{tag} puzzle_emb local grad", m.puzzle_emb.gradient()[0], gref, GRAD)
            if "puzzle_emb_local_ids" in r:
                rep.check(f"{tag} puzzle_emb local ids", m.puzzle_emb.gradient()[1], r["puzzle_emb_local_ids"])


def check_stablemax(d: Path, rep: Report):
    ref = _load(d, "stablemax_check.pt")
    x, y = ref["logits"], ref["labels"]
    rep.check("stablemax s(x)", losses.stablemax_s(x.double()), ref["s_of_logits"])
    rep.check("stablemax log_stablemax", losses.log_stablemax(x.double()), ref["log_stablemax"])
    for name, fn in (("stablemax", losses.stablemax_cross_entropy), ("softmax", losses.softmax_cross_entropy)):
        xg = x.clone().requires_grad_()
        loss = fn(xg, y)
        loss.sum().backward()
        rep.check(f"{name} loss", loss, ref[f"{name}_loss"])
        rep.check(f"{name} grad of sum", xg.grad, ref[f"{name}_grad_of_sum"], GRAD)


def check_ema(d: Path, meta: dict, rep: Report):
    """Our EMA driven as the original's EMAHelper was: registered on the fixture weights, then three
    times every parameter and the puzzle table nudged by 0.05·N(0,1) (one generator, parameters in
    order, then the table) and the average updated."""
    ref = _load(d, "ema_check.pt")
    m = fixture_model(d)
    ema = EMA(m, float(ref["decay"]))
    params, fam = dict(m.named_parameters()), m.family
    ours = {name: original_key_to_ours(name, fam) for name in ref["ema_copy_state_dict"]}
    for name, v in ref["initial"].items():
        rep.check("ema initial shadow", dict(zip(ema.names, ema.shadow))[ours[name]], v, (0, 0))
    g = torch.Generator().manual_seed(meta["seeds"].get("ema", 2024))
    with torch.no_grad():
        for k in range(len(ref["shadow_after_update"])):
            for t in [*params.values()] + ([m.puzzle_emb.weights] if m.puzzle_emb is not None else []):
                t.add_(0.05 * torch.randn(t.shape, generator=g))
            ema.update()
            shadow = dict(zip(ema.names, ema.shadow))
            for name in ref["param_names"]:
                rep.check("ema nudged params (the protocol replayed)", params[ours[name]],
                          ref["params_after_update"][k][name])
                rep.check("ema shadow after each update", shadow[ours[name]], ref["shadow_after_update"][k][name])
    sd = ema.state_dict(m)  # what a checkpoint stores: averaged parameters, live buffers
    for name, v in ref["ema_copy_state_dict"].items():
        rep.check("ema checkpoint weights", sd[ours[name]], v)
    with ema.applied():
        swapped = {k: v.clone() for k, v in m.state_dict().items()}
    for name, v in ref["ema_copy_state_dict"].items():
        rep.check("ema weights swapped in for evaluation", swapped[ours[name]], v)
    for name, v in ref["live_buffers"].items():
        rep.check("ema leaves buffers live", m.state_dict()[ours[name]], v, (0, 0))


def run(fixture_dir) -> int:
    """Check one fixture directory; 0 when every quantity is within tolerance, 1 if not, 2 if it is none."""
    d = Path(fixture_dir)
    if not (d / "config.json").is_file() or not (d / "fixture_meta.json").is_file():
        raise UserError(f"{d} is not a parity fixture directory (no config.json and fixture_meta.json); expected "
                        f"the layout of tests/fixtures/hrm-reference or trm-reference")
    cfg = json.loads((d / "config.json").read_text())
    meta = json.loads((d / "fixture_meta.json").read_text())
    arch, _ = arch_from_original(cfg)
    rep = Report(arch.name)
    print(f"{arch.name.upper()} fixture {d}", flush=True)
    check_init(d, cfg, meta, rep)
    check_eval(d, cfg, rep)
    check_train(d, cfg, rep)
    if (d / "stablemax_check.pt").exists():
        check_stablemax(d, rep)
    if (d / "ema_check.pt").exists():
        check_ema(d, meta, rep)
    return 0 if rep.print() else 1


def main(argv=None) -> int:
    return cli(_main, argv, __doc__)


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise UserError("give one fixture directory: python -m hrmlib.parity tests/fixtures/hrm-reference")
    return run(argv[0])


if __name__ == "__main__":
    sys.exit(main())
