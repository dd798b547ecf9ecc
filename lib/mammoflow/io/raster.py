"""Any source image file (DICOM, PNG 8/16-bit, PGM P5, JPEG) to a float32 image in [0, 1]."""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mammoflow.core.errors import ImageRejected
from mammoflow.io import dicom, png
from mammoflow.io.dicom import Decoded

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8"
_PGM_HEADER = re.compile(rb"^P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s")


def kind(path: str | Path) -> str:
    """'dicom', 'png', 'pgm' or 'jpeg' from the file's first bytes; ImageRejected when missing or unknown."""
    p = Path(path)
    if not p.is_file():
        raise ImageRejected(str(p), "file referenced by the dataset is missing")
    with open(p, "rb") as fh:
        head = fh.read(132)
    if head[:8] == PNG_MAGIC:
        return "png"
    if head[:2] == b"P5":
        return "pgm"
    if head[:2] == JPEG_MAGIC:
        return "jpeg"
    if head[128:132] == b"DICM" or p.suffix.lower() in (".dcm", ".dicom"):
        return "dicom"
    if not head:
        raise ImageRejected(str(p), "empty file")
    raise ImageRejected(str(p), "not an image file this pipeline reads (DICOM, PNG, PGM P5, JPEG)")


def read(path: str | Path, voi: str = "none") -> Decoded:
    """Decode one source image to float32 [0, 1] (bright = dense) with its header fields in meta."""
    k = kind(path)
    if k == "dicom":
        return dicom.decode(path, voi=voi)
    if k == "png":
        arr = png.read(path, colour=True)
    elif k == "pgm":
        arr = read_pgm(path)
    else:
        arr = read_jpeg(path)
    arr = _grey(arr, path)
    bits = 16 if arr.dtype == np.uint16 else 8
    image = (arr.astype(np.float32) / np.float32(2**bits - 1)).astype(np.float32)
    if float(image.max() - image.min()) < 1e-6:
        raise ImageRejected(str(path), "blank image (all pixels have the same value)")
    rows, cols = image.shape
    meta: dict[str, Any] = {"rows": rows, "cols": cols, "bits_stored": bits, "photometric": "MONOCHROME2",
                            "transfer_syntax": k, "presentation_intent": "", "laterality_dicom": "",
                            "view_dicom": "", "manufacturer": "", "window_applied": False, "padding_pixels": 0}
    return Decoded(image, None, meta)


def _grey(arr: np.ndarray, path: str | Path) -> np.ndarray:
    """A 2-D grey array; colour files are accepted only when their channels are equal."""
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        c = arr[:, :, :3]
        if (c == c[:, :, :1]).all():
            return np.ascontiguousarray(c[:, :, 0])
    raise ImageRejected(str(path), f"colour image (shape {arr.shape}); mammograms must be greyscale")


def read_pgm(path: str | Path) -> np.ndarray:
    """Binary greymap (P5): uint8 for maxval <= 255, else big-endian uint16; truncated data is rejected."""
    data = Path(path).read_bytes()
    m = _PGM_HEADER.match(data)
    if m is None:
        raise ImageRejected(str(path), "malformed PGM header (expected 'P5 width height maxval')")
    w, h, maxval = (int(g) for g in m.groups())
    if w <= 0 or h <= 0 or not 0 < maxval < 65536:
        raise ImageRejected(str(path), f"invalid PGM header values {w}x{h} maxval {maxval}")
    nbytes = 1 if maxval < 256 else 2
    body = data[m.end():]
    need = w * h * nbytes
    if len(body) < need:
        raise ImageRejected(str(path), f"truncated PGM: {len(body)} of {need} pixel bytes present")
    arr = np.frombuffer(body[:need], dtype=np.uint8 if nbytes == 1 else ">u2").reshape(h, w)
    if maxval not in (255, 65535):  # rescale to the full range of the container
        top = 255 if nbytes == 1 else 65535
        arr = np.rint(arr.astype(np.float64) * (top / maxval)).clip(0, top)
    return arr.astype(np.uint8 if nbytes == 1 else np.uint16)


def read_jpeg(path: str | Path) -> np.ndarray:
    """Baseline JPEG (8-bit); a file without its end-of-image marker (truncated) is rejected."""
    data = Path(path).read_bytes()
    if b"\xff\xd9" not in data[-64:]:
        raise ImageRejected(str(path), "truncated JPEG (no end-of-image marker)")
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageRejected(str(path), "unreadable JPEG")
    return arr


def shape(path: str | Path) -> tuple[int, int]:
    """(rows, cols) of an image file from its header where the format allows, else by decoding."""
    k = kind(path)
    if k == "png":
        with open(path, "rb") as fh:
            head = fh.read(24)
        if len(head) < 24 or head[12:16] != b"IHDR":
            raise ImageRejected(str(path), "malformed PNG header")
        w, h = struct.unpack(">II", head[16:24])
        return int(h), int(w)
    if k == "pgm":
        with open(path, "rb") as fh:
            m = _PGM_HEADER.match(fh.read(512))
        if m is None:
            raise ImageRejected(str(path), "malformed PGM header (expected 'P5 width height maxval')")
        return int(m.group(2)), int(m.group(1))
    if k == "dicom":
        ds = dicom.read(path, header_only=True)
        return int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    return tuple(read_jpeg(path).shape[:2])  # type: ignore[return-value]


def read_mask(path: str | Path) -> np.ndarray:
    """A binary mask file (any format above) as bool (> 0)."""
    k = kind(path)
    if k == "dicom":
        return dicom.decode(path, voi="none", allow_blank=True).image > 0
    arr = png.read(path, colour=True) if k == "png" else read_pgm(path) if k == "pgm" else read_jpeg(path)
    arr = _grey(arr, path)
    if k == "jpeg":  # lossy: a binary mask is blurred around its edges
        return arr >= 128
    return arr > 0
