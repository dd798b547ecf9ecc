"""Tiny synthetic seed-000 data: canvases with breast masks and bright lesions, and a dataset writer.

Import it as `from seed000_synth import ...` (a unique module name; `from conftest import` is ambiguous
when several test folders have a conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd


def synth_canvas(rng: np.random.Generator, h: int, w: int, lesions: list[tuple[int, int, int]],
                 left: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A uint16 canvas (half-ellipse breast with smooth texture, zero outside) and its 0/255 mask; lesions = (cy, cx, r)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x = xx if left else (w - 1 - xx)
    r = np.sqrt(((yy - h / 2) / (0.45 * h)) ** 2 + (x / (0.8 * w)) ** 2)
    breast = r <= 1
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 4)
    noise /= noise.std() + 1e-8
    img = np.where(breast, 0.35 + 0.12 * (1 - r) + 0.05 * noise, 0).astype(np.float32)
    for cy, cx, rad in lesions:
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / float(rad * rad)
        img = np.where(breast, img + 0.35 * np.exp(-d2 * 1.5), img)
    img = np.clip(img, 0, 1)
    return (img * 65535).astype(np.uint16), (breast * 255).astype(np.uint8)


def make_dataset(root: Path, n_train: int = 24, n_test: int = 10, h: int = 192, w: int = 160, seed: int = 0,
                 multi_every: int = 5) -> tuple[Path, Path]:
    """Write canvases, masks, images.csv and findings.csv (canvas boxes) under root; half the images have lesions."""
    rng = np.random.default_rng(seed)
    (root / "pre").mkdir(parents=True, exist_ok=True)
    images, findings = [], []
    for i in range(n_train + n_test):
        iid = f"img{i:03d}"
        split = "training" if i < n_train else "test"
        lesions = []
        if i % 2 == 0:
            n_les = 2 if multi_every and i % multi_every == 0 else 1
            for _ in range(n_les):
                rad = int(rng.integers(6, 14))
                lesions.append((int(rng.integers(0.3 * h, 0.7 * h)), int(rng.integers(15, int(0.45 * w))), rad))
        left = bool(i % 3)
        les_c = [(cy, cx if left else w - 1 - cx, r) for cy, cx, r in lesions]
        img, mask = synth_canvas(rng, h, w, les_c, left)
        png, mpng = root / "pre" / f"{iid}.png", root / "pre" / f"{iid}_mask.png"
        cv2.imwrite(str(png), img)
        cv2.imwrite(str(mpng), mask)
        images.append({"image_id": iid, "study_id": f"st{i // 2:03d}", "split": split, "label": int(bool(lesions)),
                       "png_path": str(png), "mask_path": str(mpng), "height": h, "width": w})
        for j, (cy, cx, r) in enumerate(les_c):
            findings.append({"finding_id": f"{iid}_{j}", "image_id": iid, "study_id": f"st{i // 2:03d}",
                             "split": split, "rxmin": cx - r - 0.5, "rymin": cy - r - 0.5,
                             "rxmax": cx + r + 0.5, "rymax": cy + r + 0.5})
    ip, fp = root / "images.csv", root / "findings.csv"
    pd.DataFrame(images).to_csv(ip, index=False)
    pd.DataFrame(findings, columns=["finding_id", "image_id", "study_id", "split", "rxmin", "rymin", "rxmax",
                                    "rymax"]).to_csv(fp, index=False)
    return ip, fp
