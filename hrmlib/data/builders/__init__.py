"""The dataset builders (HRM-SPEC §6): Sudoku, Maze, ARC, with the solver and the input readers."""
