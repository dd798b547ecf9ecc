"""Quality of SR outputs: PSNR/SSIM inside the breast (scikit-image) and calcification-speck recall at a fixed FP rate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from skimage.feature import peak_local_max
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from scipy.ndimage import binary_erosion
from skimage.morphology import disk, white_tophat

DATA_RANGE = 65535.0
FROC_RATES = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)  # FP per pair at which recall is also listed


@dataclass(frozen=True)
class EvalConfig:
    """Speck detector and figure settings (superres.evaluate)."""

    tophat_radius: int
    match_px: float
    fp_per_pair: float
    figures: int


def psnr_ssim(hr: np.ndarray, sr: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """PSNR and mean SSIM over the breast pixels of one pair (16-bit data range)."""
    a, b = hr.astype(np.float64), sr.astype(np.float64)
    m = mask > 0
    psnr = float(peak_signal_noise_ratio(a[m], b[m], data_range=DATA_RANGE))
    _, smap = structural_similarity(a, b, data_range=DATA_RANGE, full=True)
    return min(psnr, 100.0), float(smap[m].mean())


def speck_candidates(img: np.ndarray, radius: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Candidate speck positions (x, y) and scores: local maxima of the white top-hat response inside the breast
    (mask eroded by the radius, so the skin line is no candidate)."""
    th = white_tophat(img.astype(np.float64), disk(radius))
    if mask is not None:
        th[~binary_erosion(mask > 0, structure=disk(radius + 1), border_value=1)] = 0.0
    pk = peak_local_max(th, min_distance=2, threshold_abs=1e-9, exclude_border=False)
    if not len(pk):
        return np.zeros((0, 2)), np.zeros(0)
    return pk[:, ::-1].astype(np.float64), th[pk[:, 0], pk[:, 1]]


def match(cands: np.ndarray, scores: np.ndarray, specks: np.ndarray, match_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Score of each speck (best candidate within match_px, 0 if none) and scores of the unmatched candidates."""
    if not len(cands):
        return np.zeros(len(specks)), np.zeros(0)
    if not len(specks):
        return np.zeros(0), scores
    d = np.linalg.norm(cands[:, None, :] - specks[None, :, :], axis=2)
    near = d <= match_px
    speck_scores = np.where(near, scores[:, None], 0.0).max(axis=0)
    return speck_scores, scores[~near.any(axis=1)]


def recall_at_fp(speck_scores: np.ndarray, fp_scores: np.ndarray, n_pairs: int, fp_per_pair: float) -> tuple[float, float]:
    """(recall, threshold) at the lowest threshold whose false positives per pair stay within fp_per_pair."""
    allowed = int(np.floor(fp_per_pair * n_pairs))
    fp = np.sort(fp_scores)[::-1]
    thr = float(fp[allowed]) if allowed < len(fp) else 0.0
    return (float((speck_scores > thr).mean()) if len(speck_scores) else float("nan")), thr


def recall_at_threshold(speck_scores: np.ndarray, fp_scores: np.ndarray, n_pairs: int,
                        thr: float) -> tuple[float, float]:
    """(recall, false positives per pair) at a given threshold."""
    return float((speck_scores > thr).mean()), float((fp_scores > thr).sum() / max(n_pairs, 1))


def speck_study(images: Sequence[np.ndarray], specks: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                cfg: EvalConfig) -> dict[str, np.ndarray]:
    """Per-method raw material: all speck scores and false-positive scores over the given pairs."""
    ss, fs = [], []
    for img, sp, m in zip(images, specks, masks):
        c, s = speck_candidates(img, cfg.tophat_radius, m)
        a, b = match(c, s, sp, cfg.match_px)
        ss.append(a)
        fs.append(b)
    return {"speck": np.concatenate(ss) if ss else np.zeros(0), "fp": np.concatenate(fs) if fs else np.zeros(0)}


def parse_specks(s: str) -> np.ndarray:
    """Speck centres of a pairs.csv row as an (n, 2) array of (x, y)."""
    return np.asarray(json.loads(s), dtype=np.float64).reshape(-1, 2)


def calcification_recall(studies: dict[str, dict[str, np.ndarray]], n_pairs: int, cfg: EvalConfig) -> dict:
    """Recall of every method at the same FP rate, and at the threshold chosen on HR."""
    out: dict[str, dict[str, float]] = {}
    _, thr_hr = recall_at_fp(studies["hr"]["speck"], studies["hr"]["fp"], n_pairs, cfg.fp_per_pair)
    for name, st in studies.items():
        rec, thr = recall_at_fp(st["speck"], st["fp"], n_pairs, cfg.fp_per_pair)
        rec_hr, fp_hr = recall_at_threshold(st["speck"], st["fp"], n_pairs, thr_hr)
        out[name] = {"recall_at_fp": rec, "threshold": thr, "recall_at_hr_threshold": rec_hr,
                     "fp_per_pair_at_hr_threshold": fp_hr,
                     "froc": {str(f): recall_at_fp(st["speck"], st["fp"], n_pairs, f)[0] for f in FROC_RATES}}
    return out
