"""Every DICOM variant the generator makes decodes to the same image up to its stored bit depth."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from mammoflow.io import dicom
from mammoflow.io.dicom_writer import write_dicom
from mammoflow.core.errors import ImageRejected
from mammoflow.datasets.synthetic.phantom import Lesion, render_view

H, W = 96, 80
IMAGE = render_view(H, W, "L", "MLO", [Lesion("mass", 0.5, 0.0, 0.08, 5)], seed=1, shape_seed=2).image


def _row(**kw):
    row = {"bits_stored": 12, "photometric": "MONOCHROME2", "transfer_syntax": "explicit_le", "window": False,
           "rescale": False, "padding": False, "lut_inverse": False, "defect": "", "image_id": "img", "study_id": "st",
           "series_id": "se", "render_seed": 0, "laterality": "L", "view_position": "MLO"}
    row.update(kw)
    return row


VARIANTS = [dict(bits_stored=b, photometric=p, transfer_syntax=t)
            for b, p, t in itertools.product((12, 14, 16), ("MONOCHROME1", "MONOCHROME2"),
                                             ("explicit_le", "implicit_le", "rle", "jpeg2000", "jpegls"))]
VARIANTS += [dict(window=True), dict(rescale=True), dict(window=True, rescale=True, photometric="MONOCHROME1"),
             dict(padding=True), dict(padding=True, photometric="MONOCHROME1", bits_stored=14),
             dict(lut_inverse=True, photometric="MONOCHROME1"), dict(render_seed=1), dict(render_seed=2)]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={v[k]}" for k in v))
@pytest.mark.parametrize("voi", ["none", "window"])
def test_variant_decodes_to_same_image(tmp_path, variant, voi):
    row = _row(**variant)
    path = tmp_path / "x.dicom"
    write_dicom(path, IMAGE, row)
    dec = dicom.decode(path, voi=voi)
    tol = 1.0 / (2 ** row["bits_stored"] - 1)
    assert dec.image.shape == IMAGE.shape
    assert np.abs(dec.image - IMAGE).max() <= tol * 0.51 + 1e-6
    assert dec.meta["bits_stored"] == row["bits_stored"]
    assert dec.meta["photometric"] == row["photometric"]


@pytest.mark.parametrize("defect,reason", [
    ("truncated", "truncated or corrupt"), ("not_dicom", "not a DICOM file"),
    ("for_processing", "FOR PROCESSING"), ("blank", "blank image"), ("unsupported_ts", "no decoder installed"),
])
def test_bad_files_are_rejected_with_a_reason_naming_the_file(tmp_path, defect, reason):
    path = tmp_path / f"{defect}.dicom"
    write_dicom(path, IMAGE, _row(defect=defect))
    with pytest.raises(ImageRejected) as exc:
        dicom.decode(path)
    assert reason in str(exc.value) and str(path) in str(exc.value)


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(ImageRejected, match="missing"):
        dicom.decode(tmp_path / "nope.dicom")


def test_narrow_window_is_applied_only_when_asked(tmp_path):
    from pydicom import dcmread

    path = tmp_path / "w.dicom"
    write_dicom(path, IMAGE, _row(window=True))
    ds = dcmread(path)
    ds.WindowCenter, ds.WindowWidth = "2048", "1024"
    ds.save_as(path)
    raw = dicom.decode(path, voi="none").image
    win = dicom.decode(path, voi="window").image
    assert np.abs(raw - IMAGE).max() < 1e-3
    assert win.max() == 1.0 and (win == 0).mean() > (raw == 0).mean()  # the window clips both ends
