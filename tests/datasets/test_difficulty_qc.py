"""The data-QC intensity baseline (evaluation.difficulty): labels of both tasks, an AUC that can fail."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mammoflow.evaluation.difficulty import FEATURES, baseline_auc, difficulty, intensity_features, task_labels


def test_baseline_finds_a_global_brightness_signal_and_not_noise():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    noise = rng.normal(size=(80, len(FEATURES)))
    leak = noise + 1.5 * y[:, None]
    assert baseline_auc(leak, y) > 0.85
    assert abs(baseline_auc(noise, y) - 0.5) < 0.2
    assert baseline_auc(noise[:44], y[:44]) is None  # 4 positives: too few to cross-validate


def test_task_labels_use_pathology_else_birads():
    img = pd.DataFrame({"n_findings": [0, 1, 2, 1], "pathology": ["", "benign", "malignant", ""],
                        "breast_birads": ["BI-RADS 1", "BI-RADS 3", "BI-RADS 5", "BI-RADS 4"]})
    t = task_labels(img)
    assert t["lesion_vs_normal"].tolist() == [0, 1, 1, 1]
    assert t["benign_vs_malignant"].tolist() == [0, 1]  # the pathology column wins where it has values
    t = task_labels(img.assign(pathology=""))
    assert t["benign_vs_malignant"].tolist() == [0, 1, 1]  # VinDr: BI-RADS >= 4 malignant


def test_features_inside_the_mask_and_report_shape():
    im = np.zeros((20, 20))
    im[5:15, 5:15] = np.arange(100).reshape(10, 10)
    f = dict(zip(FEATURES, intensity_features(im, im > -1)))
    g = dict(zip(FEATURES, intensity_features(im, (np.indices(im.shape)[0] >= 5) & (np.indices(im.shape)[0] < 15)
                                               & (np.indices(im.shape)[1] >= 5) & (np.indices(im.shape)[1] < 15))))
    assert g["max"] == 99 and g["mean"] == 49.5 and f["mean"] < g["mean"]
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(30, len(FEATURES))), columns=list(FEATURES))
    rep = difficulty(X, pd.DataFrame({"n_findings": [0, 1] * 15, "breast_birads": ["BI-RADS 4"] * 30}))
    assert rep["n_images"] == 30 and rep["lesion_vs_normal"]["n_positive"] == 15
    assert rep["benign_vs_malignant"]["auc"] is None  # all malignant
