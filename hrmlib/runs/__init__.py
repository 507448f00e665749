"""Run directories, `runs/<id>/`: config.json, env.json, metrics.jsonl, checkpoints/, eval/, the
executed notebooks and figures. This package is the only code that reads or writes them, and the one
way anything holding weights becomes a model (`open`).

    files.py        ids, atomic writes, metrics.jsonl and sinks, predictions, the one-trainer lock
    checkpoints.py  save, find, load (falling back past damaged ones), rewind, branch, evaluation folders
    source.py       `open()`: a run, a checkpoint, an imported release, an hf: name or an original checkpoint
                    file as a model
    fit.py          `check_fit()`: a checkpoint's sizes against a dataset's, before loading; parameter counts
    hub.py          `hf:org/name…` names resolved through huggingface_hub's cache (offline with HF_HUB_OFFLINE=1)
    releases.py     the released HRM/TRM checkpoints known here and the dataset each needs
    imports.py      a release imported as a run: its layout, `imported()` · importer.py `import_run()` writes it
    compare.py      `table()`: runs side by side, seeds of one config grouped
"""
from .checkpoints import (IdentifierMismatch, branch, check_identifiers, checkpoints, eval_dir, eval_variant, evaluated,
                          find_checkpoint, finite, load_file, load_latest, prepare, save_checkpoint, set_aside_after,
                          usable)
from .compare import best, checkpoint_evals, markdown, seed_groups, summary, table
from .files import (Lock, Metrics, RunError, atomic_write, check_sinks, env_info, load_preds, new_run_id, read_json,
                    read_jsonl, save_preds, write_jsonl)
from .fit import FitError, check_fit, param_counts
from .hub import HubError, is_hf
from .importer import import_run
from .imports import imported, refuse_resume
from .source import Opened, data_dims, kind_of, load_checked, open, weights

__all__ = ["FitError", "HubError", "IdentifierMismatch", "Lock", "Metrics", "Opened", "RunError", "atomic_write",
           "best", "branch", "check_fit", "data_dims", "import_run", "imported", "is_hf", "param_counts",
           "refuse_resume",
           "check_identifiers", "check_sinks", "checkpoint_evals", "checkpoints", "env_info", "eval_dir",
           "eval_variant", "evaluated", "find_checkpoint", "finite", "kind_of", "load_checked", "load_file",
           "load_latest", "load_preds", "markdown", "new_run_id", "open", "prepare", "read_json", "read_jsonl",
           "save_checkpoint", "save_preds", "seed_groups", "set_aside_after", "summary", "table", "usable", "weights",
           "write_jsonl"]
