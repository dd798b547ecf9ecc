"""PNG input/output of the GLAM preparation (bit depth preserved, like the original's imageio calls)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG with its bit depth unchanged (uint8 or uint16, greyscale as 2-D)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Write an 8- or 16-bit greyscale PNG, creating the folder; fail loudly if the encoder fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise OSError(f"could not write {path}")
