"""Sudoku builder: parity with the original-built fixture, validity of every augmented puzzle on real
(tdoku) puzzles, the exact solver, the generator, and one clear error per bad input."""
from pathlib import Path

import numpy as np
import pytest

from hrmlib.data import DataError, load_split
from hrmlib.data.builders import solver, sudoku
from hrmlib.data.format import FIELDS
from conftest import digest, one_line_error, run_py, shared

FIX = Path(__file__).parent / "fixtures" / "dataset-format"
# real puzzle lists, under ../shared (a test that needs them skips without them)
TDOKU, DERIVED = "data/sudoku/tdoku-benchmarks", "data/sudoku/derived"
HEADER = "source,question,answer,rating\n"


def test_fixture_parity_legacy_rng_bit_exact(tmp_path):
    """Seeded like the fixture README (legacy RandomState(0)), the original's arrays come out exactly."""
    sudoku.build(tmp_path / "o", f"csv:{FIX / 'inputs' / 'sudoku'}", num_aug=2, seed=0, legacy_rng=True, progress=False)
    for split in ("train", "test"):
        ours, orig = load_split(tmp_path / "o", split), load_split(FIX / "sudoku-tiny-aug2", split)
        assert ours.inputs.dtype == np.uint8  # the original's int64 train quirk is fixed
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(ours, f), getattr(orig, f), err_msg=f"{split}/{f}")


def test_fixture_structure_default_rng(tmp_path):
    sudoku.build(tmp_path / "o", f"csv:{FIX / 'inputs' / 'sudoku'}", num_aug=2, seed=7, progress=False)
    ours, orig = load_split(tmp_path / "o", "train"), load_split(FIX / "sudoku-tiny-aug2", "train")
    assert ours.inputs.shape == orig.inputs.shape
    for f in ("puzzle_identifiers", "puzzle_indices", "group_indices"):
        np.testing.assert_array_equal(getattr(ours, f), getattr(orig, f))
    np.testing.assert_array_equal(ours.inputs[::3], orig.inputs[::3])  # the unaugmented originals
    np.testing.assert_array_equal(load_split(tmp_path / "o", "test").inputs,
                                  load_split(FIX / "sudoku-tiny-aug2", "test").inputs)


def check_valid(split):
    x, y = np.asarray(split.inputs).astype(int) - 1, np.asarray(split.labels).astype(int) - 1
    assert solver.is_solution(y).all(), "a label is not a valid sudoku"
    assert ((x == 0) | (x == y)).all(), "a given disagrees with its solution"
    return x, y


def test_augmented_real_puzzles_are_valid(tmp_path):
    rows = shared(f"{DERIVED}/puzzles5_forum_hardest_1905_11+.csv").read_text().splitlines()[1:301]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text(HEADER + "\n".join(rows[:250]) + "\n")
    (tmp_path / "in" / "test.csv").write_text(HEADER + "\n".join(rows[250:]) + "\n")
    sudoku.build(tmp_path / "o", f"csv:{tmp_path / 'in'}", num_aug=20, seed=1, progress=False)
    x, y = check_valid(load_split(tmp_path / "o", "train"))
    assert len(x) == 250 * 21
    sol, count, _ = solver.solve(x[:400])  # augmentation keeps the solution unique and equal to the label
    assert (count == 1).all() and (sol == y[:400]).all()


def test_solver_on_tdoku_lists(tmp_path):
    answers = {}
    for line in shared(f"{DERIVED}/puzzles6_forum_hardest_1106.csv").read_text().splitlines()[1:]:
        _, q, a, _ = line.split(",")
        answers[q] = a
    hard = [ln for ln in shared(f"{TDOKU}/puzzles6_forum_hardest_1106").read_text().splitlines()
            if ln and ln[0] != "#"][:60]
    serg = [ln for ln in shared(f"{TDOKU}/puzzles7_serg_benchmark").read_text().splitlines()
            if ln and ln[0] != "#"][:20]
    (tmp_path / "hard.txt").write_text("\n".join(hard) + "\n")
    (tmp_path / "serg.txt").write_text("\n".join(serg) + "\n")
    s = sudoku.build(tmp_path / "o", f"lines:{tmp_path / 'hard.txt'},{tmp_path / 'serg.txt'}", num_aug=2,
                     test_fraction=0.2, progress=False)
    assert s.rejected == {"several solutions": 20}
    tr, te = load_split(tmp_path / "o", "train"), load_split(tmp_path / "o", "test")
    assert tr.num_groups + te.num_groups == 60
    for split in (tr, te):
        x, y = check_valid(split)
        for q, a in zip(x, y):
            key = "".join("." if v == 0 else str(v) for v in q)
            if key in answers:  # originals (not the augmented copies) match the reference answers
                assert "".join(map(str, a)) == answers[key]


def test_generator_unique_and_harder_with_fewer_clues(tmp_path):
    rng = np.random.default_rng(0)
    easy, _, g_easy = solver.generate(40, rng, clues=34)
    hard, sol, g_hard = solver.generate(40, rng, clues=24)
    assert ((hard > 0).sum(1) < (easy > 0).sum(1).min()).mean() > 0.9
    assert g_hard.mean() > g_easy.mean()
    got, count, _ = solver.solve(hard)
    assert (count == 1).all() and (got == sol).all()
    s = sudoku.build(tmp_path / "o", "generate", num_aug=3, gen_count=30, gen_test_count=10, seed=3, progress=False)
    assert s.splits["train"]["puzzles"] == 120
    check_valid(load_split(tmp_path / "o", "train"))


GOOD = "x,.368.1...8.9......1...75.6...7.54..32.3.8...44...2....31....24.9....28.7..8.....5," \
       "536841792879236451142975368687154923253689174491327586315768249964512837728493615,1"


@pytest.mark.parametrize("content,msg", [
    ("source,question,solution,rating\n" + GOOD, "line 1: header"),
    (HEADER + GOOD + "\n" + GOOD.replace(".368", ".36"), "line 3: question has 80 characters, expected 81"),
    (HEADER + GOOD.replace(".368", "7368"), "line 2: question contradicts its answer"),
    (HEADER + GOOD.replace(".368", ".3x8"), "line 2: question has 'x' at position 2"),
])
def test_bad_csv_one_clear_error(tmp_path, content, msg):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "train.csv").write_text(content + "\n")
    (tmp_path / "in" / "test.csv").write_text(HEADER + GOOD + "\n")
    r = run_py("-m", "hrmlib.data", "sudoku", "--output-dir", tmp_path / "out", "--source", f"csv:{tmp_path / 'in'}")
    one_line_error(r, f"{tmp_path / 'in' / 'train.csv'}: {msg}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing half-written


def test_contradiction_in_lines_file(tmp_path):
    bad = "11" + "." * 79
    (tmp_path / "p.txt").write_text("# comment\n" + "." * 81 + "\n" + bad + "\n")
    with pytest.raises(DataError, match=r"p\.txt: line 3: puzzle has a contradiction"):
        sudoku.build(tmp_path / "o", f"lines:{tmp_path / 'p.txt'}", progress=False)


def test_hf_source_offline_is_a_clear_error(tmp_path):
    r = run_py("-m", "hrmlib.data", "sudoku", "--output-dir", tmp_path / "o",
               "--source", "hf:sapientinc/sudoku-extreme", env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    one_line_error(r, "hf:sapientinc/sudoku-extreme: download failed", "--source csv:DIR")


def test_seeded_builds_are_identical(tmp_path):
    files = []
    for name in ("a", "b"):
        sudoku.build(tmp_path / name, "generate", num_aug=2, gen_count=15, gen_test_count=5, seed=4, progress=False)
        files.append(digest(tmp_path / name))
    assert files[0] == files[1]


def test_generator_makes_a_graded_mix(tmp_path):
    """--gen-clues 40,60 or 58-60: each puzzle draws its target; all stay uniquely solvable, and the
    summary says how many puzzles have how many givens."""
    s = sudoku.build(tmp_path / "mix", "generate", gen_count=40, gen_test_count=40, gen_clues="40,60", seed=0,
                     progress=False)
    test = load_split(tmp_path / "mix", "test")
    givens = (test.inputs > 1).sum(1)
    assert set(givens.tolist()) == {40, 60} and 5 < (givens == 40).sum() < 35
    assert f"test givens: 40 ×{(givens == 40).sum()}, 60 ×{(givens == 60).sum()}" in str(s)
    _, count, _ = solver.solve(np.where(test.inputs > 1, test.inputs - 1, 0).astype(np.uint8), max_solutions=2)
    assert (count == 1).all()
    sudoku.build(tmp_path / "range", "generate", gen_count=30, gen_test_count=30, gen_clues="58-60", progress=False)
    g = (load_split(tmp_path / "range", "test").inputs > 1).sum(1)
    assert set(g.tolist()) <= {58, 59, 60} and len(set(g.tolist())) > 1


@pytest.mark.parametrize("spec", ["abc", "10", "60-50", "40,90", "4x"])
def test_bad_gen_clues_is_one_clear_error(tmp_path, spec):
    r = run_py("-m", "hrmlib.data", "sudoku", "--output-dir", tmp_path / "o", "--source", "generate",
               "--gen-clues", spec)
    one_line_error(r, f"--gen-clues: expected a number of givens (26), a list (40,60) or a range (35-60), each from 17 "
                      f"to 81; got '{spec}'")
