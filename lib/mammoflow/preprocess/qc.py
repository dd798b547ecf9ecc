"""Quality checks of preprocessing against synthetic ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mammoflow.preprocess.breast_mask import iou
from mammoflow.io import png
from mammoflow.preprocess.canvas import Geometry, resize_to_canvas


def gt_mask_on_canvas(gt: np.ndarray, r: pd.Series) -> np.ndarray:
    """Ground-truth mask (original pixels) mapped to the canvas with the image's recorded geometry."""
    g = Geometry(int(r["rows"]), int(r["cols"]), int(r["height"]), int(r["width"]), int(r["new_height"]),
                 int(r["new_width"]), float(r["scale_y"]), float(r["scale_x"]), int(r["pad_top"]),
                 int(r["pad_left"]), bool(r["flipped"]))
    return resize_to_canvas((gt > 0).astype(np.float32), g) >= 0.5


def breast_mask_qc(images_csv: str | Path, ground_truth: list[str]) -> pd.DataFrame:
    """Per image IoU of the preprocessing breast mask with the generator's ground truth masks."""
    img = pd.read_csv(images_csv, dtype={"image_id": str})
    gt_of = {Path(p).name[: -len("_breast.png")]: p for p in ground_truth if str(p).endswith("_breast.png")}
    rows = []
    for _, r in img.iterrows():
        gt = png.read(gt_of[r["image_id"]])
        pred = png.read(r["mask_path"]) > 0
        rows.append({"image_id": r["image_id"], "view": r["view"], "laterality": r["laterality"],
                     "iou": round(iou(pred, gt_mask_on_canvas(gt, r)), 6)})
    return pd.DataFrame(rows)


def breast_mask_qc_job(images_csv: str, ground_truth: list[str], table: str, summary: str) -> None:
    """Snakemake entry point: write the per-image IoU table and a one-row summary."""
    df = breast_mask_qc(images_csv, list(ground_truth))
    df.to_csv(table, index=False)
    pd.DataFrame([{"n_images": len(df), "min_iou": df["iou"].min(), "mean_iou": round(df["iou"].mean(), 6),
                   "n_below_0.95": int((df["iou"] < 0.95).sum())}]).to_csv(summary, index=False)
