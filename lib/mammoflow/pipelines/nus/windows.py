"""The window grid of a heatmap (where each probability sits on the canvas) and heatmap shard-table rows."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class WindowGrid:
    """Where prob[i, j] sits on the canvas: pixel (origin_y + i*stride, origin_x + j*stride)."""

    origin_y: float
    origin_x: float
    stride: int
    rows: int
    cols: int
    height: int
    width: int
    patch_size: int

    @staticmethod
    def for_canvas(height: int, width: int, patch_size: int, stride: int) -> "WindowGrid":
        """Geometry of all windows of patch_size at `stride` fully inside a height x width canvas."""
        if height < patch_size or width < patch_size:
            raise ValueError(f"canvas {height}x{width} is smaller than the patch size {patch_size}")
        c = (patch_size - 1) / 2.0  # centre of the first window in pixel-centre coordinates
        return WindowGrid(c, c, int(stride), (height - patch_size) // stride + 1,
                        (width - patch_size) // stride + 1, int(height), int(width), int(patch_size))

    def centre(self, i: float, j: float) -> tuple[float, float]:
        """Canvas (y, x) of map cell (i, j)."""
        return self.origin_y + i * self.stride, self.origin_x + j * self.stride


def geometry_from_row(row: pd.Series | dict) -> WindowGrid:
    """Geometry stored in a heatmap shard-table row."""
    i = lambda k: int(float(row[k]))  # noqa: E731  (CSV columns with rejected rows read back as floats)
    return WindowGrid(float(row["origin_y"]), float(row["origin_x"]), i("stride"), i("rows"), i("cols"),
                    i("height"), i("width"), i("patch_size"))


def table_row(table_path: str, image_id: str) -> pd.Series:
    """The row of one image in a heatmap shard table; KeyError naming the table if it is absent."""
    table = pd.read_csv(table_path, keep_default_na=False, dtype={"image_id": str, "split": str})
    rows = table[table["image_id"] == str(image_id)]
    if rows.empty:
        raise KeyError(f"{table_path}: no heatmap row for image {image_id}")
    return rows.iloc[0]
