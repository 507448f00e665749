"""The dataset builders: Sudoku, Maze, ARC, with the solver and the input readers."""
