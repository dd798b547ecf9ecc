"""Tissue-label sets (tiryakiv layout): fgt_seg/<stem>.png images with fgt_seg_labels/<stem>_LI.png maps.

Root is a folder holding fgt_seg/ and fgt_seg_labels/ (split ''), or one holding train_valid/ and test/
with those folders inside (split 'training' / 'test'). Label values: 64 background, 128 adipose,
192 fibroglandular, 255 pectoral muscle; any other value rejects the image."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import annotations as ann
from mammoflow.io import png, raster

FORMAT = "tissue"
CANVAS_MAPS = ("tissue",)  # the label map is drawn on the canvas (and is the breast mask)
READS_IMAGES = True  # the annotation step checks image headers (sizes)
LABEL_VALUES = (64, 128, 192, 255)  # background, adipose, fibroglandular, pectoral -> class 0..3
CLASS_NAMES = ("background", "adipose", "fibroglandular", "pectoral")
SPLIT_FOLDERS = {"train_valid": "training", "test": "test"}
IMAGE_EXTENSIONS = (".png",)
EXTRA_COLUMNS = [f"tissue_{c}" for c in CLASS_NAMES]
_DDSM_NAME = re.compile(r"^([A-D])_(\d{4})_\d+\.(LEFT|RIGHT)_(CC|MLO)$")

lesion_mask = ann.lesion_mask


def label_source(source: str) -> str:
    """fgt_seg/<stem>.png -> fgt_seg_labels/<stem>_LI.png (same parent folder)."""
    folder, name = os.path.split(source)
    parent = os.path.dirname(folder)
    stem = os.path.splitext(name)[0]
    return os.path.join(parent, "fgt_seg_labels", f"{stem}_LI.png").replace(os.sep, "/")


def _sets(root: Path) -> list[tuple[str, str]]:
    """(relative folder holding fgt_seg, split) of the root."""
    if (root / "fgt_seg").is_dir():
        return [("", "")]
    found = [(d, s) for d, s in SPLIT_FOLDERS.items() if (root / d / "fgt_seg").is_dir()]
    if not found:
        raise FileNotFoundError(f"dataset root {root} has no fgt_seg/ folder (nor train_valid/ or test/ with one)")
    return found


def describe(stem: str) -> dict[str, str]:
    """patient, laterality and view from a DDSM-style stem (A_0002_1.RIGHT_MLO); '' when not that form."""
    m = _DDSM_NAME.match(stem)
    if not m:
        return {"patient_id": ann.safe_id(stem), "laterality": "", "view": ""}
    return {"patient_id": f"{m.group(1)}_{m.group(2)}", "laterality": m.group(3)[0], "view": m.group(4)}


def index_files(root: str | Path) -> list[str]:
    """The label maps of the listed images (read by annotation and by preprocessing)."""
    return [str(Path(root) / label_source(s)) for s in ann.usable(listing(root))["source"]]


def listing(root: str | Path) -> pd.DataFrame:
    """One row per image file; a missing label map is a listing rejection."""
    root = Path(root)
    files = []
    for folder, split in _sets(root):
        base = f"{folder}/fgt_seg" if folder else "fgt_seg"
        files += [(f"{base}/{n}", split) for n in sorted(os.listdir(root / base))]
    return listing_from_files(root, files)


def listing_from_files(root: str | Path, files: list[tuple[str, str]],
                       exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing of the given (source, split) image files; exists(rel) tells which files are there."""
    exists = exists or (lambda rel: (Path(root) / rel).is_file())
    rows = []
    for source, split in files:
        stem, ext = os.path.splitext(os.path.basename(source))
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        d = describe(stem)
        lab = label_source(source)
        reason = "" if exists(lab) else f"{Path(root) / lab}: label map {ann.MISSING}"
        rows.append({"image_id": ann.safe_id(stem), "study_id": d["patient_id"], "split": split,
                     "source": source, "listing_reason": reason, **d})
    return ann.finish_listing(pd.DataFrame(rows, columns=ann.LISTING_COLUMNS), root, exists)


@lru_cache(maxsize=4)
def _sources(root: str) -> dict[str, str]:
    lst = ann.usable(listing(root))
    return dict(zip(lst["image_id"], lst["source"]))


def labels_from_file(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Class indices (uint8 0..3) of a label map; unknown values or a size mismatch raise ImageRejected."""
    lab = png.read(path)
    if lab.dtype != np.uint8:
        raise ImageRejected(str(path), f"label map must be 8-bit, found {lab.dtype}")
    if shape is not None and lab.shape != tuple(shape):
        raise ImageRejected(str(path), f"label map is {lab.shape[1]}x{lab.shape[0]} but its image is "
                                       f"{shape[1]}x{shape[0]}")
    lut = np.full(256, 255, dtype=np.uint8)
    for k, v in enumerate(LABEL_VALUES):
        lut[v] = k
    out = lut[lab]
    if (out == 255).any():
        bad = sorted(set(np.unique(lab).tolist()) - set(LABEL_VALUES))
        raise ImageRejected(str(path), f"label values {bad[:8]} are not tissue labels {list(LABEL_VALUES)}")
    return out


def tissue_labels(root: str | Path, image_id: str, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Class indices (0 bg, 1 adipose, 2 fibroglandular, 3 pectoral) of one image's label map."""
    source = _sources(str(root)).get(image_id)
    if source is None:
        raise ImageRejected(image_id, f"no usable image with this id under {root}")
    return labels_from_file(confined(root, label_source(source)), shape)


def annotate(root: str | Path) -> ann.Annotations:
    """Check every label map against its image (size, values) and count the pixels of each class."""
    lst = ann.usable(listing(root))
    images, rejected = [], []
    for r in lst.itertuples():
        img_path = confined(root, r.source)
        lab_path = confined(root, label_source(r.source))
        try:
            classes = labels_from_file(lab_path, raster.shape(img_path))
        except ImageRejected as exc:
            rejected.append(ann.reject(r.image_id, exc.path, exc.reason))
            continue
        counts = np.bincount(classes.ravel(), minlength=len(LABEL_VALUES))
        images.append({"image_id": r.image_id, "breast_birads": "", "breast_density": "", "pathology": "",
                       "label": "", **{c: int(n) for c, n in zip(EXTRA_COLUMNS, counts)}})
    return ann.Annotations(ann.image_frame(images, EXTRA_COLUMNS), ann.finding_frame([]), rejected)
