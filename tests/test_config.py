"""Typed config, presets and the key=value override grammar: every error names the key."""
import dataclasses as dc

import pytest

from hrmlib import config as C
from hrmlib.model import HRM


def test_presets_have_the_original_hyperparameters():
    s = C.load("sudoku_extreme_1k")
    assert (s.epochs, s.eval_interval, s.lr, s.puzzle_emb_lr, s.weight_decay, s.puzzle_emb_weight_decay) == \
        (20000, 2000, 1e-4, 1e-4, 1.0, 1.0)
    assert C.load("maze_30x30_hard_1k").data_path == "data/maze-30x30-hard-1k"
    a = C.load("arc1")
    assert (a.global_batch_size, a.epochs, a.eval_interval, a.lr, a.puzzle_emb_lr, a.weight_decay) == \
        (768, 100000, 10000, 1e-4, 1e-2, 0.1)
    assert (a.beta1, a.beta2, a.lr_warmup_steps, a.lr_min_ratio) == (0.9, 0.95, 2000, 1.0)
    arch = a.arch
    assert (arch.H_cycles, arch.L_cycles, arch.H_layers, arch.L_layers, arch.hidden_size, arch.num_heads,
            arch.expansion, arch.halt_max_steps, arch.halt_exploration_prob) == (2, 2, 4, 4, 512, 8, 4.0, 16, 0.1)
    assert arch.loss.loss_type == "stablemax_cross_entropy" and arch.emb_ndim == 512
    assert C.load("arc2").data_path == "data/arc-2-aug-1000"


def test_sudoku_preset_has_the_original_parameter_count():
    m = HRM(C.load("sudoku_extreme_1k").arch, vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    assert sum(p.numel() for p in m.parameters()) == 27_275_266


def test_overrides_parse_types_and_nesting():
    c = C.load("debug", ["lr=3e-4", "arch.H_cycles=3", "arch.loss.loss_type=softmax_cross_entropy",
                         "arch.puzzle_emb_ndim=none", "ema=yes", "epochs=40", "max_steps=7.0"])
    assert c.lr == 3e-4 and c.arch.H_cycles == 3 and c.arch.loss.loss_type == "softmax_cross_entropy"
    assert c.arch.puzzle_emb_ndim is None and c.ema is True and c.epochs == 40 and c.max_steps == 7
    assert C.load("debug").arch.H_cycles == 2  # presets are rebuilt, never mutated


def test_saved_config_round_trips():
    c = C.load("trm_debug", ["arch.L_cycles=3", "wandb=offline", "arch.puzzle_emb_len=2"])
    assert C.from_dict(C.Config, c.to_dict()) == c


def test_every_field_is_documented_and_help_lists_them(tmp_path):
    from conftest import run_py
    for cls in (C.Config, C.ArchConfig, C.LossConfig):
        undocumented = [k for k, v in C.field_docs(cls).items() if len(v) < 8]
        assert not undocumented, undocumented
    r = run_py("-m", "hrmlib.train", "trm_debug", "--help", check=True)
    for key in C.flat(C.load("trm_debug").to_dict()):
        assert f"  {key}=" in r.stdout, key
    assert "arch.name=trm" in r.stdout and "AdamAtan2's peak learning rate" in r.stdout


@pytest.mark.parametrize("preset, overrides, match", [
    ("nope", [], r"unknown preset 'nope'; choose one of: sudoku_extreme_1k, maze_30x30_hard_1k, arc1, arc2, demo_hrm, "
                 r"debug, trm_sudoku_mlp"),
    ("debug", ["lrr=1"], r"unknown key 'lrr' \(did you mean lr"),
    ("debug", ["arch.H_cycle=3"],
     r"unknown key 'arch.H_cycle' \(did you mean arch.H_cycles.*valid keys: arch.name, arch.H_cycles"),
    ("debug", ["lr"], r"'lr' is not of the form key=value"),
    ("debug", ["lr=fast"], r"lr: expected float, got 'fast'"),
    ("debug", ["epochs=2.5"], r"epochs: expected int, got '2.5'"),
    ("debug", ["ema=maybe"], r"ema: expected a bool"),
    ("debug", ["arch.pos_encodings=alibi"], r"arch.pos_encodings: 'alibi' is not one of rope, learned, none"),
    ("debug", ["arch.loss=x"], r"'arch.loss' is a section; set one of: arch.loss.loss_type"),
    ("debug", ["lr.x=1"], r"'lr' is not a section"),
    ("debug", ["arch.num_heads=3"], r"arch.hidden_size: must be divisible by arch.num_heads=3"),
    ("debug", ["eval_interval=7"], r"eval_interval: must divide epochs=20"),
    ("debug", ["arch.halt_max_steps=0"], r"arch.halt_max_steps: must be >= 1"),
])
def test_config_errors_name_the_key(preset, overrides, match):
    with pytest.raises(C.ConfigError, match=match):
        C.load(preset, overrides)


def test_configs_are_frozen():
    with pytest.raises(dc.FrozenInstanceError):
        C.load("debug").lr = 1.0


def test_demo_presets():
    d, h = C.load("demo"), C.load("demo_hrm")
    assert (d.arch.name, d.arch.mlp_t, d.arch.H_cycles, d.arch.L_cycles, d.arch.halt_max_steps, d.ema) == \
        ("trm", True, 1, 2, 6, False)
    assert d.data_path == "data/sudoku-demo-mix" and h.data_path == "data/sudoku-demo"
    assert (h.arch.name, h.arch.halt_max_steps, h.arch.rope_theta) == ("hrm", 1, 314.0)


def test_configs_saved_with_removed_fields_still_load():
    d = C.load("debug").to_dict() | {"checkpoint_every_eval": True, "eval_save_outputs": []}
    assert C.from_saved(d) == C.load("debug")
    with pytest.raises(C.ConfigError, match="unknown key 'lrr' in saved config"):
        C.from_saved(d | {"lrr": 1})
