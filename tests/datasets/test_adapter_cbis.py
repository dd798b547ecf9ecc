"""CBIS-DDSM: CSV quirks, series matching on the NBIA tree, mask/crop swap undone by shape, synthetic tree."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammoflow.datasets import cbis
from mammoflow.datasets.synthetic import cbis as synth
from mammoflow.io import png
from adapter_util import written_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return written_tree(tmp_path_factory, "cbis", n_patients=5, height=320, width=192, inject_bad=True)


def test_series_index_matches_literal_uid_folder_and_nbia_digits():
    uid_s, uid_t = "1.3.6.1.4.1.9590.100.1.2.111", "1.3.6.1.4.1.9590.100.1.2.98765432112345"
    csv_path = f"Mass-Test_P_00001_LEFT_CC/{uid_s}/{uid_t}/000000.dcm"
    literal = cbis.SeriesIndex([csv_path], "")
    assert literal.series_files(csv_path) == [csv_path]
    mirror = cbis.SeriesIndex([f"jpeg/{uid_t}/1-1.dcm"], "")
    assert mirror.series_files(csv_path) == [f"jpeg/{uid_t}/1-1.dcm"]
    nbia = ["CBIS-DDSM/Mass-Test_P_00001_LEFT_CC/07-20-2016-DDSM-NA-1/1.000000-full mammogram images-12345/1-1.dcm",
            "CBIS-DDSM/Mass-Test_P_00001_LEFT_CC/07-20-2016-DDSM-NA-1/1.000000-other-54321/1-1.dcm"]
    assert cbis.SeriesIndex(nbia, "CBIS-DDSM").series_files(csv_path) == nbia[:1]
    assert cbis.case_id(f"../../x/{csv_path}") == "Mass-Test_P_00001_LEFT_CC"


def test_both_density_spellings_and_stripped_cells():
    calc = pd.DataFrame({"patient_id": [" P_00001 "], "breast density": ["3"], "image file path": ["a/b/c/d\n"]})
    out = cbis.normalise_cases(calc, "calc_case_description_train_set.csv")
    assert out.loc[0, "breast_density"] == "3" and out.loc[0, "image file path"] == "a/b/c/d"
    assert out.loc[0, "kind"] == "calcification" and out.loc[0, "split"] == "training"


def test_synthetic_counts_defects_pathology_and_known_masks(tree):
    cfg, root = tree
    plan = synth.plan(cfg)
    assert plan["swap"].any() and (plan["crop_series"] != plan["mask_series"]).any()  # both ROI layouts
    lst = cbis.listing(root)
    assert len(lst) == plan["case"].nunique() and lst["image_id"].is_unique
    defect_of = plan.groupby("case")["defect"].max()
    bad = lst[lst["listing_reason"] != ""]
    assert set(defect_of[bad["image_id"]]) == {"missing", "escape"}
    assert bad["listing_reason"].str.contains("escapes the data root").any()
    a = cbis.annotate(root)
    assert set(defect_of[[r["image_id"] for r in a.rejected]]) == {"roi_size", "conflicting_rows"}
    assert len(a.images) == len(lst) - 2 - 2  # + the truncated DICOM, rejected when decoded
    for r in plan[plan["case"].isin(a.images["image_id"])].itertuples():  # every abnormality found, its mask known
        f = a.findings[a.findings["finding_id"] == f"{r.case}_{r.abnormality}"]
        assert len(f) == 1
        assert f["pathology"].iloc[0] == ("malignant" if r.pathology == "MALIGNANT" else "benign")
        assert "ROI mask images" in f["mask_source"].iloc[0] and f["mask_source"].iloc[0].endswith(
            synth._roi_files(r)["mask"].split("/", 1)[1])  # the mask, even where the CSV swapped the columns
    for image_id in a.images["image_id"]:
        gt = png.read(root / "ground_truth" / f"{image_id}_lesion.png") > 0
        f = a.findings[a.findings["image_id"] == image_id]
        m = cbis.lesion_mask(root, f, gt.shape)
        assert np.array_equal(m, gt)  # the union of the ROI masks is the rendered lesion mask
    repeated = defect_of.index[defect_of == "repeated_row"][0]
    assert (a.findings["image_id"] == repeated).sum() == (plan["case"] == repeated).sum()
    img = a.images.set_index("image_id")
    assert set(img["breast_density"]) <= set("ABCD") and (img["label"] == 1).all()
