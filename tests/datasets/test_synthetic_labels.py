"""Labels the synthetic stand-ins write: VinDr's architectural distortion, the demo INbreast set's normals."""

from __future__ import annotations

from pathlib import Path

import yaml

from mammoflow.core.config import schema_defaults
from mammoflow.datasets import vindr as vindr_adapter
from mammoflow.datasets.synthetic import draw, inbreast as ib_synth, vindr
from mammoflow.datasets.synthetic.phantom import Lesion

ROOT = Path(__file__).resolve().parents[2]


def _row(width=160):
    return {"study_id": "s", "series_id": "x", "image_id": "i", "laterality": "L", "view_position": "CC",
            "height": 192, "width": width, "breast_birads": "BI-RADS 5", "breast_density": "DENSITY B",
            "split": "training", "defect": ""}


def test_distortion_without_mass_is_labelled_architectural_distortion_and_stays_a_finding():
    les = (Lesion("mass", 0.5, 0.0, 0.08, 7, malignant=True, margin="distortion"),
           Lesion("mass", 0.4, 0.4, 0.05, 8, malignant=True, margin="spiculated"),
           Lesion("calc", 0.3, -0.4, 0.04, 9))
    rend = draw.render(draw.ViewPlan(192, 160, "L", "CC", les, 1, 1001, "hard", 2))
    assert rend.margins[0] == "distortion" and len(rend.boxes) == 3
    rows = vindr.finding_rows(_row(), rend)
    cats = [r["finding_categories"] for r in rows]
    assert cats == ["['Architectural Distortion']", "['Mass']", "['Suspicious Calcification']"], cats
    parsed = [vindr_adapter.CATEGORY[c.lower()] for r in rows for c in vindr_adapter.parse_categories(
        r["finding_categories"])]
    assert parsed == ["distortion", "mass", "calcification"]  # a finding with a box for patches and masks
    x0, y0, x1, y1 = (rows[0][k] for k in ("xmin", "ymin", "xmax", "ymax"))
    assert rend.lesion[int(y0):int(y1), int(x0):int(x1)].any()


def test_easy_renderer_labels_are_unchanged():
    les = (Lesion("mass", 0.5, 0.0, 0.08, 7, malignant=True, margin="distortion"),)
    rend = draw.render(draw.ViewPlan(192, 160, "L", "CC", les, 1, 1001, "easy", 2))
    assert [r["finding_categories"] for r in vindr.finding_rows(_row(), rend)] == ["['Mass']"]


def test_demo_inbreast_set_has_enough_normals_and_lesions():
    block = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["datasets"]["inbreast_synth"]["synthetic"]
    cfg = ib_synth.InbreastSynthConfig.from_config(schema_defaults("synthetic/inbreast", **{**block,
                                                                                            "inject_bad": False}))
    p = ib_synth.plan(cfg)
    normal = int((p["names"].map(len) == 0).sum())
    assert normal >= 15 and len(p) - normal >= 20, (normal, len(p))  # baseline AUC needs both; super-res the lesions
