"""The `hard` synthetic renderer: density-driven parenchyma, realistic-contrast lesions, mimics, sub-mm specks.

Everything is drawn in breast coordinates of one view, then mirrored for R views (VinDr convention: L has
the chest wall on the left). The image height spans `HEIGHT_MM` millimetres, so calcification specks of
0.2-0.5 mm are about one pixel at 640 rows and vanish when the image is down-sampled 4x. Lesion contrast is
relative: a mass's mean excess is `k` times the standard deviation of the tissue around it (k ~ 1), so
global intensity statistics barely move; benign and malignant lesions share one contrast distribution and
differ only by morphology (circumscribed / round vs ill-defined, spiculated, distortion, pleomorphic)."""

from __future__ import annotations

import cv2
import numpy as np

from mammoflow.datasets.synthetic.lesions import (add_distortion, add_mass, add_specks, calc_cluster,
                                                  cluster_region, mimic_calcs, vessels)
from mammoflow.datasets.synthetic.phantom import Lesion, Rendered, breast_outline

HEIGHT_MM = 240.0  # physical height of every rendered image (pixel spacing = HEIGHT_MM / rows)
GLAND_FRACTION = {1: (0.06, 0.18), 2: (0.18, 0.38), 3: (0.40, 0.62), 4: (0.62, 0.85)}  # BI-RADS A-D
MALIGNANT_MASS_MARGINS = ("ill_defined", "spiculated", "spiculated", "distortion")


def _field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance smooth Gaussian noise of a given correlation length (drawn at reduced size, upsampled)."""
    h, w = shape
    f = max(1, int(sigma // 3))
    sh, sw = max(4, -(-h // f)), max(4, -(-w // f))
    n = rng.standard_normal((sh, sw)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), max(0.5, sigma / f), borderType=cv2.BORDER_REFLECT)
    if f > 1:
        n = cv2.resize(n, (w, h), interpolation=cv2.INTER_LINEAR)
    n -= n.mean()
    return n / (n.std() + 1e-8)


def _parenchyma(rng: np.random.Generator, r: np.ndarray, breast: np.ndarray, xx: np.ndarray, ax: float,
                density: int) -> tuple[np.ndarray, np.ndarray]:
    """Tissue image and fibroglandular map: the gland fraction follows the density, dense tissue is textured."""
    h, w = r.shape
    lo, hi = GLAND_FRACTION[density]
    frac = rng.uniform(lo, hi)
    g = 1.0 * _field(rng, (h, w), h / 14) + 0.55 * _field(rng, (h, w), h / 40) + 0.3 * _field(rng, (h, w), h / 110)
    depth = xx / ax  # 0 at the chest wall
    g += 1.2 * np.exp(-((r - 0.45) / 0.35) ** 2) - 0.8 * np.clip(depth - 0.85, 0, 1) * 4
    vals = g[breast]
    t = np.quantile(vals, 1.0 - frac) if vals.size else 0.0
    soft = 1.0 / (1.0 + np.exp(-(g - t) / 0.3))
    fine = 0.6 * _field(rng, (h, w), 2.2) + 0.4 * _field(rng, (h, w), h / 90)
    fat = rng.uniform(0.20, 0.30)
    contrast = rng.uniform(0.13, 0.21)
    tex_amp = rng.uniform(0.022, 0.034)
    tissue = fat + contrast * soft + tex_amp * fine * (0.35 + soft)
    falloff = 0.55 + 0.45 * np.clip((1.0 - r) / 0.12, 0, 1)
    return (tissue * falloff).astype(np.float32), soft.astype(np.float32)


def _islands(rng: np.random.Generator, img: np.ndarray, sites: np.ndarray, yy: np.ndarray, xx: np.ndarray,
             h: int) -> None:
    """Dense islands (lesion mimics): soft Gaussian blobs at the tissue's own contrast, in place."""
    for _ in range(int(rng.integers(0, 4))):
        y, x = sites[int(rng.integers(len(sites)))]
        s = h * rng.uniform(0.015, 0.035)
        y0, y1, x0, x1 = max(0, int(y - 3 * s)), int(y + 3 * s) + 1, max(0, int(x - 3 * s)), int(x + 3 * s) + 1
        blob = np.exp(-((yy[y0:y1, x0:x1] - y) ** 2 + (xx[y0:y1, x0:x1] - x) ** 2) / (2 * s * s))
        img[y0:y1, x0:x1] += np.float32(rng.uniform(0.02, 0.05)) * blob.astype(np.float32)


def lesion_traits(les: Lesion) -> tuple[bool, str]:
    """(malignant, margin) of a lesion: as planned, else drawn from its own seed (half malignant)."""
    rng = np.random.default_rng(les.seed ^ 0x5EED)
    malignant = bool(rng.random() < 0.5) if les.malignant is None else bool(les.malignant)
    if les.margin:
        return malignant, les.margin
    if les.kind == "calc":
        return malignant, "pleomorphic" if malignant else "round"
    return malignant, str(rng.choice(MALIGNANT_MASS_MARGINS)) if malignant else "circumscribed"


def render_anatomy(h: int, w: int, laterality: str, view: str, lesions: list[Lesion], seed: int,
                   shape_seed: int, density: int) -> Rendered:
    """Render one view with the hard anatomy model (density 1-4 = BI-RADS A-D; 0 draws one from the seed)."""
    rng = np.random.default_rng(seed)
    srng = np.random.default_rng(shape_seed)
    density = int(density) if density in (1, 2, 3, 4) else int(rng.integers(1, 5))
    yy, xx, r, breast, cy, ay, ax = breast_outline(h, w, view, rng, srng)
    img, gland = _parenchyma(rng, r, breast, xx, ax, density)
    px_mm = HEIGHT_MM / h
    inner = np.argwhere(breast & (r < 0.8) & (xx > 0.08 * ax))
    if not len(inner):
        inner = np.argwhere(breast) if breast.any() else np.array([[h // 2, 1]])
    _islands(rng, img, inner, yy, xx, h)
    vessels(rng, img, breast, cy, ay, ax, h, w)
    mimic_calcs(rng, img, inner, px_mm)
    if view == "MLO":  # pectoral muscle: bright textured triangle in the upper chest-wall corner
        pxm, pym = w * srng.uniform(0.28, 0.40), h * srng.uniform(0.38, 0.50)
        s = xx / pxm + yy / pym
        edge = np.clip((1.0 - s) / 0.08, 0, 1)
        pect = (s <= 1.0) & breast
        muscle = 0.50 + 0.08 * edge + 0.025 * _field(rng, (h, w), h / 60)
        img = np.where(pect, np.maximum(img, muscle), img)
        gland = np.where(pect, 0.0, gland)
    lesion_mask = np.zeros((h, w), dtype=bool)
    boxes: list[tuple[float, float, float, float]] = []
    kinds: list[str] = []
    margins: list[str] = []
    specks: list[tuple[float, float, float]] = []
    for les in lesions:
        lrng = np.random.default_rng(les.seed + (1 if view == "MLO" else 0))
        malignant, margin = lesion_traits(les)
        lx = float(np.clip(les.depth, 0.15, 0.72) * ax)
        ly = float(cy + np.clip(les.offset, -0.6, 0.6) * ay * np.sqrt(max(1 - (lx / ax) ** 2, 0.05)))
        rad = les.size * h
        if les.kind == "calc":
            pts = calc_cluster(lrng, lx, ly, rad, px_mm, malignant)
            m = cluster_region(add_specks(img, pts, lrng, px_mm), px_mm)
            specks.extend(p for p in pts if 0 <= p[0] < w and 0 <= p[1] < h and breast[int(p[1]), int(p[0])])
        elif margin == "distortion":
            m = add_distortion(img, lrng, lx, ly, rad)
        else:
            m = add_mass(img, lrng, lx, ly, rad, margin)
        m &= breast
        if m.any():
            ys, xs = np.nonzero(m)
            boxes.append((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
            kinds.append(les.kind)
            margins.append(margin)
            lesion_mask |= m
    img = img + rng.normal(0.0, 0.004, size=img.shape).astype(np.float32)  # quantum noise
    img = np.clip(np.where(breast, img, 0.0), 0.0, 1.0).astype(np.float32)
    gland = np.where(breast, gland, 0.0).astype(np.float32)
    if laterality == "R":
        img, breast, lesion_mask, gland = img[:, ::-1], breast[:, ::-1], lesion_mask[:, ::-1], gland[:, ::-1]
        boxes = [(w - x1, y0, w - x0, y1) for (x0, y0, x1, y1) in boxes]
        specks = [(w - 1 - x, y, d) for (x, y, d) in specks]
    c = np.ascontiguousarray
    return Rendered(c(img), c(breast), c(lesion_mask), boxes, kinds, margins=margins, specks=specks,
                    gland=c(gland), density=density)
