"""Breast segmentation: threshold, opening, largest component, holes filled."""

from __future__ import annotations

import cv2
import numpy as np


def breast_mask(image: np.ndarray, threshold: float = 0.05, open_px: int = 2) -> np.ndarray:
    """Boolean mask of the breast: pixels above threshold*max, opened, largest component, holes filled."""
    img = np.asarray(image, dtype=np.float32)
    peak = float(img.max())
    if peak <= 0:
        return np.zeros(img.shape, dtype=bool)
    binary = (img > threshold * peak).astype(np.uint8)
    if open_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * open_px + 1, 2 * open_px + 1))
        binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, k)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return np.zeros(img.shape, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    comp = (labels == largest).astype(np.uint8)
    return fill_holes(comp).astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a binary mask (regions not connected to the image border)."""
    m = (np.asarray(mask) > 0).astype(np.uint8)
    h, w = m.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = m
    flood = padded.copy()
    ff_mask = np.zeros((h + 4, w + 4), dtype=np.uint8)
    cv2.floodFill(flood, ff_mask, (0, 0), 1)
    holes = (flood == 0)[1:-1, 1:-1]
    return (m.astype(bool) | holes).astype(np.uint8)


def chest_wall_side(mask: np.ndarray) -> str:
    """'left' or 'right': the side of the breast's own extent where its column profile is heavier.

    A breast is widest at the chest wall and tapers to the nipple, so the outer third of its horizontal
    extent on the chest-wall side holds more mask pixels than the nipple-side third. Measured relative to
    the breast's extent (not the image edges), it also holds for films padded with black margins."""
    profile = np.asarray(mask, dtype=bool).sum(axis=0).astype(np.float64)
    cols = np.flatnonzero(profile)
    if cols.size == 0:
        return "left"
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    third = max(1, (x1 - x0) // 3)
    left, right = profile[x0:x0 + third].sum(), profile[x1 - third:x1].sum()
    if left != right:
        return "left" if left > right else "right"
    centroid = float((profile * (np.arange(profile.size) + 0.5)).sum() / profile.sum())
    return "left" if centroid <= (x0 + x1) / 2 else "right"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 if both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
