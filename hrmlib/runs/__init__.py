"""Run directories, `runs/<id>/`: config.json, env.json, metrics.jsonl, checkpoints/, eval/, the
executed notebooks and figures. This package is the only code that reads or writes them, and the one
way anything holding weights becomes a model (`open`).

    files.py        ids, atomic writes, metrics.jsonl and sinks, predictions, the one-trainer lock
    checkpoints.py  save, find, load (falling back past damaged ones), rewind, branch, evaluation folders
    source.py       `open()`: a run, a checkpoint or an original checkpoint file as a model
    compare.py      `table()`: runs side by side, seeds of one config grouped
"""
from .checkpoints import (IdentifierMismatch, branch, check_identifiers, checkpoints, eval_dir, eval_variant, evaluated,
                          find_checkpoint, finite, load_file, load_latest, prepare, save_checkpoint, set_aside_after,
                          usable)
from .compare import best, checkpoint_evals, markdown, seed_groups, summary, table
from .files import (Lock, Metrics, RunError, atomic_write, check_sinks, env_info, load_preds, new_run_id, read_json,
                    read_jsonl, save_preds, write_jsonl)
from .source import Opened, kind_of, load_checked, open, weights

__all__ = ["IdentifierMismatch", "Lock", "Metrics", "Opened", "RunError", "atomic_write", "best", "branch",
           "check_identifiers", "check_sinks", "checkpoint_evals", "checkpoints", "env_info", "eval_dir",
           "eval_variant", "evaluated", "find_checkpoint", "finite", "kind_of", "load_checked", "load_file",
           "load_latest", "load_preds", "markdown", "new_run_id", "open", "prepare", "read_json", "read_jsonl",
           "save_checkpoint", "save_preds", "seed_groups", "set_aside_after", "summary", "table", "usable", "weights",
           "write_jsonl"]
