"""Lesions and lesion mimics of the hard renderer, drawn in place into a float image (local windows only).

Masses: circumscribed (benign), ill-defined and spiculated (malignant) at a contrast relative to the
surrounding tissue's standard deviation; architectural distortion (radiating lines, no mass); calcification
specks of sub-millimetre size (round and uniform = benign, small, elongated, many, in lines = pleomorphic);
mimics: vessels and isolated benign round calcifications."""

from __future__ import annotations

import cv2
import numpy as np

Speck = tuple[float, float, float]  # x, y (pixel centres, image coordinates) and diameter in mm


def _window(img: np.ndarray, x: float, y: float, half: float) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Slices of a square window around (x, y) clipped to the image, with its pixel coordinate grids."""
    h, w = img.shape
    y0, y1 = max(0, int(y - half)), min(h, int(y + half) + 2)
    x0, x1 = max(0, int(x - half)), min(w, int(x + half) + 2)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    return slice(y0, y1), slice(x0, x1), yy, xx


def _local_sigma(patch: np.ndarray, d: np.ndarray) -> float:
    """Robust standard deviation of the tissue in the ring 1.2-2.2 radii around a lesion (floor and cap)."""
    ring = patch[(d > 1.2) & (d < 2.2) & (patch > 0)]
    if ring.size < 8:
        return 0.025
    mad = 1.4826 * float(np.median(np.abs(ring - np.median(ring))))
    return float(np.clip(mad, 0.018, 0.05))


def _radius(rng: np.random.Generator, ang: np.ndarray, amp: float, ks: range) -> np.ndarray:
    """Radial modulation 1 + sum of random harmonics (lobulation / irregularity of an outline)."""
    rr = np.ones_like(ang)
    for k in ks:
        rr += amp / np.sqrt(k) * rng.uniform(0.4, 1.0) * np.cos(k * ang + rng.uniform(0, 2 * np.pi))
    return rr


def _spicules(rng: np.random.Generator, shape: tuple[int, int], cx: float, cy: float, r0: float,
              lengths: tuple[float, float], n: int) -> np.ndarray:
    """Thin straight lines radiating from (cx, cy) (window coordinates), tapering, as a float32 layer."""
    layer = np.zeros(shape, np.float32)
    for a in rng.uniform(0, 2 * np.pi, n):
        length = rng.uniform(*lengths)
        p0 = (int(round(cx + r0 * np.cos(a))), int(round(cy + r0 * np.sin(a))))
        p1 = (int(round(cx + length * np.cos(a))), int(round(cy + length * np.sin(a))))
        cv2.line(layer, p0, p1, float(rng.uniform(0.6, 1.0)), thickness=1)
    return cv2.GaussianBlur(layer, (0, 0), 0.7)


def add_mass(img: np.ndarray, rng: np.random.Generator, x: float, y: float, rad: float, margin: str) -> np.ndarray:
    """Add a mass with the given margin at (x, y); returns its mask (image-sized bool)."""
    ys, xs, yy, xx = _window(img, x, y, 3.2 * rad)
    patch = img[ys, xs]
    ang = np.arctan2(yy - y, xx - x)
    rot, ecc = rng.uniform(0, np.pi), rng.uniform(0.7, 1.0)
    u = ((xx - x) * np.cos(rot) + (yy - y) * np.sin(rot)) / ecc
    v = -(xx - x) * np.sin(rot) + (yy - y) * np.cos(rot)
    d0 = np.sqrt(u * u + v * v) / rad
    sigma = _local_sigma(patch, d0)
    k = rng.uniform(1.3, 2.0)
    if margin == "circumscribed":
        d = d0 / _radius(rng, ang, 0.05, range(2, 4))
        p = np.clip((1.0 - d) / 0.04, 0, 1) * (0.85 + 0.15 * np.sqrt(np.clip(1 - d * d, 0, 1)))
        p -= 0.5 * np.exp(-((d - 1.1) / 0.07) ** 2)  # the lucent fat halo of a benign circumscribed mass
        p = cv2.GaussianBlur(p.astype(np.float32), (0, 0), 0.8)
        mask = d <= 1.0
    elif margin == "ill_defined":
        d = d0 / _radius(rng, ang, 0.35, range(3, 10))
        p = np.clip((1.15 - d) / 0.6, 0, 1) ** 0.9
        p = cv2.GaussianBlur(p.astype(np.float32), (0, 0), max(1.0, 0.10 * rad))
        mask = d <= 1.0
    else:  # spiculated: an irregular core and radiating spicules
        d = d0 / (0.8 * _radius(rng, ang, 0.18, range(3, 8)))
        core = np.clip((1.0 - d) / 0.2, 0, 1)
        spic = _spicules(rng, d.shape, x - xs.start, y - ys.start, 0.6 * rad, (2.0 * rad, 3.4 * rad),
                         int(rng.integers(20, 32)))
        p = cv2.GaussianBlur(core.astype(np.float32), (0, 0), 0.8) + 1.5 * spic * (d > 0.8)
        mask = (d <= 1.0) | ((cv2.dilate((spic > 0.25).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
                             & (d0 <= 2.0))
    inside = p[d0 <= 1.0]
    amp = k * sigma / max(float(inside.mean()) if inside.size else 1.0, 0.2)
    img[ys, xs] = patch + np.float32(amp) * p.astype(np.float32)
    out = np.zeros(img.shape, bool)
    out[ys, xs] = mask
    return out


def add_distortion(img: np.ndarray, rng: np.random.Generator, x: float, y: float, rad: float) -> np.ndarray:
    """Add an architectural distortion (lines converging on a point, no central mass); returns its mask."""
    ys, xs, yy, xx = _window(img, x, y, 3.2 * rad)
    patch = img[ys, xs]
    d0 = np.sqrt((xx - x) ** 2 + (yy - y) ** 2) / rad
    sigma = _local_sigma(patch, d0)
    spic = _spicules(rng, d0.shape, x - xs.start, y - ys.start, 0.15 * rad, (1.6 * rad, 3.0 * rad),
                     int(rng.integers(14, 24)))
    amp = rng.uniform(2.0, 3.0) * sigma
    img[ys, xs] = patch + np.float32(amp) * spic - np.float32(0.3 * amp) * (d0 < 0.5) * (1 - spic)
    mask = (cv2.dilate((spic > 0.25).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (d0 <= 2.0)
    out = np.zeros(img.shape, bool)
    out[ys, xs] = mask
    return out


def calc_cluster(rng: np.random.Generator, x: float, y: float, rad: float, px_mm: float,
                 malignant: bool) -> list[Speck]:
    """Speck positions and diameters of a cluster: many small ones partly in lines (pleomorphic) or few round."""
    if malignant:
        n = int(rng.integers(20, 36))
        diam = rng.uniform(0.2, 0.4, n)
        pos = rng.normal(0, 0.3 * rad, (n, 2))
        n_line = (3 * n) // 4
        for seg in np.array_split(np.arange(n_line), int(rng.integers(1, 4))):
            if not len(seg):
                continue
            a, start = rng.uniform(0, 2 * np.pi), rng.normal(0, 0.25 * rad, 2)
            step = rng.uniform(1.5, 2.5)
            t = np.arange(len(seg)) * step
            pos[seg] = start + np.stack([t * np.cos(a), t * np.sin(a)], 1) + rng.normal(0, 0.4, (len(seg), 2))
    else:
        n = int(rng.integers(3, 8))
        diam = np.clip(rng.uniform(0.42, 0.5) + rng.normal(0, 0.02, n), 0.35, 0.5)
        pos = rng.normal(0, 0.7 * rad, (n, 2))
    return [(float(x + px), float(y + py), float(dm)) for (px, py), dm in zip(pos, diam)]


def add_specks(img: np.ndarray, specks: list[Speck], rng: np.random.Generator, px_mm: float,
               elongated: bool | None = None) -> np.ndarray:
    """Draw specks (sub-pixel Gaussians, elongated when small and irregular) in place; returns their mask."""
    mask = np.zeros(img.shape, bool)
    h, w = img.shape
    for sx, sy, dm in specks:
        if not (0 <= sx < w and 0 <= sy < h):
            continue
        ys, xs, yy, xx = _window(img, sx, sy, 4)
        s = max(dm / px_mm / 2.355, 0.35)
        long = rng.uniform(1.4, 2.4) if (elongated if elongated is not None else dm < 0.4) else 1.0
        a = rng.uniform(0, np.pi)
        u = ((xx - sx) * np.cos(a) + (yy - sy) * np.sin(a)) / long
        v = -(xx - sx) * np.sin(a) + (yy - sy) * np.cos(a)
        g = np.exp(-(u * u + v * v) / (2 * s * s)).astype(np.float32)
        peak = np.float32(rng.uniform(0.10, 0.20))
        img[ys, xs] += peak * g
        m = g >= 0.5 * g.max()
        mask[ys, xs] |= m
    return mask


def cluster_region(speck_mask: np.ndarray, px_mm: float) -> np.ndarray:
    """The region of a calcification cluster (its findings mask): the specks' convex hull grown by ~1 mm."""
    ys, xs = np.nonzero(speck_mask)
    out = speck_mask.astype(np.uint8)
    if len(xs) >= 3:
        hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
        cv2.fillConvexPoly(out, hull, 1)
    grow = max(1, int(round(1.0 / px_mm)))
    out = cv2.dilate(out, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return out > 0


def mimic_calcs(rng: np.random.Generator, img: np.ndarray, sites: np.ndarray, px_mm: float) -> None:
    """Benign isolated round calcifications and a loose scatter of punctate specks (not findings), in place."""
    pts: list[Speck] = []
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(1, 5))):
            y, x = sites[int(rng.integers(len(sites)))]
            pts.append((float(x), float(y), float(rng.uniform(0.5, 1.2))))
    if rng.random() < 0.35:
        y, x = sites[int(rng.integers(len(sites)))]
        spread = 0.08 * img.shape[0]
        for _ in range(int(rng.integers(3, 8))):
            dx, dy = rng.normal(0, spread, 2)
            pts.append((float(x + dx), float(y + dy), float(rng.uniform(0.3, 0.5))))
    add_specks(img, pts, rng, px_mm, elongated=False)


def vessels(rng: np.random.Generator, img: np.ndarray, breast: np.ndarray, cy: float, ay: float, ax: float,
            h: int, w: int) -> None:
    """One to three thin wavy vessels from the chest wall towards the nipple, in place."""
    layer = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        y0 = cy + rng.uniform(-0.7, 0.7) * ay
        t = np.linspace(0, 1, 40)
        xs = t * ax * rng.uniform(0.6, 0.95)
        ys = y0 + (cy - y0) * t * rng.uniform(0.3, 0.9) + rng.uniform(4, 12) * np.sin(
            t * rng.uniform(3, 9) + rng.uniform(0, 6.3))
        pts = np.stack([xs, ys], 1).round().astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(layer, [pts], False, float(rng.uniform(0.015, 0.035)), thickness=int(rng.integers(1, 3)))
    layer = cv2.GaussianBlur(layer, (0, 0), 0.8)
    img += np.where(breast, layer, 0).astype(np.float32)
