"""Losses: stablemax values, and the padding-row fix (docs/pitfalls.md P1) changes only padding rows' terms."""
import torch

from hrmlib.model import losses
from hrmlib.parity import fixture_model
from conftest import FIXTURES


def test_stablemax_worked_example():
    p = losses.log_stablemax(torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)).exp()
    torch.testing.assert_close(p, torch.tensor([0.0625, 0.1875, 0.75], dtype=torch.float64))


def _one_train_call():
    m = fixture_model(FIXTURES / "hrm-reference").train()
    batch = torch.load(FIXTURES / "hrm-reference" / "batch.pt", weights_only=True)
    torch.manual_seed(0)
    carry, out = m(m.initial_carry(batch), batch)
    return carry, out


def test_padding_fix_changes_only_the_padding_rows_contribution():
    carry, out = _one_train_call()
    pad = (carry.data["labels"] != losses.IGNORE).sum(-1) == 0
    assert pad.tolist() == [False, False, False, True]  # the fixture batch's last row is padding
    fixed, mf = losses.act_loss(out, carry, mask_padding_rows=True)
    orig, mo = losses.act_loss(out, carry, mask_padding_rows=False)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    q_halt_pad = bce(out["q_halt_logits"][pad], torch.ones(1), reduction="sum")  # scored as "correct"
    q_cont_pad = bce(out["q_continue_logits"][pad], out["target_q_continue"][pad], reduction="sum")
    assert q_halt_pad > 0 and q_cont_pad > 0
    torch.testing.assert_close(orig["q_halt"] - fixed["q_halt"], q_halt_pad)
    torch.testing.assert_close(orig["q_continue"] - fixed["q_continue"], q_cont_pad)
    torch.testing.assert_close(orig["lm"], fixed["lm"])  # pad rows have no lm term either way
    torch.testing.assert_close(orig["total"] - fixed["total"], 0.5 * (q_halt_pad + q_cont_pad).double(),
                               atol=1e-6, rtol=1e-6)  # float32 sums regrouped
    for k in ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps"):
        assert torch.equal(mf[k], mo[k]), k
    # and on a batch without padding rows both options agree exactly
    keep = ~pad
    sub = type(carry)(carry.z_H[keep], carry.z_L[keep], carry.steps[keep], carry.halted[keep],
                      {k: v[keep] for k, v in carry.data.items()})
    o2 = {k: v[keep] for k, v in out.items()}
    a, _ = losses.act_loss(o2, sub, mask_padding_rows=True)
    b, _ = losses.act_loss(o2, sub, mask_padding_rows=False)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loss_terms_are_named_and_total_is_lm_plus_half_q():
    carry, out = _one_train_call()
    t, m = losses.act_loss(out, carry)
    assert set(t) == {"lm", "q_halt", "q_continue", "total"}
    torch.testing.assert_close(t["total"], t["lm"] + 0.5 * (t["q_halt"] + t["q_continue"]))
    assert t["lm"].dtype == torch.float64  # stablemax runs in float64, as the original
    assert {"count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss", "q_halt_loss",
            "q_continue_loss"} == set(m)
