"""Control warps of the whole-image experiment: an oracle saliency from the lesion boxes and a random-heat saliency."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import pandas as pd

from mammoflow.core.naming import fmt_num
from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import warp
from mammoflow.pipelines.nus.saliency import saliency
from mammoflow.pipelines.nus.warps import write_warp
from mammoflow.pipelines.nus.windows import geometry_from_row

CONTROLS = ("oracle", "random_heat")
BOX = ("rymin", "rxmin", "rymax", "rxmax")


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the image id (same draws in any shard or order)."""
    return np.random.default_rng([int(seed), zlib.crc32(str(image_id).encode())])


def box_heat(boxes: Sequence[Sequence[float]], height: int, width: int, rows: int, cols: int) -> np.ndarray:
    """Heat on the (rows, cols) warp grid: the share of each cell's footprint inside the canvas boxes, peak 1.

    boxes are (ymin, xmin, ymax, xmax) in canvas pixels; cell (a, b) sits at canvas pixel
    (a*(height-1)/(rows-1), b*(width-1)/(cols-1)) like warp.heat_on_grid; no boxes give zeros (uniform saliency).
    """
    mask = np.zeros((height, width), np.float32)
    for y0, x0, y1, x1 in boxes:
        ya, yb = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)) + 1, height)
        xa, xb = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)) + 1, width)
        mask[ya:yb, xa:xb] = 1.0
    if not mask.any():
        return np.zeros((rows, cols))
    kh, kw = max(1, int(np.ceil(height / rows))), max(1, int(np.ceil(width / cols)))
    cover = cv2.blur(mask, (kw, kh), borderType=cv2.BORDER_CONSTANT)
    ys = np.rint(np.arange(rows) * (height - 1) / max(rows - 1, 1)).astype(int)
    xs = np.rint(np.arange(cols) * (width - 1) / max(cols - 1, 1)).astype(int)
    heat = cover[ys][:, xs].astype(np.float64)
    if heat.max() <= 0:  # a box thinner than a cell between two cell centres: take the nearest cell
        cy = (boxes[0][0] + boxes[0][2]) / 2 * (rows - 1) / max(height - 1, 1)
        cx = (boxes[0][1] + boxes[0][3]) / 2 * (cols - 1) / max(width - 1, 1)
        heat[int(round(cy)), int(round(cx))] = 1.0
    return heat / heat.max()


def decoy_box(canvas: np.ndarray, size: tuple[float, float], rng: np.random.Generator) -> tuple[float, ...]:
    """A box of size (h, w) centred on a random breast pixel (canvas > 0), for images without a located lesion."""
    ys, xs = np.nonzero(canvas > 0)
    if ys.size == 0:
        ys, xs = np.array([canvas.shape[0] // 2]), np.array([canvas.shape[1] // 2])
    k = int(rng.integers(ys.size))
    h, w = size
    return (ys[k] - h / 2, xs[k] - w / 2, ys[k] + h / 2, xs[k] + w / 2)


def typical_box(findings: pd.DataFrame) -> tuple[float, float]:
    """Median (height, width) of the located findings' canvas boxes (the decoy size); 1/16 of 576 if none."""
    b = findings.dropna(subset=list(BOX))
    if b.empty:
        return 36.0, 36.0
    return float((b["rymax"] - b["rymin"]).median()), float((b["rxmax"] - b["rxmin"]).median())


def permuted_prob(prob: np.ndarray, row: Mapping, canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The probability map with its breast windows' values shuffled among themselves (same values, random places)."""
    geo = geometry_from_row(row)
    cy = np.rint(geo.origin_y + np.arange(geo.rows) * geo.stride).astype(int).clip(0, canvas.shape[0] - 1)
    cx = np.rint(geo.origin_x + np.arange(geo.cols) * geo.stride).astype(int).clip(0, canvas.shape[1] - 1)
    inside = canvas[cy][:, cx] > 0
    out = np.array(prob, dtype=np.float64, copy=True)
    vals = out[inside]
    out[inside] = vals[rng.permutation(vals.size)]
    return out


def control_saliency(control: str, row: Mapping, canvas: np.ndarray, boxes: list[tuple[float, ...]],
                     decoy: tuple[float, float], scale: float, long_side: int, seed: int) -> tuple[np.ndarray, str]:
    """Saliency mass on the warp grid of one image for a control, and where it came from (boxes|decoy|permuted)."""
    H, W = canvas.shape
    rng = image_rng(seed, row["image_id"])
    if control == "random_heat":
        prob = permuted_prob(probmaps.of_row(row), row, canvas, rng)
        return saliency(prob, geometry_from_row(row), scale, long_side), "permuted"
    if control != "oracle":
        raise ValueError(f"unknown warp control {control!r} (one of {CONTROLS})")
    source = "boxes" if boxes else "decoy"
    if not boxes:
        boxes = [decoy_box(canvas, decoy, rng)]
    gh, gw = warp.grid_shape(H, W, long_side)
    return warp.saliency_mass(box_heat(boxes, H, W, gh, gw), scale).numpy(), source


def run_shard(kinds: Sequence[str], heat_table: str, findings_csv: str, pngs: Mapping[str, str], scale: float,
              fwhm: float, lam: float, long_side: int, warp_out: str, tables_out: Mapping[str, str],
              seed: int) -> None:
    """Control warps of one shard at one (scale, FWHM, lambda), one shard table per kind shaped like warps.py's.

    oracle: saliency from the image's lesion boxes; images without a located lesion get a decoy box of the
    dataset's typical lesion size at a random breast position, so that being warped does not give the label
    away. random_heat: the image's own probability map with the breast windows' values shuffled. warp_out is a
    template with {control}, {split}, {image_id} (and optionally {scale}, {fwhm}, {lam}). Images whose heatmap was
    rejected get the identity warp.
    """
    table = pd.read_csv(heat_table, keep_default_na=False, dtype={"image_id": str, "split": str})
    findings = pd.read_csv(findings_csv, dtype={"image_id": str})
    decoy = typical_box(findings)
    located = findings.dropna(subset=list(BOX))
    by_image = {i: [tuple(float(v) for v in b) for b in g[list(BOX)].to_numpy()]
                for i, g in located.groupby("image_id")}
    rows: dict[str, list[dict]] = {k: [] for k in kinds}
    for _, r in table.iterrows():
        canvas = png.read_unit(pngs[r["image_id"]], np.uint16)
        H, W = canvas.shape
        ok = r["status"] == "ok"
        for kind in kinds:
            if ok:
                sal, source = control_saliency(kind, r, canvas, by_image.get(r["image_id"], []), decoy,
                                               float(scale), long_side, seed)
            else:
                gh, gw = warp.grid_shape(H, W, long_side)
                sal, source = np.full((gh, gw), 1.0 / (gh * gw)), "identity"
            wp = warp_out.format(control=kind, split=r["split"], image_id=r["image_id"], scale=fmt_num(scale),
                                 fwhm=fmt_num(fwhm), lam=fmt_num(lam))
            _, shift = write_warp(canvas, sal, float(fwhm), float(lam), wp)
            rows[kind].append({"image_id": r["image_id"], "split": r["split"], "control": kind,
                               "scale": fmt_num(scale), "fwhm": fmt_num(fwhm), "lam": fmt_num(lam),
                               "warp_path": wp, "source": source, "status": "ok" if ok else "identity",
                               "reason": "" if ok else f"heatmap rejected: {r['reason']}",
                               "max_shift": shift})
    for kind in kinds:
        Path(tables_out[kind]).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows[kind]).to_csv(tables_out[kind], index=False)
