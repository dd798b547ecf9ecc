"""Tiny NYU-like windows with benign/malignant lesions for the GLAM model/training tests (no Snakemake)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.glam.config import GlamConfig
from mammoflow.pipelines.glam.data import GlamImage



def glam_config(**kw) -> GlamConfig:
    """The schema's GLAM model (the paper's sizes, window glam.window) with overrides."""
    return GlamConfig.from_dict({**schema_defaults("glam", "model"), "window": schema_defaults("glam")["window"], **kw})


def train_settings(**kw) -> dict:
    """The schema's glam.train section with overrides."""
    return schema_defaults("glam", "train", **kw)


SMALL = glam_config(window=(256, 160), crop_shape=(64, 64), global_width=8, local_width=8, local_blocks=(1, 1, 1, 1))


def make_window(rng: np.random.Generator, shape: tuple[int, int], lesion: str | None):
    """A standardised window: half-ellipse breast on the left, texture, and an optional lesion + mask."""
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cy, ry, rx = H / 2 + rng.uniform(-8, 8), H * 0.45, W * rng.uniform(0.65, 0.85)
    breast = ((yy - cy) / ry) ** 2 + (xx / rx) ** 2 <= 1
    tissue = gaussian_filter(rng.standard_normal(shape).astype(np.float32), 6)
    tissue = tissue / tissue.std()
    img = np.zeros(shape, np.float32)
    base = rng.uniform(900, 1500)
    img[breast] = base + 250 * tissue[breast] + 60 * rng.standard_normal(int(breast.sum())).astype(np.float32)
    mask = np.zeros(shape, bool)
    if lesion is not None:
        ys, xs = np.nonzero(breast)
        for _ in range(100):
            i = rng.integers(len(ys))
            ly, lx = ys[i], xs[i]
            if 20 < ly < H - 20 and 15 < lx < W - 20:
                break
        r = rng.uniform(0.03, 0.045) * H
        d = np.hypot(yy - ly, xx - lx)
        if lesion == "malignant":
            ang = np.arctan2(yy - ly, xx - lx)
            mask = (d <= r * (1 + 0.35 * np.cos(7 * ang))) & breast
            img[mask] += 900
        else:
            mask = (d <= r) & breast
            img[mask] += 600
    img = np.clip(img, 0, 4095)
    win = (img - img.mean()) / max(img.std(), 1e-5)
    return win.astype(np.float32), mask


def make_images(n_exams: int, seed: int, shape=(256, 160)) -> list[GlamImage]:
    """n_exams exams of 4 views: about a third malignant (one side), a third benign."""
    rng = np.random.default_rng(seed)
    out = []
    for e in range(n_exams):
        kind = ["malignant", "benign", None][e % 3]
        side = "L" if rng.random() < 0.5 else "R"
        for view in ("L-CC", "R-CC", "L-MLO", "R-MLO"):
            lesion = kind if view[0] == side else None
            win, mask = make_window(rng, shape, lesion)
            masks = {lesion: mask} if lesion else {}
            out.append(GlamImage(f"{e}_{view}", e, view, win, int(lesion == "benign"),
                                 int(lesion == "malignant"), masks))
    return out
