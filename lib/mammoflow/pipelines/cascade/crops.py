"""FGT crop boxes (with margin, breast-box fallback), crop-and-resize, and pasting crop maps back at full size."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    """Half-open pixel box [r0, r1) x [c0, c1) and whether it is the breast-box fallback."""

    r0: int
    r1: int
    c0: int
    c1: int
    fallback: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the box."""
        return self.r1 - self.r0, self.c1 - self.c0


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Half-open bounding box of the True pixels, None when there are none."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def crop_box(fgt: np.ndarray, breast: np.ndarray, margin: float) -> Box:
    """Box of the FGT pixels grown by margin * the longer image side; the breast box (or the whole image) if none."""
    h, w = fgt.shape
    pad = int(round(margin * max(h, w)))
    b, fallback = bbox(fgt), False
    if b is None:
        b, fallback = bbox(breast) or (0, h, 0, w), True
    r0, r1, c0, c1 = b
    return Box(max(0, r0 - pad), min(h, r1 + pad), max(0, c0 - pad), min(w, c1 + pad), fallback)


def resize(a: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """a resized to (rows, cols): area/bilinear for images, nearest neighbour for label maps."""
    rows, cols = shape
    if a.shape == (rows, cols):
        return a.copy()
    if nearest:
        interp = cv2.INTER_NEAREST_EXACT
    else:
        interp = cv2.INTER_AREA if rows <= a.shape[0] and cols <= a.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(a), (cols, rows), interpolation=interp)


def crop(a: np.ndarray, box: Box, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """The box of a, resized to shape."""
    return resize(a[box.r0:box.r1, box.c0:box.c1], shape, nearest)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A binary mask resized to (rows, cols) so that small lesions survive (uint8 0/1).

    Downsampling: a target pixel is lesion where the area-averaged coverage is >= 0.5 (the area-faithful
    rule, unlike nearest neighbour, which samples one source pixel and can miss a small component entirely);
    every 8-connected component of the source that would vanish keeps its best-covered target pixel(s), so no
    lesion (a calcification speck, a small mass) is erased. Upsampling and same size: nearest neighbour."""
    m = np.ascontiguousarray(mask > 0).astype(np.uint8)
    rows, cols = shape
    if m.shape == (rows, cols) or rows > m.shape[0] or cols > m.shape[1] or not m.any():
        return cv2.resize(m, (cols, rows), interpolation=cv2.INTER_NEAREST_EXACT) if m.shape != (rows, cols) \
            else m.copy()
    cover = cv2.resize(m.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
    out = (cover >= 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(m, connectivity=8)
    for k in range(1, n):
        comp = cv2.resize((labels == k).astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
        if not (out.astype(bool) & (comp >= 0.5)).any():
            out[comp >= comp.max() - 1e-6] = 1
    return out


def crop_mask(mask: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """The box of a binary mask, resized to shape with resize_mask (small lesions survive)."""
    return resize_mask(mask[box.r0:box.r1, box.c0:box.c1], shape)


def paste_back(crop_map: np.ndarray, box: Box, full_shape: tuple[int, int]) -> np.ndarray:
    """A crop-space map resized to the box and placed there in a zero image of full_shape (float32)."""
    out = np.zeros(full_shape, dtype=np.float32)
    rows, cols = box.shape
    out[box.r0:box.r1, box.c0:box.c1] = cv2.resize(crop_map.astype(np.float32), (cols, rows),
                                                    interpolation=cv2.INTER_LINEAR)
    return out
