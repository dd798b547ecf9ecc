"""Saliency from heatmaps: scale-sharpened mass on the warp grid, FWHM-smoothed density, overlays, leaf files."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mammoflow.core.naming import fmt_num
from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import warp
from mammoflow.pipelines.nus.windows import WindowGrid, geometry_from_row, table_row


def saliency(prob: np.ndarray, geo: WindowGrid, scale: float, long_side: int) -> np.ndarray:
    """Scale-sharpened saliency mass softmax(scale*heat) on the warp grid (uniform if the map is unusable)."""
    gh, gw = warp.grid_shape(geo.height, geo.width, long_side)
    if not np.isfinite(prob).all():
        return np.full((gh, gw), 1.0 / (gh * gw))
    heat = warp.heat_on_grid(prob, (geo.origin_y, geo.origin_x), geo.stride, geo.height, geo.width, gh, gw)
    return warp.saliency_mass(heat, scale).numpy()


def smoothed_saliency(sal: np.ndarray, fwhm: float) -> np.ndarray:
    """FWHM-smoothed saliency density (the denominator of the pixel-driven grid), normalised to sum 1."""
    r = warp.gaussian_radius(fwhm)
    k = warp.gaussian_1d(fwhm, r)
    sp = F.pad(torch.as_tensor(sal, dtype=torch.float64)[None, None], (r, r, r, r), mode="replicate")[0, 0]
    d = warp.conv_sep(sp, k)
    return (d / (d.sum() + warp.EPS)).numpy()


def overlay(canvas: np.ndarray, density: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """8-bit BGR JET overlay of a density map on the grey canvas (full canvas size)."""
    H, W = canvas.shape
    d = cv2.resize(density.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    d = (d - d.min()) / (float(d.max() - d.min()) + 1e-12)
    jet = cv2.applyColorMap(np.clip(d * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    grey = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    grey3 = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(jet, alpha, grey3, 1 - alpha, 0)


def derive_shard(table_path: str, pngs: dict[str, str], scales: Iterable[float], fwhms: Iterable[float],
                 long_side: int, heat_out: str, overlay_out: str, alpha: float = 0.35) -> None:
    """Per image and (scale, FWHM): smoothed saliency .npy on the warp grid and an overlay PNG.

    heat_out / overlay_out are templates with {split}, {image_id}, {scale}, {fwhm}.
    """
    table = pd.read_csv(table_path, keep_default_na=False, dtype={"image_id": str, "split": str})
    for _, row in table.iterrows():
        _derive_image(row, pngs[row["image_id"]], scales, fwhms, long_side, heat_out, overlay_out, alpha)


def derive_one(table_path: str, image_id: str, png_path: str, scale: float, fwhm: float, long_side: int,
               heat_out: str, overlay_out: str, alpha: float = 0.35) -> None:
    """The saliency .npy and overlay of one image and (scale, FWHM), identical to what derive_shard writes."""
    _derive_image(table_row(table_path, image_id), png_path, [scale], [fwhm], long_side, heat_out, overlay_out, alpha)


def _derive_image(row: pd.Series, png_path: str, scales: Iterable[float], fwhms: Iterable[float], long_side: int,
                  heat_out: str, overlay_out: str, alpha: float) -> None:
    prob = probmaps.of_row(row)
    geo = geometry_from_row(row) if row["status"] == "ok" else None
    canvas = png.read_unit(png_path, np.uint16) if geo is not None else None
    for s in scales:
        sal = saliency(prob, geo, float(s), long_side) if geo is not None else None
        for f in fwhms:
            kw = dict(split=row["split"], image_id=row["image_id"], scale=fmt_num(s), fwhm=fmt_num(f))
            if sal is None:  # rejected upstream: 1x1 markers keep every target present
                dens = np.full((1, 1), np.nan)
                over = np.zeros((1, 1, 3), np.uint8)
            else:
                dens = smoothed_saliency(sal, float(f))
                over = overlay(canvas, dens, alpha)
            Path(heat_out.format(**kw)).parent.mkdir(parents=True, exist_ok=True)
            np.save(heat_out.format(**kw), dens.astype(np.float32))
            png.write(overlay_out.format(**kw), over)


def shard_saliency(prob: np.ndarray, row, height: int, width: int, scale: float, long_side: int) -> np.ndarray:
    """Saliency mass on the coarse grid of one heatmap-table row (uniform when its heatmap was rejected)."""
    if row["status"] == "ok":
        return saliency(prob, geometry_from_row(row), float(scale), long_side)
    gh, gw = warp.grid_shape(height, width, long_side)
    return np.full((gh, gw), 1.0 / (gh * gw))
