"""Synthetic mammogram rendering: breast outline, skin-line fall-off, pectoral muscle, parenchyma, lesions."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Lesion:
    """A lesion placed in breast coordinates (depth from the chest wall, vertical offset), shared by both views."""

    kind: str  # "mass" or "calc"
    depth: float  # 0 = chest wall, 1 = nipple
    offset: float  # -1 .. 1 of the breast half-height
    size: float  # radius as a fraction of the image height
    seed: int
    malignant: bool | None = None  # hard renderer: morphology follows it (None: drawn from the seed)
    margin: str = ""  # hard renderer: circumscribed | ill_defined | spiculated | distortion | round | pleomorphic


@dataclass
class Rendered:
    """One rendered view: presentation image in [0,1], ground-truth masks and lesion boxes (x0,y0,x1,y1)."""

    image: np.ndarray
    breast: np.ndarray
    lesion: np.ndarray
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    margins: list[str] = field(default_factory=list)  # hard renderer: the margin of each box
    specks: list[tuple[float, float, float]] = field(default_factory=list)  # calc specks: x, y, diameter mm
    gland: np.ndarray | None = None  # hard renderer: fibroglandular fraction map in [0,1]
    density: int = 0  # hard renderer: BI-RADS density drawn (1-4 = A-D)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Unit-variance Gaussian noise low-passed with a Gaussian of the given sigma (pixels)."""
    n = rng.standard_normal(shape).astype(np.float32)
    k = int(6 * sigma) | 1
    n = cv2.GaussianBlur(n, (k, k), sigma, borderType=cv2.BORDER_REFLECT)
    return n / (n.std() + 1e-8)


def breast_outline(h: int, w: int, view: str, rng: np.random.Generator, srng: np.random.Generator):
    """Breast outline of one view: normalised radius r (1 at the skin), breast mask, centre and semi-axes."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mlo = view == "MLO"
    cy = h * (0.56 if mlo else 0.5) + h * srng.uniform(-0.03, 0.03)
    ay = h * (srng.uniform(0.40, 0.46) if mlo else srng.uniform(0.33, 0.42))
    ax = w * srng.uniform(0.58, 0.80)
    theta = np.arctan2((yy - cy) / ay, xx / ax)
    wob = np.zeros_like(theta)
    for k in (2, 3, 5):
        wob += rng.uniform(-0.015, 0.015) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = np.sqrt(((yy - cy) / ay) ** 2 + (xx / ax) ** 2) / (1.0 + wob)
    return yy, xx, r, r <= 1.0, cy, ay, ax


def render_view(h: int, w: int, laterality: str, view: str, lesions: list[Lesion], seed: int,
                shape_seed: int) -> Rendered:
    """Render one view; the chest wall is on the left for L and on the right for R (VinDr convention)."""
    rng = np.random.default_rng(seed)
    srng = np.random.default_rng(shape_seed)  # breast shape is shared by the views of one breast
    yy, xx, r, breast, cy, ay, ax = breast_outline(h, w, view, rng, srng)
    mlo = view == "MLO"
    # tissue: fatty base, denser glandular texture near the chest wall, skin-line fall-off
    tex = 0.6 * _smooth_noise(rng, (h, w), sigma=h / 60) + 0.4 * _smooth_noise(rng, (h, w), sigma=h / 200)
    gland = np.clip(1.0 - r, 0, 1) ** 0.7
    tissue = 0.30 + 0.16 * gland + 0.045 * tex * (0.4 + gland)
    falloff = 0.55 + 0.45 * np.clip((1.0 - r) / 0.12, 0, 1)
    img = np.where(breast, tissue * falloff, 0.0).astype(np.float32)
    if mlo:  # pectoral muscle: bright triangle in the upper chest-wall corner
        px = w * srng.uniform(0.28, 0.40)
        py = h * srng.uniform(0.38, 0.50)
        pect = (xx / px + yy / py) <= 1.0
        edge = np.clip((1.0 - (xx / px + yy / py)) / 0.08, 0, 1)
        img = np.where(pect & breast, np.maximum(img, 0.55 + 0.1 * edge + 0.02 * tex), img)
    lesion_mask = np.zeros((h, w), dtype=bool)
    boxes: list[tuple[float, float, float, float]] = []
    kinds: list[str] = []
    for les in lesions:
        lrng = np.random.default_rng(les.seed + (1 if mlo else 0))
        # place at (depth, offset) inside this view's ellipse, away from the skin line
        lx = np.clip(les.depth, 0.15, 0.72) * ax
        ly = cy + np.clip(les.offset, -0.6, 0.6) * ay * np.sqrt(max(1 - (lx / ax) ** 2, 0.05))
        rad = les.size * h
        if les.kind == "mass":
            ang = np.arctan2(yy - ly, xx - lx)
            rmod = rad * (1 + 0.18 * np.cos(3 * ang + lrng.uniform(0, 6.3)) + 0.1 * np.cos(5 * ang + lrng.uniform(0, 6.3)))
            d = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / np.maximum(rmod, 1e-3)
            blob = np.clip(1.0 - d, 0, 1) ** 0.5
            img = img + 0.30 * blob.astype(np.float32)
            m = blob > 0.05
        else:
            m = np.zeros((h, w), dtype=bool)
            n_dots = int(lrng.integers(6, 13))
            add = np.zeros((h, w), dtype=np.float32)
            for _ in range(n_dots):
                dx, dy = lrng.normal(0, rad * 0.45, size=2)
                cxd, cyd = lx + dx, ly + dy
                dr = max(1.0, h / 400) * lrng.uniform(1.0, 1.8)
                dot = ((xx - cxd) ** 2 + (yy - cyd) ** 2) <= dr ** 2
                add = np.maximum(add, dot * lrng.uniform(0.40, 0.55))
                m |= dot
            img = img + add
        m &= breast
        if m.any():
            ys, xs = np.nonzero(m)
            boxes.append((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
            kinds.append(les.kind)
            lesion_mask |= m
    img = np.clip(np.where(breast, img, 0.0), 0.0, 1.0)
    if laterality == "R":
        img, breast, lesion_mask = img[:, ::-1], breast[:, ::-1], lesion_mask[:, ::-1]
        boxes = [(w - x1, y0, w - x0, y1) for (x0, y0, x1, y1) in boxes]
    return Rendered(np.ascontiguousarray(img), np.ascontiguousarray(breast), np.ascontiguousarray(lesion_mask), boxes, kinds)
