"""Compatibility with the originals (HRM and TRM): their checkpoint key names and configs.

    python -m hrmlib.parity tests/fixtures/hrm-reference     # parity with the original, CPU, seconds

    from hrmlib import runs
    m = runs.open("checkpoints/…/step_26040", data_path="data/…")   # an original checkpoint file

The originals save `state_dict()` of `ACTLossHead(model)`, compiled (`_orig_mod.model.inner.…`)
or not (`model.inner.…`); both are accepted, and so is a bare inner-model dict. The family (HRM or
TRM) comes from the config: `arch.name` in an all_config.yaml, TRM-only fields in a bare arch dict.
Opening a checkpoint is `hrmlib.runs.open`; this package only translates.
"""
from __future__ import annotations

import dataclasses as dc
import json
import typing
from pathlib import Path

from ..config import ArchConfig, ConfigError, LossConfig, parse_value
from ..errors import UserError
from ..model import DIMS


class CompatError(UserError, ValueError):
    """A checkpoint or config that does not fit: the message lists what is wrong."""


# Original → our names: whole keys, the modules holding blocks per family, then fragments of block keys.
_KEYS = {"embed_tokens.embedding_weight": "embed.weight", "embed_pos.embedding_weight": "pos.weight"}
# TRM has no H_level (docs/pitfalls.md T1)
_LEVELS = {"hrm": {"H_level": "H", "L_level": "L"}, "trm": {"L_level": "net"}}
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
        # The original TRM treats any unknown position string as "none", so that is how such a model
        # was trained (docs/pitfalls.md T12).
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
    """An original config: a dict, a JSON file (fixtures) or an all_config.yaml. Read with YAML's safe
    loader: a file with Python tags is refused, never run."""
    if isinstance(config, dict):
        return config
    path = Path(config)
    try:
        text = path.read_text()
    except OSError as e:
        raise CompatError(f"{path}: cannot read the original config ({e.strerror})") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml  # only needed for original all_config.yaml files
            cfg = yaml.safe_load(text)
        else:
            cfg = json.loads(text)
    except Exception as e:  # yaml.YAMLError (a Python tag, bad syntax) or json's ValueError
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CompatError(f"{path}: not an original config hrmlib can read ({type(e).__name__}: {first[:120]}); "
                          f"expected the all_config.yaml the original wrote") from None
    if not isinstance(cfg, dict):
        raise CompatError(f"{path}: expected a mapping of config keys, got {type(cfg).__name__}")
    return cfg
