"""On a CUDA device (the `gpu` tests skip without one): what the CPU suite cannot show — the bf16 forward dtype
(the default on CUDA), FlashAttention when installed, and a trainer run there."""
import pytest
import torch

from hrmlib import config as C
from hrmlib.model import build, forward_dtype
from hrmlib.model.losses import act_loss
from conftest import run_py

gpu = pytest.mark.gpu


@gpu
@pytest.mark.parametrize("preset", ["debug", "trm_debug"])
def test_bf16_step_on_cuda(preset):
    cfg = C.load(preset).arch
    dtype = forward_dtype(cfg.forward_dtype, "cuda")  # as the trainer, bench and runs resolve it
    assert dtype == torch.bfloat16  # forward_dtype=auto is bf16 on CUDA, as the original
    m = build(cfg, {"vocab_size": 11, "seq_len": 81, "num_puzzle_identifiers": 2}, dtype).cuda().train()
    assert m.dtype == torch.bfloat16
    g = torch.Generator().manual_seed(0)
    b = {"inputs": torch.randint(1, 11, (8, 81), generator=g, dtype=torch.int32).cuda(),
         "labels": torch.randint(2, 11, (8, 81), generator=g, dtype=torch.int32).cuda(),
         "puzzle_identifiers": torch.zeros(8, dtype=torch.int32).cuda()}
    carry, out = m(m.initial_carry(b), b)
    terms, _ = act_loss(out, carry)
    terms["total"].backward()
    assert torch.isfinite(terms["total"]) and all(p.grad is not None for p in m.parameters())


@gpu
def test_trainer_on_cuda(tmp_path):
    from hrmlib.data import ensure_data
    r = run_py("-m", "hrmlib.train", "debug", f"data_path={ensure_data('debug')}", f"run_dir={tmp_path / 'R'}",
               "max_steps=20", "device=cuda", check=True)
    assert "done: 20 steps" in r.stdout


@gpu
def test_trainer_under_torchrun_on_cuda(tmp_path):
    """device=cuda (what a resumed run's config says) under torchrun: each rank takes its local GPU; then a resume."""
    from hrmlib.data import ensure_data
    r = run_py("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "hrmlib.train", "debug",
               f"data_path={ensure_data('debug')}", f"run_dir={tmp_path / 'R'}", "max_steps=5", "device=cuda",
               "compile=false", check=True)
    assert "done: 5 steps" in r.stdout
    # and resumed there: the checkpoint is mapped to the GPU, its generator states must go back to the CPU
    r = run_py("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "hrmlib.train",
               f"resume={tmp_path / 'R'}", "max_steps=8", check=True)
    assert "done: 8 steps" in r.stdout


def test_bare_cuda_means_the_local_ranks_gpu(monkeypatch):
    """Runs on CPU: under torchrun `device=cuda` must name the local rank's GPU; without an index
    torch.cuda.set_device fails and every worker dies."""
    from hrmlib import dist
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dist.pick_device("cuda", 3) == torch.device("cuda", 3)
    assert dist.pick_device("cuda:1", 3) == torch.device("cuda", 1)  # an explicit index is kept
    assert dist.pick_device("auto", 2) == torch.device("cuda", 2)
