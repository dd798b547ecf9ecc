"""Per-shard HDF5 store of the patch classifier's probability maps (one dataset per image id)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np


def write(path: str | Path, maps: Mapping[str, np.ndarray]) -> None:
    """Write {image_id: float32 map} to one HDF5 file, byte-identical for identical maps (no timestamps)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.part")
    with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
        for image_id in sorted(maps):
            f.create_dataset(image_id, data=np.asarray(maps[image_id], dtype=np.float32), track_times=False)
    tmp.replace(path)


@functools.lru_cache(maxsize=4)
def _open(path: str, mtime_ns: int) -> h5py.File:
    return h5py.File(path, "r")


def read(path: str | Path, image_id: str) -> np.ndarray:
    """The map of one image; KeyError naming the file if the image is not in it."""
    p = str(path)
    f = _open(p, Path(p).stat().st_mtime_ns)
    if image_id not in f:
        raise KeyError(f"{p}: no probability map for image {image_id}")
    return f[image_id][()]


def of_row(row: Mapping[str, Any]) -> np.ndarray:
    """The map a heatmap shard-table row refers to (columns prob_path and image_id)."""
    return read(row["prob_path"], str(row["image_id"]))
