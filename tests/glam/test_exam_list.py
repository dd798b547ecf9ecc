"""NYU exam lists: restricted unpickling, validation with rejection rows, building from the image table."""

from __future__ import annotations

import json
import os
import pickle

import pandas as pd
import pytest

from mammoflow.datasets import nyu as el
from mammoflow.core.safe_pickle import UnsafePickle


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class Custom:
    pass


def test_restricted_loader_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([{"horizontal_flip": "NO", "L-CC": [_Evil(marker)]}], protocol=4))
    with pytest.raises(UnsafePickle) as err:
        el.load_exam_list(path)
    assert "system" in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()


def test_restricted_loader_refuses_custom_classes_and_numpy(tmp_path):
    import numpy as np
    p1, p2 = tmp_path / "custom.pkl", tmp_path / "numpy.pkl"
    p1.write_bytes(pickle.dumps([Custom()], protocol=4))
    p2.write_bytes(pickle.dumps([{"horizontal_flip": "NO", "cancer_label": {"benign": np.int64(1)}}], protocol=4))
    for p in (p1, p2):
        with pytest.raises(UnsafePickle, match="only builtin types"):
            el.load_exam_list(p)


def test_loader_rejects_wrong_top_level(tmp_path):
    p = tmp_path / "d.pkl"
    p.write_bytes(pickle.dumps({"L-CC": []}, protocol=4))
    with pytest.raises(el.ExamListError, match="list of dicts"):
        el.load_exam_list(p)


def _exam(i, **kw):
    e = {"horizontal_flip": "NO", "L-CC": [f"{i}_L-CC"], "R-CC": [f"{i}_R-CC"], "L-MLO": [f"{i}_L-MLO"],
         "R-MLO": [f"{i}_R-MLO"], "cancer_label": {k: 0 for k in el.CANCER_KEYS}}
    e.update(kw)
    return e


def test_validation_normalises_and_reports(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in ("0_L-CC", "0_R-CC", "0_L-MLO", "0_R-MLO", "1_L-CC", "1_L-MLO", "1_R-MLO", "2_L-CC"):
        (images / f"{i}.png").write_bytes(b"x")
    e1 = _exam(1)
    del e1["R-CC"]  # missing view
    e1["L-MLO"] = "1_L-MLO"  # bare string instead of a list
    exams = [_exam(0), e1, _exam(2, horizontal_flip="MAYBE"), _exam(3, **{"L-CC": ["../etc/passwd"]}), "junk",
             _exam(4, **{"L-CC": ["0_L-CC"]})]
    clean, rows = el.validate_exams(exams, "list.pkl", images)
    assert clean[0]["L-CC"] == ["0_L-CC"]
    assert clean[1]["R-CC"] == [] and clean[1]["L-MLO"] == ["1_L-MLO"]
    reasons = " | ".join(r["reason"] for r in rows)
    assert "exam 1: view R-CC missing" in reasons
    assert "horizontal_flip must be 'YES' or 'NO'" in reasons
    assert "not a safe file stem" in reasons
    assert "exam 4 is a str, not a dict" in reasons
    assert "listed twice" in reasons
    assert "3_R-CC.png is missing" in reasons
    assert all(set(el.VIEWS) <= set(e) for e in clean)
    assert all(r["stage"] == "glam_exam_list" for r in rows)


def test_json_twin_matches_pickle(tmp_path):
    exams = [_exam(0, window_location={"L-CC": [(0, 10, 0, 5)]})]
    el.write_exam_list(exams, tmp_path / "a.pkl", tmp_path / "a.json")
    back = el.load_exam_list(tmp_path / "a.pkl")
    assert back == exams
    assert json.loads((tmp_path / "a.json").read_text())[0]["window_location"]["L-CC"] == [[0, 10, 0, 5]]
    assert pickle.loads((tmp_path / "a.pkl").read_bytes()) == exams
    assert (tmp_path / "a.pkl").read_bytes()[:2] == b"\x80\x04"  # protocol 4


def test_orientation_rules():
    assert el.orientation("NO", "L") == "right" and el.orientation("NO", "R") == "left"
    assert el.orientation("YES", "L") == "left" and el.orientation("YES", "R") == "right"
    with pytest.raises(ValueError):
        el.orientation("no", "L")


def test_exam_list_from_canonical_table():
    t = pd.DataFrame([
        # study A: right breast BI-RADS 5 (malignant), left BI-RADS 3 with a finding (benign)
        dict(image_id="a1", study_id="A", laterality="L", view="CC", label=1, breast_birads="BI-RADS 3",
             split="training", chest_wall_side="left"),
        dict(image_id="a2", study_id="A", laterality="L", view="MLO", label=1, breast_birads="BI-RADS 3",
             split="training", chest_wall_side="left"),
        dict(image_id="a3", study_id="A", laterality="R", view="CC", label=1, breast_birads="BI-RADS 5",
             split="training", chest_wall_side="right"),
        dict(image_id="a4", study_id="A", laterality="R", view="MLO", label=1, breast_birads="BI-RADS 4",
             split="training", chest_wall_side="right"),
        # study B: normal, one image mirrored unlike the others, one unusable view
        dict(image_id="b1", study_id="B", laterality="L", view="CC", label=0, breast_birads="BI-RADS 1",
             split="test", chest_wall_side="left"),
        dict(image_id="b2", study_id="B", laterality="R", view="CC", label=0, breast_birads="BI-RADS 1",
             split="test", chest_wall_side="left"),
        dict(image_id="b3", study_id="B", laterality="R", view="MLO", label=0, breast_birads="BI-RADS 2",
             split="test", chest_wall_side="right"),
        dict(image_id="b4", study_id="B", laterality="L", view="XCCL", label=0, breast_birads="BI-RADS 1",
             split="test", chest_wall_side="left"),
    ])
    exams, rows = el.exam_list_from_table(t, "images.csv")
    a, b = exams
    assert a["exam_id"] == "A" and a["horizontal_flip"] == "NO" and a["split"] == "training"
    assert (a["L-CC"], a["L-MLO"], a["R-CC"], a["R-MLO"]) == (["a1"], ["a2"], ["a3"], ["a4"])
    assert a["cancer_label"] == {"benign": 1, "right_benign": 0, "malignant": 1, "left_benign": 1, "unknown": 0,
                                 "right_malignant": 1, "left_malignant": 0}
    assert list(a["cancer_label"]) == list(el.CANCER_KEYS)
    assert b["R-CC"] == [] and b["R-MLO"] == ["b3"] and b["L-CC"] == ["b1"] and b["L-MLO"] == []
    assert b["cancer_label"]["malignant"] == 0 and b["cancer_label"]["benign"] == 0
    reasons = {r["image_id"]: r["reason"] for r in rows}
    assert "mirrored" in reasons["b2"] and "XCCL" in reasons["b4"]


def test_table_without_birads_uses_the_label(tmp_path):
    t = pd.DataFrame([dict(image_id="x1", study_id="7", laterality="R", view="CC", label=1),
                      dict(image_id="x2", study_id="7", laterality="L", view="MLO", label=0)])
    csv = tmp_path / "images.csv"
    t.to_csv(csv, index=False)
    el.run_from_table(str(csv), str(tmp_path / "e.pkl"), str(tmp_path / "e.json"), str(tmp_path / "r.csv"))
    exams = el.load_exam_list(tmp_path / "e.pkl")
    assert exams[0]["cancer_label"]["right_malignant"] == 1 and exams[0]["cancer_label"]["left_malignant"] == 0
    assert exams[0]["R-CC"] == ["x1"] and exams[0]["L-MLO"] == ["x2"]
    with pytest.raises(el.ExamListError, match="missing columns"):
        el.exam_list_from_table(t.drop(columns=["view"]))
