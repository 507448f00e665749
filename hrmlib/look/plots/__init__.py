"""Figures, each one call returning a matplotlib Figure: notebooks show them, runs save them.

    curves.py   of runs (read from their files): learning curves, diagnostics, checkpoint curve, seeds
    inside.py   of a trace: convergence, halting, reasoning over segments, depth, side by side, replay,
                interventions
"""
from .curves import checkpoint_curve, diagnostics, learning_curves, read_metrics, save, seed_groups
from .inside import (act_histogram, compare, compute_curves, convergence, depth_sweep, effective_dim, halting,
                     interventions, live, participation_ratio, pca, pca_trajectories, reasoning, replay_side,
                     state_explorer, timeline)

__all__ = ["act_histogram", "checkpoint_curve", "compare", "compute_curves", "convergence", "depth_sweep",
           "diagnostics", "effective_dim", "halting", "interventions", "learning_curves", "live", "participation_ratio",
           "pca",
           "pca_trajectories", "read_metrics", "reasoning", "replay_side", "save", "seed_groups", "state_explorer",
           "timeline"]
