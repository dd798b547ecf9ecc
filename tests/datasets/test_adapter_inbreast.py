"""INbreast: file names, semicolon CSV, plist ROIs rasterised, the seed-002 JSON files, the synthetic release."""
from __future__ import annotations

import json
import plistlib

import pandas as pd
import pytest

from mammoflow.core.errors import ImageRejected
from mammoflow.datasets import inbreast
from mammoflow.datasets.synthetic import inbreast as synth
from mammoflow.io import png
from adapter_util import written_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return written_tree(tmp_path_factory, "inbreast", n_patients=3, height=320, width=260, lesion_fraction=0.8,
                        inject_bad=True)


def test_points_names_and_pathology_proxy():
    assert inbreast.parse_point("(1234.56, 2345.67)") == (1234.56, 2345.67)
    assert inbreast.parse_point("(1.0, 2.0, 0.0)") == (1.0, 2.0)
    with pytest.raises(ValueError):
        inbreast.parse_point("1234.56 2345.67")
    assert inbreast.normal_name("Espiculated Region") == inbreast.normal_name("Spiculated region") == \
        "Spiculated Region"
    assert inbreast.normal_name("Assymetry") == "Asymmetry" and inbreast.normal_name("Calcifications") == \
        "Calcification"
    assert [inbreast.proxy_pathology(b) for b in ("1", "3", "4a", "4c", "6", "")] == \
        ["normal", "benign", "malignant", "malignant", "malignant", ""]


def test_one_point_rois_are_disks_and_outside_points_reject(tmp_path):
    roi = {"Name": "Calcification", "Point_px": ["(10.0, 12.0)"], "IndexInImage": 0}
    f = inbreast.roi_finding(roi, (40, 30), tmp_path / "x.xml")
    assert f["category"] == "calcification" and (f["xmin"], f["ymin"], f["xmax"], f["ymax"]) == (7, 9, 13, 15)
    m = inbreast.lesion_mask(tmp_path, pd.DataFrame([{**f, "finding_id": "a", "image_id": "a"}]), (40, 30))
    assert m[12, 10] and m[12, 13] and not m[12, 14] and m.sum() == 29  # a disk of radius 3
    with pytest.raises(ImageRejected, match="x.xml: ROI 0 .*outside the 30x40 image"):
        inbreast.roi_finding({**roi, "Point_px": ["(31.0, 5.0)"]}, (40, 30), tmp_path / "x.xml")
    (tmp_path / "bad.xml").write_bytes(plistlib.dumps({"Images": [{"NoROIs": 1}]}, fmt=plistlib.FMT_XML))
    with pytest.raises(ImageRejected, match="bad.xml: malformed ROI plist"):
        inbreast.read_xml(tmp_path / "bad.xml")


def test_synthetic_counts_defects_and_known_masks(tree):
    cfg, root = tree
    plan = synth.plan(cfg).set_index("file_id")
    lst = inbreast.listing(root)
    assert len(lst) == len(plan) and lst["image_id"].is_unique
    bad = lst[lst["listing_reason"] != ""]
    assert set(plan.loc[bad["image_id"], "defect"]) == {"missing", "conflicting_rows", "unnamed_dicom"}
    assert (lst.loc[lst["listing_reason"] == "", "view"].isin(["CC", "MLO"])).all()  # ML in names -> MLO
    a = inbreast.annotate(root)
    assert {plan.loc[r["image_id"], "defect"] for r in a.rejected} == {"bad_xml", "roi_outside"}
    assert len(a.images) == len(lst) - 3 - 2  # the truncated DICOM is rejected when decoded
    img = a.images.set_index("image_id")
    for fid, r in img.iterrows():
        assert r["label"] == int(bool(plan.loc[fid, "names"]))
        assert r["inbreast_birads"] == plan.loc[fid, "birads"]
    for fid in img.index[img["label"] == 1]:
        gt = png.read(root / "ground_truth" / f"{fid}_lesion.png") > 0
        f = a.findings[a.findings["image_id"] == fid]
        m = inbreast.lesion_mask(root, f, gt.shape)
        if (f["category"] == "mass").all():
            assert (m & gt).sum() / (m | gt).sum() > 0.8  # the polygon of the contour is the lesion
        else:  # one-point ROIs at every speck, inside the cluster polygon
            assert (f["inbreast_name"] == "Cluster").sum() == 1 and m[gt].all()


def test_seed_002_json_files(tree, tmp_path):
    cfg, root = tree
    out = {k: tmp_path / f"{k}.json" for k in ("xml", "csv", "dataset")}
    inbreast.write_json(root, out["xml"], out["csv"], out["dataset"])
    xml, csv, ds = (json.loads(out[k].read_text()) for k in ("xml", "csv", "dataset"))
    plan = synth.plan(cfg)
    with_xml = plan[[bool(n) and d not in ("missing", "unnamed_dicom", "bad_xml") for n, d in
                     zip(plan["names"], plan["defect"])]]
    assert xml["total_xml_files"] == len(with_xml) == len(xml) - 1
    one = xml[with_xml["file_id"].iloc[0]]
    assert one["NumberOfROIs"] == len(one["ROIs"]) and sorted(one["ROIs"][0]) == sorted(inbreast.ROI_KEYS)
    assert one["ROIs"][0]["Point_px"][0].startswith("(")
    first = csv[next(iter(csv))]
    assert sorted(first) == sorted(["Index", "FileName", "PatientID", "ViewPosition", "Date", "BIRADS", "ACR"])
    assert first["PatientID"] == "removed" and isinstance(first["BIRADS"], int)
    assert set(ds) == set(csv) and all(ds[k]["NumberOfROIs"] == len(ds[k]["ROIs"]) for k in ds)
    assert ds[with_xml["file_id"].iloc[0]]["ROIs"] == one["ROIs"]
