"""What a `python -m hrmlib.train …` command asks for: a new run, a continuation, a rewind or a branch —
decided and checked before anything is written.

    PRESET key=value …                                   a new run (run_dir=, else runs/<time>-<preset>-<tag>)
    resume=runs/A                                        continue A in place from its last checkpoint
    resume=runs/A/checkpoints/step_N resume_changes=true lr=…
                                                         rewind A to step N (its later work moved aside)
    resume=runs/A/checkpoints/step_N run_dir=runs/B      branch: a new run B from A's step N; A is only read

A resume continues exactly (weights, optimizers, EMA, carry, data order), so what it may change is
limited: fields with a role (`hrmlib.config.roles`: devices, sinks, how long) change freely; anything
else that changes what is trained needs resume_changes=true and is recorded in config.json's history.
A branch is a new run: its overrides are recorded, and it names its parent. The dataset, the sizes and
the number of processes are checked against the checkpoint (`check`).
"""
from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .. import config as C
from ..dist import Dist, on_main
from ..paths import resolve, runs_dir, shown
from ..runs import (Lock, RunError, atomic_write, branch, check_identifiers, env_info, new_run_id, prepare, read_json,
                    set_aside_after)


@dataclass
class Plan:
    preset: str
    cfg: C.Config
    run: Path  # the run directory this command writes
    source: Path | None = None  # the run it continues or branches from
    at: Path | None = None  # the checkpoint named (rewind or branch); None: the source's newest
    history: list = field(default_factory=list)  # config.json's history, this command's changes appended
    changes: dict = field(default_factory=dict)
    parent: str | None = None  # a branch's source, "runs/A@step_N"

    @property
    def resuming(self) -> bool:
        return self.source is not None

    @property
    def branching(self) -> bool:
        return self.source is not None and self.run != self.source

    def record(self, step: int, extra: dict):
        """This command's changes (overrides, and anything `check` let through) into the history."""
        changes = {k: list(v) for k, v in {**self.changes, **extra}.items()}
        if changes:
            self.history.append({"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "changes": changes,
                                 **({"branched_from": self.parent} if self.branching else {})})

    def open(self, ck: Path | None, step: int, d: Dist, cleanup: ExitStack):
        """Rank 0 creates and locks the run directory (one trainer per run, released by `cleanup`),
        checks it may be used as asked, starts a branch from its source's checkpoint `ck` or sets a
        rewound continuation (after `step`) aside, and writes env.json and config.json; a refusal
        reaches every rank (none waits at a barrier for a peer that gave up)."""
        def act():
            try:
                self.run.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise RunError(f"cannot create run_dir={self.run}: {e.strerror}") from None
            cleanup.enter_context(Lock(self.run))
            prepare(self.run, self.resuming and not self.branching, self.cfg.overwrite)
            if self.branching:
                branch(ck, self.run)
            elif self.at:
                set_aside_after(self.run, step)
            atomic_write(self.run / "env.json", json.dumps(env_info(d), indent=2))
            atomic_write(self.run / "config.json", self.config_json())
        on_main(act, d)

    def config_json(self) -> str:
        """config.json: the preset, the config (without the command's action flags) and its history."""
        saved = C.apply(self.cfg, ["resume_changes=false", "overwrite=false"])
        return json.dumps({"preset": self.preset, "config": saved.to_dict(), "history": self.history,
                           **({"parent": self.parent} if self.parent else {})}, indent=2)


def plan(argv: list[str]) -> Plan:
    """`PRESET key=value …`, or `resume=RUN_OR_CHECKPOINT key=value …` (the run's saved config is the base)."""
    preset, over = (argv[0], argv[1:]) if argv and "=" not in argv[0] else (None, list(argv))
    kv = dict(C.split(o) for o in over)
    if not kv.get("resume"):
        if preset is None:
            raise C.ConfigError(f"give a preset first: python -m hrmlib.train PRESET [key=value …]; presets: "
                                f"{', '.join(C.PRESETS)}")
        cfg = C.load(preset, over)
        return Plan(preset, cfg, resolve(cfg.run_dir) if cfg.run_dir else runs_dir() / new_run_id(preset))
    given = resolve(kv["resume"])
    at, source = (given, given.parent.parent) if (given / "state.pt").is_file() else (None, given)
    path = source / "config.json"
    if not path.is_file():
        raise RunError(f"resume={kv['resume']}: no config.json there; expected a run directory runs/<id> or one "
                       f"of its checkpoints runs/<id>/checkpoints/step_<N>")
    saved = read_json(path)
    if preset is not None and preset != saved["preset"]:
        raise C.ConfigError(f"resume={kv['resume']} continues a {saved['preset']} run with its own config; "
                            f"drop the preset {preset!r}")
    base = C.from_saved(saved["config"])
    run = resolve(kv["run_dir"]) if kv.get("run_dir") else source
    cfg = C.apply(base, [o for o in over if C.split(o)[0] not in ("resume", "run_dir")]
                  + [f"resume={source}", f"run_dir={run}"])
    p = Plan(saved["preset"], cfg, run, source, at, list(saved.get("history", [])))
    p.changes = {k: v for k, v in C.diff(base, cfg).items() if C.roles().get(k) != "action"}
    if "global_batch_size" in p.changes:
        raise C.ConfigError("global_batch_size cannot change on resume: each process's ACT carry holds "
                            "global_batch_size / processes rows; start a new run with init_from= instead")
    risky = {k: v for k, v in p.changes.items() if k not in C.roles()}
    if risky and not cfg.resume_changes and not p.branching:
        listed = ", ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in risky.items())
        raise C.ConfigError(f"resume={kv['resume']}: these overrides change what is trained: {listed}; resume "
                            f"without them, pass resume_changes=true to apply them anyway (recorded in config.json), "
                            f"or branch into a new run with run_dir=runs/<new>")
    return p


def check(p: Plan, state: dict, data: dict, d: Dist) -> dict:
    """What a checkpoint needs of this process group and dataset: the same puzzle identifiers and sizes
    (always), the same dataset and number of processes (or resume_changes=true: re-sharded, recorded).
    Returns the changes let through, for the history."""
    ck = p.at or p.source
    check_identifiers(state["identifiers"], data["identifiers"], ck)
    if state.get("dims", data["dims"]) != data["dims"]:
        raise RunError(f"{ck} holds a model of sizes {state['dims']}; {p.cfg.data_path} has {data['dims']}: "
                       f"resume on the dataset it was trained on")
    if p.branching:
        p.parent = f"{shown(p.source)}@{Path(ck).name if p.at else 'step_' + str(state['progress']['step'])}"
    out, allow = {}, p.cfg.resume_changes
    was = state.get("dataset")
    if was and was != data["dataset"]:
        if not allow:
            raise RunError(f"{p.cfg.data_path} changed since {ck} was written (dataset fingerprint {was} → "
                           f"{data['dataset']}: rebuilt, or other puzzles); resume on the dataset it was trained "
                           f"on, or pass resume_changes=true to go on with this one (recorded)")
        out["dataset"] = (was, data["dataset"])
    if state["world_size"] != d.world:
        if not allow:
            raise RunError(f"{ck} was written by {state['world_size']} process(es), this is {d.world}: resume "
                           f"with --nproc-per-node {state['world_size']}, or pass resume_changes=true to split "
                           f"its ACT carry over {d.world} (recorded)")
        out["world_size"] = (state["world_size"], d.world)
    return out
