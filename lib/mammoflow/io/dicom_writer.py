"""Writing synthetic mammography DICOMs in the encodings and tag variants seen in real datasets."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

TRANSFER_SYNTAXES = {
    "explicit_le": ExplicitVRLittleEndian,
    "implicit_le": ImplicitVRLittleEndian,
    "rle": RLELossless,
    "jpeg2000": JPEG2000Lossless,
    "jpegls": JPEGLSLossless,
}
DM_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
UNSUPPORTED_TS = "1.2.840.10008.1.2.4.100"  # MPEG2 video: no pixel decoder for it is installed
RESCALE = (2.0, -100.0)  # slope, intercept used by the rescale variant


def stored_values(image: np.ndarray, bits: int, photometric: str) -> np.ndarray:
    """Quantise a [0,1] presentation image to stored values (inverted for MONOCHROME1)."""
    maxv = 2**bits - 1
    s = np.rint(np.clip(image, 0, 1) * maxv).astype(np.uint16)
    return (maxv - s).astype(np.uint16) if photometric == "MONOCHROME1" else s


def build_dataset(image: np.ndarray, row: dict[str, Any] | Any) -> tuple[Dataset, np.ndarray]:
    """A VinDr-like DICOM dataset (uncompressed) for one image, and its stored pixel array."""
    bits = int(row["bits_stored"])
    photometric = str(row["photometric"])
    maxv = 2**bits - 1
    arr = stored_values(image, bits, photometric)
    if row["defect"] == "blank":
        arr = np.full_like(arr, maxv // 3)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.ImplementationClassUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = DM_FOR_PRESENTATION
    ds.SOPInstanceUID = str(row["image_id"])  # VinDr ids are md5 hex digests of the UIDs
    ds.StudyInstanceUID = str(row["study_id"])
    ds.SeriesInstanceUID = str(row["series_id"])
    ds.Modality = "MG"
    ds.Manufacturer = "mammoflow-synthetic"
    ds.PresentationIntentType = "FOR PROCESSING" if row["defect"] == "for_processing" else "FOR PRESENTATION"
    ds.BodyPartExamined = "BREAST"
    # laterality and view in the places seen in the wild
    i = int(row["render_seed"]) % 3
    if i == 0:
        ds.ImageLaterality = row["laterality"]
        ds.ViewPosition = row["view_position"]
    elif i == 1:
        ds.Laterality = row["laterality"]
        ds.PatientOrientation = ["A", "R"] if row["laterality"] == "L" else ["P", "L"]
        ds.ViewPosition = row["view_position"]
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    slope, intercept = RESCALE if row["rescale"] else (1.0, 0.0)
    if row["rescale"]:
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        ds.RescaleType = "US"
    if row["window"]:
        # a linear window spanning exactly the stored range: presentation = stored / maxv
        ds.WindowCenter = [f"{slope * maxv / 2 + intercept + 0.5:.4f}", f"{slope * maxv / 4 + intercept:.4f}"]
        ds.WindowWidth = [f"{slope * maxv + 1:.4f}", f"{slope * maxv / 2:.4f}"]
        ds.VOILUTFunction = "LINEAR"
    if row["padding"]:
        ds.PixelPaddingValue = maxv if photometric == "MONOCHROME1" else 0
    if row["lut_inverse"] and photometric == "MONOCHROME1":
        ds.PresentationLUTShape = "INVERSE"
    elif photometric == "MONOCHROME2":
        ds.PresentationLUTShape = "IDENTITY"
    ds.PixelData = arr.tobytes()
    return ds, arr


def write_dicom(path: str | Path, image: np.ndarray, row: dict[str, Any] | Any) -> None:
    """Write one synthetic DICOM, applying the row's transfer syntax and injected defect."""
    path = Path(path)
    if row["defect"] == "not_dicom":
        path.write_bytes(b"This is not a DICOM file; it is a text file with a .dicom name.\n" * 20)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Invalid value for VR UI")  # md5 ids, as in VinDr
        ds, arr = build_dataset(image, row)
        ts = TRANSFER_SYNTAXES[str(row["transfer_syntax"])]
        if row["defect"] == "unsupported_ts" and not ts.is_compressed:
            ts = RLELossless  # encapsulated pixel data, relabelled below
        if ts.is_compressed:
            ds.compress(ts, arr, generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = ts
        ds.file_meta.MediaStorageSOPClassUID = "1.2.3.4"  # VinDr de-identification writes this dummy value
        ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
        if row["defect"] == "unsupported_ts":
            ds.file_meta.TransferSyntaxUID = UNSUPPORTED_TS
        ds.save_as(path, enforce_file_format=True)
    if row["defect"] == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
