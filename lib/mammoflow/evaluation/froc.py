"""FROC: lesion sensitivity at given false positives per image, from scored candidate points per image."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def peaks(prob: np.ndarray, max_peaks: int = 10) -> list[tuple[int, int, float]]:
    """Local maxima (3 x 3 neighbourhood) of a map, highest first: (row, col, value)."""
    from scipy.ndimage import maximum_filter
    is_peak = (prob == maximum_filter(prob, size=3, mode="nearest")) & np.isfinite(prob)
    ii, jj = np.nonzero(is_peak)
    order = np.argsort(-prob[ii, jj], kind="stable")[:max_peaks]
    return [(int(ii[k]), int(jj[k]), float(prob[ii[k], jj[k]])) for k in order]


def froc_points(scores: Sequence[Sequence[float]], lesion_of: Sequence[Sequence[int]], n_lesions: Sequence[int],
                fps: Sequence[float] = (0.5, 1, 2, 4)) -> dict[float, float]:
    """Sensitivity at each false-positive rate of `fps` (per image; the best threshold not exceeding it).

    Per image: candidate scores and, per candidate, the index of the lesion it hits (-1 = false positive);
    a second candidate on an already-hit lesion is neither a hit nor a false positive.
    """
    n_img, total = len(scores), int(sum(n_lesions))
    cand = [(float(s), i, int(l)) for i, (ss, ll) in enumerate(zip(scores, lesion_of)) for s, l in zip(ss, ll)]
    cand.sort(key=lambda c: -c[0])
    hit: set[tuple[int, int]] = set()
    fp, curve = 0, [(0.0, 0.0)]
    for k, (s, i, l) in enumerate(cand):
        if l < 0:
            fp += 1
        else:
            hit.add((i, l))
        if k + 1 == len(cand) or cand[k + 1][0] != s:      # a threshold between distinct scores
            curve.append((fp / max(n_img, 1), len(hit) / total if total else float("nan")))
    return {float(f): max(sens for rate, sens in curve if rate <= f) for f in fps}
