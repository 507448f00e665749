"""Launch training from a notebook: torchrun as a child process, its output streamed into the cell,
a learning-curve figure redrawn as metrics.jsonl grows, and no orphan workers whatever ends the
launcher: `launch/notebook` → papermill → kernel → torchrun → workers is a chain in which each
process dies with its parent (the kernel polls its parent, as ipykernel does; torchrun gets SIGTERM
from the kernel's death through PR_SET_PDEATHSIG and stops its workers; a worker whose torchrun is
gone exits, `hrmlib.dist.exit_with_parent`).

    from hrmlib.launch import torchrun
    run = torchrun("debug", ["data_path=data/sudoku-debug"], nproc=2)

`papermill --log-output` shows the streamed lines live. A non-zero exit raises, so papermill fails.
"""
from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import ROOT
from .grammar import ConfigError, parse_value, split
from .runs import RunError, new_run_id, prepare


class TrainingFailed(RuntimeError):
    pass


def summary(run: Path) -> dict:
    """The last evaluation of a run (exact accuracy is the headline), printed and returned."""
    from .look.plots import read_metrics
    evals = [r for r in read_metrics(run) if r.get("split") == "test"]
    if not evals:
        print(f"{run}: no evaluation yet")
        return {}
    last = evals[-1]
    keys = ["exact_accuracy", "accuracy", "act_steps", "q_halt_accuracy", "count"] + \
        [k for k in last if k.startswith("pass@")]
    print(f"run {run}\nstep {last['step']}: " + ", ".join(f"{k} {last[k]:.4g}" for k in keys if k in last))
    return last


def torchrun(preset: str, overrides: list[str] = (), nproc: int = 1, nnodes: int = 1,
             rdzv_endpoint: str | None = None, run_dir: str | None = None, plot_every_s: float = 10.0,
             threads: int | None = None) -> Path:
    """Train under torchrun; stream its output; redraw the learning curve; return the run dir."""
    if nnodes > 1 and not rdzv_endpoint:
        raise ValueError("nnodes > 1 needs rdzv_endpoint=HOST:PORT (the c10d rendezvous on the first node)")
    run = Path(run_dir) if run_dir else ROOT / "runs" / new_run_id(preset)
    exe = Path(sys.executable).with_name("torchrun")
    rdzv = [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}"]
    # workers inherit our stdout; only rank 0 prints (besides errors), so lines do not interleave
    cmd = [str(exe) if exe.exists() else "torchrun", f"--nproc-per-node={nproc}",
           *(rdzv if nnodes > 1 else ["--standalone"]), "-m", "hrmlib.train", preset, *overrides, f"run_dir={run}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads or "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(threads or max(1, (os.cpu_count() or 1) // nproc))
    print("$ " + shlex.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)
    handle, last_plot = _display_handle(), 0.0
    from .look.live import Panel  # notebook 02's live lens: redrawn at each evaluation's snapshot
    panel = Panel(run) if handle is not None else None
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if not line:
                    break
                print(line, end="", flush=True)
            if handle is not None and time.time() - last_plot > plot_every_s:
                last_plot = _redraw(handle, run)
            if panel is not None:
                panel.update()
        rc = proc.wait()
    except BaseException:  # KeyboardInterrupt from the kernel: take the whole process group down
        _kill(proc)
        raise
    if handle is not None:
        _redraw(handle, run)
        panel.update(final=True)
    if rc != 0:
        raise TrainingFailed(f"training exited with status {rc} (command: {shlex.join(cmd)}); see the output above")
    return run


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started it dies (Linux; elsewhere
    the kernel's KeyboardInterrupt path below still stops it)."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill(proc: subprocess.Popen):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            pass


def _display_handle():
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    return display("waiting for the first metrics…", display_id=True) if get_ipython() else None


def _redraw(handle, run: Path) -> float:
    from .look.plots import learning_curves
    if (run / "metrics.jsonl").exists():
        import matplotlib.pyplot as plt
        fig = learning_curves([run])
        handle.update(fig)
        plt.close(fig)
    return time.time()


# ---------------------------------------------------------------------------- notebooks

def run_notebook(notebook: str, args: list[str], suffix: str = "") -> Path:
    """Execute a parameterised notebook with papermill into its run directory. `key=value` args set
    notebook parameters (parsed by each parameter's declared type); any other key is a config override
    appended to the notebook's `overrides` list, so the CLI grammar holds. `suffix` ends the run's
    name (a sweep's `-seed<N>`)."""
    import papermill as pm
    nb = Path(notebook).resolve()
    declared = pm.inspect_notebook(str(nb))
    params, extra = {}, []
    for a in args:
        k, v = split(a, f"notebook parameters: {', '.join(declared)}")
        if k in declared:
            params[k] = _parse(k, v, declared[k]["inferred_type_name"])
        else:
            extra.append(a)
    if extra:
        if "overrides" not in declared:
            raise ConfigError(f"unknown notebook parameters {extra}; declared: {', '.join(declared)}")
        params["overrides"] = list(params.get("overrides", [])) + extra
    preset = params.get("preset", declared.get("preset", {}).get("default", "run")).strip("'\"")
    # the executed copy goes into the run it trains (run_dir) or looks at (run), else a new one
    if params.get("run_dir"):
        params["run_dir"] += suffix
    run = Path(params.get("run_dir") or params.get("run") or ROOT / "runs" / new_run_id(f"{nb.stem}-{preset}{suffix}"))
    if "run_dir" in declared:  # a training notebook: refuse before its executed copy lands in another run
        kv = dict(o.split("=", 1) for o in params.get("overrides", []) if "=" in o)
        if "resume" not in kv and not parse_value("overwrite", kv.get("overwrite", "false"), bool):
            prepare(run, resume=False, overwrite=False)
        params["run_dir"] = str(run)
    run.mkdir(parents=True, exist_ok=True)
    out = run / nb.name
    print(f"executing {nb.name} → {out}", flush=True)
    import logging  # papermill logs cell output at INFO: show it live, as `papermill --log-output`
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    pm.execute_notebook(str(nb), str(out), parameters=params, log_output=True, cwd=str(nb.parent),
                        progress_bar=False)
    return run


def sweep(notebook: str, args: list[str]) -> list[Path]:
    """`seeds=0,1,2`: the notebook once per seed, one after another, each run its own directory
    (`<run_dir>-seed<N>`, or a new `runs/<time>-<notebook>-<preset>-seed<N>-…`); `hrmlib.runs.table`
    groups them."""
    seeds = [a.split("=", 1)[1] for a in args if a.startswith("seeds=")]
    if not seeds:
        return [run_notebook(notebook, args)]
    try:
        seeds = [int(s) for s in seeds[-1].split(",")]
    except ValueError:
        raise ConfigError(f"seeds={seeds[-1]}: expected comma-separated integers, e.g. seeds=0,1,2") from None
    rest = [a for a in args if not a.startswith("seeds=")]
    return [run_notebook(notebook, rest + [f"seed={s}"], suffix=f"-seed{s}") for s in seeds]


def _parse(key: str, v: str, typ: str):
    """A notebook parameter's value from its declared type (papermill's inferred type name), with
    the config grammar's rules (a bool is true/false/1/0/yes/no/on/off, anything else an error)."""
    t = typ.replace(" ", "").lower()
    if t.startswith("list"):
        return [s.strip() for s in v.strip("[]").split(",") if s.strip()]
    return parse_value(key, v, {"int": int, "float": float, "bool": bool}.get(t, str))


USAGE = """usage: launch/notebook NOTEBOOK [param=value | config.key=value …] [seeds=0,1,2]
       python -m hrmlib.launch data PRESET"""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv[:1]):
        print(__doc__ + "\n" + USAGE)
        return 0
    data = len(argv) == 2 and argv[0] == "data"  # python -m hrmlib.launch data PRESET: build its dataset
    if not data and (len(argv) < 2 or argv[0] != "notebook"):
        print(USAGE, file=sys.stderr)
        return 2
    from .data import DataError, ensure_data
    try:
        if data:
            print(f"dataset: {ensure_data(argv[1])}")
        else:
            for run in sweep(argv[1], argv[2:]):
                print(f"done: {run}")
        return 0
    except (RunError, ConfigError, DataError) as e:  # refused before anything ran
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # papermill's PapermillExecutionError carries the failing cell's traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
