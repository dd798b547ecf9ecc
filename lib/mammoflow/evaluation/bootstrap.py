"""Bootstrap confidence intervals of a metric, resampling whole groups (patients) with replacement."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def bootstrap_ci(y_true: Sequence, y_score: Sequence, metric: Metric, groups: Sequence | None = None,
                 n: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict[str, float]:
    """Point value and percentile (1 - alpha) CI of metric(y, s); groups (e.g. patients) are resampled whole.

    Replicates where the metric is undefined (e.g. one class absent) are dropped; `n_valid` counts the rest.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=float)
    point = float(metric(y, s)) if len(y) else float("nan")
    g = np.arange(len(y)) if groups is None else np.asarray([str(v) for v in groups])
    uniq, inv = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(inv == k) for k in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(int(n) if len(uniq) else 0):
        pick = rng.integers(0, len(uniq), size=len(uniq))
        idx = np.concatenate([members[k] for k in pick])
        v = float(metric(y[idx], s[idx]))
        if np.isfinite(v):
            values.append(v)
    if not values:
        return {"value": point, "lo": float("nan"), "hi": float("nan"), "n_valid": 0}
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return {"value": point, "lo": float(lo), "hi": float(hi), "n_valid": len(values)}
