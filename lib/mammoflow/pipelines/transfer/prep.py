"""Model inputs: CLAHE (scikit-image), crop and resize, ImageNet normalisation, torchvision v2 augmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import torch
from skimage.exposure import equalize_adapthist
from torchvision.transforms import v2

from mammoflow.core.errors import ImageRejected

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def clahe(img: np.ndarray, clip: float, tiles: int, path: str = "", kernel_px: int = 0) -> np.ndarray:
    """CLAHE of a [0, 1] greyscale image (tiles per side, or kernel_px-sized tiles); ImageRejected naming the file
    for a constant image."""
    lo, hi = float(np.min(img)), float(np.max(img))
    if not hi > lo:
        raise ImageRejected(path, f"constant image (every pixel {lo:g}): CLAHE and normalisation are undefined")
    x = (img.astype(np.float64) - lo) / (hi - lo)
    kernel = (kernel_px, kernel_px) if kernel_px else (max(img.shape[0] // tiles, 1), max(img.shape[1] // tiles, 1))
    return equalize_adapthist(x, kernel_size=kernel, clip_limit=clip).astype(np.float32)


def square_box(box: tuple[float, float, float, float], margin: float, min_side: int) -> tuple[int, int, int, int]:
    """Square crop (x0, y0, x1, y1) centred on a box, side = max(box side) * (1 + 2 margin), at least min_side."""
    x0, y0, x1, y1 = box
    side = max(max(x1 - x0, y1 - y0) * (1 + 2 * margin), float(min_side))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    n = int(np.ceil(side))
    x0, y0 = int(np.floor(cx - n / 2)), int(np.floor(cy - n / 2))
    return x0, y0, x0 + n, y0 + n


def crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """img[y0:y1, x0:x1] with zero padding where the box leaves the image."""
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0), dtype=img.dtype)
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, img.shape[0]), min(x1, img.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def model_input(img: np.ndarray, size: int, use_clahe: bool, clip: float, tiles: int, path: str = "") -> np.ndarray:
    """A [0, 1] greyscale crop or canvas -> CLAHE (optional) -> size x size float32 in [0, 1].

    Whole canvases keep their aspect (padded with zeros to a square) so boxes stay comparable.
    """
    if img.size == 0:
        raise ImageRejected(path, "empty crop")
    x = clahe(img, clip, tiles, path) if use_clahe else img.astype(np.float32)
    if not use_clahe and not float(x.max()) > float(x.min()):
        raise ImageRejected(path, f"constant image (every pixel {float(x.min()):g}): nothing to classify")
    h, w = x.shape
    if h != w:
        s = max(h, w)
        pad = np.zeros((s, s), dtype=np.float32)
        pad[:h, :w] = x
        x = pad
    return cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def to_model(x: torch.Tensor) -> torch.Tensor:
    """Greyscale batch N x 1 x H x W in [0, 1] -> 3 channels, ImageNet mean/std."""
    x = x.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def augmenter(hflip: float, rotate: float, zoom: float) -> v2.Transform:
    """The template's training augmentation: horizontal flip, rotation +-rotate degrees, mild zoom."""
    return v2.Compose([v2.RandomHorizontalFlip(p=hflip),
                       v2.RandomAffine(degrees=rotate, scale=(1 - zoom, 1 + zoom))])


def augment_batch(x: torch.Tensor, tf: v2.Transform, gen: torch.Generator) -> torch.Tensor:
    """Each sample of a batch through tf with its own draws, seeded from gen (reproducible, global RNG untouched)."""
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([tf(xi) for xi in x])


def canvas_factor(train: pd.DataFrame, inputs: str, input_size: int, shape: tuple[int, int]) -> float:
    """Scale of a canvas for whole-image inference: the training crops' (median side -> input_size) for roi
    models, the canvas's long side -> input_size for whole-image models."""
    if inputs == "roi" and len(train):
        side = np.maximum(train["x1"] - train["x0"], train["y1"] - train["y0"])
        return input_size / float(np.median(side))
    return input_size / float(max(shape))
