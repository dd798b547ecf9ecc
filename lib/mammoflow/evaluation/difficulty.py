"""How hard a dataset is for a trivial model: cross-validated AUC of global breast-intensity statistics.

A logistic regression (scikit-learn, standardised features, stratified k-fold, out-of-fold scores) on the
breast's max, mean, std and percentiles, for lesion vs normal images and for benign vs malignant lesion
images. A dataset on which this reaches a high AUC cannot tell methods apart (issue 10)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammoflow.evaluation.metrics import write_json
from mammoflow.io import png

log = logging.getLogger(__name__)

FEATURES = ("max", "mean", "std", "p1", "p5", "p25", "p50", "p75", "p95", "p99")
MIN_PER_CLASS = 5


def intensity_features(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Global statistics (FEATURES order) of the image inside the mask (nonzero pixels when no mask)."""
    img = np.asarray(image, dtype=np.float64)
    sel = (mask > 0) if mask is not None else (img > 0)
    vals = img[sel] if sel.any() else img.ravel()
    p = np.percentile(vals, [1, 5, 25, 50, 75, 95, 99])
    return np.concatenate([[vals.max(), vals.mean(), vals.std()], p])


def baseline_auc(features: np.ndarray, labels: np.ndarray, seed: int = 0, folds: int = 5,
                 min_per_class: int = MIN_PER_CLASS) -> float | None:
    """Out-of-fold ROC AUC of a standardised logistic regression (None when a class has < min_per_class)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels, dtype=int)
    counts = np.bincount(y, minlength=2)
    if len(counts) != 2 or counts.min() < min_per_class:
        return None
    cv = StratifiedKFold(n_splits=int(min(folds, counts.min())), shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    score = cross_val_predict(model, np.asarray(features, float), y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, score))


def _birads(value: Any) -> float:
    """The BI-RADS number of a cell like 'BI-RADS 4', '4a' or 4 (nan when absent)."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    return float(digits[0]) if digits else float("nan")


def task_labels(images: pd.DataFrame) -> dict[str, pd.Series]:
    """Labels of the two tasks: lesion (any finding) vs normal; malignant vs benign among lesion images.

    Pathology comes from the `pathology` column where it says benign/malignant, else from BI-RADS
    (>= 4 malignant, <= 3 benign) of images with findings (VinDr has no pathology)."""
    n_find = pd.to_numeric(images.get("n_findings"), errors="coerce").fillna(0)
    lesion = (n_find > 0).astype(int)
    path = images.get("pathology", pd.Series("", index=images.index)).fillna("").astype(str).str.lower()
    known = path.isin(["benign", "malignant"])
    if known.any():
        bm = (path[known & (lesion == 1)] == "malignant").astype(int)
    else:
        b = images.get("breast_birads", pd.Series("", index=images.index)).map(_birads)
        sel = (lesion == 1) & b.notna()
        bm = (b[sel] >= 4).astype(int)
    return {"lesion_vs_normal": lesion, "benign_vs_malignant": bm}


def difficulty(features: pd.DataFrame, images: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """difficulty.json content: AUC, class counts and the feature list for both tasks."""
    out: dict[str, Any] = {"features": list(FEATURES), "model": "standardised logistic regression, "
                           "stratified 5-fold out-of-fold scores", "n_images": int(len(images))}
    for task, y in task_labels(images).items():
        X = features.loc[y.index, list(FEATURES)].to_numpy()
        auc = baseline_auc(X, y.to_numpy(), seed=seed)
        out[task] = {"auc": None if auc is None else round(auc, 4), "n_positive": int(y.sum()),
                     "n_negative": int((y == 0).sum())}
    return out


def canvas_features(images: pd.DataFrame, root: str | Path = ".") -> pd.DataFrame:
    """FEATURES of every image's canvas (png_path) inside its breast mask (mask_path), indexed like images."""
    root = Path(root)
    rows = [intensity_features(png.read(root / r.png_path), png.read(root / r.mask_path))
            for r in images.itertuples()]
    return pd.DataFrame(rows, columns=list(FEATURES), index=images.index)


def difficulty_job(images_csv: str, out_json: str, seed: int = 0) -> dict[str, Any]:
    """Snakemake entry point: results/{dataset}/qc/difficulty.json from the canonical image table."""
    images = pd.read_csv(images_csv)
    report = difficulty(canvas_features(images), images, seed=seed)
    write_json(out_json, report)
    log.info("difficulty: %s", {k: v for k, v in report.items() if isinstance(v, dict)})
    return report
