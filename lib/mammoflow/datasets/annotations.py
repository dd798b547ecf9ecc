"""What every dataset adapter returns: listing rows, image/finding annotations, lesion geometry and masks."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import cv2
import numpy as np
import pandas as pd

from mammoflow.core import rejections
from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined, is_safe_id

LISTING_COLUMNS = ["image_id", "patient_id", "study_id", "laterality", "view", "split", "source", "listing_reason"]
IMAGE_COLUMNS = ["image_id", "breast_birads", "breast_density", "pathology", "label"]
FINDING_COLUMNS = ["finding_id", "image_id", "category", "pathology", "finding_birads", "xmin", "ymin", "xmax",
                   "ymax", "mask_source", "geometry"]
CATEGORIES = ("mass", "calcification", "distortion", "asymmetry", "other")
MISSING = "file referenced by the dataset is missing"
STAGE = "annotate"


@dataclass
class Annotations:
    """An adapter's run-time reading of a dataset: per-image labels, findings, and rejected images."""

    images: pd.DataFrame
    findings: pd.DataFrame
    rejected: list[dict[str, str]] = field(default_factory=list)


def safe_id(text: str) -> str:
    """A file-stem-safe id: every character other than letters, digits, '_' and '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(text).strip())


def finish_listing(df: pd.DataFrame, root: str | Path, exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Fill listing_reason (unsafe id, path escaping the root, missing file, duplicated id) and order columns.

    exists(source) says whether a relative source will be there (default: it is on disk now)."""
    df = df.copy()
    for c in LISTING_COLUMNS:
        if c not in df:
            df[c] = ""
    df = df.fillna("")
    reasons = []
    for image_id, source, reason in zip(df["image_id"], df["source"], df["listing_reason"]):
        if not reason and not is_safe_id(image_id):
            reason = f"unsafe image id {image_id!r} (only letters, digits, '_' and '-')"
        if not reason:
            try:
                full = confined(root, source)
                if not (exists(source) if exists is not None else os.path.isfile(full)):
                    reason = f"{full}: {MISSING}"
            except ImageRejected as exc:
                reason = str(exc)
        reasons.append(reason)
    df["listing_reason"] = reasons
    dup = df["image_id"].duplicated(keep=False) & (df["listing_reason"] == "")
    for i in np.flatnonzero(dup.to_numpy()):
        others = df.loc[dup & (df["image_id"] == df["image_id"].iloc[i]), "source"].tolist()
        df.iloc[i, df.columns.get_loc("listing_reason")] = (
            f"duplicated image id {df['image_id'].iloc[i]!r} (files: {', '.join(sorted(set(others)))})")
    return df[LISTING_COLUMNS].reset_index(drop=True)


def usable(listing: pd.DataFrame) -> pd.DataFrame:
    """The rows of a listing that can be used."""
    return listing[listing["listing_reason"] == ""].reset_index(drop=True)


def listing_rejections(listing: pd.DataFrame, root: str | Path) -> list[dict[str, str]]:
    """Rejection rows of the listing rows that cannot be used."""
    bad = listing[listing["listing_reason"] != ""]
    return [rejections.row(r.image_id, os.path.join(str(root), r.source), "listing", r.listing_reason)
            for r in bad.itertuples()]


def reject(image_id: str, path: str | Path, reason: str, stage: str = STAGE) -> dict[str, str]:
    """One rejection row whose reason names the file."""
    return rejections.row(image_id, str(path), stage, f"{path}: {reason}")


def identical_or_conflicting(df: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact duplicate rows merged; rows whose key repeats with different values returned separately."""
    merged = df.drop_duplicates()
    clash = merged.duplicated(subset=key, keep=False)
    return merged[~clash].reset_index(drop=True), merged[clash].reset_index(drop=True)


def density_letter(value: Any) -> str:
    """BI-RADS density 1..4 (or 'A'..'D', 'DENSITY B') -> 'A'..'D'; '' when absent or 0."""
    s = str(value).strip().upper().replace("DENSITY", "").strip()
    if s in ("A", "B", "C", "D"):
        return s
    try:
        n = int(float(s))
    except ValueError:
        return ""
    return "ABCD"[n - 1] if 1 <= n <= 4 else ""


def birads_text(value: Any) -> str:
    """1..6 / '4a' / 'BI-RADS 4' -> 'BI-RADS 4' ('' when absent)."""
    s = str(value).strip().upper().replace("BI-RADS", "").strip()
    return f"BI-RADS {s[0]}" if s[:1].isdigit() else ""


def image_frame(rows: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> pd.DataFrame:
    """Images table with the canonical columns first, then the adapter's extra columns."""
    return pd.DataFrame(list(rows), columns=IMAGE_COLUMNS + list(extra))


def finding_frame(rows: Iterable[Mapping[str, Any]], extra: Iterable[str] = ()) -> pd.DataFrame:
    """Findings table with the canonical columns first, then the adapter's extra columns."""
    return pd.DataFrame(list(rows), columns=FINDING_COLUMNS + list(extra))


def geometry_json(geometry: Mapping[str, Any]) -> str:
    """Compact, stable JSON of a geometry."""
    return json.dumps(geometry, separators=(",", ":"), sort_keys=True)


def geometry_points(geometry: Mapping[str, Any]) -> np.ndarray:
    """All (x, y) points that define a geometry (circle: its centre)."""
    if "polygon" in geometry:
        return np.asarray(geometry["polygon"], dtype=np.float64).reshape(-1, 2)
    if "points" in geometry:
        return np.asarray(geometry["points"], dtype=np.float64).reshape(-1, 2)
    if "circle" in geometry:
        return np.asarray(geometry["circle"][:2], dtype=np.float64).reshape(1, 2)
    return np.zeros((0, 2))


def geometry_box(geometry: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """Bounding box (xmin, ymin, xmax, ymax) of a geometry in pixel-edge coordinates; None when empty."""
    if "circle" in geometry:
        x, y, r = (float(v) for v in geometry["circle"])
        return x - r, y - r, x + r, y + r
    pts = geometry_points(geometry)
    if not len(pts):
        return None
    r = float(geometry.get("radius", 0.5))
    return (float(pts[:, 0].min()) - r, float(pts[:, 1].min()) - r, float(pts[:, 0].max()) + r,
            float(pts[:, 1].max()) + r)


def rasterise(geometry: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """Bool mask of a geometry on an image of the given (rows, cols)."""
    out = np.zeros(shape, dtype=np.uint8)
    if "polygon" in geometry:
        pts = np.rint(geometry_points(geometry)).astype(np.int32)
        cv2.fillPoly(out, [pts.reshape(-1, 1, 2)], 1)
    elif "circle" in geometry:
        x, y, r = (float(v) for v in geometry["circle"])
        cv2.circle(out, (int(round(x)), int(round(y))), max(1, int(round(r))), 1, thickness=-1)
    elif "points" in geometry:
        r = max(1, int(round(float(geometry.get("radius", 1)))))
        for x, y in geometry_points(geometry):
            cv2.circle(out, (int(round(x)), int(round(y))), r, 1, thickness=-1)
    return out.astype(bool)


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Bounding box (xmin, ymin, xmax, ymax) of a bool mask, pixel-edge coordinates; None when empty."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def lesion_mask(root: str | Path, findings: pd.DataFrame, shape: tuple[int, int]) -> np.ndarray:
    """Union lesion mask of one image's findings (mask files and geometries) in original pixels.

    A mask file whose size differs from the image raises ImageRejected naming the mask file."""
    from mammoflow.io import raster

    out = np.zeros(shape, dtype=bool)
    for r in findings.itertuples():
        for rel in [m for m in str(r.mask_source or "").split("|") if m and m != "nan"]:
            path = confined(root, rel)
            m = raster.read_mask(path)
            if m.shape != tuple(shape):
                raise ImageRejected(str(path), f"mask is {m.shape[1]}x{m.shape[0]} but its image is "
                                               f"{shape[1]}x{shape[0]}")
            out |= m
        geometry = json.loads(r.geometry) if isinstance(r.geometry, str) and r.geometry else {}
        if geometry:
            out |= rasterise(geometry, shape)
    return out
