"""Pretrained weights: none | imagenet (local torch hub cache only) | /path/to/weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from mammoflow.core.errors import ConfigError


def torch_hub_dir() -> Path:
    """Where torchvision looks for cached weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_pretrained(model: torch.nn.Module, pretrained: str | None, imagenet_loader: Callable[[], dict] | None = None,
                    strict: bool = False) -> torch.nn.Module:
    """Apply `pretrained` = none | imagenet | /path/to/weights to a model, never touching the network.

    `imagenet_loader` returns an ImageNet state dict; it must only read the local torch hub cache.
    Shape-mismatched keys (e.g. a new classifier head) are skipped; everything else must match.
    """
    if pretrained in (None, "", "none"):
        return model
    if pretrained == "imagenet":
        if imagenet_loader is None:
            raise ConfigError("pretrained: imagenet is not available for this model; use none or a weights path")
        state = imagenet_loader()
    else:
        path = Path(pretrained)
        if not path.is_file():
            raise ConfigError(f"pretrained weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    missing = [k for k in own if k not in usable]
    if strict and missing:
        raise ConfigError(f"pretrained weights lack {len(missing)} parameters, e.g. {missing[:3]}")
    if not usable:
        raise ConfigError(f"pretrained weights {pretrained!r} share no parameter with the model")
    model.load_state_dict(usable, strict=False)
    return model


def torchvision_imagenet_state(weights_enum: Any) -> dict:
    """Load a torchvision weights enum from the local hub cache only; fail clearly if absent."""
    url = weights_enum.url
    fname = Path(url).name
    cached = torch_hub_dir() / fname
    if not cached.is_file():
        raise ConfigError(
            f"pretrained: imagenet needs {fname} in the local torch hub cache ({cached.parent}); "
            "there is no network at run time. Download it on a connected machine "
            "(torchvision weights) and copy it there, or pass pretrained: /path/to/weights or none."
        )
    return torch.load(cached, map_location="cpu", weights_only=True)
