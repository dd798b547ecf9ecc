"""PNG files: 8/16-bit greyscale (and 8-bit colour) read and written with checked, byte-stable encoding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mammoflow.core.errors import ImageRejected


def read(path: str | Path, colour: bool = False, dtype: type | None = None) -> np.ndarray:
    """A PNG with its bit depth unchanged; ImageRejected naming the file if missing, unreadable, (unless
    colour) not single-channel, or not of the given sample type."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        reason = "cannot read image (" + ("file is missing" if not Path(path).is_file() else "unreadable or truncated PNG") + ")"
        raise ImageRejected(str(path), reason)
    if not colour and img.ndim != 2:
        raise ImageRejected(str(path), f"expected a single-channel image, got shape {img.shape}")
    if dtype is not None and img.dtype != dtype:
        raise ImageRejected(str(path), f"expected a {np.dtype(dtype).name} PNG, got {img.dtype}")
    return img


def read_unit(path: str | Path, dtype: type | None = None) -> np.ndarray:
    """A greyscale PNG as float32 in [0, 1] (uint8 / 255, uint16 / 65535)."""
    img = read(path, dtype=dtype)
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    raise ImageRejected(str(path), f"unsupported PNG sample type {img.dtype}")


def write(path: str | Path, image: np.ndarray) -> None:
    """Write an 8/16-bit greyscale or 8-bit BGR PNG, creating the folder; OSError if the encoder fails."""
    path = Path(path)
    arr = np.ascontiguousarray(image)
    if arr.dtype not in (np.uint8, np.uint16) or arr.ndim not in (2, 3):
        raise ValueError(f"{path}: a PNG holds uint8/uint16 2-D or HxWx3 arrays, got {arr.dtype} {arr.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), arr):
        raise OSError(f"could not write {path}")
