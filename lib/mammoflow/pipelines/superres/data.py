"""LR/HR pairs: 16-bit canvases (optional CLAHE), HR patches from breast tissue, degraded LR patches, pairs.csv."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from skimage.exposure import equalize_adapthist
from skimage.filters import gaussian

from mammoflow.core import rejections
from mammoflow.core.config import from_mapping
from mammoflow.core.determinism import stable_hash
from mammoflow.core.errors import ImageRejected
from mammoflow.io import png

log = logging.getLogger("mammoflow.superres")

STAGE = "superres_pairs"
PAIR_COLUMNS = ("pair_id", "image_id", "patient_id", "split", "kind", "source_path", "x0", "y0", "x1", "y1",
                "scale", "degrade", "breast_fraction", "lesion_overlap", "n_specks", "specks", "hr_path", "lr_path",
                "mask_path")


@dataclass(frozen=True)
class ClaheConfig:
    """Optional CLAHE of the canvas."""

    enabled: bool
    clip_limit: float
    tiles: int


@dataclass(frozen=True)
class PairConfig:
    """How pairs are cut and degraded."""

    hr_size: int
    scale: int
    degrade: str
    blur_sigma: float
    per_image: int
    lesion_fraction: float
    min_breast_fraction: float
    min_std: float
    tries: int


def load_canvas(path: str | Path, clahe: ClaheConfig) -> np.ndarray:
    """The uint16 canvas of an image, CLAHE-equalised (scikit-image, 16-bit kept) when enabled."""
    img = png.read(path, dtype=np.uint16)
    if not clahe.enabled:
        return img
    kernel = (max(1, img.shape[0] // clahe.tiles), max(1, img.shape[1] // clahe.tiles))
    eq = equalize_adapthist(img, kernel_size=kernel, clip_limit=clahe.clip_limit, nbins=4096)
    return np.clip(np.rint(eq * 65535.0), 0, 65535).astype(np.uint16)


def degrade(hr: np.ndarray, cfg: PairConfig) -> np.ndarray:
    """LR of a uint16 HR patch: anti-aliased bicubic down-sampling, or Gaussian blur then decimation."""
    s = cfg.scale
    x = hr.astype(np.float64)
    if cfg.degrade == "bicubic":
        t = torch.from_numpy(x)[None, None]
        lr = F.interpolate(t, scale_factor=1.0 / s, mode="bicubic", antialias=True, align_corners=False)[0, 0].numpy()
    else:
        lr = gaussian(x, sigma=cfg.blur_sigma, preserve_range=True, mode="reflect")[s // 2::s, s // 2::s]
    return np.clip(np.rint(lr), 0, 65535).astype(np.uint16)


def upsample_bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic up-sampling of a uint16 LR patch by the scale factor (the baseline), uint16."""
    t = torch.from_numpy(lr.astype(np.float64))[None, None]
    up = F.interpolate(t, scale_factor=float(scale), mode="bicubic", align_corners=False)[0, 0].numpy()
    return np.clip(np.rint(up), 0, 65535).astype(np.uint16)


def check_pair(hr: np.ndarray, lr: np.ndarray, scale: int, name: str) -> None:
    """ImageRejected naming the pair when LR and HR are not exactly the scale factor apart."""
    if hr.shape != (lr.shape[0] * scale, lr.shape[1] * scale):
        raise ImageRejected(name, f"LR {lr.shape} and HR {hr.shape} are not x{scale} apart")


def _centres(boxes: pd.DataFrame) -> np.ndarray:
    return np.stack([(boxes["rxmin"] + boxes["rxmax"]) / 2, (boxes["rymin"] + boxes["rymax"]) / 2], axis=1) \
        if len(boxes) else np.zeros((0, 2))


def _draw_boxes(img_id: str, breast: np.ndarray, centres: np.ndarray, cfg: PairConfig,
                rng: np.random.Generator) -> list[tuple[str, int, int, str]]:
    """(kind, x0, y0, reason) of each pair of an image; reason non-empty when no valid box was found."""
    h, w = breast.shape
    hs = cfg.hr_size
    n_les = int(round(cfg.lesion_fraction * cfg.per_image)) if len(centres) else 0
    ys, xs = np.nonzero(breast)
    out = []
    for k in range(cfg.per_image):
        kind = "lesion" if k < n_les else "random"
        reason = ""
        for _ in range(cfg.tries):
            if kind == "lesion":
                cx, cy = centres[rng.integers(len(centres))] + rng.uniform(-hs / 4, hs / 4, 2)
            elif len(xs):
                j = rng.integers(len(xs))
                cx, cy = xs[j] + 0.5, ys[j] + 0.5
            else:
                cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            x0 = int(np.clip(round(cx - hs / 2), 0, max(w - hs, 0)))
            y0 = int(np.clip(round(cy - hs / 2), 0, max(h - hs, 0)))
            frac = float(breast[y0:y0 + hs, x0:x0 + hs].mean()) if h >= hs and w >= hs else 0.0
            if frac >= cfg.min_breast_fraction:
                break
            reason = f"HR patch outside the breast (breast fraction {frac:.2f} < {cfg.min_breast_fraction})"
        else:
            out.append((kind, x0, y0, reason or "canvas smaller than the HR patch"))
            continue
        out.append((kind, x0, y0, ""))
    return out


def cut_pair(canvas: np.ndarray, breast: np.ndarray, lesion: np.ndarray | None, specks: np.ndarray, x0: int,
             y0: int, cfg: PairConfig, name: str) -> dict[str, Any]:
    """HR, LR and mask of one box with its lesion overlap and speck positions; ImageRejected if unusable."""
    hs = cfg.hr_size
    hr = canvas[y0:y0 + hs, x0:x0 + hs]
    m = breast[y0:y0 + hs, x0:x0 + hs]
    if hr.shape != (hs, hs):
        raise ImageRejected(name, f"HR box ({x0}, {y0}) +{hs} leaves the canvas {canvas.shape}")
    frac = float(m.mean())
    if frac < cfg.min_breast_fraction:
        raise ImageRejected(name, f"HR patch outside the breast (breast fraction {frac:.2f} < "
                                  f"{cfg.min_breast_fraction})")
    std = float(hr[m].std()) if m.any() else 0.0
    if std < cfg.min_std:
        raise ImageRejected(name, f"flat HR patch (standard deviation {std:.2f} < {cfg.min_std} in 16-bit units)")
    lr = degrade(hr, cfg)
    check_pair(hr, lr, cfg.scale, name)
    inside = (specks[:, 0] >= x0) & (specks[:, 0] < x0 + hs) & (specks[:, 1] >= y0) & (specks[:, 1] < y0 + hs) \
        if len(specks) else np.zeros(0, bool)
    local = [[round(float(x - x0), 2), round(float(y - y0), 2)] for x, y in specks[inside]]
    overlap = float((lesion[y0:y0 + hs, x0:x0 + hs] > 0).mean()) if lesion is not None else 0.0
    return {"hr": hr, "lr": lr, "mask": m, "breast_fraction": frac, "lesion_overlap": overlap,
            "specks": local}


def _lesion_mask(row: Any) -> np.ndarray | None:
    p = getattr(row, "lesion_mask_path", None)
    if isinstance(p, str) and p and Path(p).is_file():
        return png.read(p)
    return None


def make_pairs(images_csv: str, findings_csv: str, out_dir: str, pairs_csv: str, rejected_csv: str,
               pair_cfg: Mapping[str, Any], clahe_cfg: Mapping[str, Any], seed: int) -> pd.DataFrame:
    """Cut every image's pairs (one job per dataset: canvases read once each), write PNGs, pairs.csv, rejections."""
    cfg = from_mapping(PairConfig, pair_cfg, "superres.pairs")
    clahe = from_mapping(ClaheConfig, clahe_cfg, "superres.clahe")
    images = pd.read_csv(images_csv, dtype={"image_id": str, "patient_id": str})
    findings = pd.read_csv(findings_csv, dtype={"image_id": str})
    findings = findings[findings["rxmin"].notna()]
    rows, rejected = [], []
    for r in images.sort_values("image_id").itertuples():
        f = findings[findings["image_id"] == r.image_id]
        speck_xy = _centres(f[f["category"] == "calcification"])
        try:
            canvas = load_canvas(r.png_path, clahe)
            breast = png.read(r.mask_path) > 0
            lesion = _lesion_mask(r)
        except ImageRejected as e:
            rejected.append(rejections.row(r.image_id, e.path, STAGE, f"{e.path}: {e.reason}"))
            continue
        rng = np.random.default_rng([seed, stable_hash(r.image_id) % (2**32)])
        for k, (kind, x0, y0, reason) in enumerate(_draw_boxes(r.image_id, breast, _centres(f), cfg, rng)):
            pid = f"{r.image_id}_{k:02d}"
            name = f"{r.png_path} pair {pid} box ({x0}, {y0}, {x0 + cfg.hr_size}, {y0 + cfg.hr_size})"
            try:
                if reason:
                    raise ImageRejected(name, reason)
                p = cut_pair(canvas, breast, lesion, speck_xy, x0, y0, cfg, name)
            except ImageRejected as e:
                rejected.append(rejections.row(r.image_id, r.png_path, STAGE, f"{e.path}: {e.reason}"))
                continue
            paths = {k2: f"{out_dir}/{r.split}/{k2}/{pid}.png" for k2 in ("hr", "lr", "mask")}
            png.write(paths["hr"], p["hr"])
            png.write(paths["lr"], p["lr"])
            png.write(paths["mask"], p["mask"].astype(np.uint8) * 255)
            rows.append({"pair_id": pid, "image_id": r.image_id, "patient_id": r.patient_id, "split": r.split,
                         "kind": kind, "source_path": r.png_path, "x0": x0, "y0": y0, "x1": x0 + cfg.hr_size,
                         "y1": y0 + cfg.hr_size, "scale": cfg.scale, "degrade": cfg.degrade,
                         "breast_fraction": round(p["breast_fraction"], 4),
                         "lesion_overlap": round(p["lesion_overlap"], 4), "n_specks": len(p["specks"]),
                         "specks": json.dumps(p["specks"]), "hr_path": paths["hr"], "lr_path": paths["lr"],
                         "mask_path": paths["mask"]})
    df = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    Path(pairs_csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(pairs_csv, index=False)
    rejections.write(rejected_csv, rejected)
    log.info("%d pairs (%s), %d rejected", len(df), df["split"].value_counts().to_dict(), len(rejected))
    return df
