"""Warp shard jobs: the saliency-warped canvases and grids of every image and (scale, FWHM, lambda)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mammoflow.core.naming import fmt_num
from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import warp
from mammoflow.pipelines.nus.saliency import shard_saliency
from mammoflow.pipelines.nus.windows import table_row


def write_warp(canvas: np.ndarray, sal: np.ndarray, fwhm: float, lam: float, out: str) -> tuple[torch.Tensor, float]:
    """Warp a canvas by a saliency mass and write it as a 16-bit PNG; the coarse grid and its largest shift."""
    H, W = canvas.shape
    coarse = warp.blended_grid(torch.as_tensor(sal), fwhm, lam)
    warped = warp.sample(canvas, warp.upsample_grid(coarse, H, W)).numpy()
    png.write(out, np.clip(np.rint(warped * 65535.0), 0, 65535).astype(np.uint16))
    return coarse, round(float((coarse - warp.identity_grid(*coarse.shape[:2])).abs().max()), 6)


def run_shard(heat_table: str, pngs: dict[str, str], scales, fwhms, lams, long_side: int, warp_out: str,
              grid_out: str | None, table_out: str, grid_format: str = "coarse") -> None:
    """Warps (and grids, unless grid_out is None) of one shard for every (scale, FWHM, lambda).

    warp_out / grid_out are templates with {split}, {image_id}, {scale}, {fwhm}, {lam}. Images whose heatmap
    was rejected get the identity warp and status 'identity' in the shard table (never a crash).
    """
    table = pd.read_csv(heat_table, keep_default_na=False, dtype={"image_id": str, "split": str})
    rows = []
    for _, r in table.iterrows():
        canvas = png.read_unit(pngs[r["image_id"]], np.uint16)
        H, W = canvas.shape
        prob = probmaps.of_row(r)
        ok = r["status"] == "ok"
        for s in scales:
            sal = shard_saliency(prob, r, H, W, s, long_side)
            for f in fwhms:
                for lam in lams:
                    kw = dict(split=r["split"], image_id=r["image_id"], scale=fmt_num(s), fwhm=fmt_num(f),
                              lam=fmt_num(lam))
                    wp = warp_out.format(**kw)
                    coarse, shift = write_warp(canvas, sal, float(f), float(lam), wp)
                    gp = grid_out.format(**kw) if grid_out else ""
                    if gp:
                        Path(gp).parent.mkdir(parents=True, exist_ok=True)
                        warp.save_grid(gp, coarse, H, W, grid_format)
                    rows.append({"image_id": r["image_id"], "split": r["split"], "scale": fmt_num(s),
                                 "fwhm": fmt_num(f), "lam": fmt_num(lam), "warp_path": wp, "grid_path": gp,
                                 "status": "ok" if ok else "identity",
                                 "reason": "" if ok else f"heatmap rejected: {r['reason']}",
                                 "max_shift": shift})
    Path(table_out).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(table_out, index=False)


def one_grid(heat_table: str, image_id: str, png_path: str, scale: float, fwhm: float, lam: float, long_side: int,
             out: str, grid_format: str = "coarse") -> None:
    """The grid of one image and (scale, FWHM, lambda), identical to the one a warp shard job writes."""
    r = table_row(heat_table, image_id)
    H, W = png.read_unit(png_path, np.uint16).shape
    sal = shard_saliency(probmaps.of_row(r), r, H, W, scale, long_side)
    coarse = warp.blended_grid(torch.as_tensor(sal), float(fwhm), float(lam))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    warp.save_grid(out, coarse, H, W, grid_format)
