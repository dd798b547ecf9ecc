"""The hard synthetic renderer: determinism, density, speck size, morphology vs pathology, intensity baseline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mammoflow.datasets.synthetic import draw
from mammoflow.datasets.synthetic.anatomy import HEIGHT_MM
from mammoflow.datasets.synthetic.phantom import Lesion
from mammoflow.evaluation.difficulty import baseline_auc, intensity_features


def _view(lesions=(), seed=1, density=2, h=192, w=160, lat="L", view="CC", difficulty="hard"):
    return draw.ViewPlan(h, w, lat, view, tuple(lesions), seed, seed + 1000, difficulty, density)


def test_same_seed_same_bytes_and_other_seed_differs():
    les = (Lesion("mass", 0.5, 0.1, 0.05, 3, malignant=True), Lesion("calc", 0.4, -0.3, 0.04, 4))
    a, b = draw.render(_view(les, lat="R", view="MLO")), draw.render(_view(les, lat="R", view="MLO"))
    assert a.image.tobytes() == b.image.tobytes() and a.lesion.tobytes() == b.lesion.tobytes()
    assert a.specks == b.specks and a.boxes == b.boxes
    assert draw.render(_view(les, seed=2, lat="R", view="MLO")).image.tobytes() != a.image.tobytes()


def test_dense_tissue_fraction_follows_density():
    frac = {d: np.mean([(r.gland[r.breast] > 0.5).mean() for r in (draw.render(_view(seed=s, density=d))
                                                                      for s in range(3))]) for d in (1, 2, 3, 4)}
    assert frac[1] < frac[2] < frac[3] < frac[4], frac
    assert frac[1] < 0.25 and frac[4] > 0.55


def test_specks_are_sub_millimetre_and_lost_at_4x_downsampling():
    h, w = 320, 256
    les = Lesion("calc", 0.45, 0.0, 0.04, 11, malignant=True)
    with_, without = draw.render(_view([les], h=h, w=w, seed=5)), draw.render(_view([], h=h, w=w, seed=5))
    assert len(with_.specks) >= 8
    assert all(0.2 <= d <= 0.5 for _, _, d in with_.specks)
    diff = with_.image - without.image  # the specks alone (the lesion draws from its own random stream)
    peaks = [diff[int(round(y)), int(round(x))] for x, y, _ in with_.specks]
    assert np.median(peaks) > 0.05
    px_mm = HEIGHT_MM / h
    assert px_mm > 0.5  # a speck is at most one pixel here
    small = cv2.resize(diff, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    assert small.max() < 0.35 * diff.max()  # averaged into the tissue at 4x
    # the exact positions land on the cluster's findings mask
    assert all(with_.lesion[int(round(y)), int(round(x))] for x, y, _ in with_.specks)


def _excess(margin, malignant, seed, density=2):
    les = Lesion("mass", 0.45, 0.0, 0.06, seed, malignant=malignant, margin=margin)
    r = draw.render(_view([les], seed=seed, density=density))
    base = draw.render(_view([], seed=seed, density=density))
    m = r.lesion
    ring = cv2.dilate(m.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~m & base.breast
    vals = base.image[ring]
    sigma = 1.4826 * np.median(np.abs(vals - np.median(vals)))
    solidity = m.sum() / max(cv2.contourArea(cv2.convexHull(np.argwhere(m)[:, ::-1].astype(np.int32))), 1)
    return float((r.image - base.image)[m].mean()), float(sigma), float(solidity)


def test_mass_contrast_is_relative_and_morphology_tells_pathology():
    benign = [_excess("circumscribed", False, s) for s in range(6)]
    spic = [_excess("spiculated", True, s) for s in range(6)]
    for ex, sigma, _ in benign + spic:
        assert ex < 3.0 * max(sigma, 0.018)  # comparable to the tissue's own variation, not a bright blob
    # brightness does not separate them; shape does
    assert abs(np.mean([b[0] for b in benign]) - np.mean([s[0] for s in spic])) < 0.5 * np.mean(
        [b[0] for b in benign])
    assert min(b[2] for b in benign) > max(s[2] for s in spic)


def test_calcification_morphology_follows_pathology():
    h, w = 320, 256
    mal = [draw.render(_view([Lesion("calc", 0.45, 0.0, 0.04, s, malignant=True)], h=h, w=w, seed=s))
           for s in range(4)]
    ben = [draw.render(_view([Lesion("calc", 0.45, 0.0, 0.04, s, malignant=False)], h=h, w=w, seed=s))
           for s in range(4)]
    assert np.mean([len(r.specks) for r in mal]) > np.mean([len(r.specks) for r in ben])
    assert np.mean([d for r in mal for *_, d in r.specks]) < np.mean([d for r in ben for *_, d in r.specks])
    assert {m for r in mal for m in r.margins} == {"pleomorphic"} and {m for r in ben for m in r.margins} == {
        "round"}


def _baseline(difficulty, n=64):
    rng = np.random.default_rng(0)
    X, y = [], []
    for i in range(n):
        lesion = i % 2 == 1
        les = [Lesion(str(rng.choice(["mass", "calc"])), float(rng.uniform(0.3, 0.65)),
                      float(rng.uniform(-0.5, 0.5)), float(rng.uniform(0.035, 0.06)), i)] if lesion else []
        r = draw.render(_view(les, seed=100 + i, density=int(rng.integers(1, 5)), h=128, w=104,
                              difficulty=difficulty, view=str(rng.choice(["CC", "MLO"]))))
        X.append(intensity_features(r.image, r.breast))
        y.append(int(bool(r.boxes)))
    return baseline_auc(np.array(X), np.array(y))


def test_global_intensity_baseline_is_near_chance_on_hard_but_not_on_easy():
    hard, easy = _baseline("hard"), _baseline("easy")
    assert hard is not None and hard <= 0.7, hard
    assert easy is not None and easy > 0.8, easy  # the check can fail: the easy phantom gives lesions away


def test_unknown_difficulty_is_refused():
    with pytest.raises(ValueError, match="hard or easy"):
        draw.render(_view(difficulty="medium"))
