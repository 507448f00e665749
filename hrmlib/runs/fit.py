"""Does a checkpoint fit a dataset? Checked from the weights' shapes before they are loaded, so a
mismatch is one line saying which dataset build the checkpoint expects, never a size-mismatch
traceback. `runs.open` runs it on every checkpoint it opens.

    from hrmlib.runs.fit import check_fit, read_shapes
    fit = check_fit(read_shapes("ckpt/step_26040"), arch, dims, "data/arc-2-aug-1000",
                    release="hf:sapientinc/HRM-checkpoint-ARC-2")
    print(fit)   # fits data/…: vocab 12, 900 tokens, 1,120,881 puzzle ids; 27,276,290 parameters (…)

What the weights fix: the vocabulary (rows of the token embedding), the number of puzzle ids (rows of
the puzzle table, when the model has one) and, for learned positions or TRM's token-mixing MLP, the
sequence length (RoPE and no positions work at any length, so then nothing fixes it). Equal counts
do not prove the same ids: an ARC table indexes the identifiers.json of the exact build it was trained
on (docs/pitfalls.md P14), which only that build's identifiers.json shows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..compat import CompatError, to_ours
from ..config import ArchConfig

BUFFERS = ("H_init", "L_init")  # fixed initial states: in a checkpoint, never trained, not parameters
TABLE = "puzzle_emb.weights"


class FitError(CompatError):
    """A checkpoint trained on a dataset of other sizes than the one given."""


@dataclass(frozen=True)
class Fit:
    data: str
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    params: int  # trainable parameters: what the papers and the originals' num_params count
    table: int  # values in the puzzle-embedding table (a buffer, trained by sign-SGD)

    def __str__(self) -> str:
        return (f"fits {self.data}: vocab {self.vocab_size}, {self.seq_len} tokens, {self.num_puzzle_identifiers:,} "
                f"puzzle ids; {self.params:,} parameters ({self.params + self.table:,} with the puzzle table)")


def read_shapes(path) -> dict:
    """{key: shape} of a checkpoint file, memory-mapped (cheap for 2.5 GB); an hrmlib state.pt's "model"."""
    from .checkpoints import load_file
    sd = load_file(path, mmap=True)
    sd = sd["model"] if isinstance(sd.get("model"), dict) else sd
    return {k: tuple(v.shape) for k, v in sd.items()}


def _ours(weights: dict, family: str) -> dict:
    return {k: tuple(getattr(v, "shape", v)) for k, v in to_ours(weights, family).items()}


def param_counts(weights: dict, family: str = "hrm") -> tuple[int, int]:
    """(trainable parameters, values in the puzzle table) of a state dict or {key: shape}, any key form."""
    s = _ours(weights, family)
    table = math.prod(s[TABLE]) if TABLE in s else 0
    return sum(math.prod(v) for k, v in s.items() if k != TABLE and k not in BUFFERS), table


def trained_dims(weights: dict, arch: ArchConfig) -> dict:
    """The dataset sizes the weights fix: vocab_size, num_puzzle_identifiers (None without a puzzle
    table), seq_len (None where positions do not fix it)."""
    s = _ours(weights, arch.name)
    if "embed.weight" not in s:
        raise FitError(f"not an HRM/TRM state dict (no token embedding among {len(s)} keys, e.g. "
                       f"{', '.join(list(s)[:3])})")
    mixing = next((v for k, v in s.items() if k.endswith("mlp_t.down.weight")), None)  # [P + S, inner]
    positions = s.get("pos.weight", mixing)  # learned positions: [P + S, D]
    return {"vocab_size": s["embed.weight"][0], "seq_len": positions[0] - arch.P if positions else None,
            "num_puzzle_identifiers": s[TABLE][0] if TABLE in s else None}


NAMES = {"num_puzzle_identifiers": "puzzle ids", "vocab_size": "tokens in its vocabulary",
         "seq_len": "tokens per puzzle"}


def check_fit(weights: dict, arch: ArchConfig, dims: dict, data=None, release=None,
              where="the checkpoint") -> Fit:
    """Compare what the weights (tensors or shapes, any key form) fix with the sizes `dims` of dataset
    `data` (None: the sizes its config gives); FitError (one line) on any difference, naming the build
    the checkpoint expects: a known release's (`release`, an hf: name), else what it needs."""
    from .releases import find
    want = trained_dims(weights, arch)
    have = data or "the config given"
    diff = [f"{want[k]:,} {n}; {have} has {dims[k]:,}" for k, n in NAMES.items()
            if want[k] is not None and want[k] != dims[k]]
    if diff:
        rel = find(release) if release else None
        if rel:
            how = f"it needs {rel.data} ({rel.task}), built with: {rel.build}"
            if rel.exact_ids:
                how += (" — and its puzzle ids index that exact build's identifiers.json, which a rebuild reproduces "
                        "only if made as the original was")
        else:
            how = ("use the dataset it was trained on (its config names it), or rebuild that one with the same "
                   "sources, --num-aug and --seed")
        raise FitError(f"{where} was trained on a dataset with {'; and '.join(diff)}: {how}")
    params, table = param_counts(weights, arch.name)
    return Fit(str(have), dims["vocab_size"], dims["seq_len"], dims["num_puzzle_identifiers"], params, table)
