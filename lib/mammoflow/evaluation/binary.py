"""Binary classification metrics with scikit-learn: at a threshold, threshold choices, PR-AUC, with CIs."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn import metrics as skm

from mammoflow.evaluation.bootstrap import bootstrap_ci

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "specificity", "f1")
RANKING_METRICS = ("roc_auc", "pr_auc")


def _both(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC (scikit-learn); nan when one class is absent."""
    return float(skm.roc_auc_score(y, s)) if _both(y) else float("nan")


def pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    """PR-AUC as average precision (scikit-learn); nan without a positive."""
    return float(skm.average_precision_score(y, s)) if (np.asarray(y) == 1).any() else float("nan")


def at_threshold(threshold: float) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """metric name -> f(y, score) for the predictions score >= threshold (nan where a denominator is 0)."""
    def conf(y: np.ndarray, s: np.ndarray) -> tuple[int, int, int, int]:
        p = (np.asarray(s) >= threshold).astype(int)
        tn, fp, fn, tp = skm.confusion_matrix(np.asarray(y).astype(int), p, labels=[0, 1]).ravel()
        return int(tn), int(fp), int(fn), int(tp)

    def div(a: float, b: float) -> float:
        return float(a) / b if b else float("nan")

    def f1(y: np.ndarray, s: np.ndarray) -> float:
        tn, fp, fn, tp = conf(y, s)
        return div(2 * tp, 2 * tp + fp + fn)

    return {"accuracy": lambda y, s: float(skm.accuracy_score(y, (np.asarray(s) >= threshold).astype(int)))
            if len(y) else float("nan"),
            "precision": lambda y, s: (lambda c: div(c[3], c[3] + c[1]))(conf(y, s)),
            "recall": lambda y, s: (lambda c: div(c[3], c[3] + c[2]))(conf(y, s)),
            "specificity": lambda y, s: (lambda c: div(c[0], c[0] + c[1]))(conf(y, s)),
            "f1": f1}


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
    for name, fn in fns.items():
        out[name] = bootstrap_ci(y, s, fn, groups=groups, n=n_boot, seed=seed)
    return out
