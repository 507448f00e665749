"""`python -m hrmlib.parity`: passes on the originals' numbers (HRM and TRM), fails when they
differ, and does not assume the fixture's family or sizes."""
import filecmp
import shutil

import pytest

import torch

from conftest import FIXTURES, run_py, shared
from fixture_gen import write_fixture


def test_parity_passes_on_the_committed_reference_fixture():
    r = run_py("-m", "hrmlib.parity", FIXTURES / "hrm-reference", check=True)
    assert "parity: PASS" in r.stdout and "FAIL" not in r.stdout.replace("parity: PASS", "")
    assert "ok   train grads" in r.stdout and "ok   eval logits" in r.stdout


def test_seeded_init_is_bit_identical_when_mkl_math_is_pinned():
    # torch's erfinv goes through MKL vector math, whose last bit depends on the CPU path MKL
    # dispatches to; pinned to its compatible path, our seeded build equals the original bit for bit.
    r = run_py("-m", "hrmlib.parity", FIXTURES / "hrm-reference", env={"MKL_CBWR": "COMPATIBLE"}, check=True)
    assert "init weights bit-identical: 263,618 of 263,618 elements" in r.stdout


def test_parity_fails_when_a_number_differs(tmp_path):
    d = tmp_path / "fx"
    shutil.copytree(FIXTURES / "hrm-reference", d)
    sd = torch.load(d / "state_dict.eager.pt", weights_only=True)
    sd["model.inner.L_level.layers.1.mlp.down_proj.weight"][0, 0] += 1e-2  # one weight nudged
    torch.save(sd, d / "state_dict.eager.pt")
    r = run_py("-m", "hrmlib.parity", d)
    assert r.returncode == 1 and "parity: FAIL" in r.stdout and "FAIL train grads" in r.stdout


def test_parity_reads_sizes_from_the_fixture(tmp_path):
    cfg = {"batch_size": 3, "seq_len": 6, "puzzle_emb_ndim": 48, "num_puzzle_identifiers": 4, "vocab_size": 5,
           "H_cycles": 3, "L_cycles": 1, "H_layers": 1, "L_layers": 2, "hidden_size": 32, "expansion": 2.0,
           "num_heads": 2, "pos_encodings": "learned", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "halt_max_steps": 3, "halt_exploration_prob": 0.5, "forward_dtype": "float32"}
    write_fixture(tmp_path / "fx", cfg)
    r = run_py("-m", "hrmlib.parity", tmp_path / "fx", check=True)
    assert "parity: PASS" in r.stdout


def test_parity_rejects_a_directory_that_is_not_a_fixture(tmp_path):
    r = run_py("-m", "hrmlib.parity", tmp_path)
    assert r.returncode == 2 and "is not a parity fixture directory" in r.stderr


def test_trm_parity_passes_on_the_committed_reference_fixture():
    r = run_py("-m", "hrmlib.parity", FIXTURES / "trm-reference", check=True)
    assert r.stdout.startswith("TRM fixture") and "parity: PASS" in r.stdout
    for q in ("ok   train grads", "ok   eval preds", "ok   ema shadow after each update", "ok   init weights"):
        assert q in r.stdout, q


@pytest.mark.parametrize("name", ["hrm-reference", "trm-reference"])
def test_committed_fixtures_are_the_shared_ones(name):
    """The committed copies are what a user's clone checks against (parity runs on them, once); in
    CI they must equal ../shared's byte for byte."""
    src = shared(f"fixtures/{name}")
    names = sorted(p.name for p in src.iterdir())
    assert names == sorted(p.name for p in (FIXTURES / name).iterdir())
    _, mismatch, errors = filecmp.cmpfiles(src, FIXTURES / name, names, shallow=False)
    assert not mismatch and not errors


def test_trm_parity_fails_when_a_number_differs(tmp_path):
    d = tmp_path / "fx"
    shutil.copytree(FIXTURES / "trm-reference", d)
    sd = torch.load(d / "state_dict.eager.pt", weights_only=True)
    sd["model.inner.L_level.layers.0.self_attn.o_proj.weight"][3, 1] += 1e-2  # one the EMA check records too
    torch.save(sd, d / "state_dict.eager.pt")
    r = run_py("-m", "hrmlib.parity", d)
    assert r.returncode == 1 and "FAIL train grads" in r.stdout and "FAIL ema" in r.stdout


TRM = {"batch_size": 5, "seq_len": 6, "puzzle_emb_ndim": 24, "num_puzzle_identifiers": 4, "vocab_size": 5,
       "H_cycles": 3, "L_cycles": 2, "H_layers": 0, "L_layers": 1, "hidden_size": 16, "expansion": 2.0,
       "num_heads": 2, "pos_encodings": "rope", "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "halt_max_steps": 3,
       "halt_exploration_prob": 0.5, "forward_dtype": "float32", "mlp_t": False, "puzzle_emb_len": 3,
       "no_ACT_continue": True}


@pytest.mark.parametrize("over", [{}, {"mlp_t": True, "pos_encodings": "none"},
                                  {"pos_encodings": "learned", "puzzle_emb_len": 0, "no_ACT_continue": False}])
def test_trm_parity_reads_sizes_from_the_fixture(tmp_path, over):
    write_fixture(tmp_path / "fx", {**TRM, **over}, B=5)
    r = run_py("-m", "hrmlib.parity", tmp_path / "fx", check=True)
    assert r.stdout.startswith("TRM fixture") and "parity: PASS" in r.stdout and "ok   ema shadow" in r.stdout
    assert ("train target_q_continue" in r.stdout) == (over.get("no_ACT_continue") is False)
