"""Launch training and notebooks: torchrun as a child process, its output streamed into the cell, a
learning-curve figure redrawn as metrics.jsonl grows, and no orphan workers whatever ends the
launcher: `launch/notebook` → papermill → kernel → torchrun → workers is a chain in which each
process dies with its parent (the kernel polls its parent, as ipykernel does; torchrun gets SIGTERM
from the kernel's death through PR_SET_PDEATHSIG and stops its workers; a worker whose torchrun is
gone exits, `hrmlib.dist.exit_with_parent`).

    launch/notebook notebooks/02_train.ipynb preset=debug nproc=2          # CPU, two gloo processes
    launch/notebook notebooks/02_train.ipynb preset=sudoku_extreme_1k nproc=8 lr=1e-4
    python -m hrmlib.launch data demo                                      # build a preset's dataset

    from hrmlib.launch import torchrun
    run = torchrun("debug", ["max_steps=50"], nproc=2)

Every notebook parameter is checked before papermill starts (its type, its range, a path of the
right kind: a preset is a preset, `run=` a run, a checkpoint or an original checkpoint file, an
output folder new, empty or a dataset); paths are resolved under `hrmlib.paths.home()`. A non-zero
exit of training raises, so papermill fails.
"""
from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import config as C
from . import runs
from .data import RECIPES, DataError, check_build, ensure_data
from .data.format import check_output
from .errors import cli
from .paths import SOURCE, home, resolve, runs_dir, shown, writable
from .train import resume


class TrainingFailed(RuntimeError):
    pass


def torchrun(preset: str, overrides: list[str] = (), nproc: int = 1, nnodes: int = 1,
             rdzv_endpoint: str | None = None, run_dir: str | None = None, plot_every_s: float = 10.0,
             threads: int | None = None, data_path: str = "") -> Path:
    """Train under torchrun; stream its output; redraw the learning curve; return the run dir. A new
    run gets the preset's (or `data_path`'s) dataset, built when it is a built-in recipe; a resume
    (`resume=` among the overrides) continues on the run's own unless data_path is given."""
    for k, v, least in (("nproc", nproc, 1), ("nnodes", nnodes, 1), ("threads", threads or 0, 0)):
        if not isinstance(v, int) or v < least:
            raise C.ConfigError(f"{k}: must be an integer >= {least}, got {v!r}")
    if nnodes > 1 and not rdzv_endpoint:
        raise C.ConfigError("nnodes > 1 needs rdzv_endpoint=HOST:PORT (the c10d rendezvous on the first node)")
    overrides = list(overrides) + ([f"run_dir={run_dir}"] if run_dir else [])
    p = resume.plan(([] if _resuming(overrides) else [preset]) + overrides)
    if not p.resuming or data_path:
        overrides.append(f"data_path={ensure_data(p.preset, data_path or p.cfg.data_path)}")
    exe = Path(sys.executable).with_name("torchrun")
    rdzv = [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}"]
    # workers inherit our stdout; only rank 0 prints (besides errors), so lines do not interleave
    cmd = [str(exe) if exe.exists() else "torchrun", f"--nproc-per-node={nproc}",
           *(rdzv if nnodes > 1 else ["--standalone"]), "-m", "hrmlib.train",
           *([] if p.resuming else [preset]), *[o for o in overrides if not o.startswith("run_dir=")],
           f"run_dir={p.run}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HRM_WORKBENCH_HOME": str(home())}
    if threads or "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(threads or max(1, (os.cpu_count() or 1) // nproc))
    print("$ " + shlex.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)
    handle, last_plot = _display_handle(), 0.0
    from .look.live import Panel  # notebook 02's live lens: redrawn at each evaluation's snapshot
    panel = Panel(p.run) if handle is not None else None
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
                last_plot = _redraw(handle, p.run)
            if panel is not None:
                panel.update()
        rc = proc.wait()
    except BaseException:  # KeyboardInterrupt from the kernel: take the whole process group down
        _kill(proc)
        raise
    if handle is not None:
        _redraw(handle, p.run)
        panel.update(final=True)
    if rc != 0:
        raise TrainingFailed(f"training exited with status {rc} (command: {shlex.join(cmd)}); see the output above")
    return p.run


def _resuming(overrides) -> bool:
    return any(C.split(o)[0] == "resume" and C.split(o)[1] for o in overrides)


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

# Notebook parameters that name paths, and what each must be; integer parameters that must be >= 1
# (any other integer must be >= 0).
PATHS = {"output_dir": "dataset_out", "data_path": "dataset", "run_dir": "run_dir", "run": "source",
         "compare_run": "source", "config": "file"}
POSITIVE = {"nproc", "nnodes", "puzzles", "sweep_puzzles", "subsample_size"}


def run_notebook(notebook: str, args: list[str], suffix: str = "") -> Path:
    """Execute a parameterised notebook with papermill into its run directory. `key=value` args set
    notebook parameters (parsed by each parameter's declared type and checked); any other key is a
    config override appended to the notebook's `overrides` list, so the CLI grammar holds. `suffix`
    ends the run's name (a sweep's `-seed<N>`). Nothing is written before every check has passed."""
    import papermill as pm
    nb = Path(notebook).expanduser().absolute()  # a file of the code: from here, else from the checkout
    nb = nb if nb.is_file() else SOURCE / notebook
    if nb.suffix != ".ipynb" or not nb.is_file():
        raise C.ConfigError(f"{notebook}: no such notebook; the notebooks are notebooks/0*.ipynb")
    declared = pm.inspect_notebook(str(nb))
    params, extra = {}, []
    for a in args:
        k, v = C.split(a, f"notebook parameters: {', '.join(declared)}")
        if k in declared:
            params[k] = _parse(k, v, declared[k]["inferred_type_name"])
        else:
            extra.append(a)
    if extra:
        if "overrides" not in declared:
            raise C.ConfigError(f"unknown notebook parameters {extra}; declared: {', '.join(declared)}")
        params["overrides"] = list(params.get("overrides", [])) + extra
    preset = params.get("preset", _default(declared, "preset") or "run")
    if "preset" in declared and preset not in C.PRESETS:
        raise C.ConfigError(f"preset={preset!r} is not a preset; choose one of: {', '.join(C.PRESETS)}")
    params = {k: _check_path(k, v, params) if k in PATHS and v else v for k, v in params.items()}
    if "task" in declared:  # the dataset notebook: its build's options, as the build will check them
        opt = {k: params.get(k, _literal(declared, k)) for k in ("source", "subsample_size", "num_aug", "seed")}
        check_build(params.get("task", _default(declared, "task")), **opt, **params.get("options", {}))
    run = _notebook_run(nb, params, declared, preset, suffix)
    run.mkdir(parents=True, exist_ok=True)
    out = run / nb.name
    if out.exists():  # a run's earlier executed copy stays: this one is named by its time
        out = run / f"{nb.stem}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    print(f"executing {nb.name} → {out}", flush=True)
    import logging  # papermill logs cell output at INFO: show it live, as `papermill --log-output`
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ["HRM_WORKBENCH_HOME"] = str(home())  # the kernel resolves paths as we did
    pm.execute_notebook(str(nb), str(out), parameters=params, log_output=True, cwd=str(nb.parent),
                        progress_bar=False)
    return run


def _default(declared: dict, key: str) -> str | None:
    d = declared.get(key, {}).get("default")
    return d.strip("'\"") if isinstance(d, str) else None


def _literal(declared: dict, key: str):
    """A declared parameter's default value (papermill gives its source text)."""
    import ast
    return ast.literal_eval(declared[key]["default"]) if key in declared else None


def _check_path(key: str, v, params: dict):
    """A path parameter resolved and checked for its kind; returned absolute."""
    kind, p = PATHS[key], resolve(v)
    if kind == "dataset" and not (p / "identifiers.json").is_file() and shown(p) not in RECIPES:
        raise DataError(f"{key}={v}: not a dataset (no identifiers.json in {p}); build it with notebooks/"
                        f"01_build_dataset.ipynb or python -m hrmlib.data")
    if kind == "dataset_out":
        check_output(p, bool(params.get("overwrite")))
    if kind == "source" and runs.kind_of(v) == "hf":
        runs.hub.resolve(v, quiet=True)  # there (downloaded once, else in the cache), before anything is written
        return v  # the kernel's runs.open finds it in the cache
    if kind == "file" and not p.is_file():
        raise C.ConfigError(f"{key}={v}: no such file")
    if kind in ("run_dir", "dataset_out"):  # what a run_dir may hold is checked with the plan
        writable(p, f"{key}={v}")
    return str(p)


def _notebook_run(nb: Path, params: dict, declared: dict, preset: str, suffix: str) -> Path:
    """The run directory an executed notebook goes into: the run it trains (a new one, the one it
    resumes, or its branch), the run it looks at, or a new runs/<time>-<notebook>-… folder."""
    if "run_dir" in declared:  # a training notebook: what the trainer will write, decided as it decides
        over, given = list(params.get("overrides", [])), params.get("run_dir")
        given = given + suffix if given else ""
        p = resume.plan(([] if _resuming(over) else [preset]) + over + ([f"run_dir={given}"] if given else []))
        run = p.run if (given or p.resuming) else runs_dir() / runs.new_run_id(f"{nb.stem}-{preset}{suffix}")
        if not p.resuming and not p.cfg.overwrite:
            runs.prepare(run, resume=False, overwrite=False)  # refuses a run_dir that holds a run
        params["run_dir"] = str(run)
        return run
    source = params.get("run")
    kind = runs.kind_of(source) if source else None
    if kind == "run":
        found = resolve(source)
        return found.parent.parent if (found / "state.pt").is_file() else found
    if kind == "import":  # a release imported as a run: its notebooks go beside its evaluations
        return runs.imported(resolve(source))[0]
    name = Path(source).name if source else preset
    return runs_dir() / runs.new_run_id(re.sub(r"[^\w.-]+", "-", f"{nb.stem}-{name}{suffix}"))


def sweep(notebook: str, args: list[str]) -> list[Path]:
    """`seeds=0,1,2`: the notebook once per seed, one after another, each run its own directory
    (`<run_dir>-seed<N>`, or a new `runs/<time>-<preset>-seed<N>-…`); `hrmlib.runs.table` groups them."""
    seeds = [C.split(a)[1] for a in args if a.startswith("seeds=")]
    if not seeds:
        return [run_notebook(notebook, args)]
    try:
        seeds = [int(s) for s in seeds[-1].split(",")]
    except ValueError:
        raise C.ConfigError(f"seeds={seeds[-1]}: expected comma-separated integers, e.g. seeds=0,1,2") from None
    rest = [a for a in args if not a.startswith("seeds=")]
    return [run_notebook(notebook, rest + [f"seed={s}"], suffix=f"-seed{s}") for s in seeds]


def _parse(key: str, v: str, typ: str):
    """A notebook parameter's value from its declared type (papermill's inferred type name), with
    the config grammar's rules (a bool is true/false/1/0/yes/no/on/off, anything else an error)."""
    t = typ.replace(" ", "").lower()
    if t.startswith("list"):
        return [s.strip() for s in v.strip("[]").split(",") if s.strip()]
    if t.startswith("dict"):
        try:
            d = json.loads(v)
        except ValueError:
            d = None
        if not isinstance(d, dict):
            raise C.ConfigError(f'{key}: expected a JSON object, e.g. {key}=\'{{"gen_count": 100}}\', got {v!r}')
        return d
    out = C.parse_value(key, v, {"int": int, "float": float, "bool": bool}.get(t, str))
    least = 1 if key in POSITIVE else 0
    if t == "int" and out < least:
        raise C.ConfigError(f"{key}: must be >= {least}, got {out}")
    return out


USAGE = ("give launch/notebook NOTEBOOK [param=value | config.key=value …] [seeds=0,1,2], or python -m hrmlib.launch "
         "data PRESET (--help says more)")


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "data":  # python -m hrmlib.launch data PRESET: build its dataset
        if argv[1] not in C.PRESETS:
            raise C.ConfigError(f"unknown preset {argv[1]!r}; choose one of: {', '.join(C.PRESETS)}")
        print(f"dataset: {ensure_data(argv[1])}")
        return 0
    if len(argv) < 2 or argv[0] != "notebook":
        raise C.ConfigError(USAGE)
    for run in sweep(argv[1], argv[2:]):
        print(f"done: {run}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv[:1]):
        print(__doc__ + "\n" + USAGE)
        return 0
    try:
        return cli(_main, argv)
    except Exception as e:  # papermill's PapermillExecutionError carries the failing cell's traceback
        print(f"error: {type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
