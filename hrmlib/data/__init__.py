"""Datasets in the original HRM on-disk format: builders, a validating reader and the sampler.

    python -m hrmlib.data sudoku --output-dir data/sudoku-demo --source generate --num-aug 8
    from hrmlib.data import load_split, TrainSampler
"""
from __future__ import annotations

from .format import DataError, Metadata, Split, Summary, load_split, read_identifiers, validate, write_dataset

TASKS = ("sudoku", "maze", "arc")


def build(task: str, output_dir, **kwargs) -> Summary:
    """Build one task's dataset (keyword arguments as that builder's `build`); returns the summary.

    For maze, `num_aug` > 0 means the original's `aug` (its augmentation is the fixed set of 8
    dihedral transforms), so one call works for every task, e.g. from the notebook."""
    from . import arc, maze, sudoku
    builders = {"sudoku": sudoku.build, "maze": maze.build, "arc": arc.build}
    if task not in builders:
        raise DataError(f"task must be one of {TASKS}, got {task!r}")
    if task == "maze" and "num_aug" in kwargs:
        kwargs["aug"] = kwargs.pop("num_aug") > 0
    return builders[task](output_dir, **kwargs)


_SAMPLER = ("TrainSampler", "PuzzleIterable", "eval_batches", "local_slice", "to_torch")


def __getattr__(name):
    # the sampler needs torch; importing it lazily keeps `python -m hrmlib.data` quick to start
    if name in _SAMPLER:
        from . import sampler
        return getattr(sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DataError", "Metadata", "Split", "Summary", "load_split", "read_identifiers", "validate", "write_dataset", "build",
           "TrainSampler", "PuzzleIterable", "eval_batches", "local_slice", "to_torch"]
