"""Resize geometry, box round trips, breast masks against ground truth, orientation."""
from __future__ import annotations

import numpy as np
import pytest

from mammoflow.io import png
from mammoflow.core.config import schema_defaults
from mammoflow.preprocess import canvas as pp
from mammoflow.preprocess.breast_mask import breast_mask, chest_wall_side, iou
from mammoflow.io.dicom_writer import write_dicom
from mammoflow.preprocess.qc import gt_mask_on_canvas
from mammoflow.datasets.synthetic.vindr import SyntheticSpec, render_row, vindr_plan


def _params(**kw):
    """Preprocessing settings: the schema defaults with overrides."""
    return pp.PreprocessParams.from_config(schema_defaults("config", "preprocess", **kw))


@pytest.mark.parametrize("rows,cols", [(3518, 2800), (1152, 896), (4736, 2920), (640, 512), (300, 1000), (896, 1152)])
def test_boxes_round_trip_within_one_pixel(rows, cols):
    rng = np.random.default_rng(rows + cols)
    for flipped in (False, True):
        g = pp.fit_geometry(rows, cols, 1152, 896, flipped=flipped)
        assert g.new_height <= 1152 and g.new_width <= 896
        assert g.new_height == 1152 or g.new_width == 896  # one side fills the canvas
        x0 = rng.uniform(0, cols - 10, 50); y0 = rng.uniform(0, rows - 10, 50)
        boxes = np.stack([x0, y0, x0 + rng.uniform(1, 10, 50), y0 + rng.uniform(1, 10, 50)], 1)
        back = pp.boxes_to_original(pp.boxes_to_canvas(boxes, g), g)
        assert np.abs(back - boxes).max() < 1.0


def test_equal_aspect_ratio_is_handled():  # the original raised NameError here
    g = pp.fit_geometry(1152 * 2, 896 * 2, 1152, 896)
    assert (g.new_height, g.new_width, g.pad_top, g.pad_left) == (1152, 896, 0, 0)


def test_canvas_box_lands_on_lesion(tmp_path):
    plan = vindr_plan(SyntheticSpec.from_config(schema_defaults("synthetic/vindr", n_studies=3, lesion_fraction=1.0, height=320, width=256)))
    row = plan.iloc[0]
    r = render_row(row)
    path = tmp_path / "a.dicom"
    write_dicom(path, r.image, row)
    png, mask, rec = pp.preprocess_image(path, _params(height=288, width=224))
    g = pp.Geometry(**{k: rec[k] for k in pp.Geometry.__dataclass_fields__})
    x0, y0, x1, y1 = pp.boxes_to_canvas(np.array(r.boxes[:1]), g)[0]
    inside = png[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))].astype(float).mean()
    assert inside > png[mask > 0].astype(float).mean()  # lesions are brighter than the breast on average


def test_breast_mask_iou_on_every_synthetic_image(tmp_path):
    plan = vindr_plan(SyntheticSpec.from_config(schema_defaults("synthetic/vindr", n_studies=6, height=320, width=256)))
    params = _params(height=288, width=224)
    worst = 1.0
    for _, row in plan.iterrows():
        r = render_row(row)
        path = tmp_path / f"{row['image_id']}.dicom"
        write_dicom(path, r.image, row)
        png, mask, rec = pp.preprocess_image(path, params)
        gt = gt_mask_on_canvas(r.breast.astype(np.uint8), rec)
        worst = min(worst, iou(mask > 0, gt))
        assert png.dtype == np.uint16 and png.shape == (288, 224)
        assert (png[mask == 0] == 0).all()
    assert worst >= 0.95


def test_flip_to_left_mirrors_right_breasts_and_boxes(tmp_path):
    plan = vindr_plan(SyntheticSpec.from_config(schema_defaults("synthetic/vindr", n_studies=2, lesion_fraction=1.0, height=320, width=256)))
    row = plan[plan["laterality"] == "R"].iloc[0]
    r = render_row(row)
    path = tmp_path / "r.dicom"
    write_dicom(path, r.image, row)
    keep = pp.preprocess_image(path, _params(height=288, width=224))
    left = pp.preprocess_image(path, _params(height=288, width=224, flip_to="left"))
    assert keep[2]["chest_wall_side"] == "right" and left[2]["chest_wall_side"] == "left"
    assert chest_wall_side(left[1] > 0) == "left"
    assert np.array_equal(keep[0][:, ::-1], left[0]) or keep[2]["pad_left"] != left[2]["pad_left"]


def test_breast_mask_drops_labels_and_fills_holes():
    img = np.zeros((200, 160), np.float32)
    yy, xx = np.mgrid[:200, :160]
    img[((yy - 100) / 80) ** 2 + (xx / 100) ** 2 <= 1] = 0.5
    img[90:110, 20:40] = 0.0  # a hole inside the breast
    img[5:15, 140:155] = 1.0  # a bright label far from the breast
    m = breast_mask(img)
    assert m[100, 30] and not m[10, 150]


def test_rejected_images_get_marker_and_reason(tmp_path):
    items = [("a", str(tmp_path / "missing.dicom"), ""), ("b", None, "path escapes the data root")]
    pngs = {k: str(tmp_path / f"{k}.png") for k in "ab"}
    masks = {k: str(tmp_path / f"{k}_m.png") for k in "ab"}
    df = pp.run_shard(items, pngs, masks, _params())
    assert list(df["status"]) == ["rejected", "rejected"]
    assert "missing" in df["reason"][0] and "escapes" in df["reason"][1]
    assert png.read(pngs["a"]).shape == (1, 1)
