"""Original-HRM compatibility: load its checkpoints and configs, and check parity with its numbers.

    python -m hrmlib.compat parity tests/fixtures/hrm-reference     # CPU, a few seconds
    python -m hrmlib.compat parity ../shared/fixtures/hrm-reference

    from hrmlib.compat import load_original
    model = load_original("checkpoints/…/step_26040", "checkpoints/…/all_config.yaml")

The original saves `state_dict()` of `ACTLossHead(model)`, compiled (`_orig_mod.model.inner.…`)
or not (`model.inner.…`); both are accepted, and so is a bare inner-model dict.
"""
from __future__ import annotations

import dataclasses as dc
import json
import re
import sys
from pathlib import Path

import torch

from .config import ArchConfig, LossConfig
from .model import HRM, DTYPES

# Original → our names: whole keys, then fragments of block keys ({H,L}_level.layers.N.… → {H,L}.layers.N.…).
_KEYS = {"embed_tokens.embedding_weight": "embed.weight", "embed_pos.embedding_weight": "pos.weight"}
_KEYS_BACK = {v: k for k, v in _KEYS.items()}
_PARTS = [("self_attn.qkv_proj.", "attn.qkv."), ("self_attn.o_proj.", "attn.o."),
          ("mlp.gate_up_proj.", "mlp.gate_up."), ("mlp.down_proj.", "mlp.down.")]
# Fields of the original arch config that are not model hyperparameters here.
_IGNORED = {"batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers", "causal", "name", "loss"}


class CompatError(ValueError):
    """A checkpoint or config that does not fit: the message lists what is wrong."""


def original_key_to_ours(key: str) -> str:
    for prefix in ("_orig_mod.", "model.", "inner."):
        key = key.removeprefix(prefix)
    if key in _KEYS:
        return _KEYS[key]
    key = re.sub(r"^([HL])_level\.layers\.", r"\1.layers.", key)
    for orig, ours in _PARTS:
        key = key.replace(orig, ours)
    return key


def _ours_to_original(key: str) -> str:
    if key in _KEYS_BACK:
        return _KEYS_BACK[key]
    key = re.sub(r"^([HL])\.layers\.", r"\1_level.layers.", key)
    for orig, ours in _PARTS:
        key = key.replace(ours, orig)
    return key


def to_original(state_dict: dict, compiled: bool = False) -> dict:
    """Our state dict in the original's checkpoint key form (`model.inner.…`)."""
    pre = "_orig_mod.model.inner." if compiled else "model.inner."
    return {pre + _ours_to_original(k): v for k, v in state_dict.items()}


def arch_from_original(cfg: dict) -> tuple[ArchConfig, dict]:
    """Original arch config (fixture config.json or all_config.yaml's `arch`) → (ArchConfig, dims)."""
    if "arch" in cfg:  # a whole all_config.yaml
        cfg = cfg["arch"]
    fields = {f.name for f in dc.fields(ArchConfig)}
    unknown = sorted(set(cfg) - fields - _IGNORED)
    if unknown:
        raise CompatError(f"unknown original arch fields {unknown}; expected some of {sorted(fields | _IGNORED)}")
    kw = {k: v for k, v in cfg.items() if k in fields and k != "loss"}
    loss = cfg.get("loss") or {}
    if "loss_type" in loss:
        kw["loss"] = LossConfig(loss_type=loss["loss_type"])
    dims = {k: cfg[k] for k in ("vocab_size", "seq_len", "num_puzzle_identifiers") if k in cfg}
    return ArchConfig(**kw), dims


def _read_config(config) -> dict:
    if isinstance(config, dict):
        return config
    path = Path(config)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for original all_config.yaml files
        return yaml.safe_load(text)
    return json.loads(text)


def load_original(checkpoint, config, dims: dict | None = None, dtype: torch.dtype | None = None) -> HRM:
    """Build an hrmlib HRM from an original checkpoint (path or state dict) and arch config.

    `dims` (vocab_size, seq_len, num_puzzle_identifiers) defaults to the config's fields; shapes in
    the checkpoint are checked against them and every missing/extra/mis-shaped key is listed.
    """
    arch, cdims = arch_from_original(_read_config(config))
    cdims.update(dims or {})
    missing = {"vocab_size", "seq_len", "num_puzzle_identifiers"} - set(cdims)
    if missing:
        raise CompatError(f"config lacks {sorted(missing)}; pass them as dims={{...}}")
    sd = checkpoint if isinstance(checkpoint, dict) else torch.load(checkpoint, map_location="cpu", weights_only=True)
    sd = {original_key_to_ours(k): v for k, v in sd.items()}
    model = HRM(arch, cdims["vocab_size"], cdims["seq_len"], cdims["num_puzzle_identifiers"], dtype)
    load_checked(model, sd)
    return model


def load_checked(model: torch.nn.Module, sd: dict):
    """Strict load with one error listing every missing, unexpected and mis-shaped key."""
    want = model.state_dict()
    problems = [f"missing: {k} {tuple(v.shape)}" for k, v in want.items() if k not in sd]
    problems += [f"unexpected: {k} {tuple(v.shape)}" for k, v in sd.items() if k not in want]
    problems += [f"shape: {k} checkpoint {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in want.items() if k in sd and sd[k].shape != v.shape]
    if problems:
        raise CompatError("checkpoint does not fit the model:\n  " + "\n  ".join(problems))
    # H_init/L_init come from the checkpoint too (P8); they are cast to the model's forward dtype.
    model.load_state_dict(sd)


def fixture_model(fixture_dir, weights="state_dict.eager.pt") -> HRM:
    """The model of a parity fixture directory (config.json + a state dict)."""
    d = Path(fixture_dir)
    cfg = json.loads((d / "config.json").read_text())
    return load_original(d / weights, cfg, dtype=DTYPES[cfg.get("forward_dtype", "bfloat16")])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "parity":
        print("usage: python -m hrmlib.compat parity FIXTURE_DIR", file=sys.stderr)
        return 2
    from .parity import run
    return run(argv[1])


if __name__ == "__main__":
    sys.exit(main())
