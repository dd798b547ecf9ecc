"""Canonical per-dataset tables: images, findings, rejections and the seed-000 manifests.

Inputs are the adapter's annotations (one job per dataset, original pixel coordinates) and the preprocessing
shard tables (decoded size and canvas geometry); every format goes through the same join."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mammoflow.core import rejections
from mammoflow.core.naming import TABLE_NAMES
from mammoflow.datasets import annotations as ann
from mammoflow.preprocess.canvas import Geometry, boxes_to_canvas

IMAGE_COLUMNS = ["image_id", "study_id", "series_id", "patient_id", "laterality", "view", "split", "source_path",
                 "rows", "cols", "bits_stored", "photometric", "transfer_syntax", "laterality_dicom", "view_dicom",
                 "breast_birads", "breast_density", "pathology", "label", "n_findings", "png_path", "mask_path",
                 "lesion_mask_path", "tissue_path", "height", "width", "new_height", "new_width", "scale_y",
                 "scale_x", "pad_top", "pad_left", "flipped", "chest_wall_side", "breast_fraction", "shard"]
FINDING_COLUMNS = ["finding_id", "image_id", "study_id", "split", "category", "pathology", "finding_birads",
                   "xmin", "ymin", "xmax", "ymax", "rxmin", "rymin", "rxmax", "rymax", "mask_source", "geometry"]
MANIFEST_COLUMNS = ["path", "image_id", "label", "birads", "split", "scale_y", "scale_x", "pad_top", "pad_left",
                    "flipped"]
ANNOTATION_NAMES = ("images", "findings", "rejected")
STAGE_ORDER = {"listing": 0, "annotate": 1, "preprocess": 2, "tables": 3, "findings": 4}
_INTERNAL = ("expected_rows", "expected_cols")
_INT_COLUMNS = ("rows", "cols", "bits_stored", "height", "width", "new_height", "new_width", "pad_top", "pad_left")


def geometry_of(r: pd.Series | dict[str, Any]) -> Geometry:
    """The canvas geometry recorded in a shard-table or images-table row."""
    return Geometry(int(r["rows"]), int(r["cols"]), int(r["height"]), int(r["width"]), int(r["new_height"]),
                    int(r["new_width"]), float(r["scale_y"]), float(r["scale_x"]), int(r["pad_top"]),
                    int(r["pad_left"]), bool(r["flipped"]))


def write_annotations(a: ann.Annotations, listing: pd.DataFrame, root: str | Path, outputs: dict[str, str]) -> None:
    """The annotation step's files: images (with the listing's columns), findings, rejected (listing + adapter)."""
    keys = ["image_id", "patient_id", "study_id", "laterality", "view", "split"]
    images = ann.usable(listing)[keys].merge(a.images, on="image_id", how="inner")
    for name in ("images", "findings"):
        Path(outputs[name]).parent.mkdir(parents=True, exist_ok=True)
    images.to_csv(outputs["images"], index=False)
    a.findings.to_csv(outputs["findings"], index=False)
    rejections.write(outputs["rejected"], ann.listing_rejections(listing, root) + list(a.rejected))


def annotate_job(fmt: str, root: str, outputs: dict[str, str]) -> None:
    """Snakemake entry point: run a dataset's adapter once and write its annotation files."""
    from mammoflow.datasets.formats import adapter

    mod = adapter(fmt)
    write_annotations(mod.annotate(root), mod.listing(root), root, outputs)


def _read(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image_id": str, "finding_id": str, "patient_id": str, "study_id": str},
                       keep_default_na=False, na_values={"xmin": [""], "ymin": [""], "xmax": [""], "ymax": [""]})


def assign_splits(img: pd.DataFrame, test_fraction: float, seed: int) -> pd.Series:
    """The dataset's split where it gives one; else a patient-level split stratified by lesion presence."""
    missing = img["split"].fillna("").astype(str) == ""
    split = img["split"].fillna("").astype(str).copy()
    if missing.any():
        from mammoflow.training.splits import grouped_split  # torch: only imported for datasets without splits

        sub = img[missing]
        test = grouped_split(sub["patient_id"].astype(str), sub["label"].fillna(0).astype(int), test_fraction, seed)
        split[missing] = np.where(test, "test", "training")
    return split


def build_tables(annotations: dict[str, str | Path], shard_tables: Iterable[str | Path], shard_of: dict[str, str],
                 test_fraction: float, seed: int) -> dict[str, pd.DataFrame]:
    """Join a dataset's annotations with its preprocessing shard tables into the canonical tables.

    Images without a split from the dataset get a patient-level one (test_fraction of the patients)."""
    images = _read(annotations["images"])
    rejected = rejections.read(annotations["rejected"])
    shards = pd.concat([pd.read_csv(p, dtype={"image_id": str}) for p in shard_tables], ignore_index=True)
    bad = shards[shards["status"] != "ok"]
    rejected += [rejections.row(r.image_id, r.source_path, "preprocess", r.reason) for r in bad.itertuples()]
    ok = shards[shards["status"] == "ok"].drop(columns=["status", "reason"])
    dup = images["image_id"].duplicated(keep=False)
    rejected += [rejections.row(i, "", "tables", f"{annotations['images']}: image id {i} annotated twice")
                 for i in sorted(set(images.loc[dup, "image_id"]))]
    img = images[~dup].merge(ok, on="image_id", how="inner", validate="one_to_one")
    for c in _INT_COLUMNS:
        img[c] = img[c].astype(int)
    if "expected_rows" in img:
        mismatch = (img["expected_rows"].astype(int) != img["rows"]) | (img["expected_cols"].astype(int) != img["cols"])
        rejected += [rejections.row(r.image_id, r.source_path, "tables", f"{r.source_path}: annotation size "
                                    f"{r.expected_cols}x{r.expected_rows} differs from the DICOM's {r.cols}x{r.rows}; "
                                    "boxes cannot be trusted") for r in img[mismatch].itertuples()]
        img = img[~mismatch].drop(columns=list(_INTERNAL))
    for c in ("lesion_mask_path", "tissue_path", "laterality_dicom", "view_dicom"):
        img[c] = img[c].fillna("").astype(str) if c in img else ""
    img["laterality"] = img["laterality"].where(img["laterality"] != "", img["laterality_dicom"])
    img["view"] = img["view"].where(img["view"] != "", img["view_dicom"].replace({"ML": "MLO"}))
    img["label"] = pd.to_numeric(img["label"], errors="coerce").astype("Int64")
    img["split"] = assign_splits(img, test_fraction, seed)
    img["shard"] = img["image_id"].map(shard_of).fillna("")
    for c in IMAGE_COLUMNS:
        if c not in img:
            img[c] = ""
    findings, frej = _findings(_read(annotations["findings"]), img)
    rejected += frej
    counts = findings.groupby("image_id").size() if len(findings) else pd.Series(dtype=int)
    img["n_findings"] = img["image_id"].map(counts).fillna(0).astype(int)
    extra = [c for c in images.columns if c not in IMAGE_COLUMNS and c not in _INTERNAL]
    img = img.sort_values("image_id").reset_index(drop=True)[IMAGE_COLUMNS + extra]
    manifest = pd.DataFrame({
        "path": img["png_path"], "image_id": img["image_id"], "label": img["label"],
        "birads": img["breast_birads"], "split": img["split"], "scale_y": img["scale_y"],
        "scale_x": img["scale_x"], "pad_top": img["pad_top"], "pad_left": img["pad_left"], "flipped": img["flipped"],
    })[MANIFEST_COLUMNS]
    return {
        "images": img,
        "findings": findings,
        "rejected": _rejected_frame(rejected),
        "resized_images_manifest": manifest,
        "training_resized_images": manifest[manifest["split"] == "training"].reset_index(drop=True),
        "test_resized_images": manifest[manifest["split"] == "test"].reset_index(drop=True),
    }


def _rejected_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per rejected image (its earliest stage) plus the per-finding rows, sorted."""
    rej = pd.DataFrame(rows, columns=list(rejections.COLUMNS)).fillna("")
    rej["order"] = rej["stage"].map(STAGE_ORDER).fillna(len(STAGE_ORDER))
    image_level = rej[rej["stage"] != "findings"].sort_values(["order", "reason"]).drop_duplicates("image_id")
    rej = pd.concat([image_level, rej[rej["stage"] == "findings"]]).drop_duplicates()
    return rej.sort_values(["stage", "image_id", "reason"]).drop(columns="order").reset_index(drop=True)


def _findings(f: pd.DataFrame, img: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Finding rows of usable images with canvas boxes; boxes outside the decoded image become rejections."""
    geo = {r["image_id"]: r for _, r in img.iterrows()}
    rows, rejected = [], []
    for r in f[f["image_id"].isin(set(img["image_id"]))].to_dict("records"):
        g = geo[r["image_id"]]
        box = np.array([r["xmin"], r["ymin"], r["xmax"], r["ymax"]], dtype=float)
        out = {**{c: r.get(c, "") for c in FINDING_COLUMNS}, "study_id": g["study_id"], "split": g["split"]}
        if not np.isnan(box).any():
            H, W, tol = int(g["rows"]), int(g["cols"]), 1.0
            if not (box[0] < box[2] and box[1] < box[3]) or box[0] < -tol or box[1] < -tol or box[2] > W + tol \
                    or box[3] > H + tol:
                rejected.append(rejections.row(r["image_id"], g["source_path"], "findings", (
                    f"{g['source_path']}: finding box ({box[0]:g}, {box[1]:g}, {box[2]:g}, {box[3]:g}) is outside "
                    f"the {W}x{H} image or empty")))
                continue
            box = np.clip(box, 0, [W, H, W, H])
            rb = boxes_to_canvas(box[None], geometry_of(g))[0]
            out.update(xmin=box[0], ymin=box[1], xmax=box[2], ymax=box[3], rxmin=round(rb[0], 3),
                       rymin=round(rb[1], 3), rxmax=round(rb[2], 3), rymax=round(rb[3], 3))
        else:
            out.update(xmin=np.nan, ymin=np.nan, xmax=np.nan, ymax=np.nan, rxmin=np.nan, rymin=np.nan,
                       rxmax=np.nan, rymax=np.nan)
        rows.append(out)
    extra = [c for c in f.columns if c not in FINDING_COLUMNS]
    frame = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    if extra and rows:
        keep = f.set_index("finding_id")[extra]
        frame = frame.join(keep, on="finding_id")
    return frame, rejected


def write_tables(tables: dict[str, pd.DataFrame], outputs: dict[str, str]) -> None:
    """Write each table to its output path (same keys)."""
    for name, path in outputs.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tables[name].to_csv(path, index=False)


def build_tables_job(inputs: Any, outputs: Any, shard_of: dict[str, str], test_fraction: float, seed: int) -> None:
    """Snakemake entry point: build and write the canonical tables of one dataset."""
    tables = build_tables({n: inputs[n] for n in ANNOTATION_NAMES}, list(inputs["shards"]), shard_of,
                          test_fraction, seed)
    write_tables(tables, {n: outputs[n] for n in TABLE_NAMES})
