"""Compatibility with the originals (HRM and TRM): load their checkpoints and configs, check parity.

    python -m hrmlib.compat parity tests/fixtures/hrm-reference     # CPU, a few seconds
    python -m hrmlib.compat parity tests/fixtures/trm-reference
    python -m hrmlib.compat parity ../shared/fixtures/hrm-reference

    from hrmlib.compat import load_original
    model = load_original("checkpoints/…/step_26040", "checkpoints/…/all_config.yaml")

The originals save `state_dict()` of `ACTLossHead(model)`, compiled (`_orig_mod.model.inner.…`)
or not (`model.inner.…`); both are accepted, and so is a bare inner-model dict. The family (HRM or
TRM) comes from the config: `arch.name` in an all_config.yaml, TRM-only fields in a bare arch dict.
"""
from __future__ import annotations

import dataclasses as dc
import json
import typing
from pathlib import Path

import torch

from ..config import ArchConfig, ConfigError, LossConfig, parse_value
from ..model import ACT, DIMS, DTYPES, CompatError, build, load_checked

# Original → our names: whole keys, the modules holding blocks per family, then fragments of block keys.
_KEYS = {"embed_tokens.embedding_weight": "embed.weight", "embed_pos.embedding_weight": "pos.weight"}
_LEVELS = {"hrm": {"H_level": "H", "L_level": "L"}, "trm": {"L_level": "net"}}  # TRM has no H_level (T1)
_PARTS = {"self_attn.qkv_proj.": "attn.qkv.", "self_attn.o_proj.": "attn.o.",
          "mlp_t.gate_up_proj.": "mlp_t.gate_up.", "mlp_t.down_proj.": "mlp_t.down.",
          "mlp.gate_up_proj.": "mlp.gate_up.", "mlp.down_proj.": "mlp.down."}
# The originals' model class ids (all_config.yaml's arch.name) that hrmlib builds.
_NAMES = {"hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1": "hrm",
          "recursive_reasoning.hrm@HierarchicalReasoningModel_ACTV1": "hrm",
          "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1": "trm"}
_TRM_ONLY = {"mlp_t", "puzzle_emb_len", "no_ACT_continue"}
# Fields of the original arch config that are not model hyperparameters here.
_IGNORED = {"batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers", "causal", "name", "loss",
            "no_ACT_continue"}


def _rename(key: str, family: str, back: bool = False) -> str:
    """One key from the original's names to ours, or with `back` from ours to the original's."""
    keys, levels, parts = _KEYS, _LEVELS[family], _PARTS
    if back:
        keys, levels, parts = ({v: k for k, v in d.items()} for d in (keys, levels, parts))
    if key in keys:
        return keys[key]
    level, dot, rest = key.partition(".")
    if dot and rest.startswith("layers.") and level in levels:
        key = f"{levels[level]}.{rest}"
    for old, new in parts.items():
        key = key.replace(old, new)
    return key


def original_key_to_ours(key: str, family: str = "hrm") -> str:
    for prefix in ("_orig_mod.", "model.", "inner."):
        key = key.removeprefix(prefix)
    return _rename(key, family)


def to_ours(state_dict: dict, family: str = "hrm") -> dict:
    """An original checkpoint's state dict with our key names."""
    return {original_key_to_ours(k, family): v for k, v in state_dict.items()}


def to_original(state_dict: dict, compiled: bool = False, family: str = "hrm") -> dict:
    """Our state dict in the original's checkpoint key form (`model.inner.…`)."""
    pre = "_orig_mod.model.inner." if compiled else "model.inner."
    return {pre + _rename(k, family, back=True): v for k, v in state_dict.items()}


def arch_from_original(cfg: dict) -> tuple[ArchConfig, dict]:
    """Original arch config (fixture config.json or all_config.yaml's `arch`) → (ArchConfig, dims)."""
    if "arch" in cfg:  # a whole all_config.yaml
        cfg = cfg["arch"]
    name = cfg.get("name")  # the family: arch.name if given, else whether TRM-only fields are there
    if name is not None and name not in _NAMES:
        raise CompatError(f"arch.name {name!r} is not a model hrmlib builds; supported: {', '.join(_NAMES)}")
    family = _NAMES[name] if name is not None else "trm" if _TRM_ONLY & set(cfg) else "hrm"
    fields = {f.name for f in dc.fields(ArchConfig)}
    unknown = sorted(set(cfg) - fields - _IGNORED)
    if unknown:
        raise CompatError(f"unknown original arch fields {unknown}; expected some of {sorted(fields | _IGNORED)}")
    kw = {k: v for k, v in cfg.items() if k in fields and k not in ("loss", "name")}
    kw["name"] = family
    if family == "trm":
        # The original TRM treats any unknown position string as "none" (pitfall T12): so was it trained.
        if kw.get("pos_encodings") not in ("rope", "learned"):
            kw["pos_encodings"] = "none"
        kw["act_continue_loss"] = not cfg.get("no_ACT_continue", True)
        kw["puzzle_emb_len"] = cfg.get("puzzle_emb_len", 16)
    hints = typing.get_type_hints(ArchConfig)
    for k, v in kw.items():  # YAML reads 1e-05 as a string: values are parsed as our fields' types
        if isinstance(v, str):
            try:
                kw[k] = parse_value(f"arch.{k}", v, hints[k])
            except ConfigError as e:
                raise CompatError(f"original config: {e}") from None
    loss = cfg.get("loss") or {}
    if "loss_type" in loss:
        kw["loss"] = LossConfig(loss_type=loss["loss_type"])
    dims = {k: cfg[k] for k in DIMS if k in cfg}
    return ArchConfig(**kw), dims


def original_data_path(cfg: dict) -> str:
    """The dataset an original all_config.yaml names: HRM's data_path, TRM's first of data_paths."""
    return cfg.get("data_path") or (cfg.get("data_paths") or [""])[0]


def read_config(config) -> dict:
    """An original config: a dict, a JSON file (fixtures) or an all_config.yaml."""
    if isinstance(config, dict):
        return config
    path = Path(config)
    if path.suffix in (".yaml", ".yml"):
        import yaml  # only needed for original all_config.yaml files
        return yaml.safe_load(path.read_text())
    return json.loads(path.read_text())


def load_original(checkpoint, config, dims: dict | None = None, dtype: torch.dtype | None = None) -> ACT:
    """Build an hrmlib HRM or TRM from an original checkpoint (path or state dict) and arch config.

    `dims` (vocab_size, seq_len, num_puzzle_identifiers) defaults to the config's fields; shapes in
    the checkpoint are checked against them and every missing/extra/mis-shaped key is listed.
    """
    arch, cdims = arch_from_original(read_config(config))
    cdims.update(dims or {})
    missing = set(DIMS) - set(cdims)
    if missing:
        raise CompatError(f"config lacks {sorted(missing)}; pass them as dims={{...}}")
    sd = checkpoint if isinstance(checkpoint, dict) else torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build(arch, cdims, dtype)
    load_checked(model, to_ours(sd, arch.name))
    return model


def fixture_model(fixture_dir, weights="state_dict.eager.pt") -> ACT:
    """The model of a parity fixture directory (config.json + a state dict)."""
    d = Path(fixture_dir)
    cfg = json.loads((d / "config.json").read_text())
    return load_original(d / weights, cfg, dtype=DTYPES[cfg.get("forward_dtype", "bfloat16")])
