"""`python -m hrmlib.evaluate`: evaluate a checkpoint as the trainer does (`hrmlib.train.evaluation`).

    python -m hrmlib.evaluate checkpoint=runs/<id> [data_path=DIR] [global_batch_size=N] [eval_halting=q]
    python -m hrmlib.evaluate checkpoint=ckpt/step_26040 data_path=DIR   # an original HRM/TRM checkpoint file
    python -m hrmlib.evaluate checkpoint=runs/<id> steps=all             # every kept checkpoint: the curve
    torchrun --standalone --nproc-per-node 8 -m hrmlib.evaluate checkpoint=runs/<id>/checkpoints/step_N

Results go to `<run>/eval/step_<N>/` when the evaluation is the trainer's; one that differs from it
(another dataset, `eval_halting=q`, `arch.halt_max_steps=…`) goes beside it, named by what differs
(`step_<N>-eval_halting=q/`), so the run's own number is never replaced. An original checkpoint's go
to a new `runs/<time>-eval-…/`; `out=DIR` chooses. `steps=all` (or `steps=1000,2000`) evaluates each
kept checkpoint not evaluated yet (so it resumes) and writes the curve, one row per checkpoint, to
`<run>/eval/checkpoints.jsonl` (a variant's to `checkpoints-<variant>.jsonl`). Any config key may
follow as key=value.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import config as C
from . import dist, runs
from .data import load_split
from .errors import cli
from .paths import resolve, runs_dir, writable
from .train.evaluation import evaluate

USAGE = ("usage: python -m hrmlib.evaluate checkpoint=RUN_OR_STEP_DIR [key=value …]\n"
         "       python -m hrmlib.evaluate checkpoint=ORIGINAL_FILE [config=all_config.yaml] [data_path=DIR] "
         "[key=value …]")


def opened(source, kv: dict, device) -> runs.Opened:
    """The checkpoint as a model with `kv`'s overrides; a damaged one is named with the usable ones."""
    kv = dict(kv)
    config, data_path = kv.pop("config", None), kv.pop("data_path", None)
    try:
        return runs.open(source, config=config, data_path=data_path, device=device,
                         overrides=[f"{k}={v}" for k, v in kv.items()])
    except runs.RunError as e:
        p = resolve(source)
        good = runs.usable(p)[0] if "damaged" in str(e) and runs.checkpoints(p) else []
        if not good:
            raise
        raise runs.RunError(f"{e}; usable: {', '.join(g.name for g in good)} (pass checkpoint={good[0]})") from None


def out_dir(m: runs.Opened) -> Path:
    """The trainer's evaluation folder (or a variant's beside it); for an original file a new run."""
    if m.run is not None:
        return runs.eval_dir(m.checkpoint, m.config, m.trained)
    name = f"eval-{m.checkpoint.parent.name}-{m.checkpoint.name}"
    return runs_dir() / runs.new_run_id(re.sub(r"[^\w.-]+", "-", name))


def every_checkpoint(source, steps: str, kv: dict, d: dist.Dist) -> list[dict]:
    """Evaluate the run's kept checkpoints (`steps`: all, or a list) that have no evaluation yet;
    return and write the curve, one row per evaluated checkpoint."""
    path = resolve(source)
    run = path.parent.parent if (path / "state.pt").exists() else path
    cks = runs.checkpoints(run)
    if not cks:
        raise runs.RunError(f"checkpoint={source}: no checkpoint there (expected a run directory runs/<id>)")
    if steps != "all":
        try:
            want = {int(s) for s in steps.split(",")}
        except ValueError:
            raise C.ConfigError(f"steps={steps}: expected all or checkpoint steps, e.g. steps=1000,2000") from None
        cks = [ck for ck in cks if int(ck.name[5:]) in want]
        if missing := want - {int(ck.name[5:]) for ck in cks}:
            raise runs.RunError(f"steps={steps}: {run} keeps no checkpoint for step(s) {sorted(missing)}; kept: "
                                f"{', '.join(ck.name for ck in runs.checkpoints(run))}")
    splits, variant = {}, ""  # every checkpoint of a run usually evaluates on the same data: load it once
    for ck in cks:
        m = opened(ck, kv, d.device)
        out, variant = out_dir(m), runs.eval_variant(m.config, m.trained)
        if runs.evaluated(out):
            print(f"{ck.name}: evaluated already", flush=True)
            continue
        if m.data_path not in splits:
            splits[m.data_path] = load_split(m.data_path, "test")
        res = evaluate(m.model, splits[m.data_path], m.config, d, out, variant=variant)
        print(f"{ck.name}: exact_accuracy {res['exact_accuracy']:.4f}", flush=True)
    rows = runs.checkpoint_evals(run, variant)
    if d.main and rows:
        curve = run / "eval" / (f"checkpoints-{variant}.jsonl" if variant else "checkpoints.jsonl")
        runs.write_jsonl(curve, rows)
        best = runs.best(rows)
        print(f"best: step {best['step']}, exact_accuracy {best['exact_accuracy']:.4f} "
              f"({len(rows)} checkpoints; {curve})")
    return rows


def run(argv: list[str]) -> int:
    kv = dict(C.split(a, "e.g. checkpoint=runs/<id>") for a in argv)
    if "checkpoint" not in kv:
        raise C.ConfigError("give checkpoint=RUN, a checkpoint directory or an original checkpoint file "
                            "(python -m hrmlib.evaluate --help)")
    source, out, steps = kv.pop("checkpoint"), kv.pop("out", None), kv.pop("steps", None)
    d = dist.init(kv.get("device", "auto"))
    if steps:
        if "data_path" in kv or out:
            raise C.ConfigError("steps= evaluates a run's checkpoints on its own data (no data_path= or out=)")
        every_checkpoint(source, steps, kv, d)
        return 0
    m = opened(source, kv, d.device)
    if m.data_path is None:
        raise C.ConfigError(f"checkpoint={source}: its config names no dataset; pass data_path=DIR (the dataset "
                            f"it was trained on)")
    out = writable(out, f"out={out}") if out else writable(out_dir(m))
    variant = runs.eval_variant(m.config, m.trained) if m.run is not None else ""
    res = evaluate(m.model, load_split(m.data_path, "test"), m.config, d, out, variant=variant)
    if d.main:
        print(json.dumps(res, indent=2))
        print(f"written to {out}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    try:
        return cli(run, argv)
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
