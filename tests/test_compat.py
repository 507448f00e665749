"""Opening original checkpoints (`runs.open`): both key forms, a whole all_config.yaml, and one-line errors
for keys that do not fit, unknown fields, missing sizes, pickles that are not weights-only and hostile YAML."""
import json

import pytest
import torch
import yaml

from hrmlib import runs
from hrmlib.compat import CompatError, to_original
from conftest import FIXTURES

FX = FIXTURES / "hrm-reference"
CFG = json.loads((FX / "config.json").read_text())


@pytest.mark.parametrize("name", ["state_dict.eager.pt", "state_dict.compiled.pt"])
def test_both_original_key_forms_load_the_same_weights(name):
    m = runs.open(FX / name, config=CFG)
    ref = torch.load(FX / "state_dict.eager.pt", weights_only=True)
    assert m.kind == "original" and m.run is None and m.dims["vocab_size"] == 7
    assert to_original(m.model.state_dict()).keys() == ref.keys()
    assert all(torch.equal(v, ref[k]) for k, v in to_original(m.model.state_dict()).items())


def test_all_config_yaml_form(tmp_path):
    cfg = {"arch": {**CFG, "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "causal": False,
                    "loss": {"name": "losses@ACTLossHead", "loss_type": "softmax_cross_entropy"}},
           "lr": 1e-4, "data_path": "data/x"}
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "step_7").write_bytes((FX / "state_dict.compiled.pt").read_bytes())
    m = runs.open(tmp_path / "step_7")  # its all_config.yaml beside it
    assert m.model.cfg.loss.loss_type == "softmax_cross_entropy" and m.model.cfg.hidden_size == 64
    assert m.provenance["step"] == 7


def test_key_problems_are_listed_in_one_line(tmp_path):
    sd = torch.load(FX / "state_dict.eager.pt", weights_only=True)
    del sd["model.inner.q_head.bias"]
    sd["model.inner.extra.weight"] = torch.zeros(1)
    sd["model.inner.L_level.layers.0.mlp.down_proj.weight"] = torch.zeros(9, 64)
    torch.save(sd, tmp_path / "ck.pt")
    with pytest.raises(CompatError) as e:
        runs.open(tmp_path / "ck.pt", config=CFG)
    msg = str(e.value)
    assert "\n" not in msg and "missing q_head.bias" in msg and "unexpected extra.weight" in msg
    assert msg.index("in the checkpoint") < msg.index("missing")  # mis-shaped keys first: they say the most
    assert "L.layers.0.mlp.down.weight is (9, 64) in the checkpoint, (64, 256) in the model" in msg


def test_another_vocabulary_names_the_build_it_expects(tmp_path):
    sd = torch.load(FX / "state_dict.eager.pt", weights_only=True)
    torch.save(sd, tmp_path / "ck.pt")
    with pytest.raises(CompatError, match="trained on a dataset with a vocabulary of 7; None has 9"):
        runs.open(tmp_path / "ck.pt", config={**CFG, "vocab_size": 9})


def test_unknown_arch_field_and_missing_dims_are_errors():
    with pytest.raises(CompatError, match=r"unknown original arch fields \['hidden'\]"):
        runs.open(FX / "state_dict.eager.pt", config={**CFG, "hidden": 3})
    cfg = {k: v for k, v in CFG.items() if k != "vocab_size"}
    with pytest.raises(CompatError, match=r"the sizes \['vocab_size'\] are in neither its config nor a dataset"):
        runs.open(FX / "state_dict.eager.pt", config=cfg)


class Boom:  # what a hostile checkpoint would run when unpickled
    def __reduce__(self):
        import os
        return (os.system, ("touch BOOM_MARKER",))


def test_a_pickle_that_would_run_code_is_refused_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": Boom()}, tmp_path / "step_1")
    (tmp_path / "all_config.yaml").write_text(yaml.safe_dump({"arch": CFG}))
    with pytest.raises(runs.RunError, match="not a weights-only checkpoint: .*step_1"):
        runs.open(tmp_path / "step_1")
    assert not (tmp_path / "BOOM_MARKER").exists()


def test_a_yaml_with_python_tags_is_refused_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "step_1").write_bytes((FX / "state_dict.eager.pt").read_bytes())
    (tmp_path / "all_config.yaml").write_text('arch: !!python/object/apply:os.system ["touch BOOM_MARKER"]\n')
    with pytest.raises(CompatError, match="all_config.yaml: not an original config hrmlib can read"):
        runs.open(tmp_path / "step_1")
    assert not (tmp_path / "BOOM_MARKER").exists()
