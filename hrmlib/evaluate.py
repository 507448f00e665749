"""`python -m hrmlib.evaluate`: evaluate a checkpoint as the trainer does (`hrmlib.train.evaluation`).

    python -m hrmlib.evaluate checkpoint=runs/<id> [data_path=DIR] [global_batch_size=N] [eval_halting=q]
    python -m hrmlib.evaluate checkpoint=ckpt/step_26040 data_path=DIR   # an original HRM/TRM checkpoint file
    python -m hrmlib.evaluate checkpoint=runs/<id> steps=all             # every kept checkpoint: the curve
    python -m hrmlib.evaluate checkpoint=hf:sapientinc/HRM-checkpoint-sudoku-extreme data_path=DIR  # a release
    python -m hrmlib.evaluate checkpoint=… submission=out/submission.json [exclude_arc1=true]  # ARC Prize file
    python -m hrmlib.evaluate checkpoint=… ablations=all [depths=1,2,4,8,16,32,64]  # depth, votes, puzzle ids
    torchrun --standalone --nproc-per-node 8 -m hrmlib.evaluate checkpoint=runs/<id>/checkpoints/step_N

Results go to `<run>/eval/step_<N>/` when the evaluation is the trainer's; one that differs from it
(another dataset, `eval_halting=q`, `arch.halt_max_steps=…`) goes beside it, named by what differs
(`step_<N>-eval_halting=q/`), so the run's own number is never replaced. An original checkpoint's go
to a new `runs/<time>-eval-…/`; `out=DIR` chooses. `steps=all` (or `steps=1000,2000`) evaluates each
kept checkpoint not evaluated yet (so it resumes) and writes the curve, one row per checkpoint, to
`<run>/eval/checkpoints.jsonl` (a variant's to `checkpoints-<variant>.jsonl`). Any config key may
follow as key=value.

A checkpoint is anything `hrmlib.runs.open` opens: a run, a checkpoint folder, a release imported as a
run (`python -m hrmlib.runs import`), an hf: name (read from the Hugging Face cache, downloaded once) or
an original checkpoint file. `submission=FILE` (ARC) writes the two attempts per test input the vote
ranks first, in the ARC Prize format, validated (`hrmlib.train.submission`); `exclude_arc1=true` leaves
out the ARC-AGI-2 evaluation tasks that are ARC-AGI-1 tasks, and says how many. `ablations=` runs the
depth sweep, the vote and the puzzle-id ablations after the evaluation (`hrmlib.train.ablations`),
into <out>/ablations.json.
"""
from __future__ import annotations

import json
import sys

from . import config as C
from . import dist, runs
from .data import load_split
from .errors import cli
from .paths import resolve, writable
from .train import ablations, submission as sub
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
        out, variant = m.eval_dir(), runs.eval_variant(m.config, m.trained)
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
    submission = kv.pop("submission", None)
    exclude = C.parse_value("exclude_arc1", kv.pop("exclude_arc1", "false"), bool)
    kinds, depths = ablations.parse(kv.pop("ablations"), kv.pop("depths", None)) if "ablations" in kv else ((), ())
    if exclude and not submission:
        raise C.ConfigError("exclude_arc1=true applies to a submission: add submission=FILE")
    d = dist.init(kv.get("device", "auto"))
    if steps:
        if "data_path" in kv or out or submission or kinds:
            raise C.ConfigError("steps= evaluates a run's checkpoints on its own data (no data_path=, out=, "
                                "submission= or ablations=)")
        every_checkpoint(source, steps, kv, d)
        return 0
    m = opened(source, kv, d.device)
    if m.data_path is None:
        raise C.ConfigError(f"checkpoint={source}: its config names no dataset; pass data_path=DIR (the dataset "
                            f"it was trained on)")
    if submission and not (m.data_path / "augmentations.json").is_file():
        raise sub.SubmissionError(f"submission={submission}: {m.data_path} is not an ARC dataset (no "
                                  f"augmentations.json); submissions are for ARC")
    dest = writable(submission, f"submission={submission}") if submission else None
    out = writable(out, f"out={out}") if out else writable(m.eval_dir())
    if d.main and "fit" in m.provenance:
        print(f"{source}: {m.provenance['fit']}", flush=True)
    variant = runs.eval_variant(m.config, m.trained) if m.run is not None else ""
    split = load_split(m.data_path, "test")
    res = evaluate(m.model, split, m.config, d, out, variant=variant)
    if d.main:
        print(json.dumps(res, indent=2))
        print(f"written to {out}")
    if dest and d.main:
        s = sub.write_submission(out, m.data_path, dest, exclude, split)
        left = f"; {s['excluded_arc1']} ARC-AGI-1 task(s) left out" if exclude else ""
        print(f"submission: {s['tasks']} tasks, {s['test_inputs']} test inputs ({s['no_grid_predicted']} without a "
              f"predicted grid){left} → {dest}", flush=True)
    if kinds:
        done = ablations.run(m.model, split, m.config, d, out, res, kinds, depths)
        if d.main:
            print(ablations.markdown(done))
            print(f"ablations written to {out / 'ablations.json'}")
    return 0


def main(argv=None) -> int:
    try:
        return cli(run, argv, __doc__.strip() + "\n\n" + USAGE)
    finally:
        dist.close()


if __name__ == "__main__":
    sys.exit(main())
