"""Synthetic 16-bit images with known crop/centre answers (helpers for the GLAM preparation tests).

A union of L1 diamonds of radius n whose centres form a 4-connected set is left unchanged by the original's
erosion-then-dilation, so every crop value of such an image can be derived by hand. The four images of
EXAM0 reproduce, value for value, what seed 003 prints for exam 0 of the NYU sample data."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_cdt


def diamonds(shape: tuple[int, int], centres: np.ndarray, n: int = 100) -> np.ndarray:
    """Union of the L1 diamonds of radius n around the given centre pixels (bool mask)."""
    seeds = np.ones(shape, dtype=bool)
    seeds[centres[:, 0], centres[:, 1]] = False
    return distance_transform_cdt(seeds, metric="taxicab") <= n


def path(y0: int, y1: int, x: int) -> np.ndarray:
    """Centres of a vertical segment (inclusive)."""
    ys = np.arange(y0, y1 + 1)
    return np.stack([ys, np.full_like(ys, x)], axis=1)


def bar(rows: range, x0: int, x1: int) -> np.ndarray:
    """Centres of a horizontal band rows x [x0, x1] (inclusive)."""
    yy, xx = np.mgrid[rows.start:rows.stop, x0:x1 + 1]
    return np.stack([yy.ravel(), xx.ravel()], axis=1)


def to_image(mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 12-bit-valued uint16 image: textured tissue (always > 0) inside the mask, exactly 0 outside."""
    rng = np.random.default_rng(seed)
    img = rng.integers(300, 4095, size=mask.shape, dtype=np.uint16)
    img[~mask] = 0
    return img


def exam0_view(view: str) -> np.ndarray:
    """The designed stand-in for sample exam 0, view `view` (original orientation, flip NO)."""
    if view == "L-CC":  # 801 x 2023, breast facing right
        shape, c = (2023, 801), [path(100, 1872, 100), bar(range(948, 958), 100, 650)]
    elif view == "R-CC":  # 801 x 2144, facing left
        shape, c = (2144, 801), [path(100, 1993, 700), bar(range(1232, 1250), 150, 700)]
    elif view == "L-MLO":  # 981 x 2730
        shape, c = (2730, 981), [path(100, 2579, 100), np.array([[2579, 101]]), bar(range(1733, 1750), 100, 830)]
    elif view == "R-MLO":  # 1006 x 2650
        shape, c = (2650, 1006), [path(100, 2499, 905), np.array([[2499, 904]]), bar(range(1571, 1649), 150, 905)]
    else:
        raise KeyError(view)
    return to_image(diamonds(shape, np.concatenate(c)), seed=len(view) + shape[0])


# What seed 003 (GLAM README) prints for exam 0 after cropping and optimal centres.
EXAM0 = {
    "window_location": {"L-CC": (0, 2023, 0, 801), "R-CC": (0, 2144, 0, 801),
                        "L-MLO": (0, 2730, 0, 981), "R-MLO": (0, 2650, 0, 1006)},
    "rightmost_points": {"L-CC": ((948, 957), 750), "R-CC": ((1232, 1249), 751),
                         "L-MLO": ((1733, 1749), 930), "R-MLO": ((1571, 1648), 956)},
    "bottommost_points": {"L-CC": (1972, (100, 100)), "R-CC": (2093, (101, 101)),
                          "L-MLO": (2679, (100, 101)), "R-MLO": (2599, (101, 102))},
    "distance_from_starting_side": {"L-CC": 0, "R-CC": 0, "L-MLO": 0, "R-MLO": 0},
    "best_center": {"L-CC": (1011, -211), "R-CC": (1072, -210), "L-MLO": (1206, -31), "R-MLO": (1126, -5)},
}


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Blobby random masks, sometimes touching the image edges, with holes and specks."""
    from scipy.ndimage import gaussian_filter
    H, W = shape
    m = gaussian_filter(rng.random(shape), rng.uniform(1, 4)) > rng.uniform(0.45, 0.56)
    if rng.random() < 0.4:
        m[:, : int(W * rng.uniform(0.1, 0.5))] = True
    if rng.random() < 0.3:
        m[rng.integers(H), :] = True
    return m
