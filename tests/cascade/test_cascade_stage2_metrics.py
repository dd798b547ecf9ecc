"""Stage-2 figures: Dice at full size after paste-back (cut-off lesion pixels count), per finding category."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mammoflow.pipelines.cascade.crops import Box, crop, crop_mask
from mammoflow.pipelines.cascade.stages import full_size_scores, image_categories, lesion_report


def _case():
    full = np.zeros((200, 160), bool)
    full[100:140, 60:100] = True  # lesion, inside the box
    box = Box(50, 178, 20, 148)  # 128 x 128: an exact 2x factor to the 64 x 64 crop
    return full, box


def test_full_size_dice_of_a_perfect_crop_map_is_near_one():
    full, box = _case()
    prob = crop_mask(full, box, (64, 64)).astype(np.float32)
    s = full_size_scores(prob[None], [box], [full])
    assert s["dice_lesion"] > 0.95 and s["detection_rate"] == 1.0 and s["n_lesion_images"] == 1


def test_full_size_dice_counts_lesion_pixels_cut_off_by_the_box():
    full, box = _case()
    full[10:30, 10:30] = True  # a second lesion outside the box: lost before stage 2
    prob = crop_mask(full, box, (64, 64)).astype(np.float32)
    crop_dice = lesion_report(prob[None], prob[None].astype(int), [box], [full], ["mass"])
    s = full_size_scores(prob[None], [box], [full])
    expected = 2 * 1600 / (1600 + 2000)
    assert crop_dice["dice_lesion"] == 1.0  # at the crop size the cut-off part is invisible
    assert abs(s["dice_lesion"] - expected) < 0.01, s
    assert abs(crop_dice["full_size"]["dice_lesion"] - s["dice_lesion"]) < 1e-12


def test_empty_prediction_scores_zero_at_full_size():
    full, box = _case()
    s = full_size_scores(np.zeros((1, 64, 64), np.float32), [box], [full])
    assert s["dice_lesion"] == 0.0 and s["detection_rate"] == 0.0


def test_dice_per_category(tmp_path):
    f = tmp_path / "findings.csv"
    pd.DataFrame({"image_id": ["a", "b", "c", "c"], "category": ["mass", "calcification", "mass", "calcification"]}
                 ).to_csv(f, index=False)
    assert image_categories(f, ["a", "b", "c", "d"]) == ["mass", "calcification", "mixed", ""]
    assert image_categories(None, ["a"]) == [""]
    truth = np.zeros((3, 8, 8), int)
    truth[:, 2:4, 2:4] = 1
    prob = truth.astype(np.float32).copy()
    prob[1] = 0  # the calcification image is missed
    box = Box(0, 8, 0, 8)
    full = [t.astype(bool) for t in truth]
    r = lesion_report(prob, truth, [box] * 3, full, ["mass", "calcification", "mixed"])
    assert r["dice_lesion_mass"] == 1.0 and r["dice_lesion_calcification"] == 0.0 and r["n_mixed"] == 1
    assert abs(r["dice_lesion"] - 2 / 3) < 1e-9
    assert abs(r["full_size"]["dice_lesion"] - 2 / 3) < 1e-9
