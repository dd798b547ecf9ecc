"""Decoding mammography DICOMs to presentation images in [0, 1] with full bit depth kept."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from mammoflow.core.errors import ImageRejected

pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


@dataclass
class Decoded:
    """A decoded image: float32 presentation values in [0,1] (bright = dense), padding set to 0."""

    image: np.ndarray
    padding: np.ndarray | None
    meta: dict[str, Any] = field(default_factory=dict)


def _first(value: Any) -> float:
    """First value of a possibly multi-valued numeric DICOM attribute."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)


def header(ds: pydicom.Dataset, path: str | Path) -> dict[str, Any]:
    """The header fields the pipeline records for every image."""
    ts = ds.file_meta.get("TransferSyntaxUID", "") if hasattr(ds, "file_meta") else ""
    lat = ds.get("ImageLaterality", "") or ds.get("Laterality", "")
    view = ds.get("ViewPosition", "")
    if not view:
        po = ds.get("PatientOrientation", "")
        view = po if isinstance(po, str) and po in ("CC", "MLO", "ML") else ""
    return {
        "rows": int(ds.get("Rows", 0) or 0),
        "cols": int(ds.get("Columns", 0) or 0),
        "bits_stored": int(ds.get("BitsStored", 0) or 0),
        "photometric": str(ds.get("PhotometricInterpretation", "")),
        "transfer_syntax": str(ts),
        "presentation_intent": str(ds.get("PresentationIntentType", "")),
        "laterality_dicom": str(lat),
        "view_dicom": str(view),
        "manufacturer": str(ds.get("Manufacturer", "")),
    }


def read(path: str | Path, header_only: bool = False) -> pydicom.Dataset:
    """Read a DICOM file (optionally without its pixels); a missing or non-DICOM file raises ImageRejected."""
    path = Path(path)
    if not path.is_file():
        raise ImageRejected(str(path), "file referenced by the dataset is missing")
    try:
        return pydicom.dcmread(path, stop_before_pixels=header_only)
    except InvalidDicomError as exc:
        raise ImageRejected(str(path), f"not a DICOM file ({exc})") from None
    except Exception as exc:  # truncated header, bad element lengths ...
        raise ImageRejected(str(path), f"unreadable DICOM ({type(exc).__name__}: {exc})") from None


def _pixels(ds: pydicom.Dataset, path: str) -> np.ndarray:
    """Stored pixel values, with decoder and truncation problems turned into rejections."""
    if "PixelData" not in ds:
        raise ImageRejected(path, "no pixel data")
    ts = ds.file_meta.get("TransferSyntaxUID", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        msg = str(exc)
        if "decod" in msg.lower() and ("plugin" in msg.lower() or "no pixel data decoders" in msg.lower()
                                       or "not supported" in msg.lower() or "unable to decode" in msg.lower()):
            name = getattr(ts, "name", str(ts))
            raise ImageRejected(path, f"no decoder installed for transfer syntax {ts} ({name})") from None
        raise ImageRejected(path, f"pixel data could not be decoded ({msg.splitlines()[0][:200]})") from None
    except Exception as exc:
        raise ImageRejected(path, f"truncated or corrupt pixel data ({type(exc).__name__}: {str(exc)[:200]})") from None
    if arr.ndim != 2:
        raise ImageRejected(path, f"expected one greyscale frame, got pixel array of shape {arr.shape}")
    return arr


def _padding_mask(ds: pydicom.Dataset, stored: np.ndarray) -> np.ndarray | None:
    """Pixels equal to Pixel Padding Value (or inside the padding range), in stored-value space."""
    if "PixelPaddingValue" not in ds:
        return None
    v = int(ds.PixelPaddingValue)
    if "PixelPaddingRangeLimit" in ds:
        lo, hi = sorted((v, int(ds.PixelPaddingRangeLimit)))
        return (stored >= lo) & (stored <= hi)
    return stored == v


def _window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """DICOM VOI window (PS3.3 C.11.2.1.2) to [0, 1]."""
    function = (function or "LINEAR").upper()
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / max(width, 1e-6)))
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / max(width, 1e-6) + 0.5, 0.0, 1.0)
    return np.clip((x - (center - 0.5)) / max(width - 1.0, 1e-6) + 0.5, 0.0, 1.0)


def decode(path: str | Path, voi: str = "none", allow_blank: bool = False) -> Decoded:
    """Decode one mammogram: modality rescale, optional VOI, MONOCHROME1 inversion once, padding to 0.

    Unsigned data keeps its absolute scale (the stored bit range maps to [0, 1]); signed data
    (PixelRepresentation 1, e.g. a -1000 background) has no zero anchor and maps its own value range."""
    spath = str(path)
    ds = read(path)
    meta = header(ds, path)
    if meta["presentation_intent"].upper() == "FOR PROCESSING":
        raise ImageRejected(spath, "Presentation Intent Type is FOR PROCESSING (raw detector data); "
                                   "only FOR PRESENTATION images are used")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise ImageRejected(spath, "not a greyscale image (SamplesPerPixel != 1)")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise ImageRejected(spath, "multi-frame image (tomosynthesis?) is not supported")
    stored = _pixels(ds, spath)
    bits = meta["bits_stored"] or int(stored.dtype.itemsize * 8)
    pad = _padding_mask(ds, stored)
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    smin, smax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    x = stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    lo, hi = sorted((smin * slope + intercept, smax * slope + intercept))
    if signed:
        vals = x if pad is None else x[~pad]
        if vals.size:
            lo, hi = float(vals.min()), float(vals.max())
    window_used = False
    if voi == "window" and "WindowCenter" in ds and "WindowWidth" in ds:
        y = _window(x, _first(ds.WindowCenter), _first(ds.WindowWidth), str(ds.get("VOILUTFunction", "LINEAR")))
        window_used = True
    elif voi == "window" and "VOILUTSequence" in ds:
        from pydicom.pixels import apply_voi_lut

        lut = apply_voi_lut(stored, ds).astype(np.float32)
        desc = ds.VOILUTSequence[0].LUTDescriptor
        y = lut / float(2 ** int(desc[2]) - 1)
        window_used = True
    else:
        y = (x - np.float32(lo)) / np.float32(max(hi - lo, 1e-6))
    y = np.clip(y, 0.0, 1.0).astype(np.float32)
    photometric = meta["photometric"].upper()
    if photometric == "MONOCHROME1" or str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE":
        y = 1.0 - y  # invert once, after VOI
    if pad is not None:
        y[pad] = 0.0
    valid = y if pad is None else y[~pad]
    if not allow_blank and (valid.size == 0 or float(valid.max() - valid.min()) < 1e-6):
        raise ImageRejected(spath, "blank image (all pixels have the same value)")
    meta.update({"window_applied": window_used, "signed": signed,
                 "padding_pixels": int(pad.sum()) if pad is not None else 0})
    return Decoded(y, pad, meta)
