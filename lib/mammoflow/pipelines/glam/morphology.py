"""The NYU crop's morphology: the original's scipy iterations (reference) and exact fast equivalents."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi

from mammoflow.core.errors import MammoflowError


class CropFailed(MammoflowError):
    """The original crop algorithm has no answer for this image (it raised or returned None there)."""


def erode_naive(mask: np.ndarray, iterations: int) -> np.ndarray:
    """scipy binary erosion with the 3x3 cross, `iterations` times, outside = 0 (the original's call)."""
    return ndi.binary_erosion(mask, iterations=iterations) if iterations else mask.astype(bool)


def dilate_naive(mask: np.ndarray, iterations: int) -> np.ndarray:
    """scipy binary dilation with the 3x3 cross, `iterations` times (the original's call)."""
    return ndi.binary_dilation(mask, iterations=iterations) if iterations else mask.astype(bool)


def _l1_distance(u8: np.ndarray, n: int) -> np.ndarray:
    """Exact city-block distance of every pixel to the nearest zero pixel (saturated above n when n < 255)."""
    if n < 255:
        return cv2.distanceTransform(u8, cv2.DIST_L1, 3, dstType=cv2.CV_8U)
    return cv2.distanceTransform(u8, cv2.DIST_L1, 3)


def erode_fast(mask: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Erosion by the L1 diamond of radius n (= n cross erosions with outside 0): (eroded, distance map)."""
    m8 = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    padded = cv2.copyMakeBorder(m8, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = _l1_distance(padded, iterations)[1:-1, 1:-1]
    return dist > iterations, dist


def dilate_fast(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Dilation by the L1 diamond of radius n (= n cross dilations), computed on the bounding box + n only."""
    out = np.zeros(mask.shape, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return out
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(0, rows[0] - iterations), min(mask.shape[0], rows[-1] + iterations + 1)
    c0, c1 = max(0, cols[0] - iterations), min(mask.shape[1], cols[-1] + iterations + 1)
    out[r0:r1, c0:c1] = dilated_region(mask, r0, r1, c0, c1, iterations)
    return out


def dilated_region(comp: np.ndarray, r0: int, r1: int, c0: int, c1: int, n: int) -> np.ndarray:
    """The dilation of comp by the L1 diamond of radius n, evaluated exactly on rows r0:r1, cols c0:c1."""
    H, W = comp.shape
    e0, e1 = max(0, r0 - n), min(H, r1 + n)
    f0, f1 = max(0, c0 - n), min(W, c1 + n)
    # every pixel of comp within distance n of the region lies in the extended box; a box is convex,
    # so distances inside it are the plain L1 distances
    inv = np.logical_not(comp[e0:e1, f0:f1]).view(np.uint8)
    dist = _l1_distance(np.ascontiguousarray(inv), n)
    return dist[r0 - e0: r1 - e0, c0 - f0: c1 - f0] <= n


def largest_component_naive(eroded: np.ndarray) -> np.ndarray:
    """The largest 4-connected component; ties go to the lowest scipy label (the original's idxmax)."""
    labels, n = ndi.label(eroded)
    if n == 0:
        raise CropFailed("no breast region survives the erosion (empty mask; background not zero or image "
                         "too small for the erosion iterations)")
    counts = np.bincount(labels.ravel())
    counts[0] = -1
    return labels == int(np.argmax(counts))


def largest_component_fast(eroded: np.ndarray, dist: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Same component as largest_component_naive: flood fill from the deepest pixel, full labelling if needed.

    Returns (component mask, (top, bottom, left, right) inclusive bounds)."""
    e8 = np.ascontiguousarray(eroded, dtype=bool).view(np.uint8)
    total = cv2.countNonZero(e8)
    if total == 0:
        raise CropFailed("no breast region survives the erosion (empty mask; background not zero or image "
                         "too small for the erosion iterations)")
    if dist is not None:
        _, _, _, seed = cv2.minMaxLoc(dist)
    else:
        ys, xs = np.nonzero(e8)
        seed = (int(xs[0]), int(ys[0]))
    H, W = e8.shape
    ff = np.zeros((H + 2, W + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    area, _, _, rect = cv2.floodFill(e8, ff, seed, 0, 0, 0, flags)
    if 2 * area > total:  # strictly more than half of all pixels: the unique largest component
        x, y, w, h = rect
        return ff[1:-1, 1:-1].view(bool), (y, y + h - 1, x, x + w - 1)
    comp = largest_component_naive(eroded)
    rows = np.flatnonzero(comp.any(axis=1))
    cols = np.flatnonzero(comp.any(axis=0))
    return comp, (int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1]))
