"""Mini-DDSM: DataWMask.xlsx (read with pandas + openpyxl) and the JPEG-8 or PNG-16 image folders.

Layout: MINI-DDSM-Complete-JPEG-8/DataWMask.xlsx with {Benign,Cancer,Normal}/<case>/<stem>.jpg (+ _Mask,
_Mask2 files) and, when present, MINI-DDSM-Complete-PNG-16/ with the same tree as 16-bit PNGs (preferred).
Paths in the sheet may use Windows back-slashes; `-` means no mask. Status is per case: an image is a
lesion image (label 1) when it has a mask; pathology follows Status (Cancer malignant, Benign benign,
Normal normal) and is '' for unmasked images of an abnormal case."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Callable

import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import annotations as ann
from mammoflow.io import raster

FORMAT = "miniddsm"
CANVAS_MAPS = ("lesion_masks",)  # what preprocessing draws on the canvas besides the breast mask
READS_IMAGES = True  # the annotation step checks image headers (sizes)
SHEET = "DataWMask.xlsx"
JPEG_DIR, PNG_DIR = "MINI-DDSM-Complete-JPEG-8", "MINI-DDSM-Complete-PNG-16"
COLUMNS = ["fullPath", "fileName", "View", "Side", "Status", "Tumour_Contour", "Tumour_Contour2", "Age", "Density"]
MASK_COLUMNS = ("Tumour_Contour", "Tumour_Contour2", "Tumour_Contour3")
PATHOLOGY = {"cancer": "malignant", "benign": "benign", "normal": "normal"}
EXTRA_IMAGE = ["miniddsm_status", "miniddsm_age"]
_NAME = re.compile(r"^([A-Z])_(\d{4})_")


def sheet_path(root: str | Path) -> Path:
    """Where DataWMask.xlsx is: in the JPEG-8 folder (as released) or at the root."""
    for p in (Path(root) / JPEG_DIR / SHEET, Path(root) / SHEET):
        if p.is_file():
            return p
    raise FileNotFoundError(f"dataset root {root} has no {JPEG_DIR}/{SHEET} (Mini-DDSM layout)")


def read_sheet(root: str | Path) -> pd.DataFrame:
    """The sheet's rows as stripped strings ('' for empty cells)."""
    path = sheet_path(root)
    df = pd.read_excel(path, sheet_name=0, dtype=str, engine="openpyxl").fillna("")
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing")
    return df.apply(lambda c: c.astype(str).str.strip())


def variant_dir(root: str | Path, folders: set[str] | None = None) -> str:
    """The image folder used: the 16-bit PNG one when present, else the JPEG-8 one (else the root)."""
    present = folders if folders is not None else {p.name for p in Path(root).iterdir() if p.is_dir()}
    return PNG_DIR if PNG_DIR in present else JPEG_DIR if JPEG_DIR in present else ""


def resolve(rel: str, base: str) -> str:
    """A sheet path ('\\' or '/') as a path under the variant folder, with that variant's extension."""
    p = PurePosixPath(rel.replace("\\", "/").strip())
    if p.parts and p.parts[0] in (JPEG_DIR, PNG_DIR):
        p = PurePosixPath(*p.parts[1:])
    if base == PNG_DIR:
        p = p.with_suffix(".png")
    return str(PurePosixPath(base) / p) if base else str(p)


def masks_of(row: dict[str, str] | pd.Series) -> list[str]:
    """The sheet's mask paths of one row ('-' and empty cells skipped)."""
    return [str(row[c]) for c in MASK_COLUMNS if c in row and str(row[c]) not in ("", "-", "nan")]


def index_files(root: str | Path) -> list[str]:
    """The annotation files the adapter reads besides the listed images: the sheet and the existing masks."""
    base = variant_dir(root)
    masks = {resolve(m, base) for r in read_sheet(root).to_dict("records") for m in masks_of(r)}
    return [str(sheet_path(root))] + sorted(str(Path(root) / m) for m in masks if (Path(root) / m).is_file())


def listing(root: str | Path) -> pd.DataFrame:
    """One row per image of the sheet."""
    return listing_from_index(root, read_sheet(root), variant_dir(root), str(sheet_path(root)))


def listing_from_index(root: str | Path, sheet: pd.DataFrame, base: str, sheet_file: str,
                       exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing from the sheet (read from sheet_file) and the image folder used."""
    merged, clash = ann.identical_or_conflicting(sheet, ["fileName"])
    clashing = set(clash["fileName"])
    rows = []
    for r in pd.concat([merged, clash.drop_duplicates("fileName")]).to_dict("records"):
        stem = PurePosixPath(r["fileName"].replace("\\", "/")).stem
        m = _NAME.match(stem)
        patient = f"{m.group(1)}_{m.group(2)}" if m else ann.safe_id(stem)
        reason = f"{sheet_file}: conflicting rows for {r['fileName']}" if r["fileName"] in clashing \
            else ""
        rows.append({"image_id": ann.safe_id(stem), "patient_id": patient, "study_id": patient,
                     "laterality": {"LEFT": "L", "RIGHT": "R"}.get(r["Side"].upper(), ""), "view": r["View"].upper(),
                     "source": resolve(r["fullPath"], base), "listing_reason": reason})
    return ann.finish_listing(pd.DataFrame(rows, columns=ann.LISTING_COLUMNS), root, exists)


def annotate(root: str | Path) -> ann.Annotations:
    """One finding per mask (box from the mask) and the labels of the usable images."""
    sheet = read_sheet(root).drop_duplicates()
    base = variant_dir(root)
    rows_of = {ann.safe_id(PurePosixPath(f.replace("\\", "/")).stem): r
               for f, r in zip(sheet["fileName"], sheet.to_dict("records"))}
    images, findings, rejected = [], [], []
    for r in ann.usable(listing(root)).itertuples():
        row = rows_of[r.image_id]
        pathology = PATHOLOGY.get(row["Status"].lower(), "")
        try:
            shape = raster.shape(confined(root, r.source))
            found = []
            for k, rel in enumerate(masks_of(row)):
                mask_rel = resolve(rel, base)
                path = confined(root, mask_rel)
                m = raster.read_mask(path)
                if m.shape != shape:
                    raise ImageRejected(str(path), f"mask is {m.shape[1]}x{m.shape[0]} but its image is "
                                                   f"{shape[1]}x{shape[0]}")
                box = ann.mask_box(m)
                if box is None:
                    raise ImageRejected(str(path), "mask is empty")
                found.append({"finding_id": f"{r.image_id}_{k}", "image_id": r.image_id, "category": "other",
                              "pathology": pathology, "finding_birads": "", "xmin": box[0], "ymin": box[1],
                              "xmax": box[2], "ymax": box[3], "mask_source": mask_rel, "geometry": "{}"})
        except ImageRejected as exc:
            rejected.append(ann.reject(r.image_id, exc.path, exc.reason))
            continue
        findings += found
        images.append({"image_id": r.image_id, "breast_birads": "", "breast_density": ann.density_letter(
            row["Density"]), "pathology": pathology if found or pathology == "normal" else "",
            "label": int(bool(found)), "miniddsm_status": row["Status"], "miniddsm_age": row["Age"]})
    return ann.Annotations(ann.image_frame(images, EXTRA_IMAGE), ann.finding_frame(findings), rejected)


lesion_mask = ann.lesion_mask
