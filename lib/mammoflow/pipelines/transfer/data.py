"""The seed-004 data set from the canonical tables: labels, roi/whole samples, patient-level splits, arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from torch.utils.data import TensorDataset

from mammoflow.core import rejections
from mammoflow.core.errors import ImageRejected
from mammoflow.io import png
from mammoflow.pipelines.transfer import prep
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.pipelines.transfer.plan import CLASSES
from mammoflow.training.splits import grouped_three_way

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ["sample_id", "image_id", "patient_id", "finding_id", "label", "class", "split", "png_path",
                 "x0", "y0", "x1", "y1", "bx0", "by0", "bx1", "by1", "lesion_mask_path"]


def birads_number(text: Any) -> float:
    """Leading BI-RADS category of a cell ('4', '4a', 'BI-RADS 5') or nan."""
    s = str(text or "").upper().replace("BI-RADS", "").strip()
    return float(s[0]) if s[:1].isdigit() else float("nan")


def label_of(pathology: Any, birads: Any, cfg: TransferConfig) -> int | None:
    """1 malignant, 0 benign, None unknown: from pathology (auto/pathology) or BI-RADS (auto fallback/birads)."""
    p = str(pathology or "").strip().lower()
    if cfg.label_source in ("auto", "pathology") and p in ("malignant", "benign", "benign_without_callback"):
        return int(p == "malignant")
    if cfg.label_source in ("auto", "birads"):
        b = birads_number(birads)
        if b == b and b >= 2:
            return int(b >= cfg.birads_malignant_min)
    return None


def _patient(r: pd.Series) -> str:
    return str(r.get("patient_id") or "") or str(r.get("study_id") or "") or str(r["image_id"])


def build_samples(images: pd.DataFrame, findings: pd.DataFrame, cfg: TransferConfig,
                  seed: int) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """One row per sample (finding crop or whole canvas) with label and patient-level split, and rejection rows."""
    img = {r["image_id"]: r for _, r in images.iterrows()}
    rows, rejected = [], []
    f = findings[findings["image_id"].isin(set(img))].copy()
    for _, fr in f.iterrows():
        im = img[fr["image_id"]]
        y = label_of(fr.get("pathology"), fr.get("finding_birads"), cfg)
        box = [fr.get(c) for c in ("rxmin", "rymin", "rxmax", "rymax")]
        if y is None:
            if cfg.inputs == "roi":
                rejected.append(rejections.row(fr["image_id"], im["png_path"], "transfer_labels",
                                               f"{im['png_path']}: finding {fr['finding_id']} has no benign/malignant "
                                               f"label (pathology {fr.get('pathology')!r}, BI-RADS "
                                               f"{fr.get('finding_birads')!r})"))
            continue
        if any(pd.isna(v) or v == "" for v in box):
            if cfg.inputs == "roi":
                rejected.append(rejections.row(fr["image_id"], im["png_path"], "transfer_labels",
                                               f"{im['png_path']}: finding {fr['finding_id']} has no box"))
                box = [np.nan] * 4
                continue
            box = [np.nan] * 4
        bx = [float(v) for v in box]
        rows.append({"sample_id": str(fr["finding_id"]), "image_id": fr["image_id"], "patient_id": _patient(im),
                     "finding_id": str(fr["finding_id"]), "label": y, "bx0": bx[0], "by0": bx[1], "bx1": bx[2],
                     "by1": bx[3], "png_path": im["png_path"], "lesion_mask_path": im.get("lesion_mask_path", "")})
    s = pd.DataFrame(rows, columns=[c for c in SPLIT_COLUMNS if c not in ("class", "split", "x0", "y0", "x1", "y1")])
    if cfg.inputs == "whole":
        s = _whole(images, s, cfg, rejected)
    if cfg.inputs == "roi" and len(s):
        crops = [prep.square_box((r.bx0, r.by0, r.bx1, r.by1), cfg.margin, cfg.min_crop) for r in s.itertuples()]
        s[["x0", "y0", "x1", "y1"]] = np.asarray(crops, dtype=int)
    for c in ("x0", "y0", "x1", "y1"):
        if c not in s:
            s[c] = pd.Series(dtype=int)
    s["class"] = [CLASSES[int(v)] for v in s["label"]]
    if len(s):
        tw = grouped_three_way(s["patient_id"], s["label"], cfg.val_fraction, cfg.test_fraction, seed)
        s["split"] = pd.Series(tw).map({"training": "train", "validation": "val", "test": "test"}).to_numpy()
    else:
        s["split"] = []
    return s[SPLIT_COLUMNS].sort_values("sample_id", kind="mergesort").reset_index(drop=True), rejected


def _whole(images: pd.DataFrame, fs: pd.DataFrame, cfg: TransferConfig, rejected: list) -> pd.DataFrame:
    """One sample per image: malignant if any labelled finding is; images without a labelled finding use the
    image's pathology / BI-RADS or are rejected. Lesion boxes (for the pointing game) are the first malignant one."""
    rows = []
    for _, im in images.iterrows():
        g = fs[fs["image_id"] == im["image_id"]]
        if len(g):
            y = int(g["label"].max())
            b = g[g["label"] == y].iloc[0]
            box = [b.bx0, b.by0, b.bx1, b.by1]
        else:
            y = label_of(im.get("pathology"), im.get("breast_birads"), cfg)
            box = [np.nan] * 4
            if y is None:
                rejected.append(rejections.row(im["image_id"], im["png_path"], "transfer_labels",
                                               f"{im['png_path']}: image has no benign/malignant label"))
                continue
        h, w = int(im["height"]), int(im["width"])
        rows.append({"sample_id": im["image_id"], "image_id": im["image_id"], "patient_id": _patient(im),
                     "finding_id": "", "label": y, "png_path": im["png_path"], "x0": 0, "y0": 0, "x1": w, "y1": h,
                     "bx0": box[0], "by0": box[1], "bx1": box[2], "by1": box[3],
                     "lesion_mask_path": im.get("lesion_mask_path", "")})
    return pd.DataFrame(rows, columns=[c for c in SPLIT_COLUMNS if c not in ("class", "split")])


def splits_job(images_csv: str, findings_csv: str, cfg: TransferConfig, seed: int, out_csv: str,
               out_rejected: str) -> None:
    """Snakemake entry point: splits.csv (one row per sample) and the label rejections."""
    images = pd.read_csv(images_csv, keep_default_na=False)
    findings = pd.read_csv(findings_csv, keep_default_na=False, na_values={c: [""] for c in
                                                                           ("rxmin", "rymin", "rxmax", "rymax")})
    s, rej = build_samples(images, findings, cfg, seed)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    s.to_csv(out_csv, index=False)
    rejections.write(out_rejected, rej)


def _breast_pools(canvas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of every breast pixel (non-zero) and of the breast's border pixels (skin line, chest wall; the
    canvas edge counts as outside)."""
    breast = np.pad(canvas > 0, 1)
    border = breast & ~ndimage.binary_erosion(breast, iterations=2)
    return np.argwhere(breast[1:-1, 1:-1]), np.argwhere(border[1:-1, 1:-1])


def background_samples(samples: pd.DataFrame, fraction: float, seed: int, max_tries: int = 50) -> pd.DataFrame:
    """Hard negatives for roi training: round(fraction x training samples) square crops of training images, sides
    drawn from the training crops' sides, centred on a random breast pixel (every other one on the breast's
    border: skin line or chest wall), overlapping no finding box of their image; split train, label 0.
    Deterministic for a seed; fewer rows when max_tries x n draws do not find enough free places."""
    tr = samples[samples["split"] == "train"]
    n = int(round(fraction * len(tr)))
    cols = SPLIT_COLUMNS
    if n <= 0 or not len(tr):
        return pd.DataFrame(columns=cols)
    rng = np.random.default_rng([int(seed), 4004])
    sides = np.maximum(tr["x1"] - tr["x0"], tr["y1"] - tr["y0"]).to_numpy(dtype=int)
    images = tr.drop_duplicates("image_id").sort_values("image_id").reset_index(drop=True)
    boxes = {i: g[["bx0", "by0", "bx1", "by1"]].dropna().to_numpy(float) for i, g in samples.groupby("image_id")}
    pools: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for _ in range(max_tries * n):
        if len(rows) == n:
            break
        im = images.iloc[int(rng.integers(len(images)))]
        if im["image_id"] not in pools:
            pools[im["image_id"]] = _breast_pools(png.read_unit(im["png_path"]))
        pool = pools[im["image_id"]][len(rows) % 2 == 0]  # border on even rows, anywhere in the breast on odd
        side = int(sides[int(rng.integers(len(sides)))])
        if not len(pool):
            continue
        cy, cx = pool[int(rng.integers(len(pool)))]
        x0, y0 = int(cx) - side // 2, int(cy) - side // 2
        b = boxes.get(im["image_id"], np.zeros((0, 4)))
        if len(b) and np.any((b[:, 0] < x0 + side) & (b[:, 2] > x0) & (b[:, 1] < y0 + side) & (b[:, 3] > y0)):
            continue
        rows.append({"sample_id": f"{im['image_id']}_bg{len(rows):04d}", "image_id": im["image_id"],
                     "patient_id": im["patient_id"], "finding_id": "", "label": 0, "class": "background",
                     "split": "train", "png_path": im["png_path"], "x0": x0, "y0": y0, "x1": x0 + side,
                     "y1": y0 + side, "bx0": np.nan, "by0": np.nan, "bx1": np.nan, "by1": np.nan,
                     "lesion_mask_path": im.get("lesion_mask_path", "")})
    return pd.DataFrame(rows, columns=cols)


def load_sample(r: Any, cfg: TransferConfig, canvas: np.ndarray | None = None) -> np.ndarray:
    """The size x size [0, 1] model input of one splits.csv row (ImageRejected naming the file)."""
    img = png.read_unit(r.png_path) if canvas is None else canvas
    box = (int(r.x0), int(r.y0), int(r.x1), int(r.y1))
    return prep.model_input(prep.crop(img, box), cfg.input_size, cfg.clahe, cfg.clahe_clip, cfg.clahe_tiles,
                            str(r.png_path))


def load_arrays(samples: pd.DataFrame, cfg: TransferConfig) -> tuple[np.ndarray, list[bool], list[dict[str, str]]]:
    """Model inputs (N x S x S float32) of the samples, a kept mask and rejection rows for unusable ones."""
    out, kept, rej, cache = [], [], [], {}
    for r in samples.itertuples():
        try:
            if r.png_path not in cache:
                cache = {r.png_path: png.read_unit(r.png_path)}
            out.append(load_sample(r, cfg, cache[r.png_path]))
            kept.append(True)
        except ImageRejected as e:
            rej.append(rejections.row(r.image_id, r.png_path, "transfer_inputs", str(e)))
            kept.append(False)
    arr = np.stack(out) if out else np.zeros((0, cfg.input_size, cfg.input_size), np.float32)
    return arr, kept, rej


def tensor_dataset(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    """(N x 1 x S x S float tensor, int64 labels)."""
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1), torch.as_tensor(y, dtype=torch.long))


def export_imagefolder(samples: pd.DataFrame, cfg: TransferConfig, out_dir: str) -> None:
    """The template's ImageFolder layout: out_dir/{train,val,test}/{benign,malignant}/<sample_id>.png (8-bit)."""
    x, kept, _ = load_arrays(samples, cfg)
    for r, a in zip(samples[kept].itertuples(), x):
        dest = Path(out_dir) / r.split / CLASSES[int(r.label)] / f"{r.sample_id}.png"
        png.write(dest, np.round(a * 255).astype(np.uint8))
