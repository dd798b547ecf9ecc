"""Bad input: foreign label values, size mismatches, empty and all-lesion masks -> rejection rows, run goes on."""

from __future__ import annotations

import numpy as np

from mammoflow.io import png
from mammoflow.pipelines.cascade import data


def _img(path, shape=(64, 48)):
    png.write(path, (np.arange(shape[0] * shape[1]).reshape(shape) % 200 + 20).astype(np.uint8))
    return str(path)


def test_tissue_rejections_name_the_file(tmp_path):
    good_lab = np.full((64, 48), 64, np.uint8)
    good_lab[10:50, 5:40] = 128
    good_lab[20:30, 10:20] = 192
    png.write(tmp_path / "good_LI.png", good_lab)
    bad = good_lab.copy()
    bad[0, 0] = 100
    png.write(tmp_path / "bad_LI.png", bad)
    png.write(tmp_path / "small_LI.png", good_lab[:32])
    items = [("good", _img(tmp_path / "good.png"), str(tmp_path / "good_LI.png")),
             ("bad", _img(tmp_path / "bad.png"), str(tmp_path / "bad_LI.png")),
             ("small", _img(tmp_path / "small.png"), str(tmp_path / "small_LI.png")),
             ("gone", str(tmp_path / "gone.png"), str(tmp_path / "good_LI.png"))]
    p = data.load_tissue(items, (32, 32), "cascade_stage1", data.raw_label_reader)
    assert p.ids == ["good"] and set(np.unique(p.masks[0])) == {0, 1, 2}
    why = {r["image_id"]: r for r in p.rejected}
    assert "[100]" in why["bad"]["reason"] and why["bad"]["source_path"].endswith("bad_LI.png")
    assert "48x32" in why["small"]["reason"] and why["small"]["stage"] == "cascade_stage1"
    assert "gone.png" in why["gone"]["source_path"]
    canvas_bad = good_lab.copy() // 64  # 1..3 class indices ...
    canvas_bad[0, 0] = 7  # ... and one foreign value
    png.write(tmp_path / "c_bad.png", canvas_bad)
    q = data.load_tissue([("c", _img(tmp_path / "c.png"), str(tmp_path / "c_bad.png"))], (32, 32), "s")
    assert not q.ids and "[7]" in q.rejected[0]["reason"]


def test_lesion_rejections(tmp_path):
    shape = (64, 48)
    breast = np.zeros(shape, np.uint8)
    breast[:, :40] = 255
    png.write(tmp_path / "breast.png", breast)
    masks = {"ok": (slice(20, 30), slice(10, 20)), "empty": None, "all": (slice(None), slice(None)),
             "size": "size"}
    items = []
    for name, where in masks.items():
        m = np.zeros((32, 48) if where == "size" else shape, np.uint8)
        if isinstance(where, tuple):
            m[where] = 255
        png.write(tmp_path / f"{name}_les.png", m)
        items.append((name, _img(tmp_path / f"{name}.png"), str(tmp_path / f"{name}_les.png"),
                      str(tmp_path / "breast.png")))
    p = data.lesion_crops(items, lambda img: np.zeros(img.shape, bool), (32, 32), 0.0, "cascade_stage2")
    assert p.ids == ["ok"] and p.boxes[0].fallback and (p.boxes[0].c0, p.boxes[0].c1) == (0, 40)
    why = {r["image_id"]: r["reason"] for r in p.rejected}
    assert "empty" in why["empty"] and "all-lesion" in why["all"] and "48x32" in why["size"]
