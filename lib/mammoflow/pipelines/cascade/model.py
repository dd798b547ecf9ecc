"""ACA-ResUNet (smp ResNet-34 encoder, ASPP bottleneck, UpACA decoder built eagerly) and the plain smp U-Net."""

from __future__ import annotations

from typing import Sequence

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch import nn

from mammoflow.core.errors import ConfigError
from mammoflow.training.pretrained import load_pretrained, torchvision_imagenet_state

MODELS = ("aca_resunet", "unet")
ENCODER = "resnet34"
DECODER_CHANNELS = (128, 64, 64, 64)  # UpACA blocks 1..4 (the original's)
ASPP_RATES = (1, 6, 12, 18)


def conv_bn_relu(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    """k x k convolution (no bias) -> BatchNorm -> ReLU, same padding."""
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """Parallel dilated 3x3 convolutions, concatenated -> BN -> ReLU -> 1x1 to out_ch -> BN -> ReLU (no pooling)."""

    def __init__(self, in_ch: int, out_ch: int, rates: Sequence[int] = ASPP_RATES):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_ch, out_ch, 3, padding=r, dilation=r, bias=False) for r in rates)
        n = out_ch * len(rates)
        self.post = nn.Sequential(nn.BatchNorm2d(n), nn.ReLU(inplace=True),
                                  nn.Conv2d(n, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-rate context of the bottleneck."""
        return self.post(torch.cat([b(x) for b in self.branches], dim=1))


class ACA(nn.Module):
    """Gate-guided skip refinement: per-pixel channel gate ca, spatial gate sa; skip*ca*sa + skip, then 1x1 fuse."""

    def __init__(self, skip_ch: int, gate_ch: int, reduction: int = 8):
        super().__init__()
        cat, mid = skip_ch + gate_ch, max(1, (skip_ch + gate_ch) // reduction)
        self.ca = nn.Sequential(nn.Conv2d(cat, mid, 1), nn.ReLU(inplace=True), nn.Conv2d(mid, skip_ch, 1), nn.Sigmoid())
        self.sa = nn.Sequential(nn.Conv2d(cat, mid, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(mid, 1, 1),
                                nn.Sigmoid())
        self.fuse = conv_bn_relu(skip_ch, skip_ch, k=1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        """The refined skip tensor (same shape as skip)."""
        z = torch.cat([skip, gate], dim=1)
        return self.fuse(skip * self.ca(z) * self.sa(z) + skip)


class UpACA(nn.Module):
    """Bilinear x2 of the decoder tensor, ACA on the skip, concat, two 3x3 conv-BN-ReLU."""

    def __init__(self, gate_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.aca = ACA(skip_ch, gate_ch)
        self.conv = nn.Sequential(conv_bn_relu(skip_ch + gate_ch, out_ch), conv_bn_relu(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsampled, skip-refined decoder tensor at the skip's resolution."""
        gate = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([self.aca(skip, gate), gate], dim=1))


class ACAResUNet(nn.Module):
    """smp ResNet-34 encoder -> ASPP (512->256) -> UpACA with skips e4..e1 -> 1x1 head at stride 2 -> input size."""

    def __init__(self, classes: int, in_channels: int = 1, decoder_channels: Sequence[int] = DECODER_CHANNELS):
        super().__init__()
        self.encoder = smp.encoders.get_encoder(ENCODER, in_channels=in_channels, depth=5, weights=None)
        ch = list(self.encoder.out_channels)  # (in, 64, 64, 128, 256, 512) at strides 1..32
        self.aspp = ASPP(ch[-1], ch[-2])
        skips = ch[-2:0:-1]  # e4, e3, e2, e1 channels
        blocks, gate = [], ch[-2]
        for skip_ch, out_ch in zip(skips, decoder_channels):
            blocks.append(UpACA(gate, skip_ch, out_ch))
            gate = out_ch
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(gate, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes, H, W) at the input size."""
        feats = self.encoder(x)
        d = self.aspp(feats[-1])
        for block, skip in zip(self.decoder, feats[-2:0:-1]):
            d = block(d, skip)
        return F.interpolate(self.head(d), size=x.shape[-2:], mode="bilinear", align_corners=False)


def imagenet_encoder_state(in_channels: int) -> dict[str, torch.Tensor]:
    """ResNet-34 ImageNet weights (local hub cache only) as 'encoder.*' keys; RGB conv1 summed for 1 channel."""
    import torchvision

    state = torchvision_imagenet_state(torchvision.models.ResNet34_Weights.IMAGENET1K_V1)
    w = state["conv1.weight"]
    if in_channels == 1:
        state["conv1.weight"] = w.sum(dim=1, keepdim=True)
    elif in_channels != 3:
        raise ConfigError(f"pretrained: imagenet supports in_channels 1 or 3, not {in_channels}")
    return {f"encoder.{k}": v for k, v in state.items() if not k.startswith("fc.")}


def encoder_module(model: nn.Module) -> nn.Module:
    """The ResNet-34 encoder of either model."""
    return model.encoder


def decoder_modules(model: nn.Module) -> list[nn.Module]:
    """Everything but the encoder (ASPP, decoder blocks, head)."""
    return [m for name, m in model.named_children() if name != "encoder"]


def build_model(name: str, classes: int, pretrained: str = "none", in_channels: int = 1) -> nn.Module:
    """aca_resunet | unet with `classes` output logits and `pretrained` = none | imagenet | /path."""
    if name == "aca_resunet":
        model: nn.Module = ACAResUNet(classes, in_channels)
    elif name == "unet":
        model = smp.Unet(ENCODER, encoder_weights=None, in_channels=in_channels, classes=classes)
    else:
        raise ConfigError(f"cascade model {name!r} is not one of {MODELS}")
    return load_pretrained(model, pretrained, lambda: imagenet_encoder_state(in_channels))
