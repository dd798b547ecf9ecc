"""torchvision backbones with a 2-class head: building, stage scopes, the Grad-CAM layer, checkpoint loading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from mammoflow.core.errors import ConfigError
from mammoflow.training.checkpoints import load_checkpoint
from mammoflow.training.pretrained import load_pretrained, torchvision_imagenet_state

BACKBONES = {
    "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2),
    "densenet121": (tvm.densenet121, tvm.DenseNet121_Weights.IMAGENET1K_V1),
}
N_CLASSES = 2
STRIDE = 32  # output stride of the Grad-CAM layer of every backbone (input side / feature side)
# Input pixel on which cell 0 of the Grad-CAM layer is centred (cell i: CAM_OFFSET + STRIDE * i): 0 where every
# down-sampling step is a centred conv/max-pool (stride 2, padding k // 2), 14 for DenseNet's 2 x 2 average-pool
# transitions (each adds half a pixel of its input: 0.5 * (8 + 16 + ... ) = 14 px at stride 32).
CAM_OFFSET = {"efficientnet_b0": 0.0, "resnet50": 0.0, "densenet121": 14.0}


def head(model: nn.Module, backbone: str) -> nn.Module:
    """The replaced classification head of a backbone."""
    return model.fc if backbone == "resnet50" else model.classifier


def build(backbone: str, pretrained: str = "none") -> nn.Module:
    """A torchvision backbone with a fresh 2-class head; `pretrained` none | imagenet | /path (head skipped)."""
    if backbone not in BACKBONES:
        raise ConfigError(f"transfer backbone {backbone!r} is not one of {sorted(BACKBONES)}")
    ctor, weights = BACKBONES[backbone]
    model = ctor(weights=None, num_classes=N_CLASSES)
    return load_pretrained(model, pretrained, lambda: torchvision_imagenet_state(weights))


def scope(model: nn.Module, backbone: str, name: str) -> list[nn.Parameter]:
    """Parameters of a stage scope: head (the backbone frozen) or all."""
    if name == "head":
        return list(head(model, backbone).parameters())
    if name == "all":
        return list(model.parameters())
    raise ConfigError(f"transfer stage scope {name!r} is not head or all")


def cam_layer(model: nn.Module, backbone: str) -> nn.Module:
    """The last convolutional block, whose activations and gradients Grad-CAM weighs."""
    if backbone == "resnet50":
        return model.layer4
    if backbone == "efficientnet_b0":
        return model.features[-1]
    return model.features  # densenet121: dense block 4 + norm5 (the ReLU is applied in forward)


def load(path: str | Path, backbone: str | None = None) -> tuple[nn.Module, dict]:
    """Model and checkpoint dict from a transfer best.pt (weights only); ConfigError naming the file on a mismatch."""
    ck = load_checkpoint(path)
    bb = backbone or str(ck.get("backbone", ""))
    if backbone is not None and ck.get("backbone") not in (None, backbone):
        raise ConfigError(f"{path}: checkpoint is a {ck.get('backbone')} model, not {backbone}")
    model = build(bb, "none")
    state = ck["model"]
    own = model.state_dict()
    bad = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if bad or set(own) - set(state):
        detail = (f"tensor {bad[0]} has shape {tuple(state[bad[0]].shape)}, the model needs "
                  f"{tuple(own[bad[0]].shape)}" if bad else f"missing {sorted(set(own) - set(state))[:3]}")
        raise ConfigError(f"{path}: checkpoint does not match a 2-class {bb} ({detail}); "
                          "the head must have 2 outputs (benign, malignant)")
    model.load_state_dict(state)
    model.eval()
    return model, ck
