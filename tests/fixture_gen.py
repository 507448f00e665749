"""Write a parity fixture in the original's layout from *our* model, for configurations the shared
fixtures do not cover (learned positions, several puzzle slots, other head/cycle counts, TRM's
mlp_t). It proves the parity command reads sizes and the family from the fixture; the numbers
themselves come from tests/fixtures/{hrm,trm}-reference, made by the original code."""
import json
from pathlib import Path

import torch

from hrmlib.model import losses
from hrmlib.compat import arch_from_original, to_original
from hrmlib.train.ema import EMA
from hrmlib.model import build
from hrmlib.parity import train_call


def _record(carry, out, terms, metrics):
    r = {k: v.detach().clone() for k, v in out.items()}
    r.update(z_H=carry.z_H.clone(), z_L=carry.z_L.clone(), halted=carry.halted.clone(), steps=carry.steps.clone(),
             loss=terms["total"].detach(), metrics={k: v.detach() for k, v in metrics.items()},
             all_finish=carry.halted.all(), current_data={k: v.clone() for k, v in carry.data.items()})
    return r


def write_fixture(d: Path, cfg: dict, B: int = 3, calls: int = 4):
    d.mkdir(parents=True, exist_ok=True)
    arch, dims = arch_from_original(cfg)
    V, S, N = dims["vocab_size"], dims["seq_len"], dims["num_puzzle_identifiers"]
    torch.manual_seed(0)
    m = build(arch, dims)
    fam = m.family
    init = m.state_dict()
    torch.save(to_original(init, family=fam), d / "init_state_dict.eager.pt")
    torch.save(to_original(init, compiled=True, family=fam), d / "init_state_dict.compiled.pt")
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():  # perturb so puzzle ids and the Q head matter
        m.puzzle_emb.weights.normal_(0, 0.2, generator=g)
        m.q_head.weight.normal_(0, 0.2, generator=g)
        m.q_head.bias.copy_(torch.tensor([-0.75, 0.75]))
        # shrunk, as the held-out TRM fixtures do: mlp_t recursions are chaotic at init (docs/pitfalls.md T8)
        if arch.mlp_t:
            for n, p in m.named_parameters():
                if "gate_up" in n:
                    p.mul_(0.5)
    torch.save(to_original(m.state_dict(), family=fam), d / "state_dict.eager.pt")

    def batch():
        labels = torch.randint(1, V, (B, S), generator=g, dtype=torch.int32)
        labels[-1] = -100
        return {"inputs": torch.randint(0, V, (B, S), generator=g, dtype=torch.int32), "labels": labels,
                "puzzle_identifiers": torch.randint(0, N, (B,), generator=g, dtype=torch.int32)}
    batches = [batch() for _ in range(calls)]
    torch.save(batches[0], d / "batch.pt")
    torch.save({"batches": batches}, d / "train_batches.pt")
    m.eval()
    steps, carry = [], m.initial_carry(batches[0])
    with torch.inference_mode():
        while not carry.halted.all() or not steps:
            carry, out = m(carry, batches[0])
            steps.append(_record(carry, out, *losses.act_loss(out, carry, mask_padding_rows=False)))
    torch.save({"steps": steps}, d / "eval_rollout.pt")
    m.train()
    torch.manual_seed(0)
    carry, steps = m.initial_carry(batches[0]), []
    names = {v: k for k, v in zip(to_original(dict(m.named_parameters()), family=fam), dict(m.named_parameters()))}
    for t in range(calls):
        carry, out, terms, metrics, draws = train_call(m, carry, batches[t])
        r = _record(carry, out, terms, metrics)
        r.update(batch=batches[t], grads={names[k]: p.grad.clone() for k, p in m.named_parameters()},
                 buffer_grads={"model.inner.puzzle_emb.local_weights": m.puzzle_emb.gradient()[0].clone()},
                 puzzle_emb_local_ids=m.puzzle_emb.gradient()[1].clone(), explore_rand=draws[0],
                 explore_min_halt_draw=draws[1])
        steps.append(r)
    torch.save({**steps[0], "rng_seed": 0}, d / "train_step.pt")
    torch.save({"rng_seed": 0, "steps": steps}, d / "train_rollout.pt")
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "fixture_meta.json").write_text(json.dumps(
        {"seeds": {"init": 0, "ema": 2024}, "derived": {"num_parameters": sum(p.numel() for p in m.parameters())}}))
    if fam == "trm":
        _ema_check(d, m, names)
        return
    x = torch.randn(2, 3, V, generator=g) * 4
    y = torch.randint(0, V, (2, 3), generator=g, dtype=torch.int32)
    y[1, 0] = -100
    sm = {"logits": x, "labels": y, "s_of_logits": losses.stablemax_s(x.double()),
          "log_stablemax": losses.log_stablemax(x.double())}
    for name, fn in (("stablemax", losses.stablemax_cross_entropy), ("softmax", losses.softmax_cross_entropy)):
        xg = x.clone().requires_grad_()
        loss = fn(xg, y)
        loss.sum().backward()
        sm[f"{name}_loss"], sm[f"{name}_grad_of_sum"] = loss.detach(), xg.grad
    torch.save(sm, d / "stablemax_check.pt")


def _ema_check(d: Path, m, names: dict):
    """ema_check.pt as the TRM fixture holds it, from our EMA driven by the same protocol (the
    training calls before made no update: `m` still holds the fixture weights)."""
    ema = EMA(m, 0.99)
    rec = [n for n, _ in m.named_parameters()][::2]
    orig = {n: names[n] for n in rec}
    out = {"decay": torch.tensor(0.99, dtype=torch.float64), "param_names": [orig[n] for n in rec],
           "initial": {orig[n]: s.clone() for n, s in zip(ema.names, ema.shadow) if n in orig},
           "params_after_update": [], "shadow_after_update": []}
    g = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        for _ in range(3):
            for t in [*m.parameters(), m.puzzle_emb.weights]:
                t.add_(0.05 * torch.randn(t.shape, generator=g))
            ema.update()
            out["params_after_update"].append({orig[n]: p.clone() for n, p in m.named_parameters() if n in orig})
            out["shadow_after_update"].append({orig[n]: s.clone() for n, s in zip(ema.names, ema.shadow) if n in orig})
    sd = ema.state_dict(m)
    bufs = to_original({k: sd[k] for k in ("H_init", "L_init", "puzzle_emb.weights")}, family="trm")
    out["ema_copy_state_dict"] = {**{orig[n]: sd[n].clone() for n in rec}, **bufs}
    out["live_buffers"] = bufs
    torch.save(out, d / "ema_check.pt")
