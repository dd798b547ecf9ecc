"""The seed's augmentations on a batch, driven by a torch generator: flips, rotation, shift/scale,
brightness/contrast, Gaussian noise (masks follow the geometry with nearest-neighbour sampling)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from mammoflow.core.config import from_mapping


@dataclass(frozen=True)
class Augment:
    """Probabilities and ranges of the augmentations (cascade.schema.yaml stage*.augment)."""

    hflip: float
    vflip: float
    rotate_p: float
    rotate_deg: float
    shift_scale_p: float
    shift_scale: float
    brightness_contrast_p: float
    brightness_contrast: float
    noise_p: float
    noise_std: float

    @classmethod
    def from_config(cls, d: Mapping[str, Any]) -> "Augment":
        """From a validated augment block."""
        return from_mapping(cls, d, "cascade augment")


def _u(gen: torch.Generator, n: int) -> torch.Tensor:
    return torch.rand(n, generator=gen)


def augment(x: torch.Tensor, y: torch.Tensor, a: Augment, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented copies of images x (N,1,H,W) in [0,1] and integer masks y (N,H,W)."""
    n = x.shape[0]
    x, y = x.clone(), y.clone()
    hf, vf = _u(gen, n) < a.hflip, _u(gen, n) < a.vflip
    x[hf], y[hf] = x[hf].flip(-1), y[hf].flip(-1)
    x[vf], y[vf] = x[vf].flip(-2), y[vf].flip(-2)
    rot = (_u(gen, n) < a.rotate_p).float() * (_u(gen, n) * 2 - 1) * math.radians(a.rotate_deg)
    ss = (_u(gen, n) < a.shift_scale_p).float()
    scale = 1 + ss * (_u(gen, n) * 2 - 1) * a.shift_scale
    tx, ty = (ss * (_u(gen, n) * 2 - 1) * a.shift_scale * 2 for _ in range(2))
    if bool((rot != 0).any() or (ss != 0).any()):
        cos, sin = torch.cos(rot) / scale, torch.sin(rot) / scale
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        y = F.grid_sample(y[:, None].float(), grid, mode="nearest", padding_mode="zeros",
                          align_corners=False)[:, 0].round().to(y.dtype)
    bc = (_u(gen, n) < a.brightness_contrast_p).float()[:, None, None, None]
    alpha = 1 + bc * (_u(gen, n)[:, None, None, None] * 2 - 1) * a.brightness_contrast
    beta = bc * (_u(gen, n)[:, None, None, None] * 2 - 1) * a.brightness_contrast
    x = x * alpha + beta
    nz = (_u(gen, n) < a.noise_p).float()[:, None, None, None]
    x = x + nz * torch.randn(x.shape, generator=gen) * a.noise_std
    return x.clamp(0, 1), y
