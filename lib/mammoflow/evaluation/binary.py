"""Binary classification metrics with scikit-learn: at a threshold, threshold choices, PR-AUC, with CIs."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn import metrics as skm

from mammoflow.evaluation.bootstrap import bootstrap_ci
from mammoflow.evaluation.metrics import roc_auc

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "specificity", "f1")
RANKING_METRICS = ("roc_auc", "pr_auc")


def _both(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """PR-AUC as average precision (scikit-learn); nan without a positive."""
    return float(skm.average_precision_score(y, s)) if (np.asarray(y) == 1).any() else float("nan")


def _counts(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """tn, fp, fn, tp of score >= threshold (numpy; equal to scikit-learn's confusion_matrix, tested)."""
    y, p = np.asarray(y).astype(int), np.asarray(s) >= threshold
    tp = int((p & (y == 1)).sum())
    fp = int((p & (y == 0)).sum())
    return int((y == 0).sum()) - fp, fp, int((y == 1).sum()) - tp, tp


def _div(a: float, b: float) -> float:
    return float(a) / b if b else float("nan")


def at_threshold(threshold: float) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """metric name -> f(y, score) for the predictions score >= threshold (nan where a denominator is 0).

    Counted with numpy so that thousands of bootstrap replicates stay fast; `sklearn_at_threshold` gives the
    same values through scikit-learn (the point estimates of `report`)."""
    def metric(fn: Callable[[int, int, int, int], float]) -> Callable[[np.ndarray, np.ndarray], float]:
        return lambda y, s: fn(*_counts(y, s, threshold))

    return {"accuracy": metric(lambda tn, fp, fn, tp: _div(tp + tn, tn + fp + fn + tp)),
            "precision": metric(lambda tn, fp, fn, tp: _div(tp, tp + fp)),
            "recall": metric(lambda tn, fp, fn, tp: _div(tp, tp + fn)),
            "specificity": metric(lambda tn, fp, fn, tp: _div(tn, tn + fp)),
            "f1": metric(lambda tn, fp, fn, tp: _div(2 * tp, 2 * tp + fp + fn))}


def sklearn_at_threshold(y: Sequence, s: Sequence, threshold: float) -> dict[str, float]:
    """The threshold metrics through scikit-learn (zero_division -> nan)."""
    y, p = np.asarray(y).astype(int), (np.asarray(s) >= threshold).astype(int)
    if not len(y):
        return {k: float("nan") for k in THRESHOLD_METRICS}
    nan = float("nan")
    spec = skm.recall_score(1 - y, 1 - p, zero_division=nan) if (y == 0).any() else nan
    return {"accuracy": float(skm.accuracy_score(y, p)),
            "precision": float(skm.precision_score(y, p, zero_division=nan)),
            "recall": float(skm.recall_score(y, p, zero_division=nan)) if (y == 1).any() else nan,
            "specificity": float(spec),
            "f1": float(skm.f1_score(y, p, zero_division=nan)) if (y == 1).any() or p.any() else nan}


def confusion(y: Sequence, s: Sequence, threshold: float) -> dict[str, int]:
    """tn, fp, fn, tp of score >= threshold (scikit-learn)."""
    p = (np.asarray(s) >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(np.asarray(y).astype(int), p, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def youden_threshold(y: Sequence, s: Sequence) -> float:
    """Threshold maximising sensitivity + specificity - 1 (0.5 when one class is absent)."""
    y = np.asarray(y).astype(int)
    if not _both(y):
        return 0.5
    fpr, tpr, thr = skm.roc_curve(y, np.asarray(s, dtype=float))
    k = int(np.argmax(tpr - fpr))
    return float(min(thr[k], 1.0))


def sensitivity_threshold(y: Sequence, s: Sequence, sensitivity: float) -> float:
    """Highest threshold whose sensitivity is at least `sensitivity` (0.5 without a positive)."""
    y, s = np.asarray(y).astype(int), np.asarray(s, dtype=float)
    pos = np.sort(s[y == 1])[::-1]
    if not len(pos):
        return 0.5
    k = int(np.ceil(sensitivity * len(pos))) - 1
    return float(pos[min(max(k, 0), len(pos) - 1)])


def report(y: Sequence, s: Sequence, threshold: float, groups: Sequence | None, n_boot: int,
           seed: int) -> dict[str, object]:
    """Every metric at `threshold` and both ranking metrics, each {value, lo, hi, n_valid}, plus counts.

    A class with no example gives nan values and a `note` saying which class is missing.
    """
    y, s = np.asarray(y).astype(int), np.asarray(s, dtype=float)
    out: dict[str, object] = {"threshold": float(threshold), "n": int(len(y)), "n_positive": int((y == 1).sum()),
                              "n_negative": int((y == 0).sum()), **confusion(y, s, threshold)}
    missing = [name for c, name in ((1, "malignant"), (0, "benign")) if not (y == c).any()]
    if missing:
        out["note"] = f"no {' and no '.join(missing)} example: metrics needing that class are undefined"
    fns = {**at_threshold(threshold), "roc_auc": roc_auc, "pr_auc": pr_auc}
    point = sklearn_at_threshold(y, s, threshold)
    for name, fn in fns.items():
        out[name] = bootstrap_ci(y, s, fn, groups=groups, n=n_boot, seed=seed)
        if name in point:
            out[name]["value"] = point[name]
    return out
