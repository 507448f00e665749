"""On a CUDA device (skipped without one): what the CPU suite cannot show — the bf16 forward dtype
(the default on CUDA), FlashAttention when installed, and a trainer run there."""
import pytest
import torch

from hrmlib import config as C
from hrmlib.model import build
from hrmlib.model.losses import act_loss
from conftest import run_py

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("preset", ["debug", "trm_debug"])
def test_bf16_step_on_cuda(preset):
    cfg = C.load(preset).arch
    m = build(cfg, {"vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 2}).cuda().train()
    assert m.dtype == torch.bfloat16  # forward_dtype=auto is bf16 on CUDA, as the original
    g = torch.Generator().manual_seed(0)
    b = {"inputs": torch.randint(1, 11, (8, 81), generator=g, dtype=torch.int32).cuda(),
         "labels": torch.randint(2, 11, (8, 81), generator=g, dtype=torch.int32).cuda(),
         "puzzle_identifiers": torch.zeros(8, dtype=torch.int32).cuda()}
    carry, out = m(m.initial_carry(b), b)
    terms, _ = act_loss(out, carry)
    terms["total"].backward()
    assert torch.isfinite(terms["total"]) and all(p.grad is not None for p in m.parameters())


def test_trainer_on_cuda(tmp_path):
    from hrmlib.data import ensure_data
    r = run_py("-m", "hrmlib.train", "debug", f"data_path={ensure_data('debug')}", f"run_dir={tmp_path / 'R'}",
               "max_steps=20", "device=cuda", check=True)
    assert "done: 20 steps" in r.stdout
