"""Tiny hand-made canvases for the super-resolution tests: textured breast, calcification specks, tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from mammoflow.io import png


def canvas(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """(uint16 canvas, breast mask, speck centres) of one image: half-disk breast, texture, 2-px specks."""
    yy, xx = np.mgrid[:h, :w]
    breast = ((xx / (0.9 * w)) ** 2 + ((yy - h / 2) / (0.5 * h)) ** 2) < 1
    tex = gaussian_filter(rng.normal(size=(h, w)), 3.0) * 6000 + gaussian_filter(rng.normal(size=(h, w)), 1.0) * 1500
    img = 20000 + tex
    specks = []
    for _ in range(12):
        y, x = rng.integers(8, h - 8), rng.integers(4, int(0.6 * w))
        if breast[y, x]:
            img[max(y - 1, 0):y + 1, max(x - 1, 0):x + 1] += 25000
            specks.append((x - 0.5, y - 0.5))
    img = np.where(breast, img, 0)
    return np.clip(img, 0, 65535).astype(np.uint16), breast, specks


def make_tables(root: Path, n_patients: int = 6, h: int = 128, w: int = 96, flat: bool = False,
                tiny_breast: bool = False, seed: int = 0) -> tuple[str, str]:
    """images.csv and findings.csv of n_patients x 2 images (optionally one flat and one tiny-breast image)."""
    rng = np.random.default_rng(seed)
    imgs, finds = [], []
    for p in range(n_patients):
        for v in ("CC", "MLO"):
            iid = f"img{p}{v}"
            c, m, sp = canvas(rng, h, w)
            if flat and p == 0 and v == "CC":
                c = np.where(m, 30000, 0).astype(np.uint16)
            if tiny_breast and p == 0 and v == "MLO":
                m = np.zeros_like(m)
                m[:6, :6] = True
            png.write(root / "pre" / f"{iid}.png", c)
            png.write(root / "mask" / f"{iid}.png", m.astype(np.uint8) * 255)
            imgs.append({"image_id": iid, "patient_id": f"p{p}", "split": "test" if p >= n_patients - 2 else "training",
                         "png_path": str(root / "pre" / f"{iid}.png"), "mask_path": str(root / "mask" / f"{iid}.png"),
                         "lesion_mask_path": ""})
            for k, (x, y) in enumerate(sp):
                finds.append({"finding_id": f"{iid}_{k}", "image_id": iid, "category": "calcification",
                              "rxmin": x - 1.5, "rymin": y - 1.5, "rxmax": x + 1.5, "rymax": y + 1.5})
    pd.DataFrame(imgs).to_csv(root / "images.csv", index=False)
    pd.DataFrame(finds).to_csv(root / "findings.csv", index=False)
    return str(root / "images.csv"), str(root / "findings.csv")
