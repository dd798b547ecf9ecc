"""Metrics shared by the pipelines: AUC, ROC, binary metrics at a threshold, Dice, and the JSON writer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm


def write_json(path: str | Path, obj: Any) -> None:
    """Write obj as sorted, indented JSON with non-finite floats (an undefined AUC) as null."""
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(clean(obj), indent=2, sort_keys=True) + "\n")


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve (scikit-learn; ties count half); nan if one class is absent."""
    y = np.asarray(y_true).astype(int).ravel()
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(skm.roc_auc_score(y, np.asarray(y_score, dtype=float).ravel()))


def roc_curve(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (descending, first +inf), scikit-learn's."""
    y = np.asarray(y_true).astype(int).ravel()
    return skm.roc_curve(y, np.asarray(y_score, dtype=float).ravel(), drop_intermediate=False)


def binary_metrics(y_true, y_score, threshold: float = 0.5) -> dict[str, float]:
    """AUC, accuracy, sensitivity, specificity, precision, F1 and the confusion counts."""
    y = np.asarray(y_true).astype(int).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    p = (s >= threshold).astype(int)
    tp = int(((p == 1) & (y == 1)).sum()); tn = int(((p == 0) & (y == 0)).sum())
    fp = int(((p == 1) & (y == 0)).sum()); fn = int(((p == 0) & (y == 1)).sum())
    div = lambda a, b: float(a) / b if b else float("nan")  # noqa: E731
    sens, prec = div(tp, tp + fn), div(tp, tp + fp)
    f1 = div(2 * prec * sens, prec + sens) if (prec == prec and sens == sens) else float("nan")
    return {"auc": roc_auc(y, s), "accuracy": div(tp + tn, len(y)), "sensitivity": sens,
            "specificity": div(tn, tn + fp), "precision": prec, "f1": f1,
            "tp": tp, "tn": tn, "fp": fp, "fn": fn, "n": int(len(y)), "threshold": float(threshold)}


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    p, t = pred.astype(bool), truth.astype(bool)
    s = p.sum() + t.sum()
    return 1.0 if s == 0 else float(2.0 * (p & t).sum() / s)
