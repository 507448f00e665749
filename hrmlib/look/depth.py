"""Test-time depth: run past the trained number of ACT segments and read what more depth buys.

    from hrmlib.look import depth, trace
    m = trace.load("runs/<id>")
    tr = depth.sweep(m)                          # 8× the trained segments; <run>/eval/step_<N>/depth.json
    tr = depth.sweep(m, steps=64, limit=256)     # to 64 segments, the first 256 test puzzles
    depth.by_limit(tr, (1, 2, 4, 8, 16, 32, 64))  # {limit: exact accuracy with arch.halt_max_steps=limit}
    depth.refinement_gap(tr)                     # {2: …, 4: …, 8: …} minus the accuracy at the trained depth

One trace gives every halting limit at once: evaluation never halts early (the originals' rule) and a
segment's output does not depend on the limit, so exact accuracy after segment k of a deep trace is the
accuracy with `arch.halt_max_steps=k` (tests/test_trace.py: the rollout is extended unchanged).
`runs.table` shows the refinement gap it finds in depth.json; `plots.depth_sweep` draws the sweep. The
numbers are read by the evaluator's `by_limit` and `refinement_gap` (`hrmlib.train.evaluation`, what
`evaluate ablations=depth` reports) from the trace's accuracy after each segment.
"""
from __future__ import annotations

import json
from typing import Optional

from ..runs import atomic_write
from ..train import evaluation
from .trace import Loaded, Trace, eval_dir, trace_depth


def by_limit(tr: Trace, limits: Optional[tuple] = None) -> dict[int, float]:
    """{k: exact accuracy after segment k} = with halting limit k, for the `limits` the trace reaches
    (default: every segment)."""
    return evaluation.by_limit(tr.correct.mean(1), limits)


def refinement_gap(tr: Trace, factors=evaluation.FACTORS) -> dict[int, float]:
    """{f: exact accuracy after f × the trained segments − after the trained number}, for the factors
    the trace reaches: what running the refinement loop longer at test time buys."""
    return evaluation.refinement_gap(tr.correct.mean(1), tr.train_max_steps, factors)


def sweep(m: Loaded, steps: int = 0, factor: int = max(evaluation.FACTORS), limit: int = 0, save: bool = True) -> Trace:
    """Trace `steps` segments (default `factor` × the trained ones) of the test split's first `limit`
    puzzles (0: all) and, for a checkpoint, write the accuracy after each segment and the refinement gap
    to depth.json beside its evaluation (<run>/eval/step_<N>/, or a variant's directory)."""
    tr = trace_depth(m, steps or factor * m.model.cfg.halt_max_steps, limit=limit)
    if save and m.checkpoint is not None:
        out = eval_dir(m)
        out.mkdir(parents=True, exist_ok=True)
        doc = {"checkpoint": str(m.checkpoint), "data_path": str(m.data_path), "puzzles": tr.batch,
               "trained_segments": tr.train_max_steps, "exact_accuracy": tr.correct.mean(1).tolist(),
               "token_accuracy": tr.token_accuracy.mean(1).tolist(),
               "refinement_gap": {str(f): g for f, g in refinement_gap(tr).items()}}
        atomic_write(out / "depth.json", json.dumps(doc, indent=1))
    return tr
