"""Canonical per-dataset tables: images, findings, rejections and the seed-000 manifests."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mammoflow.core import rejections
from mammoflow.core.naming import TABLE_NAMES
from mammoflow.preprocess.canvas import Geometry, boxes_to_canvas

IMAGE_COLUMNS = ["image_id", "study_id", "series_id", "patient_id", "laterality", "view", "split", "source_path",
                 "rows", "cols", "bits_stored", "photometric", "transfer_syntax", "laterality_dicom", "view_dicom",
                 "breast_birads", "breast_density", "label", "n_findings", "png_path", "mask_path", "height",
                 "width", "new_height", "new_width", "scale_y", "scale_x", "pad_top", "pad_left", "flipped",
                 "chest_wall_side", "breast_fraction", "shard"]
FINDING_COLUMNS = ["finding_id", "image_id", "study_id", "split", "category", "finding_birads",
                   "xmin", "ymin", "xmax", "ymax", "rxmin", "rymin", "rxmax", "rymax"]
MANIFEST_COLUMNS = ["path", "image_id", "label", "birads", "split", "scale_y", "scale_x", "pad_top", "pad_left",
                    "flipped"]


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


def _geometry(r: pd.Series) -> Geometry:
    return Geometry(int(r["rows"]), int(r["cols"]), int(r["height"]), int(r["width"]), int(r["new_height"]),
                    int(r["new_width"]), float(r["scale_y"]), float(r["scale_x"]), int(r["pad_top"]),
                    int(r["pad_left"]), bool(r["flipped"]))


def build_tables(breast_csv: str | Path, findings_csv: str | Path, shard_tables: Iterable[str | Path],
                 listing_rejections: list[dict[str, Any]], shard_of: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Join raw annotations with the preprocessing shard tables into the canonical tables."""
    breast = pd.read_csv(breast_csv, dtype=str).apply(lambda c: c.str.strip())
    shards = pd.concat([pd.read_csv(p, dtype={"image_id": str}) for p in shard_tables], ignore_index=True)
    rejected = [{"image_id": r["image_id"], "source_path": r["source"], "stage": "listing",
                 "reason": r["listing_reason"]} for r in listing_rejections]
    bad = shards[shards["status"] != "ok"]
    rejected += [{"image_id": r.image_id, "source_path": r.source_path, "stage": "preprocess", "reason": r.reason}
                 for r in bad.itertuples()]
    ok = shards[shards["status"] == "ok"].drop(columns=["status", "reason"])
    breast = breast.rename(columns={"height": "csv_height", "width": "csv_width"})
    img = breast.merge(ok, on="image_id", how="inner", validate="one_to_one")
    mismatch = (img["csv_height"].astype(int) != img["rows"].astype(int)) | \
        (img["csv_width"].astype(int) != img["cols"].astype(int))
    rejected += [{"image_id": r.image_id, "source_path": r.source_path, "stage": "tables",
                  "reason": f"{r.source_path}: annotation size {r.csv_width}x{r.csv_height} differs from the "
                            f"DICOM's {int(r.cols)}x{int(r.rows)}; boxes cannot be trusted"}
                 for r in img[mismatch].itertuples()]
    img = img[~mismatch]
    img = img.rename(columns={"view_position": "view"})
    img["patient_id"] = img["study_id"]  # VinDr publishes no patient id; a study is one patient
    img["label"] = img["breast_birads"].map(image_label).astype(int)
    img["shard"] = img["image_id"].map(shard_of).fillna("")
    for c in ("rows", "cols", "bits_stored", "height", "width", "new_height", "new_width", "pad_top", "pad_left"):
        img[c] = img[c].astype(int)
    findings, frej = _findings(findings_csv, img)
    rejected += frej
    counts = findings.groupby("image_id").size() if len(findings) else pd.Series(dtype=int)
    img["n_findings"] = img["image_id"].map(counts).fillna(0).astype(int)
    img = img.sort_values("image_id").reset_index(drop=True)[IMAGE_COLUMNS]
    rej = pd.DataFrame(rejected, columns=list(rejections.COLUMNS)).sort_values(["stage", "image_id", "reason"])
    manifest = pd.DataFrame({
        "path": img["png_path"], "image_id": img["image_id"], "label": img["label"],
        "birads": img["breast_birads"], "split": img["split"], "scale_y": img["scale_y"],
        "scale_x": img["scale_x"], "pad_top": img["pad_top"], "pad_left": img["pad_left"], "flipped": img["flipped"],
    })[MANIFEST_COLUMNS]
    return {
        "images": img,
        "findings": findings,
        "rejected": rej.reset_index(drop=True),
        "resized_images_manifest": manifest,
        "training_resized_images": manifest[manifest["split"] == "training"].reset_index(drop=True),
        "test_resized_images": manifest[manifest["split"] == "test"].reset_index(drop=True),
    }


def _findings(findings_csv: str | Path, img: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Finding rows of usable images with canvas boxes; boxes outside the image become rejections."""
    f = pd.read_csv(findings_csv, dtype={"image_id": str, "study_id": str, "split": str})
    f = f[f["image_id"].isin(set(img["image_id"]))]
    geo = {r["image_id"]: r for _, r in img.iterrows()}
    rows, rejected = [], []
    counter: dict[str, int] = {}
    for r in f.itertuples(index=False):
        cats = [c for c in parse_categories(r.finding_categories) if c != "No Finding"]
        box = np.array([r.xmin, r.ymin, r.xmax, r.ymax], dtype=float)
        if not cats or np.isnan(box).any():
            continue
        g = geo[r.image_id]
        H, W = int(g["rows"]), int(g["cols"])
        tol = 1.0
        if not (box[0] < box[2] and box[1] < box[3]) or box[0] < -tol or box[1] < -tol or box[2] > W + tol \
                or box[3] > H + tol:
            rejected.append({"image_id": r.image_id, "source_path": g["source_path"], "stage": "findings",
                             "reason": f"{g['source_path']}: finding box ({box[0]:g}, {box[1]:g}, {box[2]:g}, "
                                       f"{box[3]:g}) is outside the {W}x{H} image or empty"})
            continue
        box = np.clip(box, 0, [W, H, W, H])
        rb = boxes_to_canvas(box[None], _geometry(g))[0]
        k = counter.get(r.image_id, 0)
        counter[r.image_id] = k + 1
        rows.append({"finding_id": f"{r.image_id}_{k}", "image_id": r.image_id, "study_id": r.study_id,
                     "split": r.split, "category": "|".join(cats),
                     "finding_birads": "" if pd.isna(r.finding_birads) else str(r.finding_birads).strip(),
                     "xmin": box[0], "ymin": box[1], "xmax": box[2], "ymax": box[3],
                     "rxmin": round(rb[0], 3), "rymin": round(rb[1], 3), "rxmax": round(rb[2], 3),
                     "rymax": round(rb[3], 3)})
    return pd.DataFrame(rows, columns=FINDING_COLUMNS), rejected


def write_tables(tables: dict[str, pd.DataFrame], outputs: dict[str, str]) -> None:
    """Write each table to its output path (same keys)."""
    for name, path in outputs.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tables[name].to_csv(path, index=False)




def build_tables_job(inputs: Any, outputs: Any, listing_rejections: list[dict[str, Any]],
                     shard_of: dict[str, str]) -> None:
    """Snakemake entry point: build and write the canonical tables of one dataset."""
    tables = build_tables(inputs["breast"], inputs["findings"], list(inputs["shards"]), listing_rejections,
                          shard_of)
    write_tables(tables, {n: outputs[n] for n in TABLE_NAMES})
