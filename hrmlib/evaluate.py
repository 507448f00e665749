"""`python -m hrmlib.evaluate`: evaluate a checkpoint as the trainer does (`hrmlib.train.evaluate`).

    python -m hrmlib.evaluate checkpoint=runs/<id> [data_path=DIR] [global_batch_size=N] [eval_halting=q]
    python -m hrmlib.evaluate checkpoint=ckpt/step_26040 data_path=DIR   # an original HRM/TRM checkpoint file
    python -m hrmlib.evaluate checkpoint=runs/<id> steps=all             # every kept checkpoint: the curve
    torchrun --standalone --nproc-per-node 8 -m hrmlib.evaluate checkpoint=runs/<id>/checkpoints/step_N

Results go to `<run>/eval/step_<N>/` (on another dataset: `step_<N>-<dataset>/`; an original
checkpoint's to a new `runs/<time>-eval-…/`; `out=DIR` chooses). `steps=all` (or `steps=1000,2000`)
evaluates each kept checkpoint not evaluated yet (so it resumes) and writes the curve, one row per
checkpoint, to `<run>/eval/checkpoints.jsonl`. Any config key may follow as key=value.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import ROOT, dist, runs
from . import config as C
from .compat import CompatError, arch_from_original, load_original, original_data_path, read_config
from .data import DataError, load_split, read_identifiers
from .data.format import read_metadata
from .model import dims, forward_dtype
from .train.evaluate import evaluate

USAGE = ("usage: python -m hrmlib.evaluate checkpoint=RUN_OR_STEP_DIR [key=value …]\n"
         "       python -m hrmlib.evaluate checkpoint=ORIGINAL_FILE [config=all_config.yaml] [data_path=DIR] [key=value …]")


def from_original(ck: Path, kv: dict, device) -> tuple:
    """(config, model, default output dir) for an original HRM/TRM checkpoint file. Its
    all_config.yaml is read from beside it, as the original writes it, or from `config=`."""
    yml = Path(kv.pop("config", ck.parent / "all_config.yaml"))
    if not yml.is_file():
        raise C.ConfigError(f"checkpoint={ck} is an original checkpoint file, but there is no {yml}; pass its "
                            f"all_config.yaml as config=PATH")
    full = read_config(yml)
    arch, _ = arch_from_original(full)
    cfg = C.apply(C.Config(arch=arch, data_path=original_data_path(full),
                           global_batch_size=full.get("global_batch_size", 768)), [f"{k}={v}" for k, v in kv.items()])
    meta = read_metadata(Path(cfg.data_path) / "test" / "dataset.json")  # the split itself is loaded once, by main
    model = load_original(ck, full, dims(meta), forward_dtype(cfg.arch.forward_dtype, device.type))
    name = re.sub(r"[^\w.-]+", "-", f"eval-{ck.parent.name}-{ck.name}")  # original run names have spaces
    return cfg, model, ROOT / "runs" / runs.new_run_id(name)


def from_run(path: Path, kv: dict, device) -> tuple:
    """(config, model, output dir) for an hrmlib run or checkpoint; a damaged checkpoint is named
    with the usable ones."""
    ck = runs.find_checkpoint(path)
    try:
        model, cfg, state = runs.load_model(ck, device, [f"{k}={v}" for k, v in kv.items()])
    except runs.RunError as e:
        good = runs.usable(path)[0] if ck != path else []
        raise runs.RunError(f"{e}; " + (f"usable: {', '.join(g.name for g in good)} (pass checkpoint={good[0]})"
                                        if good else "no other checkpoint to use")) from None
    data = Path(cfg.data_path)
    runs.check_identifiers(state["identifiers"], read_identifiers(data), ck)
    return cfg, model, runs.eval_dir(ck, data, state["config"]["data_path"])


def every_checkpoint(path: Path, steps: str, kv: dict, d: dist.Dist) -> list[dict]:
    """Evaluate the run's kept checkpoints (`steps`: all, or a list) that have no evaluation yet;
    return and write the curve, one row per evaluated checkpoint."""
    run = path.parent.parent if (path / "state.pt").exists() else path
    cks = runs.checkpoints(run)
    if steps != "all":
        try:
            want = {int(s) for s in steps.split(",")}
        except ValueError:
            raise C.ConfigError(f"steps={steps}: expected all or checkpoint steps, e.g. steps=1000,2000") from None
        cks = [ck for ck in cks if int(ck.name[5:]) in want]
        if missing := want - {int(ck.name[5:]) for ck in cks}:
            raise runs.RunError(f"steps={steps}: {run} keeps no checkpoint for step(s) {sorted(missing)}; kept: "
                                f"{', '.join(ck.name for ck in runs.checkpoints(run))}")
    splits = {}  # every checkpoint of a run usually evaluates on the same data: load it once
    for ck in cks:
        if runs.evaluated(run / "eval" / ck.name):
            print(f"{ck.name}: evaluated already", flush=True)
            continue
        cfg, model, out = from_run(ck, dict(kv), d.device)
        if cfg.data_path not in splits:
            splits[cfg.data_path] = load_split(Path(cfg.data_path), "test")
        res = evaluate(model.to(d.device), splits[cfg.data_path], cfg, d, out)
        print(f"{ck.name}: exact_accuracy {res['exact_accuracy']:.4f}", flush=True)
    rows = runs.checkpoint_evals(run)
    if d.main and rows:
        runs.atomic_write(run / "eval" / "checkpoints.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        best = runs.best(rows)
        print(f"best: step {best['step']}, exact_accuracy {best['exact_accuracy']:.4f} "
              f"({len(rows)} checkpoints; {run / 'eval' / 'checkpoints.jsonl'})")
    return rows


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    try:
        kv = dict(a.split("=", 1) for a in argv if "=" in a)
        if "checkpoint" not in kv or len(kv) != len(argv):
            raise C.ConfigError(USAGE)
        ck, out, steps = Path(kv.pop("checkpoint")), kv.pop("out", None), kv.pop("steps", None)
        d = dist.init(kv.get("device", "auto"))
        if steps:
            if "data_path" in kv or out:
                raise C.ConfigError("steps= evaluates a run's checkpoints on its own data (no data_path= or out=)")
            every_checkpoint(ck, steps, kv, d)
            return 0
        cfg, model, default = (from_original if ck.is_file() else from_run)(ck, kv, d.device)
        out = Path(out) if out else default
        res = evaluate(model.to(d.device), load_split(Path(cfg.data_path), "test"), cfg, d, out)
        if d.main:
            print(json.dumps(res, indent=2))
            print(f"written to {out}")
        return 0
    except (C.ConfigError, DataError, CompatError, runs.IdentifierMismatch, runs.RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # out= (or the run) cannot be written
        print(f"error: {e.filename}: {e.strerror}; choose a writable out=DIR", file=sys.stderr)
        return 2
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
