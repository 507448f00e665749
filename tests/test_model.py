"""Model-level properties beyond parity: dtypes, learned positions, and what model code imports."""
import pytest
import torch

from hrmlib import config as C
from hrmlib.model import HRM
from conftest import random_batch


@pytest.mark.parametrize("over", [[], ["arch.pos_encodings=learned", "arch.puzzle_emb_ndim=100"],
                                  ["arch.puzzle_emb_ndim=0"], ["arch.forward_dtype=bfloat16"]])
def test_forward_backward_in_each_configuration(over):
    cfg = C.load("debug", over).arch
    m = HRM(cfg, vocab_size=6, seq_len=9, num_puzzle_identifiers=2).train()
    b = random_batch()
    carry, out = m(m.initial_carry(b), b)
    assert out["logits"].shape == (3, 9, 6) and out["logits"].dtype == m.dtype
    assert out["q_halt_logits"].dtype == torch.float32 and "target_q_continue" in out
    (out["logits"].float().sum() + out["q_halt_logits"].sum()).backward()
    assert all(p.grad is not None for p in m.parameters())
    assert carry.z_H.shape == (3, m.P + 9, cfg.hidden_size) and not carry.z_H.requires_grad


def test_eval_runs_exactly_halt_max_steps_segments():
    m = HRM(C.load("debug").arch, 6, 9, 2).eval()
    b = random_batch()
    carry, n = m.initial_carry(b), 0
    with torch.no_grad():
        while True:
            carry, _ = m(carry, b)
            n += 1
            if carry.halted.all():
                break
    assert n == m.cfg.halt_max_steps and carry.steps.tolist() == [n] * 3


def test_without_the_continue_loss_there_is_no_second_pass_and_halting_uses_q_halt():
    cfg = C.load("debug", ["arch.act_continue_loss=false", "arch.halt_exploration_prob=0"]).arch
    m = HRM(cfg, 6, 9, 2).train()
    updates = []
    m.trace = lambda level, i, j, z: updates.append(level)
    b = random_batch()
    with torch.no_grad():
        m.q_head.bias.copy_(torch.tensor([0.5, 3.0]))  # q_halt > 0 but below q_continue
    carry, out = m(m.initial_carry(b), b)
    assert "target_q_continue" not in out
    assert len(updates) == cfg.H_cycles * (cfg.L_cycles + 1)  # one inner pass only
    assert carry.halted.all()  # TRM's rule: q_halt > 0 halts, whatever q_continue says
    from hrmlib.model.losses import act_loss
    terms, metrics = act_loss(out, carry)
    assert "q_continue" not in terms and "q_continue_loss" not in metrics
    torch.testing.assert_close(terms["total"], terms["lm"] + 0.5 * terms["q_halt"])
