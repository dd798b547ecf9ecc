"""Group-aware data splits and class balancing (no study or patient is ever on both sides of a split)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def grouped_split(groups: Sequence[str], labels: Sequence[int], val_fraction: float, seed: int) -> np.ndarray:
    """Boolean val mask: whole groups go to val, ~val_fraction of positive and of negative groups each."""
    groups = np.asarray([str(g) for g in groups])
    labels = np.asarray(labels).astype(int)
    if val_fraction <= 0:
        return np.zeros(len(groups), dtype=bool)
    uniq = sorted(set(groups.tolist()))
    pos = {g for g in uniq if labels[groups == g].max() == 1}
    rng = np.random.default_rng(seed)
    val: set[str] = set()
    for part in (sorted(pos), sorted(set(uniq) - pos)):
        if not part:
            continue
        order = list(rng.permutation(len(part)))
        n = int(round(val_fraction * len(part)))
        n = min(max(n, 1), len(part) - 1) if len(part) > 1 else 0
        val.update(part[i] for i in order[:n])
    return np.isin(groups, sorted(val))


def grouped_three_way(groups: Sequence[str], labels: Sequence[int], val_fraction: float, test_fraction: float,
                      seed: int) -> np.ndarray:
    """'training' / 'validation' / 'test' per sample: whole groups, stratified by whether a group is positive."""
    groups_a = np.asarray([str(g) for g in groups])
    out = np.full(len(groups_a), "training", dtype=object)
    test = grouped_split(groups_a, labels, test_fraction, seed)
    out[test] = "test"
    rest = ~test
    if rest.any() and val_fraction > 0:
        frac = val_fraction / max(1.0 - test_fraction, 1e-9)
        val = grouped_split(groups_a[rest], np.asarray(labels)[rest], min(frac, 0.9), seed + 1)
        idx = np.flatnonzero(rest)[val]
        out[idx] = "validation"
    return out


def class_weights(labels: Sequence[int]) -> torch.Tensor:
    """Per-sample weights proportional to the inverse frequency of the sample's class."""
    y = np.asarray(labels).astype(int)
    counts = np.bincount(y, minlength=2).astype(float)
    w = np.where(counts[y] > 0, 1.0 / np.maximum(counts[y], 1), 0.0)
    return torch.as_tensor(w, dtype=torch.double)


def grouped_folds(groups: Sequence[str], labels: Sequence[int], k: int, seed: int) -> np.ndarray:
    """Fold (0..k-1) per sample: whole groups per fold, positive and negative groups dealt in turn (stratified)."""
    groups = np.asarray([str(g) for g in groups])
    labels = np.asarray(labels).astype(int)
    uniq = sorted(set(groups.tolist()))
    if k < 1 or len(uniq) < k:
        raise ValueError(f"{k} folds need at least {k} groups, got {len(uniq)}")
    pos = {g for g in uniq if labels[groups == g].max() == 1}
    rng = np.random.default_rng(seed)
    order: list[str] = []
    for part in (sorted(pos), sorted(set(uniq) - pos)):
        order += [part[i] for i in rng.permutation(len(part))]
    fold_of = {g: n % k for n, g in enumerate(order)}
    return np.asarray([fold_of[g] for g in groups], dtype=int)
