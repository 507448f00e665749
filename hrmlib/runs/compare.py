"""Runs side by side: what each is (preset, family, the settings that differ), how far it got, how
well it did and on what hardware; seeds of one configuration grouped into mean ± spread; and every
evaluated checkpoint of one run as a curve.

    rows = runs.table(root="runs")                     # or table(["runs/a", "runs/b"])
    runs.seed_groups(rows)                             # {config: {"runs", "seeds", "mean", "std", …}}
    runs.checkpoint_evals("runs/<id>")                 # one row per evaluated checkpoint
"""
from __future__ import annotations

import glob
import statistics
from pathlib import Path

from ..config import flat, from_saved, roles
from ..paths import resolve
from .files import read_json, read_jsonl


def not_compared() -> set[str]:
    """Settings that name, place or steer a run without changing what it learns (their role)."""
    return {k for k, r in roles().items() if r in ("action", "runtime")}


def find(select=None, root="runs") -> list[Path]:
    """Run directories: `select` is a list of directories, a glob, or comma-separated either; default
    every run under `root` (relative paths are under `hrmlib.paths.home()`)."""
    if select is None:
        select = [str(Path(root) / "*")]
    elif isinstance(select, str):
        select = [s.strip() for s in select.split(",") if s.strip()]
    out = []
    for s in select:
        out += sorted(Path(p) for p in glob.glob(str(resolve(s))) if (Path(p) / "config.json").is_file())
    return list(dict.fromkeys(out))


def family(cfg: dict) -> str:
    a = cfg["arch"]
    if a.get("name", "hrm") == "trm":
        return "TRM " + ("mlp_t" if a.get("mlp_t") else "attention")
    return "HRM"


def best(rows: list[dict]) -> dict | None:
    """The best evaluation row: highest exact accuracy, the earliest step on a tie (as the trainer keeps it)."""
    return max(rows, key=lambda r: (r["exact_accuracy"], -r["step"]), default=None)


def summary(run: Path) -> dict:
    """One run: what it is, how far it got, its best evaluation, its hardware."""
    saved = read_json(run / "config.json")
    env = read_json(run / "env.json") if (run / "env.json").exists() else {}
    rows = read_jsonl(run / "metrics.jsonl") if (run / "metrics.jsonl").exists() else []
    train = [r for r in rows if r.get("split") == "train"]
    test = [r for r in rows if r.get("split") == "test"]
    top = best(test)
    return {"run": run.name, "path": str(run), "preset": saved["preset"], "family": family(saved["config"]),
            "seed": saved["config"]["seed"], "steps": train[-1]["step"] if train else 0,
            "best_exact": top["exact_accuracy"] if top else None, "best_step": top["step"] if top else None,
            "last_exact": test[-1]["exact_accuracy"] if test else None,
            "wall_time_s": train[-1].get("wall_time") if train else None,
            "hardware": f"{env.get('world_size', '?')} × {env.get('device_name') or env.get('device', '?')}",
            "config": {k: v for k, v in flat(from_saved(saved["config"]).to_dict()).items() if k not in not_compared()}}


def table(select=None, root="runs") -> list[dict]:
    """Every run's summary, with `differs`: the settings whose values are not the same in all of them."""
    rows = [summary(r) for r in find(select, root)]
    keys = sorted({k for r in rows for k in r["config"]})
    varying = [k for k in keys if len({repr(r["config"].get(k)) for r in rows}) > 1]
    for r in rows:
        r["differs"] = {k: r["config"].get(k) for k in varying}
        r["group"] = " ".join(f"{k}={v}" for k, v in r["differs"].items() if k != "seed") or r["preset"]
    return rows


def seed_groups(rows: list[dict]) -> dict[str, dict]:
    """Runs that differ only in their seed, as one entry: best exact accuracy mean ± spread."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['preset']} {r['group']}".strip(), []).append(r)
    out = {}
    for name, rs in groups.items():
        acc = [r["best_exact"] for r in rs if r["best_exact"] is not None]
        out[name] = {"runs": [r["run"] for r in rs], "seeds": [r["seed"] for r in rs], "best_exact": acc,
                     "mean": statistics.mean(acc) if acc else None,
                     "std": statistics.stdev(acc) if len(acc) > 1 else 0.0}
    return out


def checkpoint_evals(run, variant: str = "") -> list[dict]:
    """One row per evaluated checkpoint of `run`, by step: the trainer's evaluations
    (`<run>/eval/step_<N>/metrics.json`, also those `python -m hrmlib.evaluate steps=…` wrote), or
    with `variant` those of that evaluation variant (`step_<N>-<variant>/`, `hrmlib.runs.eval_variant`)."""
    tail = f"-{variant}" if variant else ""
    rows = []
    for p in Path(run, "eval").glob(f"step_*{tail}/metrics.json"):
        step = p.parent.name[5:len(p.parent.name) - len(tail)]
        if step.isdigit():
            rows.append({"step": int(step), **read_json(p)})
    return sorted(rows, key=lambda r: r["step"])


def markdown(rows: list[dict]) -> str:
    """The table as Markdown (notebooks display it)."""
    varying = list(rows[0]["differs"]) if rows else []
    head = ["run", "preset", "family", *varying, "steps", "best exact (step)", "wall time", "hardware"]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        top = f"{r['best_exact']:.1%} ({r['best_step']})" if r["best_exact"] is not None else "–"
        wall = f"{r['wall_time_s'] / 60:.1f} min" if r["wall_time_s"] else "–"
        lines.append("| " + " | ".join([r["run"], r["preset"], r["family"], *(fmt(r["differs"][k]) for k in varying),
                                        str(r["steps"]), top, wall, r["hardware"]]) + " |")
    return "\n".join(lines)
