"""Loading original checkpoints: both key forms, a whole all_config.yaml, and clear key errors."""
import json

import pytest
import torch
import yaml

from hrmlib.compat import CompatError, load_original, to_original
from conftest import FIXTURES

FX = FIXTURES / "hrm-reference"
CFG = json.loads((FX / "config.json").read_text())


@pytest.mark.parametrize("name", ["state_dict.eager.pt", "state_dict.compiled.pt"])
def test_both_original_key_forms_load_the_same_weights(name):
    m = load_original(FX / name, CFG)
    ref = torch.load(FX / "state_dict.eager.pt", weights_only=True)
    assert to_original(m.state_dict()).keys() == ref.keys()
    assert all(torch.equal(v, ref[k]) for k, v in to_original(m.state_dict()).items())


def test_all_config_yaml_form(tmp_path):
    cfg = {"arch": {**CFG, "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "causal": False,
                    "loss": {"name": "losses@ACTLossHead", "loss_type": "softmax_cross_entropy"}},
           "lr": 1e-4, "data_path": "data/x"}
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump(cfg))
    m = load_original(FX / "state_dict.compiled.pt", tmp_path / "all_config.yaml")
    assert m.cfg.loss.loss_type == "softmax_cross_entropy" and m.cfg.hidden_size == 64


def test_key_problems_are_all_listed():
    sd = torch.load(FX / "state_dict.eager.pt", weights_only=True)
    del sd["model.inner.q_head.bias"]
    sd["model.inner.extra.weight"] = torch.zeros(1)
    sd["model.inner.lm_head.weight"] = torch.zeros(9, 64)
    with pytest.raises(CompatError) as e:
        load_original(sd, CFG)
    msg = str(e.value)
    assert "missing: q_head.bias (2,)" in msg and "unexpected: extra.weight (1,)" in msg
    assert "shape: lm_head.weight checkpoint (9, 64) vs model (7, 64)" in msg


def test_unknown_arch_field_and_missing_dims_are_errors():
    with pytest.raises(CompatError, match=r"unknown original arch fields \['hidden'\]"):
        load_original(FX / "state_dict.eager.pt", {**CFG, "hidden": 3})
    cfg = {k: v for k, v in CFG.items() if k != "vocab_size"}
    with pytest.raises(CompatError, match=r"config lacks \['vocab_size'\]"):
        load_original(FX / "state_dict.eager.pt", cfg)
