"""Mini-DDSM: the xlsx sheet (back-slashes, '-', Normal cases), both image variants, the synthetic archive."""
from __future__ import annotations

import pytest

from mammoflow.datasets import miniddsm
from mammoflow.datasets.synthetic import miniddsm as synth
from mammoflow.io import png
from adapter_util import written_tree


@pytest.fixture(scope="module", params=["png16", "jpeg8"])
def tree(request, tmp_path_factory):
    return written_tree(tmp_path_factory, "miniddsm", n_cases=3, height=256, width=160, variant=request.param,
                        inject_bad=True)


def test_paths_and_masks_of_a_sheet_row():
    assert miniddsm.resolve("Benign\\0029\\C_0029_1.LEFT_CC.jpg", miniddsm.PNG_DIR) == \
        "MINI-DDSM-Complete-PNG-16/Benign/0029/C_0029_1.LEFT_CC.png"
    assert miniddsm.resolve("MINI-DDSM-Complete-JPEG-8\\Normal\\0001\\A.jpg", miniddsm.JPEG_DIR) == \
        "MINI-DDSM-Complete-JPEG-8/Normal/0001/A.jpg"
    assert miniddsm.masks_of({"Tumour_Contour": "a_Mask.jpg", "Tumour_Contour2": "-"}) == ["a_Mask.jpg"]


def test_synthetic_counts_defects_and_known_masks(tree):
    cfg, root = tree
    assert miniddsm.read_sheet(root)["fullPath"].str.contains("\\", regex=False).all()  # Windows paths
    plan = synth.plan(cfg)
    lst = miniddsm.listing(root)
    assert len(lst) == len(plan) and set(plan["status"]) >= {"Normal"}
    defect = dict(zip(plan["stem"].map(miniddsm.ann.safe_id), plan["defect"]))
    assert {defect[i] for i in lst.loc[lst["listing_reason"] != "", "image_id"]} == \
        {"missing", "escape", "conflicting_rows"}
    a = miniddsm.annotate(root)
    expected_rejected = {"mask_size", "missing_mask"} | ({"truncated"} if cfg.variant == "jpeg8" else set())
    assert {defect[r["image_id"]] for r in a.rejected} == expected_rejected  # a truncated PNG fails when decoded
    img = a.images.set_index("image_id")
    assert (img.loc[img["miniddsm_status"] == "Normal", "label"] == 0).all()
    assert set(img.loc[img["label"] == 1, "pathology"]) <= {"benign", "malignant"}
    for image_id in img.index[img["label"] == 1]:
        gt = png.read(root / "ground_truth" / f"{image_id}_lesion.png") > 0
        m = miniddsm.lesion_mask(root, a.findings[a.findings["image_id"] == image_id], gt.shape)
        iou = (m & gt).sum() / (m | gt).sum()
        assert iou == 1.0 if cfg.variant == "png16" else iou > 0.9  # JPEG masks are lossy
