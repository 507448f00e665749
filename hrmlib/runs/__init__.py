"""Run directories, `runs/<id>/`: config.json, env.json, metrics.jsonl, checkpoints/, eval/, the
executed notebooks and figures. This package is the only code that reads or writes them.

    files.py        ids, atomic writes, metrics.jsonl and sinks, predictions, the one-trainer lock
    checkpoints.py  save, find, load (falling back past damaged ones), model from a checkpoint
    compare.py      `table()`: runs side by side, seeds of one config grouped
"""
from .checkpoints import (IdentifierMismatch, check_identifiers, checkpoints, eval_dir, evaluated, find_checkpoint, finite,
                          load_latest, load_model, prepare, save_checkpoint, set_aside_after, usable)
from .compare import best, checkpoint_evals, markdown, seed_groups, summary, table
from .files import (Lock, Metrics, RunError, _alive, atomic_write, env_info, load_preds, new_run_id, read_json,
                    read_jsonl, save_preds)

__all__ = ["IdentifierMismatch", "Lock", "Metrics", "RunError", "_alive", "atomic_write", "check_identifiers",
           "checkpoints", "env_info", "eval_dir", "evaluated", "find_checkpoint", "finite", "load_latest", "load_model", "load_preds",
           "new_run_id", "prepare", "read_json", "read_jsonl", "save_checkpoint", "save_preds", "set_aside_after",
           "usable", "best", "checkpoint_evals", "markdown", "seed_groups", "summary", "table"]
