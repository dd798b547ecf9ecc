"""Tissue-label sets: the synthetic tiryakiv tree, its injected defects, and the 60 real DDSM films."""
from __future__ import annotations


import numpy as np
import pytest

from mammoflow.core.errors import ImageRejected
from mammoflow.datasets import tissue
from mammoflow.datasets.synthetic import tissue as synth
from mammoflow.io import png
from adapter_util import shared, written_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return written_tree(tmp_path_factory, "tissue", n_images=9, height=256, width=128,
                        test_fraction=0.3, inject_bad=True)


def test_synthetic_counts_splits_and_defects(tree):
    cfg, root = tree
    lst = tissue.listing(root)
    assert len(lst) == 9 + len(synth.BAD_KINDS)
    ok = lst[lst["listing_reason"] == ""]
    assert set(ok["split"]) == {"training", "test"} and (ok["view"] == "MLO").all()
    reasons = " ".join(lst["listing_reason"])
    assert "label map file referenced by the dataset is missing" in reasons and "duplicated image id" in reasons
    a = tissue.annotate(root)
    assert len(a.images) == 9 + 1  # the clean images + the truncated one (its pixels are checked when decoded)
    why = {r["reason"].split(": ", 1)[1] for r in a.rejected}
    assert any("not tissue labels" in w for w in why) and any("but its image is" in w for w in why)
    assert all(r["source_path"] in r["reason"] for r in a.rejected)


def test_label_maps_round_trip_to_class_indices(tree):
    _, root = tree
    a = tissue.annotate(root)
    lst = tissue.listing(root).set_index("image_id")
    for image_id in a.images["image_id"][:3]:
        classes = tissue.tissue_labels(root, image_id)
        raw = png.read(root / tissue.label_source(lst.loc[image_id, "source"]))
        assert np.array_equal(np.asarray(tissue.LABEL_VALUES)[classes], raw)
        assert set(np.unique(classes)) <= {0, 1, 2, 3} and (classes == 0).any() and (classes == 1).any()


def test_foreign_label_value_names_the_file(tmp_path):
    lab = np.full((8, 8), 64, np.uint8)
    lab[2, 2] = 200
    png.write(tmp_path / "x_LI.png", lab)
    with pytest.raises(ImageRejected, match=r"x_LI\.png.*\[200\]"):
        tissue.labels_from_file(tmp_path / "x_LI.png")


def test_real_tiryakiv_train_valid():
    root = shared("tissue_tiryakiv/train_valid")
    lst = tissue.listing(root)
    assert len(lst) == 60 and (lst["listing_reason"] == "").all()
    assert lst["image_id"].is_unique and (lst["view"] == "MLO").all() and (lst["laterality"] == "R").all()
    a = tissue.annotate(root)
    assert a.rejected == [] and len(a.images) == 60
    counts = a.images[tissue.EXTRA_COLUMNS].to_numpy()
    assert (counts > 0).all()  # every image has the four classes and nothing else (no zeros, no other value)
    assert (counts.sum(axis=1) == 960 * 480).all()
    frac = counts.sum(axis=0) / counts.sum()
    # background is the largest class, then adipose; fibroglandular and pectoral are smaller
    assert frac[0] > frac[1] > max(frac[2], frac[3]) and 0.05 < frac[3] < 0.2
    one = tissue.tissue_labels(root, "A_0002_1_RIGHT_MLO")
    assert one.shape == (960, 480) and set(np.unique(one)) == {0, 1, 2, 3}
