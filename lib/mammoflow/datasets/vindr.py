"""VinDr-Mammo: breast-level_annotations.csv + finding_annotations.csv + images/<study_id>/<image_id>.dicom.

A row repeated exactly is merged; an image_id with rows that differ is rejected (naming the CSV) instead of
breaking the join. Finding boxes are in original pixels; image-level labels are seed 000's (BI-RADS >= 3)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined, is_safe_id
from mammoflow.datasets import annotations as ann

FORMAT = "vindr"
CANVAS_MAPS: tuple[str, ...] = ()  # boxes only
READS_IMAGES = False  # the annotation step reads the CSVs only
BREAST = "breast-level_annotations.csv"
FINDINGS = "finding_annotations.csv"
CATEGORY = {"mass": "mass", "suspicious calcification": "calcification", "architectural distortion": "distortion",
            "asymmetry": "asymmetry", "focal asymmetry": "asymmetry", "global asymmetry": "asymmetry"}
EXTRA_IMAGE = ["series_id", "expected_rows", "expected_cols"]
EXTRA_FINDING = ["vindr_categories"]

lesion_mask = ann.lesion_mask


def birads_number(value: Any) -> float:
    """'BI-RADS 4' -> 4.0 (also '4', '4a'); nan when absent."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    s = str(value).upper().replace("BI-RADS", "").strip()
    return float(s[0]) if s[:1].isdigit() else float("nan")


def image_label(breast_birads: Any) -> int:
    """Whole-image label of seed 000: BI-RADS 1-2 -> 0, 3-5 -> 1."""
    b = birads_number(breast_birads)
    return int(b >= 3) if b == b else 0


def parse_categories(value: Any) -> list[str]:
    """VinDr's "['Mass', 'Skin Retraction']" list literal (parsed safely) to a list of strings."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    s = str(value).strip()
    try:
        parsed = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return [s]
    if isinstance(parsed, (list, tuple)):
        return [str(x) for x in parsed]
    return [str(parsed)]


def read_breast(root: str | Path) -> pd.DataFrame:
    """breast-level_annotations.csv with stripped cells."""
    csv = Path(root) / BREAST
    if not csv.is_file():
        raise FileNotFoundError(f"dataset root {root} has no {BREAST} (VinDr layout)")
    return pd.read_csv(csv, dtype=str, keep_default_na=False).apply(lambda c: c.str.strip())


def index_files(root: str | Path) -> list[str]:
    """The annotation files the adapter reads (inputs of the annotation step)."""
    return [str(Path(root) / BREAST), str(Path(root) / FINDINGS)]


def listing(root: str | Path) -> pd.DataFrame:
    """One row per image of breast-level_annotations.csv."""
    return listing_from_breast(root, read_breast(root))


def listing_from_breast(root: str | Path, breast: pd.DataFrame,
                        exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing from the breast-level table (exact duplicates merged, conflicting ones rejected)."""
    merged, clash = ann.identical_or_conflicting(breast, ["image_id"])
    clashing = set(clash["image_id"])
    rows = []
    keep = pd.concat([merged, clash.drop_duplicates("image_id")])
    for image_id, study, lat, view, split in zip(keep["image_id"], keep["study_id"], keep["laterality"],
                                                  keep["view_position"], keep["split"]):
        reason, source = "", f"images/{study}/{image_id}.dicom"
        if image_id in clashing:
            reason = f"{Path(root) / BREAST}: image_id {image_id} has rows that differ (duplicated id)"
        elif not is_safe_id(study):
            try:
                confined(root, source)
                reason = "unsafe image or study id (only letters, digits, '_' and '-')"
            except ImageRejected as exc:
                reason = str(exc)
        rows.append({"image_id": image_id, "patient_id": study, "study_id": study, "laterality": lat, "view": view,
                     "split": split, "source": source, "listing_reason": reason})
    return ann.finish_listing(pd.DataFrame(rows, columns=ann.LISTING_COLUMNS), root, exists)


def annotate(root: str | Path) -> ann.Annotations:
    """Breast-level labels and the finding boxes of the usable images."""
    breast = read_breast(root).drop_duplicates().drop_duplicates("image_id", keep=False).set_index("image_id")
    usable = set(ann.usable(listing(root))["image_id"])
    images = [{"image_id": i, "breast_birads": r["breast_birads"], "breast_density": ann.density_letter(
        r["breast_density"]), "pathology": "", "label": image_label(r["breast_birads"]), "series_id": r["series_id"],
        "expected_rows": int(r["height"]), "expected_cols": int(r["width"])}
        for i, r in breast.iterrows() if i in usable]
    f = pd.read_csv(Path(root) / FINDINGS, dtype={"image_id": str, "study_id": str, "split": str}).drop_duplicates()
    findings, counter = [], {}
    for r in f[f["image_id"].isin(usable)].itertuples(index=False):
        cats = [c for c in parse_categories(r.finding_categories) if c != "No Finding"]
        box = [r.xmin, r.ymin, r.xmax, r.ymax]
        if not cats or np.isnan(np.asarray(box, dtype=float)).any():
            continue
        k = counter.get(r.image_id, 0)
        counter[r.image_id] = k + 1
        lesion = [CATEGORY[c.lower()] for c in cats if c.lower() in CATEGORY]
        findings.append({"finding_id": f"{r.image_id}_{k}", "image_id": r.image_id,
                         "category": lesion[0] if lesion else "other", "pathology": "",
                         "finding_birads": "" if pd.isna(r.finding_birads) else str(r.finding_birads).strip(),
                         "xmin": float(box[0]), "ymin": float(box[1]), "xmax": float(box[2]), "ymax": float(box[3]),
                         "mask_source": "", "geometry": "{}", "vindr_categories": "|".join(cats)})
    return ann.Annotations(ann.image_frame(images, EXTRA_IMAGE), ann.finding_frame(findings, EXTRA_FINDING), [])
