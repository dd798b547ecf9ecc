"""Seed-000 patch models: torchvision ResNets (plain or tiled 32 px tiles), their stage scopes and checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck

from mammoflow.core.errors import ConfigError
from mammoflow.training.checkpoints import load_checkpoint
from mammoflow.training.pretrained import load_pretrained, torchvision_imagenet_state

CLASSES = ["background", "lesion"]
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
TILE = 32  # tile side of a tiled model = total stride of a ResNet trunk
POOLINGS = ("mean", "gaussian")  # how a tiled model averages a window's tile features


def _weights_enum(arch: str):
    names = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
             "resnet101": "ResNet101_Weights", "resnet152": "ResNet152_Weights"}
    return getattr(torchvision.models, names[arch]).IMAGENET1K_V1


LAYOUTS = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
           "resnet50": (Bottleneck, [3, 4, 6, 3]), "resnet101": (Bottleneck, [3, 4, 23, 3]),
           "resnet152": (Bottleneck, [3, 8, 36, 3])}


class TileTrunk(nn.Module):
    """A ResNet trunk run on each tile x tile block of the input on its own: (N, C, H/t, W/t) local features."""

    def __init__(self, body: nn.Module, tile: int = TILE):
        super().__init__()
        self.body = body
        self.tile = int(tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of every tile (input zero-padded at the bottom/right to a whole number of tiles)."""
        t = self.tile
        n, c, h, w = x.shape
        if h % t or w % t:
            x = F.pad(x, (0, -w % t, 0, -h % t))
            h, w = x.shape[-2:]
        gh, gw = h // t, w // t
        tiles = x.reshape(n, c, gh, t, gw, t).permute(0, 2, 4, 1, 3, 5).reshape(n * gh * gw, c, t, t)
        f = self.body(tiles)
        if f.shape[-2:] != (1, 1):
            raise RuntimeError(f"a {t} px tile gave a {tuple(f.shape[-2:])} feature map (expected 1 x 1)")
        return f.reshape(n, gh, gw, -1).permute(0, 3, 1, 2)


def window_weights(kh: int, kw: int, pooling: str = "mean") -> torch.Tensor:
    """(kh, kw) weights (sum 1) with which a window's tile features are averaged: uniform, or a Gaussian of
    sigma = a quarter of the window side centred on the window (the centre tiles count most)."""
    if pooling == "mean":
        return torch.full((kh, kw), 1.0 / (kh * kw))
    if pooling != "gaussian":
        raise ConfigError(f"unknown window pooling {pooling!r}; choose one of {POOLINGS}")

    def g(k: int) -> torch.Tensor:
        r = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
        return torch.exp(-0.5 * (r / (k / 4)) ** 2)

    w = torch.outer(g(kh), g(kw))
    return (w / w.sum()).float()


class TiledResNet(torchvision.models.ResNet):
    """ResNet patch classifier that sees one 32 x 32 tile at a time (a bag of local features).

    A window's logits are fc(weighted mean of its tiles' features, `pooling`); the dense heatmap pass over a
    whole canvas computes every tile once and gives exactly the logits of every stride-32 sliding window.
    """

    tile = TILE

    def __init__(self, block: type, layers: list[int], pooling: str = "mean"):
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown window pooling {pooling!r}; choose one of {POOLINGS}")
        super().__init__(block, layers)
        self.pooling = pooling

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        f = trunk(self)(x)
        w = window_weights(f.shape[-2], f.shape[-1], self.pooling).to(f)
        return self.fc((f * w).sum(dim=(-2, -1)))


def build_model(arch: str = "resnet50", pretrained: str | None = "none", tiled: bool = False,
                pooling: str = "mean") -> nn.Module:
    """torchvision ResNet (tiled: TiledResNet with window `pooling`, same weights) with fc = Linear(in, 2);
    pretrained = none | imagenet (local hub cache) | /path/to/weights."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown patch classifier arch {arch!r}; choose one of {ARCHS}")
    if tiled:
        model = TiledResNet(*LAYOUTS[arch], pooling=pooling)
    else:
        model = getattr(torchvision.models, arch)(weights=None)
    model.fc = nn.Linear(model.fc.in_features, len(CLASSES))
    return load_pretrained(model, pretrained, imagenet_loader=lambda: torchvision_imagenet_state(_weights_enum(arch)))


def trunk(model: nn.Module) -> nn.Module:
    """The convolutional trunk of a torchvision ResNet (stem to layer4); tile by tile for a TiledResNet."""
    body = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                         model.layer1, model.layer2, model.layer3, model.layer4)
    return TileTrunk(body, model.tile) if isinstance(model, TiledResNet) else body


def centre_logits(model: nn.Module, x_ctx: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Logits of the central patch_size window of context crops, as the dense heatmap pass computes them.

    The trunk runs over the whole crop (the window's real neighbours instead of the zero padding an isolated
    window gets), the features of the central window are average-pooled and fed to fc.
    """
    n, _, h, w = x_ctx.shape
    if patch_size % 32 or (h - patch_size) % 64 or h != w:
        raise ConfigError(f"context crops need a square side = patch + 2 x a multiple of 32, got {h}x{w}")
    f = trunk(model)(x_ctx)
    k, o = patch_size // 32, (h - patch_size) // 64
    return model.fc(f[:, :, o:o + k, o:o + k].mean(dim=(2, 3)))


def context_consistency_loss(model: nn.Module, x_ctx: torch.Tensor, y: torch.Tensor, patch_size: int,
                             weight: float) -> torch.Tensor:
    """Cross-entropy of the isolated window (sliding view) and of the same window in context (dense view),
    plus weight x the squared difference of their log-odds, so that dense heatmaps reproduce sliding ones."""
    o = (x_ctx.shape[-1] - patch_size) // 2
    iso = model(x_ctx[:, :, o:o + patch_size, o:o + patch_size])
    loss = F.cross_entropy(iso, y)
    if o == 0:
        return loss
    ctx = centre_logits(model, x_ctx, patch_size)
    d_iso, d_ctx = iso[:, 1] - iso[:, 0], ctx[:, 1] - ctx[:, 0]
    return loss + F.cross_entropy(ctx, y) + weight * F.mse_loss(d_ctx, d_iso)


def trainable(model: nn.Module, what: str) -> list[nn.Parameter]:
    """Parameters a stage trains: head = fc; last_block = last residual block of layer4 + fc; all = everything."""
    if what == "head":
        return list(model.fc.parameters())
    if what == "last_block":
        return list(model.layer4[-1].parameters()) + list(model.fc.parameters())
    if what == "layer4":
        return list(model.layer4.parameters()) + list(model.fc.parameters())
    if what == "all":
        return list(model.parameters())
    raise ConfigError(f"unknown stage scope {what!r} (head | last_block | layer4 | all)")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """A trained patch classifier in eval mode and its metadata (arch, norm, patch_size, classes, ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"patch classifier checkpoint not found: {path}")
    ck = load_checkpoint(path)
    missing = [k for k in ("model", "arch", "norm", "patch_size") if k not in ck]
    if missing:
        raise ConfigError(f"{path}: not a patch classifier checkpoint (missing {missing})")
    model = build_model(ck["arch"], "none", bool(ck.get("tiled", False)), str(ck.get("pooling", "mean")))
    model.load_state_dict(ck["model"])
    model.to(device).eval()
    meta = {k: v for k, v in ck.items() if k not in ("model", "optimizer", "rng", "history")}
    return model, meta


def normalise(x01: torch.Tensor, norm: Mapping[str, float]) -> torch.Tensor:
    """(N,1,H,W) or (N,H,W) values in [0,1] -> (N,3,H,W) standardised by the training-patch mean/std."""
    if x01.dim() == 3:
        x01 = x01[:, None]
    x = (x01.float() - float(norm["mean"])) / float(norm["std"])
    return x.expand(-1, 3, -1, -1)


