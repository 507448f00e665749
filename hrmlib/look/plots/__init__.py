"""Figures, each one call returning a matplotlib Figure: notebooks show them, runs save them.

    curves.py   of runs (read from their files): learning curves, diagnostics, checkpoint curve, seeds
    inside.py   of a trace: convergence, halting, reasoning over segments, depth, side by side, replay,
                interventions
    dynamics.py of every update decoded: accuracy per update, critical update, step sizes, early exit
"""
from .curves import checkpoint_curve, diagnostics, learning_curves, read_metrics, save, seed_groups
from .dynamics import critical, decoded, dynamics, early_exit, frames, update_side
from .inside import (act_histogram, compare, compute_curves, convergence, depth_sweep, effective_dim, halting,
                     interventions, live, participation_ratio, pca, pca_trajectories, reasoning, replay_side,
                     state_explorer, timeline)

__all__ = ["act_histogram", "checkpoint_curve", "compare", "compute_curves", "convergence", "critical", "decoded",
           "depth_sweep", "diagnostics", "dynamics", "early_exit", "effective_dim", "frames", "halting",
           "interventions", "learning_curves", "live", "participation_ratio", "pca", "pca_trajectories",
           "read_metrics", "reasoning", "replay_side", "save", "seed_groups", "state_explorer", "timeline",
           "update_side"]
