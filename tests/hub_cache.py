"""A Hugging Face cache laid out exactly as huggingface_hub writes it, holding original-form HRM and
TRM checkpoints made from the committed parity fixtures, and tiny datasets with their sizes.

    <root>/hub/models--<org>--<name>/blobs/<sha256 (LFS files) | git blob sha1 (small files)>
    <root>/hub/models--<org>--<name>/snapshots/<commit>/<path> -> ../../blobs/<hash>  (relative symlinks)
    <root>/hub/models--<org>--<name>/refs/<branch or tag>      the commit hash, no newline

Two repositories (`conftest.hub_cache`, offline through `conftest.hf_offline`):

    hf:fixture-org/HRM-checkpoint-fixture                 like sapientinc's: step_N + all_config.yaml at the root
        main (commit HRM[1])  step_10 (initial weights), step_20 (fixture weights), all_config.yaml, .gitattributes
        v1   (commit HRM[0])  step_10, all_config.yaml
    hf:fixture-org/trm-fixture/tiny_public                like arcprize's: a folder per model
        main (commit TRM[1])  tiny_public/{step_3 (initial), step_7 (fixture), all_config.yaml}, README.md
        v1   (commit TRM[0])  tiny_public/{step_3, all_config.yaml}

Weights are the fixtures' compiled-form state dicts (`_orig_mod.model.inner.…`), as the originals
save them; all_config.yaml is `yaml.dump(config)` of an original run's config (sorted keys), its
data_path naming a tiny dataset (V 7, S 16, 5 puzzle ids: the fixture's sizes) built from the
fixture's batch.pt, so evaluation works on it without data_path=.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from conftest import FIXTURES

HRM_REPO, TRM_REPO, TRM_FOLDER = "fixture-org/HRM-checkpoint-fixture", "fixture-org/trm-fixture", "tiny_public"
HRM = [hashlib.sha1(f"hrm-{i}".encode()).hexdigest() for i in range(2)]  # commits: v1, main
TRM = [hashlib.sha1(f"trm-{i}".encode()).hexdigest() for i in range(2)]
# the sizes every fixture dataset has (both parity fixtures: vocab 7, 16 tokens, 5 puzzle ids)
DIMS = {"vocab_size": 7, "seq_len": 16, "num_puzzle_identifiers": 5}


@dataclass
class HubCache:
    home: Path  # HF_HOME
    cache: Path  # HF_HUB_CACHE = HF_HOME/hub
    data: dict  # "hrm" / "trm" -> the tiny dataset its all_config.yaml names


def fixture_dataset(path: Path, fixture: str, dims: dict | None = None) -> Path:
    """A fixture's eval batch (batch.pt) as a dataset, one example per puzzle, -100 stored as 0; `dims`
    changes vocab_size / seq_len / num_puzzle_identifiers to make one that does not fit."""
    from hrmlib.data.format import make_split, write_dataset
    d = {**DIMS, **(dims or {})}
    b = torch.load(FIXTURES / fixture / "batch.pt", weights_only=True)
    x, y = b["inputs"].numpy().astype(np.uint8), b["labels"].clamp_min(0).numpy().astype(np.uint8)
    S = d["seq_len"]
    x, y = np.resize(x, (len(x), S)), np.resize(y, (len(y), S))  # another seq_len: repeat or cut
    x, y = np.minimum(x, d["vocab_size"] - 1), np.minimum(y, d["vocab_size"] - 1)
    n = d["num_puzzle_identifiers"]
    split = make_split(x, y, b["puzzle_identifiers"].numpy() % n, np.arange(5), np.arange(5),
                       vocab_size=d["vocab_size"], num_puzzle_identifiers=n)
    return write_dataset(path, {"train": split, "test": split}, ["<blank>"] + [f"p{i}" for i in range(1, n)])


def _weights(fixture: str, name: str) -> bytes:
    buf = io.BytesIO()
    torch.save(torch.load(FIXTURES / fixture / name, weights_only=True), buf)
    return buf.getvalue()


def all_config(fixture: str, data: Path, run: str) -> bytes:
    """all_config.yaml as the original pretrain.py writes it: yaml.dump of the whole run config."""
    cfg = json.loads((FIXTURES / fixture / "config.json").read_text())
    arch = {k: v for k, v in cfg.items() if k not in ("batch_size", "seq_len", "vocab_size", "num_puzzle_identifiers",
                                                       "rms_norm_eps", "rope_theta")}
    loss = {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}
    common = {"global_batch_size": 4, "epochs": 20, "eval_interval": 10, "checkpoint_every_eval": True, "lr": 1e-4,
              "lr_min_ratio": 1.0, "lr_warmup_steps": 2, "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1,
              "puzzle_emb_lr": 1e-2, "puzzle_emb_weight_decay": 0.1, "seed": 0, "eval_save_outputs": [],
              "project_name": f"{data.name.capitalize()} ACT-torch", "run_name": run,
              "checkpoint_path": f"checkpoints/{data.name.capitalize()} ACT-torch/{run}"}
    if fixture == "hrm-reference":  # HRM's arch yaml has no forward_dtype: the class default is bfloat16
        arch.pop("forward_dtype")
        full = {"arch": {**arch, "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "loss": loss},
                "data_path": str(data), **common}
    else:
        full = {"arch": {**arch, "name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1", "loss": loss},
                "data_paths": [str(data)], "data_paths_test": [], "evaluators": [], "ema": True, "ema_rate": 0.999,
                "freeze_weights": False, "min_eval_interval": 0, **common}
    return yaml.dump(full).encode()


def add_repo(cache: Path, repo: str, commits: list[tuple[tuple, dict]]):
    """One model repo: commits as [(ref names, {path: bytes})] with their commit hashes given as the
    first ref. Large or binary files are stored under their sha256 (as LFS files are), others under
    their git blob sha1; a blob shared by two commits is stored once."""
    root = cache / f"models--{repo.replace('/', '--')}"
    for (commit, *refs), files in commits:
        for path, content in files.items():
            lfs = path.rpartition("/")[2].startswith("step_")
            h = hashlib.sha256(content).hexdigest() if lfs else \
                hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
            blob = root / "blobs" / h
            blob.parent.mkdir(parents=True, exist_ok=True)
            if not blob.exists():
                blob.write_bytes(content)
            link = root / "snapshots" / commit / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
        for ref in refs:
            (root / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
            (root / "refs" / ref).write_text(commit)


def make(root: Path) -> HubCache:
    home = root / "home"
    cache = home / "hub"
    data = {f: fixture_dataset(root / "data" / f"{f}-fixture", f"{f}-reference") for f in ("hrm", "trm")}
    h = {"init": _weights("hrm-reference", "init_state_dict.compiled.pt"),
         "fx": _weights("hrm-reference", "state_dict.compiled.pt"),
         "cfg": all_config("hrm-reference", data["hrm"], "HierarchicalReasoningModel_ACTV1 fixture-run"),
         "attr": b"step_* filter=lfs diff=lfs merge=lfs -text\n"}
    add_repo(cache, HRM_REPO, [((HRM[0], "v1"), {"step_10": h["init"], "all_config.yaml": h["cfg"]}),
                               ((HRM[1], "main"), {"step_10": h["init"], "step_20": h["fx"],
                                                   "all_config.yaml": h["cfg"], ".gitattributes": h["attr"]})])
    t = {"init": _weights("trm-reference", "init_state_dict.compiled.pt"),
         "fx": _weights("trm-reference", "state_dict.compiled.pt"),
         "cfg": all_config("trm-reference", data["trm"], "TinyRecursiveReasoningModel_ACTV1 fixture-run")}
    f = TRM_FOLDER
    add_repo(cache, TRM_REPO, [((TRM[0], "v1"), {f"{f}/step_3": t["init"], f"{f}/all_config.yaml": t["cfg"]}),
                               ((TRM[1], "main"), {f"{f}/step_3": t["init"], f"{f}/step_7": t["fx"],
                                                   f"{f}/all_config.yaml": t["cfg"], "README.md": b"# TRM fixture\n"})])
    return HubCache(home, cache, data)
