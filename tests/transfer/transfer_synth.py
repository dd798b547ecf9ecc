"""Tiny canonical tables for the transfer tests: canvases with round (benign) or spiculated (malignant) lesions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.transfer.config import TransferConfig


def lesion(h: int, w: int, cx: float, cy: float, r: float, malignant: bool, rng: np.random.Generator) -> np.ndarray:
    """Lesion intensity: a smooth disk, or a star with spicules of about the same total brightness."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang, d = np.arctan2(yy - cy, xx - cx), np.hypot(xx - cx, yy - cy)
    if malignant:
        k = int(rng.integers(5, 8))
        rad = r * (0.55 + 0.75 * np.clip(np.cos(k * ang + rng.uniform(0, 6.3)), 0, 1) ** 6)
    else:
        rad = np.full_like(d, r)
    return (np.clip(1.0 - d / np.maximum(rad, 1e-3), 0, 1) ** 0.4).astype(np.float32)


def canvas(rng: np.random.Generator, h: int, w: int, malignant: bool) -> tuple[np.ndarray, tuple[float, ...]]:
    """uint16 canvas (breast half-ellipse on the left, texture) with one lesion, and its box."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    breast = ((yy - h / 2) / (0.45 * h)) ** 2 + (xx / (0.8 * w)) ** 2 <= 1
    tex = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 3)
    img = np.where(breast, 0.35 + 0.04 * tex, 0).astype(np.float32)
    r = float(rng.uniform(6, 12))
    cx, cy = float(rng.uniform(0.2 * w, 0.5 * w)), float(rng.uniform(0.3 * h, 0.7 * h))
    les = lesion(h, w, cx, cy, r, malignant, rng)
    img = np.clip(img + float(rng.uniform(0.2, 0.5)) * les * breast, 0, 1)
    ys, xs = np.nonzero(les > 0.05)
    box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return np.round(img * 65535).astype(np.uint16), box


def write_tables(root: Path, n_patients: int = 60, h: int = 160, w: int = 128, seed: int = 0,
                 pathology: bool = True) -> tuple[Path, Path]:
    """images.csv and findings.csv (canonical columns the pipeline reads) for n_patients x 2 views."""
    rng = np.random.default_rng(seed)
    (root / "pre").mkdir(parents=True, exist_ok=True)
    images, findings = [], []
    for p in range(n_patients):
        mal = p % 2 == 1
        for v in ("CC", "MLO"):
            iid = f"p{p:03d}_{v}"
            img, box = canvas(rng, h, w, mal)
            path = root / "pre" / f"{iid}.png"
            cv2.imwrite(str(path), img)
            images.append({"image_id": iid, "patient_id": f"P{p:03d}", "study_id": f"S{p:03d}", "split": "training",
                           "png_path": str(path), "lesion_mask_path": "", "height": h, "width": w,
                           "pathology": "malignant" if mal else "benign", "breast_birads": "BI-RADS 4"})
            findings.append({"finding_id": f"{iid}_1", "image_id": iid, "study_id": f"S{p:03d}", "split": "training",
                             "category": "mass", "pathology": ("malignant" if mal else "benign") if pathology else "",
                             "finding_birads": ("BI-RADS 5" if mal else "BI-RADS 3"), "rxmin": box[0],
                             "rymin": box[1], "rxmax": box[2], "rymax": box[3]})
    pd.DataFrame(images).to_csv(root / "images.csv", index=False)
    pd.DataFrame(findings).to_csv(root / "findings.csv", index=False)
    return root / "images.csv", root / "findings.csv"


def tiny_config(**overrides) -> TransferConfig:
    """The schema defaults at test size."""
    base = dict(input_size=48, min_crop=32, n_boot=50, batch_size=16, patience=0, eval_batch_size=32,
                stages=[{"name": "head", "train": "head", "epochs": 1, "lr": 1e-3},
                        {"name": "all", "train": "all", "epochs": 3, "lr": 1e-3}])
    base.update(overrides)
    return TransferConfig.from_config(schema_defaults("transfer", **base))
