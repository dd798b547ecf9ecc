"""Cross-fitting of the heatmap patch classifier: study-grouped folds of the training images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mammoflow.core.errors import ConfigError
from mammoflow.training.splits import grouped_folds

COLUMNS = ["image_id", "study_id", "fold"]


def fold_table(images_csv: str | Path, k: int, seed: int, split: str = "training") -> pd.DataFrame:
    """image_id, study_id, fold of the split's images: whole studies per fold, stratified by the image label."""
    im = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    im = im[im["split"] == split].sort_values("image_id").reset_index(drop=True)
    studies = im["study_id"] if "study_id" in im.columns else im["image_id"]
    studies = [s or i for s, i in zip(studies, im["image_id"])]
    labels = (pd.to_numeric(im["label"], errors="coerce").fillna(0) > 0).astype(int).tolist() \
        if "label" in im.columns else [0] * len(im)
    try:
        folds = grouped_folds(studies, labels, k, seed)
    except ValueError as exc:
        raise ConfigError(f"{images_csv}: cross-fitting ({split} split): {exc}; lower "
                          "seed000.heatmaps.crossfit_folds") from exc
    return pd.DataFrame({"image_id": im["image_id"], "study_id": studies, "fold": folds}, columns=COLUMNS)


def write_folds(images_csv: str | Path, out_csv: str | Path, k: int, seed: int) -> pd.DataFrame:
    """Write folds.csv (image_id, study_id, fold) of the training images."""
    t = fold_table(images_csv, k, seed)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    t.to_csv(out_csv, index=False)
    return t


def read_folds(folds_csv: str | Path) -> pd.DataFrame:
    """folds.csv with string ids and integer folds."""
    t = pd.read_csv(folds_csv, dtype={"image_id": str, "study_id": str}, keep_default_na=False)
    if list(t.columns) != COLUMNS:
        raise ConfigError(f"{folds_csv}: expected columns {COLUMNS}, got {list(t.columns)}")
    return t


def held_out_studies(folds_csv: str | Path, fold: int) -> set[str]:
    """Studies of fold `fold` (the fold model must not see them); ConfigError if the fold is empty."""
    t = read_folds(folds_csv)
    out = set(t.loc[t["fold"] == int(fold), "study_id"])
    if not out:
        raise ConfigError(f"{folds_csv}: fold {fold} holds no study (folds {sorted(set(t['fold']))})")
    return out


def fold_of_images(folds_csv: str | Path) -> dict[str, int]:
    """image_id -> fold."""
    t = read_folds(folds_csv)
    return dict(zip(t["image_id"], t["fold"].astype(int)))
