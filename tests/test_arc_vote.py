"""ARC voting on a hand-checked case: votes rank candidates, q breaks ties, tasks are all-or-nothing."""
import numpy as np
import pytest

from hrmlib.train.arc_vote import crop, grid_hash, vote
from hrmlib.data.builders.arc import IDENTITY, encode
from hrmlib.data.dihedral import dihedral

G = lambda rows: np.array(rows, np.uint8)
PERM = "0918273645"  # a colour map keeping 0


def fwd(g, tid, colours):  # the builder's augmentation: colours first, then the dihedral transform
    return dihedral(np.array([int(c) for c in colours], np.uint8)[g], tid)


def test_crop_stops_at_eos_and_pad():
    g = G([[1, 2], [3, 4], [5, 0]])
    np.testing.assert_array_equal(crop(encode(g)), g)


def test_pass_at_k_by_votes_then_q_all_or_nothing():
    A, B, C, D = G([[1, 2], [3, 4]]), G([[5, 6, 7]]), G([[8]]), G([[6, 6], [0, 6]])
    X, Y, Z, W = G([[4, 3], [2, 1]]), G([[7, 6, 5]]), G([[1, 1, 1]]), G([[9, 9], [9, 9]])
    V, U, T, F = G([[2]]), G([[3]]), G([[1, 0], [0, 1]]), G([[0, 1], [1, 0]])
    augs = [None, ["t1", 0, IDENTITY], ["t1", 1, PERM], ["t1", 4, IDENTITY], ["t2", 0, IDENTITY], ["t2", 6, PERM],
            ["t3", 0, IDENTITY], ["t3", 2, PERM], ["t3", 7, IDENTITY]]
    rows = [  # (pid, input, label, prediction, q_halt) — grids in the original frame, transformed below
        (1, A, X, X, 0.0), (2, A, X, X, 0.0), (3, A, X, W, 0.0),   # A: truth 2 votes, wrong 1 -> rank 1
        (1, B, Y, Z, 0.0), (2, B, Y, Z, 0.0), (3, B, Y, Y, 0.0),   # B: wrong 2 votes, truth 1 -> rank 2
        (4, C, V, U, -1.0), (5, C, V, V, 2.0),                     # C: 1 vote each, truth has higher q -> rank 1
        (6, D, T, T, -3.0), (7, D, T, T, -3.0), (8, D, T, F, 3.0),  # D: votes beat q: truth 2 votes -> rank 1
    ]
    inputs, labels, preds, q, pids = [], [], [], [], []
    for pid, x, y, p, qh in rows:
        _, tid, colours = augs[pid]
        inputs.append(encode(fwd(x, tid, colours)))
        labels.append(encode(fwd(y, tid, colours)))
        preds.append(encode(fwd(p, tid, colours)))
        q.append(qh)
        pids.append(pid)
    res = vote(np.stack(inputs), np.stack(labels), np.stack(preds), np.array(q), np.array(pids), augs)
    assert res["tasks"] == 3
    # a task's ranks are listed by the hash of each test input (in the original frame)
    assert res["per_task"]["t1"]["rank_of_truth"] == [r for _, r in sorted([(grid_hash(A), 1), (grid_hash(B), 2)])]
    assert res["per_task"]["t2"]["rank_of_truth"] == [1]
    assert res["per_task"]["t3"]["rank_of_truth"] == [1]
    # t1 needs both inputs within the top K: solved at 2, not at 1
    assert res["pass@1"] == pytest.approx(2 / 3) and res["pass@2"] == pytest.approx(1.0)
    # a padding row (puzzle id 0) never votes
    res2 = vote(np.stack(inputs + [encode(A)]), np.stack(labels + [encode(X)]), np.stack(preds + [encode(W)]),
                np.array(q + [9.0]), np.array(pids + [0]), augs)
    assert res2["pass@1"] == res["pass@1"] and res2["pass@2"] == res["pass@2"]
