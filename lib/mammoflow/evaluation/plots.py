"""Figures shared by the pipelines: ROC and precision-recall curves, confusion matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mammoflow.evaluation.metrics import roc_curve


def plot_roc(labels: np.ndarray, scores: np.ndarray, path: str | Path, title: str) -> None:
    """ROC curve figure (PNG) of test scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(fpr, tpr, lw=2)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr(labels: np.ndarray, scores: np.ndarray, path: str | Path, title: str) -> None:
    """Precision-recall curve figure (PNG) of test scores (scikit-learn curve; a note when no positive)."""
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    y = np.asarray(labels).astype(int)
    if (y == 1).any():
        prec, rec, _ = precision_recall_curve(y, np.asarray(scores, dtype=float))
        ax.step(rec, prec, where="post", lw=2)
        ax.axhline(float(y.mean()), color="k", ls="--", lw=1)
    else:
        ax.text(0.5, 0.5, "no positive example", ha="center", va="center")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.01))
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def plot_confusion(counts: dict, path: str | Path, title: str, names: tuple[str, str] = ("negative", "positive")) -> None:
    """2x2 confusion-matrix figure (PNG) from tn, fp, fn, tp counts."""
    plt = _pyplot()
    m = np.array([[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]])
    fig, ax = plt.subplots(figsize=(3.6, 3.4), dpi=100)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=max(int(m.max()), 1))
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks([0, 1], [f"pred. {names[0]}", f"pred. {names[1]}"])
    ax.set_yticks([0, 1], names)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
