"""CBIS-DDSM: the four case-description CSVs and the DICOM tree, matched on SeriesInstanceUID.

CSV paths read `<case>/<StudyInstanceUID>/<SeriesInstanceUID>/00000N.dcm`; downloads hold either that
layout, folders named by the series UID (older / mirror layouts), or the NBIA retriever's
`<case>/<date>-DDSM-NA-<n>/<n>.000000-<series description>-<last 5 digits of the series UID>/1-1.dcm`
(the digits rule is assumed from observed folder names). Every cell is stripped; `breast density` (calc
CSVs) is renamed `breast_density`. The ROI mask and the crop of a finding are told apart by shape (the mask
has its image's shape), which undoes the CSVs' known swap; `BENIGN_WITHOUT_CALLBACK` is benign."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import annotations as ann
from mammoflow.io import dicom, raster

FORMAT = "cbis"
CANVAS_MAPS = ("lesion_masks",)  # what preprocessing draws on the canvas besides the breast mask
READS_IMAGES = True  # the annotation step checks image headers (sizes)
CSV_NAME = re.compile(r"^(mass|calc)_case_description_(train|test)_set\.csv$", re.IGNORECASE)
TREE = "CBIS-DDSM"
PATHOLOGY = {"BENIGN": "benign", "BENIGN_WITHOUT_CALLBACK": "benign", "MALIGNANT": "malignant"}
IMAGE_COL, CROP_COL, MASK_COL = "image file path", "cropped image file path", "ROI mask file path"
EXTRA_IMAGE = ["cbis_abnormality_types"]
EXTRA_FINDING = ["cbis_abnormality_id", "cbis_shape", "cbis_margins", "cbis_subtlety", "cbis_assessment"]
_UID = re.compile(r"^\d+(\.\d+){4,}$")
_NBIA_SERIES = re.compile(r"-(\d+)$")

lesion_mask = ann.lesion_mask


def read_cases(root: str | Path) -> pd.DataFrame:
    """The case-description CSVs under root (or root/csv), stripped, one spelling of breast_density."""
    root = Path(root)
    frames = []
    for folder in (root, root / "csv"):
        for name in sorted(os.listdir(folder)) if folder.is_dir() else []:
            if CSV_NAME.match(name):
                df = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
                frames.append(normalise_cases(df, str((folder / name).relative_to(root))))
    if not frames:
        raise FileNotFoundError(f"dataset root {root} has no *_case_description_*_set.csv (CBIS-DDSM layout)")
    return pd.concat(frames, ignore_index=True).fillna("")


def normalise_cases(df: pd.DataFrame, csv: str) -> pd.DataFrame:
    """One case CSV with stripped cells, common column names, and its kind, split and file name added."""
    m = CSV_NAME.match(Path(csv).name)
    if m is None:
        raise ValueError(f"{csv}: not a CBIS-DDSM case-description file name")
    df = df.copy()
    df.columns = [c.strip() for c in df.columns]
    df = df.rename(columns={"breast density": "breast_density", "calc type": "shape", "calc distribution": "margins",
                            "mass shape": "shape", "mass margins": "margins"})
    df = df.apply(lambda c: c.astype(str).str.strip())
    df["kind"] = "mass" if m.group(1).lower() == "mass" else "calcification"
    df["split"] = "training" if m.group(2).lower() == "train" else "test"
    df["csv"] = csv
    return df


def tree_base(root: str | Path) -> str:
    """Relative folder of the DICOM tree: CBIS-DDSM/ when present, else the root itself."""
    return TREE if (Path(root) / TREE).is_dir() else ""


def walk(root: str | Path) -> list[str]:
    """Relative paths of every .dcm file of the tree ('/' separators, sorted)."""
    base = Path(root) / tree_base(root)
    out = []
    for d, _, files in os.walk(base):
        rel = os.path.relpath(d, root).replace(os.sep, "/")
        out += [f"{rel}/{f}" if rel != "." else f for f in files if f.lower().endswith(".dcm")]
    return sorted(out)


class SeriesIndex:
    """Find a CSV path's files on disk: the literal path, a folder named by its series UID, or NBIA digits."""

    def __init__(self, files: list[str], base: str):
        self.files = set(files)
        self.by_uid: dict[str, list[str]] = {}
        self.by_case: dict[str, dict[str, list[str]]] = {}
        prefix = f"{base}/" if base else ""
        for f in files:
            parts = f[len(prefix):].split("/") if f.startswith(prefix) else f.split("/")
            for p in parts[:-1]:
                if _UID.match(p):
                    self.by_uid.setdefault(p, []).append(f)
            if len(parts) >= 2:
                series = "/".join(parts[1:-1])
                self.by_case.setdefault(parts[0], {}).setdefault(series, []).append(f)
        self.prefix = prefix

    def series_files(self, csv_path: str) -> list[str]:
        """DICOM files of the series a CSV path names (sorted; [] when none is found)."""
        literal = self.prefix + csv_path
        if literal in self.files:
            return [literal]
        parts = csv_path.split("/")
        series_uid = parts[2] if len(parts) >= 4 else ""
        if series_uid in self.by_uid:
            return sorted(self.by_uid[series_uid])
        found = []
        for series, files in self.by_case.get(parts[0], {}).items():
            m = _NBIA_SERIES.search(series.split("/")[-1])
            if m and series_uid[-5:].isdigit() and int(m.group(1)) == int(series_uid[-5:]):
                found += files
        return sorted(found)


def case_id(csv_path: str) -> str:
    """Image id of a CSV image path: its case folder (the component before the study and series UIDs)."""
    parts = csv_path.split("/")
    return ann.safe_id(parts[-4] if len(parts) >= 4 else parts[0])


def index_files(root: str | Path) -> list[str]:
    """The annotation files the adapter reads besides the listed images: case CSVs and ROI DICOMs."""
    cases = read_cases(root)
    rois = {f for col in (MASK_COL, CROP_COL) for p in cases[col] for f in _index(str(root)).series_files(p)}
    return sorted(str(Path(root) / c) for c in set(cases["csv"])) + sorted(str(Path(root) / f) for f in rois)


def listing(root: str | Path) -> pd.DataFrame:
    """One row per full mammogram named by the CSVs."""
    return listing_from_index(root, read_cases(root), walk(root), tree_base(root))


def listing_from_index(root: str | Path, cases: pd.DataFrame, files: list[str], base: str,
                       exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing from the case CSVs and the .dcm files of the tree (under the relative folder base)."""
    index = SeriesIndex(files, base)
    rows = []
    for path, g in cases.groupby(IMAGE_COL, sort=False):
        r = g.iloc[0]
        row = {"image_id": case_id(path), "patient_id": r["patient_id"], "split": r["split"],
               "study_id": path.split("/")[1] if path.count("/") >= 3 else r["patient_id"],
               "laterality": {"LEFT": "L", "RIGHT": "R"}.get(r["left or right breast"].upper(), ""),
               "view": r["image view"].upper(), "source": path, "listing_reason": ""}
        try:
            confined(root, path)
            found = index.series_files(path)
        except ImageRejected as exc:
            row["listing_reason"], found = str(exc), []
        if len(found) == 1:
            row["source"] = found[0]
        elif not row["listing_reason"]:
            row["listing_reason"] = (f"{Path(root) / path}: {ann.MISSING} (no file of series {path.split('/')[2:3]})"
                                     if not found else f"{Path(root) / path}: several files match ({found[:3]})")
        rows.append(row)
    return ann.finish_listing(pd.DataFrame(rows, columns=ann.LISTING_COLUMNS), root, exists)


@lru_cache(maxsize=4)
def _index(root: str) -> SeriesIndex:
    return SeriesIndex(walk(root), tree_base(root))


def annotate(root: str | Path) -> ann.Annotations:
    """Findings (one per abnormality, boxes from the ROI masks) and labels of the usable images."""
    cases = read_cases(root)
    lst = ann.usable(listing(root))
    index = _index(str(root))
    images, findings, rejected = [], [], []
    by_image = dict(list(cases.groupby(cases[IMAGE_COL].map(case_id))))
    for r in lst.itertuples():
        rows = by_image[r.image_id]
        try:
            found, types = _image_findings(root, r, rows, index)
        except ImageRejected as exc:
            rejected.append(ann.reject(r.image_id, exc.path, exc.reason))
            continue
        findings += found
        paths = {f["pathology"] for f in found}
        assessment = max(int(f["cbis_assessment"]) for f in found if f["cbis_assessment"].isdigit()) \
            if any(f["cbis_assessment"].isdigit() for f in found) else ""
        images.append({"image_id": r.image_id, "breast_birads": ann.birads_text(assessment),
                       "breast_density": ann.density_letter(rows["breast_density"].iloc[0]),
                       "pathology": "malignant" if "malignant" in paths else "benign", "label": 1,
                       "cbis_abnormality_types": "|".join(sorted(types))})
    return ann.Annotations(ann.image_frame(images, EXTRA_IMAGE), ann.finding_frame(findings, EXTRA_FINDING),
                           rejected)


def _image_findings(root: str | Path, r: Any, rows: pd.DataFrame, index: SeriesIndex) -> tuple[list, set]:
    """The findings of one image; a broken ROI, a header disagreeing with the CSV, or a conflict rejects it."""
    image_path = confined(root, r.source)
    ds = dicom.read(image_path, header_only=True)
    lat = str(ds.get("Laterality", "") or "")
    if lat and r.laterality and lat != r.laterality:
        raise ImageRejected(str(image_path), f"DICOM Laterality {lat} but the CSV says {r.laterality}")
    shape = (int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0))
    keep = rows.drop(columns=["csv"]).drop_duplicates()
    clash = keep["abnormality id"].duplicated(keep=False)
    if clash.any():
        raise ImageRejected(str(Path(root) / rows["csv"].iloc[0]), f"conflicting rows for abnormality id "
                                                                   f"{keep.loc[clash, 'abnormality id'].iloc[0]}")
    found = []
    for rec in keep.to_dict("records"):
        masks = _roi_masks(root, rec, shape, index)
        union = np.zeros(shape, dtype=bool)
        for m in masks:
            union |= raster.read_mask(confined(root, m))
        box = ann.mask_box(union)
        if box is None:
            raise ImageRejected(str(Path(root) / masks[0]), "ROI mask is empty")
        found.append({"finding_id": f"{r.image_id}_{rec['abnormality id']}", "image_id": r.image_id,
                      "category": rec["kind"], "pathology": PATHOLOGY.get(rec["pathology"].upper(), ""),
                      "finding_birads": ann.birads_text(rec["assessment"]), "xmin": box[0], "ymin": box[1],
                      "xmax": box[2], "ymax": box[3], "mask_source": "|".join(masks), "geometry": "{}",
                      "cbis_abnormality_id": rec["abnormality id"], "cbis_shape": rec.get("shape", ""),
                      "cbis_margins": rec.get("margins", ""), "cbis_subtlety": rec.get("subtlety", ""),
                      "cbis_assessment": rec["assessment"]})
    return found, set(keep["kind"])


def _roi_masks(root: str | Path, rec: dict[str, str], shape: tuple[int, int], index: SeriesIndex) -> list[str]:
    """The ROI files of one finding that have the image's shape (its masks); the rest are crops."""
    candidates = sorted({f for col in (MASK_COL, CROP_COL) for f in index.series_files(rec[col])})
    if not candidates:
        raise ImageRejected(str(Path(root) / rec[MASK_COL]), f"ROI mask {ann.MISSING}")
    shapes = {c: raster.shape(confined(root, c)) for c in candidates}
    masks = [c for c in candidates if shapes[c] == shape]
    if not masks:
        sizes = ", ".join(f"{Path(c).name} {s[1]}x{s[0]}" for c, s in shapes.items())
        raise ImageRejected(str(Path(root) / candidates[0]), f"no ROI file has its image's size {shape[1]}x"
                                                            f"{shape[0]} ({sizes}): the mask cannot be told")
    return masks
