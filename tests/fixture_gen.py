"""Write a parity fixture in the original's layout from *our* model, for configurations the shared
fixture does not cover (learned positions, several puzzle slots, other head/cycle counts). It
proves the parity command reads sizes from the fixture; the numbers themselves come from
tests/fixtures/hrm-reference, made by the original code."""
import json
from pathlib import Path

import torch

from hrmlib import losses
from hrmlib.compat import arch_from_original, to_original
from hrmlib.model import HRM
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
    m = HRM(arch, V, S, N)
    init = m.state_dict()
    torch.save(to_original(init), d / "init_state_dict.eager.pt")
    torch.save(to_original(init, compiled=True), d / "init_state_dict.compiled.pt")
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():  # perturb so puzzle ids and the Q head matter
        m.puzzle_emb.weights.normal_(0, 0.2, generator=g)
        m.q_head.weight.normal_(0, 0.2, generator=g)
        m.q_head.bias.copy_(torch.tensor([-0.75, 0.75]))
    torch.save(to_original(m.state_dict()), d / "state_dict.eager.pt")

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
    names = {v: k for k, v in zip(to_original(dict(m.named_parameters())), dict(m.named_parameters()))}
    for t in range(calls):
        carry, out, terms, metrics, draws = train_call(m, carry, batches[t])
        r = _record(carry, out, terms, metrics)
        r.update(batch=batches[t], grads={names[k]: p.grad.clone() for k, p in m.named_parameters()},
                 buffer_grads={"model.inner.puzzle_emb.local_weights": m.puzzle_emb.local.grad.clone()},
                 puzzle_emb_local_ids=m.puzzle_emb.local_ids.clone(), explore_rand=draws[0],
                 explore_min_halt_draw=draws[1])
        steps.append(r)
    torch.save({**steps[0], "rng_seed": 0}, d / "train_step.pt")
    torch.save({"rng_seed": 0, "steps": steps}, d / "train_rollout.pt")
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
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "fixture_meta.json").write_text(json.dumps(
        {"seeds": {"init": 0}, "derived": {"num_parameters": sum(p.numel() for p in m.parameters())}}))
