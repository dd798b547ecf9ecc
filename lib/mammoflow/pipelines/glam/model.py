"""GLAM model: global ResNet-22 v2 saliency, patch selection, local ResNet-34 saliency and map fusion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam.config import GlamConfig
from mammoflow.training.pretrained import load_pretrained, torchvision_imagenet_state


# ---------------------------------------------------------------- global module (pre-activation ResNet)
class BasicBlockV2(nn.Module):
    """Pre-activation basic block with a 1x1 projection shortcut when asked."""

    def __init__(self, inplanes: int, planes: int, stride: int, project: bool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.downsample = nn.Conv2d(inplanes, planes, 1, stride, bias=False) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.downsample(out) if self.downsample is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class GlobalNetwork(nn.Module):
    """ResNet-22 v2 trunk returning the stage-3, -4 and -5 feature maps (last one after BN+ReLU)."""

    def __init__(self, cfg: GlamConfig):
        super().__init__()
        w = cfg.global_width
        self.first_conv = nn.Conv2d(1, w, 7, 2, 3, bias=False)   # padding 3 as the original's stem
        self.first_pool = nn.MaxPool2d(3, 2, 0)
        layers, inplanes = [], w
        for i, (nb, s) in enumerate(zip(cfg.global_blocks, cfg.global_strides)):
            planes = w * 2 ** i
            blocks = [BasicBlockV2(inplanes, planes, s, project=True)]
            blocks += [BasicBlockV2(planes, planes, 1, project=False) for _ in range(nb - 1)]
            layers.append(nn.Sequential(*blocks))
            inplanes = planes
        self.layer_list = nn.ModuleList(layers)
        self.final_bn = nn.BatchNorm2d(inplanes)
        self.out_channels = [w * 4, w * 8, w * 16]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.first_pool(self.first_conv(x))
        feats = []
        for i, layer in enumerate(self.layer_list):
            h = layer(h)
            if i >= 2:
                feats.append(h)
        feats[-1] = F.relu(self.final_bn(feats[-1]))
        return feats


def top_t_percent_pool(maps: torch.Tensor, percent: float) -> torch.Tensor:
    """Mean of the top `percent` pixels of each (batch, class) map: (B, C, H, W) -> (B, C)."""
    B, C, H, W = maps.shape
    k = max(1, int(round(H * W * percent)))
    return maps.reshape(B, C, H * W).topk(k, dim=2).values.mean(dim=2)


class GlobalModule(nn.Module):
    """Global saliency maps s3/s4/s5 (1x1 conv, sigmoid), their 0.2/0.6/0.2 mix and top-k scores."""

    def __init__(self, cfg: GlamConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = GlobalNetwork(cfg)
        self.saliency_heads = nn.ModuleList(
            nn.Conv2d(c, cfg.num_classes, 1, bias=False) for c in self.backbone.out_channels)

    def forward(self, x: torch.Tensor, per_map: bool = False):
        """(y_global, mixed saliency); with per_map also the top-k score of each of the three maps."""
        feats = self.backbone(x)
        cam = self.cfg.cam_size
        maps = []
        for f, head in zip(feats, self.saliency_heads):
            logits = head(f)
            if tuple(logits.shape[-2:]) != tuple(cam):   # resize the logits, then the sigmoid (the original)
                logits = F.interpolate(logits, size=cam, mode="bilinear", align_corners=False)
            maps.append(torch.sigmoid(logits))
        ys = torch.stack([top_t_percent_pool(m, self.cfg.percent_k) for m in maps])
        sal = sum(w * m for w, m in zip(self.cfg.map_weights, maps))
        return (ys.mean(0), sal, ys) if per_map else (ys.mean(0), sal)


# ---------------------------------------------------------------- patch selection
def select_patches(saliency: torch.Tensor, crop_cells: tuple[int, int], top_k: int) -> torch.Tensor:
    """Upper-left saliency cells of the top_k crop windows: (B, C, h, w) -> (B, top_k, 2) long."""
    with torch.no_grad():
        B, C, h, w = saliency.shape
        flat = saliency.reshape(B, C, -1)
        mn, mx = flat.min(2, keepdim=True)[0], flat.max(2, keepdim=True)[0]
        norm = ((flat - mn) / (mx - mn).clamp_min(1e-12)).reshape(B, C, h, w).sum(1, keepdim=True)
        current = norm.clone()
        ph, pw = crop_cells
        out = torch.zeros(B, top_k, 2, dtype=torch.long, device=saliency.device)
        for k in range(top_k):
            pooled = F.avg_pool2d(current, (ph, pw), stride=1)
            wm = pooled.shape[-1]
            idx = pooled.reshape(B, -1).argmax(dim=1)
            ys, xs = idx // wm, idx % wm
            out[:, k, 0], out[:, k, 1] = ys, xs
            for b in range(B):
                y0, x0 = int(ys[b]), int(xs[b])
                current[b, :, y0:y0 + ph, x0:x0 + pw] = 0
        return out


def cells_to_pixels(cells: torch.Tensor, cam_size: tuple[int, int], window: tuple[int, int]) -> torch.Tensor:
    """Map upper-left saliency cells to window pixels by proportional scaling (rounded)."""
    scale = torch.tensor([window[0] / cam_size[0], window[1] / cam_size[1]], dtype=torch.float64)
    return torch.round(cells.double().cpu() * scale).long()


def crop_with_fill(img: torch.Tensor, top: int, left: int, shape: tuple[int, int]) -> torch.Tensor:
    """Crop (..., H, W) at (top, left); pixels outside the image take the image minimum."""
    H, W = img.shape[-2:]
    ch, cw = shape
    out = img.new_full(img.shape[:-2] + (ch, cw), 0.0) + img.min().detach()
    y0, y1, x0, x1 = max(top, 0), min(top + ch, H), max(left, 0), min(left + cw, W)
    if y1 > y0 and x1 > x0:
        out[..., y0 - top:y1 - top, x0 - left:x1 - left] = img[..., y0:y1, x0:x1]
    return out


# ---------------------------------------------------------------- local module (ResNet-34 layout, stride 4)
class BasicBlockV1(nn.Module):
    """torchvision-compatible basic block (names match resnet34 so ImageNet weights load)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class LocalNetwork(nn.Module):
    """ResNet-34 layout with every stage at stride 1 ("localHR"): features at stride 4."""

    def __init__(self, cfg: GlamConfig):
        super().__init__()
        w = cfg.local_width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = w
        for i, nb in enumerate(cfg.local_blocks):
            planes = w * 2 ** i
            blocks = [BasicBlockV1(inplanes, planes)] + [BasicBlockV1(planes, planes) for _ in range(nb - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.out_channels = inplanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(h))))


class LocalModule(nn.Module):
    """Local saliency (1x1 conv to classes, sigmoid) and patch scores (mean of top 30 %)."""

    def __init__(self, cfg: GlamConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = LocalNetwork(cfg)
        self.saliency_head = nn.Conv2d(self.backbone.out_channels, cfg.num_classes, 1, bias=False)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sal = torch.sigmoid(self.saliency_head(self.backbone(crops.expand(-1, 3, -1, -1))))
        return top_t_percent_pool(sal, self.cfg.detection_pooling_percent_k), sal


# ---------------------------------------------------------------- fusion and the full model
def fuse_maps(global_sal: torch.Tensor, local_sal: torch.Tensor, positions: torch.Tensor,
              window: tuple[int, int], crop_shape: tuple[int, int]) -> torch.Tensor:
    """Final saliency: (global map resized to the window + local maps pasted into a zero canvas) / 2.

    global_sal (B, C, h, w); local_sal (B, K, C, lh, lw); positions (B, K, 2) upper-left window pixels.
    Overlapping patches keep the larger local value.
    """
    B, K, C = local_sal.shape[:3]
    g = F.interpolate(global_sal, size=window, mode="bilinear", align_corners=False)
    canvas = torch.zeros_like(g)
    up = F.interpolate(local_sal.reshape(B * K, C, *local_sal.shape[-2:]), size=crop_shape,
                       mode="bilinear", align_corners=False).reshape(B, K, C, *crop_shape)
    H, W = window
    for b in range(B):
        for k in range(K):
            top, left = int(positions[b, k, 0]), int(positions[b, k, 1])
            y0, y1, x0, x1 = max(top, 0), min(top + crop_shape[0], H), max(left, 0), min(left + crop_shape[1], W)
            if y1 <= y0 or x1 <= x0:
                continue
            patch = up[b, k, :, y0 - top:y1 - top, x0 - left:x1 - left]
            canvas[b, :, y0:y1, x0:x1] = torch.maximum(canvas[b, :, y0:y1, x0:x1], patch)
    return (g + canvas) / 2


@dataclass
class GlamOutput:
    """Everything one forward pass produces (window pixels for positions)."""

    y_global: torch.Tensor            # (B, C)
    global_saliency: torch.Tensor     # (B, C, h, w)
    positions: torch.Tensor           # (B, K, 2) upper-left of each crop in window pixels
    crops: torch.Tensor               # (B, K, 1, ch, cw)
    y_local: torch.Tensor             # (B, C) mean of the patch scores
    patch_scores: torch.Tensor        # (B, K, C)
    local_saliency: torch.Tensor      # (B, K, C, lh, lw)
    extras: dict = field(default_factory=dict)


class GLAM(nn.Module):
    """Global-Local Activation Maps: image-level scores and a high-resolution saliency map."""

    def __init__(self, cfg: GlamConfig):
        super().__init__()
        self.cfg = cfg
        self.cfg.validate()
        self.global_module = GlobalModule(self.cfg)
        self.local_module = LocalModule(self.cfg)

    def forward(self, x: torch.Tensor, with_local: bool = True) -> GlamOutput:
        """x: standardised windows (B, 1, H, W) with (H, W) == cfg.window."""
        cfg = self.cfg
        if tuple(x.shape[-2:]) != tuple(cfg.window):
            raise ValueError(f"GLAM expects windows of {cfg.window}, got {tuple(x.shape[-2:])}")
        y_global, sal = self.global_module(x)
        cells = select_patches(sal.detach(), cfg.crop_cells, cfg.top_k_per_class)
        pos = cells_to_pixels(cells, cfg.cam_size, cfg.window)
        B, K = pos.shape[:2]
        crops = torch.stack([torch.stack([crop_with_fill(x[b], int(pos[b, k, 0]), int(pos[b, k, 1]), cfg.crop_shape)
                                          for k in range(K)]) for b in range(B)])
        if not with_local:
            empty = y_global.new_zeros((B, K, cfg.num_classes))
            return GlamOutput(y_global, sal, pos, crops, y_global.new_zeros(y_global.shape), empty,
                              y_global.new_zeros((B, K, cfg.num_classes, 1, 1)))
        scores, lsal = self.local_module(crops.reshape(B * K, 1, *cfg.crop_shape))
        scores = scores.reshape(B, K, -1)
        lsal = lsal.reshape(B, K, *lsal.shape[1:])
        return GlamOutput(y_global, sal, pos, crops, scores.mean(1), scores, lsal)

    def fused_saliency(self, out: GlamOutput) -> torch.Tensor:
        """Window-sized fused saliency (B, C, H, W) of a forward output."""
        return fuse_maps(out.global_saliency, out.local_saliency, out.positions, self.cfg.window,
                         self.cfg.crop_shape)


def build_glam(cfg: GlamConfig, pretrained_global: str | None = "none",
               pretrained_local: str | None = "none") -> GLAM:
    """A GLAM model with optional weights: global none|/path, local none|imagenet|/path."""
    model = GLAM(cfg)
    if pretrained_global == "imagenet":
        raise ConfigError("glam.model.pretrained_global: imagenet does not exist for the 1-channel ResNet-22; "
                          "use none or a weights path")
    if pretrained_global not in (None, "", "none"):
        _load_part(model, "global_module", pretrained_global)
    if pretrained_local == "imagenet":
        if cfg.local_width != 64:
            raise ConfigError("pretrained_local: imagenet needs local_width 64 (the ResNet-34 widths)")
        from torchvision.models import ResNet34_Weights
        load_pretrained(model.local_module.backbone, "imagenet",
                        imagenet_loader=lambda: torchvision_imagenet_state(ResNet34_Weights.IMAGENET1K_V1))
    elif pretrained_local not in (None, "", "none"):
        _load_part(model, "local_module.backbone", pretrained_local)
    return model


def _load_part(model: nn.Module, part_name: str, path: str) -> None:
    """Load weights saved for one part (e.g. a torchvision ResNet-34) or taken from a whole GLAM checkpoint."""
    from pathlib import Path
    if not Path(path).is_file():
        raise ConfigError(f"pretrained weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    prefix = part_name + "."
    if any(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    # load_pretrained's loader hook applies the shape-matched loading to an in-memory state dict
    load_pretrained(model.get_submodule(part_name), "imagenet", imagenet_loader=lambda: state)


def parameter_count(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


__all__: Sequence[str] = ["GlamConfig", "GLAM", "GlamOutput", "build_glam", "select_patches", "fuse_maps",
                          "top_t_percent_pool", "crop_with_fill", "cells_to_pixels", "parameter_count"]
