"""The issue's bad inputs of the landed code: signed DICOM pixel data, chest-wall side of padded films."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from mammoflow.core.errors import ImageRejected
from mammoflow.datasets.synthetic.draw import write_dicom
from mammoflow.datasets.synthetic.phantom import render_view
from mammoflow.io import dicom, png
from mammoflow.preprocess import canvas as pp
from mammoflow.preprocess.breast_mask import breast_mask, chest_wall_side, iou
from adapter_util import preprocess_params, shared


def _signed_dicom(path, image: np.ndarray, background: int = -1000, top: int = 3000) -> np.ndarray:
    """A PixelRepresentation-1 mammogram: background -1000, tissue up to +3000 (returns the stored values)."""
    stored = np.where(image > 0, background + image * (top - background), background).astype(np.int16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["signed"])
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.Modality, ds.PresentationIntentType = "MG", "FOR PRESENTATION"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 1
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return stored


@pytest.fixture(scope="module")
def phantom():
    return render_view(320, 256, "L", "CC", [], seed=3, shape_seed=4)


def test_signed_pixel_data_decodes_to_its_own_range(tmp_path, phantom):
    _signed_dicom(tmp_path / "signed.dcm", phantom.image)
    dec = dicom.decode(tmp_path / "signed.dcm")
    assert dec.meta["signed"] and dec.image.min() == 0.0 and dec.image.max() == pytest.approx(1.0)
    assert (dec.image[~phantom.breast] == 0).all()  # the -1000 background is black, not mid-grey
    expected = phantom.image / phantom.image.max()  # (x - min) / (max - min) with min = the background
    assert np.abs(dec.image - expected)[phantom.breast].max() < 1e-3


def test_signed_dicom_preprocesses_to_a_true_breast_mask(tmp_path, phantom):
    _signed_dicom(tmp_path / "signed.dcm", phantom.image)
    params = preprocess_params(height=320, width=256)
    out, mask, rec = pp.preprocess_image(tmp_path / "signed.dcm", params)
    assert iou(mask > 0, phantom.breast) > 0.95 and rec["breast_fraction"] < 0.7  # was 97 % of the canvas
    assert out.max() == 65535 and (out[mask == 0] == 0).all()


def test_a_mask_without_background_is_rejected_not_written(tmp_path, phantom):
    film = np.where(phantom.breast, phantom.image, 0.3)  # a bright film base: nothing is dark
    write_dicom(tmp_path / "noback.dcm", np.rint(film * 65535).astype(np.uint16), {
        "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7", "Modality": "MG"})
    with pytest.raises(ImageRejected, match=r"noback\.dcm: no background found \(breast mask covers 100"):
        pp.preprocess_image(tmp_path / "noback.dcm", preprocess_params(height=320, width=256))


@pytest.mark.parametrize("lat", ["L", "R"])
@pytest.mark.parametrize("view", ["CC", "MLO"])
@pytest.mark.parametrize("margin", [0, 40, 200])
def test_chest_wall_side_of_films_floating_in_black_margins(lat, view, margin):
    r = render_view(320, 256, lat, view, [], seed=5, shape_seed=6)
    m = breast_mask(np.pad(r.image, ((0, 0), (margin, margin + 13))), 0.05, 2)
    assert chest_wall_side(m) == ("left" if lat == "L" else "right")


def test_chest_wall_side_of_real_padded_films():
    """The 60 real DDSM films' true breast masks (labels != background), padded: the side of the pectoral."""
    root = shared("tissue_tiryakiv/train_valid")
    wrong, rights = [], 0
    for lab_path in sorted((root / "fgt_seg_labels").glob("*_LI.png")):
        lab = png.read(lab_path)
        truth = "left" if np.nonzero(lab == 255)[1].mean() < lab.shape[1] / 2 else "right"
        rights += truth == "right"
        padded = np.pad(lab != 64, ((40, 40), (150, 150)))
        if chest_wall_side(padded) != truth:
            wrong.append(lab_path.name)
    assert rights >= 5 and wrong == []
