"""Datasets in the original HRM on-disk format: builders, a validating reader and the sampler.

    python -m hrmlib.data sudoku --output-dir data/sudoku-demo --source generate --num-aug 8
    from hrmlib.data import load_split, TrainSampler
"""
from __future__ import annotations

from pathlib import Path

from ..paths import home, resolve
from .format import (DataError, Metadata, Split, Summary, fingerprint, load_split, read_identifiers, read_metadata,
                     task_of, validate, write_dataset)

# Datasets the workbench can build by itself, offline, for the presets that train on them.
RECIPES = {
    "data/sudoku-debug": dict(task="sudoku", source="generate", gen_count=200, gen_test_count=64, gen_clues=40,
                              num_aug=4, seed=0),
    # `demo_hrm`: easy Sudoku (many givens), what a small HRM learns on two CPU cores in minutes
    "data/sudoku-demo": dict(task="sudoku", source="generate", gen_count=1000, gen_test_count=200, gen_clues=72,
                             num_aug=7, seed=0),
    # `demo` (TRM): half the puzzles with 40 givens (several segments needed), half with 60
    "data/sudoku-demo-mix": dict(task="sudoku", source="generate", gen_count=4000, gen_test_count=600,
                                 gen_clues="40,60", num_aug=7, seed=0),
    # `demo_maze` (TRM): 9×9 perfect mazes (one path), S and G at least 10 steps apart, ×8 dihedral transforms
    "data/maze-demo": dict(task="maze", source="generate", gen_count=8000, gen_test_count=400, gen_size=9,
                           gen_min_path_len=10, gen_loop_prob=0.0, num_aug=1, seed=0),
    # small 9x9 mazes for a model trained in seconds (`debug data_path=data/maze-debug`), to try Solve on
    "data/maze-debug": dict(task="maze", source="generate", gen_count=400, gen_test_count=32, gen_size=9,
                            gen_min_path_len=8, num_aug=0, seed=0),
}


def check_build(task: str, **kwargs) -> dict:
    """A build's options checked before any work (the task, option names and ranges, the source's
    form): one DataError naming what is wrong. Returns the options as the task's builder takes them.
    For maze, `num_aug` > 0 means the original's `aug` (the 8 dihedral transforms), so one call works
    for every task, e.g. from the notebook."""
    import inspect
    from .builders import arc, maze, sudoku
    from .builders.sources import parse_source
    from .format import check_args
    builders = {"sudoku": sudoku, "maze": maze, "arc": arc}
    if task not in builders:
        raise DataError(f"task must be one of {', '.join(builders)}, got {task!r}")
    if task == "maze" and "num_aug" in kwargs:
        n = kwargs.pop("num_aug")
        check_args(task, num_aug=n)
        kwargs["aug"] = n > 0
    known = [n for n in inspect.signature(builders[task].build).parameters if n != "output_dir"]
    if unknown := [k for k in kwargs if k not in known]:
        raise DataError(f"{task}: unknown option {unknown[0]!r}; the {task} builder takes {', '.join(known)}")
    check_args(task, **kwargs)
    if task != "arc" and kwargs.get("source"):
        parse_source(kwargs["source"], builders[task].SOURCES)
    return kwargs


def build(task: str, output_dir, **kwargs) -> Summary:
    """Build one task's dataset (keyword arguments as that builder's `build`, checked first by
    `check_build`); returns the summary. A relative `output_dir` is under `hrmlib.paths.home()`."""
    from .builders import arc, maze, sudoku
    kwargs = check_build(task, **kwargs)
    return {"sudoku": sudoku.build, "maze": maze.build, "arc": arc.build}[task](resolve(output_dir), **kwargs)


def ensure_data(preset: str, data_path: str = "") -> Path:
    """The preset's (or the given) dataset directory, resolved; a built-in recipe is built when missing."""
    from .. import config as C
    rel = data_path or C.load(preset).data_path
    path = resolve(rel)
    if (path / "identifiers.json").exists():
        return path
    recipe = RECIPES.get(str(rel)) or RECIPES.get(str(path.relative_to(home())) if path.is_relative_to(home()) else "")
    if recipe is None:
        raise DataError(f"{path} is not a dataset (no identifiers.json); build it first, e.g. "
                        f"python -m hrmlib.data sudoku --output-dir {rel} --source generate")
    print(build(output_dir=path, **recipe), flush=True)
    return path


_SAMPLER = ("TrainSampler", "eval_batches", "local_slice", "to_torch")


def __getattr__(name):
    # the sampler needs torch; importing it lazily keeps `python -m hrmlib.data` quick to start
    if name in _SAMPLER:
        from . import sampler
        return getattr(sampler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DataError", "Metadata", "Split", "Summary", "check_build", "fingerprint", "load_split", "read_identifiers",
           "read_metadata", "task_of", "validate", "write_dataset",
           "build", "ensure_data", "RECIPES", *_SAMPLER]
