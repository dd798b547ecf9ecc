"""SRResNet generator (1 channel, residual blocks, sub-pixel up-sampling), SRGAN discriminator, feature network."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mammoflow.core.errors import ConfigError
from mammoflow.training.checkpoints import load_checkpoint, save_atomic


class ResBlock(nn.Module):
    """3x3 conv-BN-PReLU-3x3 conv-BN plus identity."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.PReLU(c),
                                  nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x + body(x)."""
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRGAN's generator for 1-channel images in [0, 1]: 9x9 head, residual blocks, long skip, pixel shuffles."""

    def __init__(self, scale: int, channels: int, blocks: int, skip: str = "none"):
        super().__init__()
        if scale not in (2, 4):
            raise ConfigError(f"SRResNet scale must be 2 or 4, got {scale}")
        self.scale, self.skip = scale, skip
        c = channels
        self.head = nn.Sequential(nn.Conv2d(1, c, 9, padding=4), nn.PReLU(c))
        self.blocks = nn.Sequential(*[ResBlock(c) for _ in range(blocks)])
        self.mid = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            ups += [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(c)]
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(c, 1, 9, padding=4)
        if skip == "bicubic":  # residual variant: start exactly at the bicubic up-sampling
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """SR image (N, 1, sH, sW) of an LR batch (N, 1, H, W)."""
        h = self.head(lr)
        out = self.tail(self.up(h + self.mid(self.blocks(h))))
        if self.skip == "bicubic":
            out = out + F.interpolate(lr, scale_factor=float(self.scale), mode="bicubic", align_corners=False)
        return out


class Discriminator(nn.Module):
    """SRGAN discriminator: 3x3 convs (stride 2 every second layer, width doubled), BN, LeakyReLU, dense head."""

    def __init__(self, channels: int, layers: int):
        super().__init__()
        mods: list[nn.Module] = []
        cin, c = 1, channels
        for i in range(layers):
            stride = 2 if i % 2 else 1
            if i and i % 2 == 0:
                c *= 2
            mods += [nn.Conv2d(cin, c, 3, stride=stride, padding=1)]
            if i:
                mods.append(nn.BatchNorm2d(c))
            mods.append(nn.LeakyReLU(0.2))
            cin = c
        self.features = nn.Sequential(*mods)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 4 * c), nn.LeakyReLU(0.2),
                                  nn.Linear(4 * c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logits (N,)."""
        return self.head(self.features(x)).squeeze(1)


class FeatureNet(nn.Module):
    """Small in-domain trunk trained here to tell lesion/calcification HR patches from tissue (content loss, FID)."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels

        def block(i: int, o: int, s: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, stride=s, padding=1), nn.BatchNorm2d(o), nn.ReLU())

        self.trunk = nn.Sequential(block(1, c, 1), block(c, c, 1), block(c, 2 * c, 2), block(2 * c, 2 * c, 1),
                                   block(2 * c, 4 * c, 2))
        self.fc = nn.Linear(4 * c, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps of the trunk (content loss)."""
        return self.trunk(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector (FID)."""
        return self.trunk(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2): tissue vs lesion/calcification."""
        return self.fc(self.embed(x))


class GanPair(nn.Module):
    """Generator and discriminator trained together (one engine model, two optimisers)."""

    def __init__(self, g: SRResNet, d: Discriminator):
        super().__init__()
        self.g, self.d = g, d


def save_model(model: nn.Module, path: str | Path, meta: dict[str, Any]) -> None:
    """Weights plus the architecture settings that rebuild the model."""
    save_atomic({**meta, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}, path)


def load_generator(path: str | Path, scale: int | None = None) -> SRResNet:
    """An SRResNet from srresnet.pth/srgan.pth (weights only); ConfigError naming the file on a scale mismatch."""
    ck = load_checkpoint(path)
    if ck.get("kind") != "generator":
        raise ConfigError(f"{path}: not a super-resolution generator checkpoint (kind {ck.get('kind')!r})")
    if scale is not None and int(ck["scale"]) != int(scale):
        raise ConfigError(f"{path}: checkpoint was trained for x{ck['scale']} but the pairs are x{scale}")
    g = SRResNet(int(ck["scale"]), int(ck["channels"]), int(ck["blocks"]), str(ck["skip"]))
    g.load_state_dict(ck["model"])
    return g.eval()


def load_features(path: str | Path) -> FeatureNet:
    """The feature network from its checkpoint (weights only)."""
    ck = load_checkpoint(path)
    if ck.get("kind") != "features":
        raise ConfigError(f"{path}: not a feature-network checkpoint (kind {ck.get('kind')!r})")
    f = FeatureNet(int(ck["channels"]))
    f.load_state_dict(ck["model"])
    return f.eval()
