"""Breast density from the cascade: FGT area / (adipose + FGT) area, a BI-RADS-style class, agreement with labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

DENSITY_CLASSES = ("A", "B", "C", "D")
COLUMNS = ["image_id", "fgt_px", "breast_px", "fgt_fraction", "density_class", "dataset_density"]


def density_class(fraction: float, thresholds: Sequence[float]) -> str:
    """A..D from the FGT fraction and the three class thresholds ('' when undefined)."""
    if not np.isfinite(fraction):
        return ""
    return DENSITY_CLASSES[int(np.searchsorted(np.asarray(thresholds, dtype=float), fraction, side="right"))]


def label_class(value: Any) -> str:
    """A dataset's density label (1-4, A-D, 'a'..'d') as A..D; '' when absent or unknown."""
    s = str(value).strip().upper()
    if s.endswith(".0"):
        s = s[:-2]
    if s in DENSITY_CLASSES:
        return s
    return DENSITY_CLASSES[int(s) - 1] if s in ("1", "2", "3", "4") else ""


def density_table(shard_tables: Sequence[str | Path], images_csv: str | Path, thresholds: Sequence[float]) -> pd.DataFrame:
    """One row per predicted image: FGT and breast pixels, fraction, class and the dataset's label."""
    rows = pd.concat([pd.read_csv(p, keep_default_na=False) for p in shard_tables], ignore_index=True) \
        if shard_tables else pd.DataFrame(columns=["image_id", "status"])
    rows = rows[rows["status"] == "ok"].copy()
    images = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    col = "breast_density" if "breast_density" in images.columns else None
    labels = dict(zip(images["image_id"], images[col])) if col else {}
    rows["fgt_fraction"] = pd.to_numeric(rows["fgt_fraction"], errors="coerce")
    rows["density_class"] = [density_class(f, thresholds) for f in rows["fgt_fraction"]]
    rows["dataset_density"] = [label_class(labels.get(i, "")) for i in rows["image_id"]]
    return rows[COLUMNS].sort_values("image_id").reset_index(drop=True)


def agreement(df: pd.DataFrame) -> dict[str, Any]:
    """Spearman of FGT fraction vs label, class agreement and the 4x4 confusion (rows: label, cols: predicted)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import confusion_matrix

    lab = df[(df["dataset_density"] != "") & (df["density_class"] != "")]
    out: dict[str, Any] = {"n_images": int(len(df)), "n_labelled": int(len(lab)),
                           "class_counts": {c: int((df["density_class"] == c).sum()) for c in DENSITY_CLASSES}}
    if len(lab) < 2:
        out.update(spearman=None, spearman_p=None, accuracy=None, confusion=None)
        return out
    y = np.array([DENSITY_CLASSES.index(c) for c in lab["dataset_density"]])
    p = np.array([DENSITY_CLASSES.index(c) for c in lab["density_class"]])
    rho, pval = spearmanr(lab["fgt_fraction"].astype(float), y)
    out.update(spearman=None if not np.isfinite(rho) else float(rho), spearman_p=None if not np.isfinite(pval)
               else float(pval), accuracy=float((y == p).mean()),
               confusion=confusion_matrix(y, p, labels=[0, 1, 2, 3]).tolist(), confusion_labels=list(DENSITY_CLASSES))
    return out
