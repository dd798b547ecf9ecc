"""Figures shared by the pipelines: ROC curves."""

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
