"""mini-MIAS: Info.txt parsing (origin bottom-left, NOTE 3, rows without coordinates), the synthetic tree."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mammoflow.core.errors import ImageRejected
from mammoflow.datasets import mias
from mammoflow.datasets.synthetic import mias as synth
from mammoflow.io import png, raster
from adapter_util import written_tree

PUBLIC_ROWS = """REFNUM BG CLASS SEVERITY X Y RADIUS

mdb001 G CIRC B 535 425 197
mdb003 D NORM
mdb059 F CIRC B
mdb239 D CALC M *NOTE 3*
mdb240 D CALC B 643 614 23""" + "   \n"  # trailing spaces, as in the public list


def test_parse_the_public_row_forms():
    info, bad = mias.parse_info(PUBLIC_ROWS.splitlines())
    assert bad == [] and list(info["refnum"]) == ["mdb001", "mdb003", "mdb059", "mdb239", "mdb240"]
    assert info.loc[0, ["x", "y", "radius"]].tolist() == ["535", "425", "197"]
    assert (info.loc[2:3, "x"] == "").all() and info.loc[3, "severity"] == "M"
    assert mias.patient_of("mdb001") == mias.patient_of("mdb002") != mias.patient_of("mdb003")


def test_origin_is_bottom_left(tmp_path):
    (tmp_path / "Info.txt").write_text("mdb001 G CIRC B 100 900 20\nmdb002 F CALC M *NOTE 3*\n")
    for i in (1, 2):
        (tmp_path / f"mdb00{i}.pgm").write_bytes(b"P5\n1024 1024\n255\n" + bytes(range(256)) * 4096)
    a = mias.annotate(tmp_path)
    f = a.findings.set_index("image_id")
    assert f.loc["mdb001", ["xmin", "ymin", "xmax", "ymax"]].tolist() == [80.0, 104.0, 120.0, 144.0]  # row 1024-900
    assert json.loads(f.loc["mdb001", "geometry"]) == {"circle": [100.0, 124.0, 20.0]}
    assert np.isnan(f.loc["mdb002", "xmin"]) and f.loc["mdb002", "category"] == "calcification"
    assert a.images.set_index("image_id").loc["mdb002", "pathology"] == "malignant"
    m = mias.lesion_mask(tmp_path, a.findings[a.findings["image_id"] == "mdb001"], (1024, 1024))
    assert m[124, 100] and not m[900, 100] and abs(m.sum() - np.pi * 400) < 60


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return written_tree(tmp_path_factory, "mias", n_women=6, size=256, lesion_fraction=0.6, inject_bad=True)


def test_synthetic_counts_defects_and_known_circles(tree):
    cfg, root = tree
    lst = mias.listing(root)
    assert len(lst) == 12 + len(synth.BAD_KINDS) and lst["image_id"].is_unique
    bad = lst[lst["listing_reason"] != ""]
    assert len(bad) == 3
    for word in ("missing", "malformed", "not named in Info.txt"):
        assert bad["listing_reason"].str.contains(word).any()
    a = mias.annotate(root)
    assert len(a.rejected) == 1 and "outside the 256x256 image" in a.rejected[0]["reason"]
    assert len(a.images) == len(lst) - 3 - 1  # the truncated PGM is rejected when its pixels are decoded
    plan = synth.plan(cfg).set_index("refnum")
    for r in a.images.itertuples():  # labels follow the plan
        assert r.label == int(bool(plan.loc[r.image_id, "classes"]))
    located = a.findings.dropna(subset=["xmin"])
    assert len(located) >= 3
    for f in located.itertuples():  # every circle encloses the ground-truth lesion it describes
        gt = png.read(root / "ground_truth" / f"{f.image_id}_lesion.png") > 0
        box = mias.lesion_mask(root, a.findings[a.findings["finding_id"] == f.finding_id], gt.shape)
        assert (gt & box).sum() > 0.5 * min(gt.sum(), box.sum())
    repeated = plan.index[plan["defect"] == "repeated_row"][0]
    assert (a.findings["image_id"] == repeated).sum() == len(plan.loc[repeated, "classes"])  # merged


def test_truncated_pgm_is_rejected_naming_it(tree):
    cfg, root = tree
    plan = synth.plan(cfg)
    ref = plan.loc[plan["defect"] == "truncated", "refnum"].iloc[0]
    with pytest.raises(ImageRejected, match=rf"{ref}\.pgm: truncated PGM"):
        raster.read(root / f"{ref}.pgm")
