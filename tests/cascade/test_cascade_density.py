"""Density classes from the FGT fraction, dataset labels, agreement figures; tissue and lesion scores."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mammoflow.pipelines.cascade import density
from mammoflow.pipelines.cascade.segtrain import lesion_scores, tissue_scores


def test_density_classes_and_agreement(tmp_path):
    t = [0.25, 0.5, 0.75]
    assert [density.density_class(f, t) for f in (0.1, 0.25, 0.6, 0.9, float("nan"))] == ["A", "B", "C", "D", ""]
    assert [density.label_class(v) for v in ("1", "4.0", "c", "", "7")] == ["A", "D", "C", "", ""]
    shard = pd.DataFrame({"image_id": list("abcde"), "status": ["ok"] * 4 + ["rejected"],
                          "fgt_px": [1, 3, 6, 9, 0], "breast_px": [10] * 5,
                          "fgt_fraction": [0.1, 0.3, 0.6, 0.9, np.nan]})
    shard.to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"image_id": list("abcde"), "breast_density": ["1", "2", "4", "4", "1"]}).to_csv(
        tmp_path / "images.csv", index=False)
    df = density.density_table([tmp_path / "s.csv"], tmp_path / "images.csv", t)
    assert list(df["image_id"]) == list("abcd") and list(df["density_class"]) == list("ABCD")
    a = density.agreement(df)
    assert a["accuracy"] == 0.75 and a["confusion"][3] == [0, 0, 1, 1] and a["spearman"] > 0.9


def test_scores():
    truth = np.zeros((2, 8, 8), int)
    truth[:, 2:6, 2:6] = 2
    s = tissue_scores(truth.copy(), truth)
    assert s["dice_fibroglandular"] == 1 and np.isnan(s["dice_adipose"]) and s["dice_mean"] == 1
    prob = np.zeros((2, 8, 8))
    prob[0, 2:6, 2:4] = 0.9
    les = lesion_scores(prob, truth == 2)
    assert abs(les["dice_lesion"] - (2 * 8 / 24) / 2) < 1e-9 and les["detection_rate"] == 0.5
