"""The 8 symmetries of the square, numbered as the original builders number them.

0 identity, 1/2/3 rotation by 90/180/270 degrees counter-clockwise (np.rot90), 4 left-right mirror,
5 up-down mirror, 6 transpose, 7 anti-diagonal reflection (rot90 once, then left-right mirror).
They act on the last two axes, so a batch [N, H, W] is transformed in one call.
"""
from __future__ import annotations

import numpy as np

INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)  # rotations by 90 and 270 undo each other; the rest are involutions


def dihedral(x: np.ndarray, tid: int) -> np.ndarray:
    if tid == 0:
        return x
    if tid in (1, 2, 3):
        return np.rot90(x, tid, axes=(-2, -1))
    if tid == 4:
        return np.flip(x, -1)
    if tid == 5:
        return np.flip(x, -2)
    if tid == 6:
        return np.swapaxes(x, -2, -1)
    if tid == 7:
        return np.flip(np.rot90(x, 1, axes=(-2, -1)), -1)
    raise ValueError(f"dihedral transform id must be 0..7, got {tid}")
