"""The released GLAM checkpoints (model_sep.ckpt / model_joint.ckpt): their parameter names mapped onto ours, strictly."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import torch

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam.config import GlamConfig
from mammoflow.pipelines.glam.model import GLAM

# prefixes of the original modules (nyukat/GLAM src/modeling: MILSingleImageModel.global_network is a
# GlobalNetworkGeneric with downsampling_branch (ResNetV2) and postprocess_module (1x1 convs gn_conv_1, gn_conv_2,
# gn_conv_last); detection_network is a DetectionNetworkResNetv3 with dn_resnet (ResNet-34 layout, localHR)
# and gn_conv_last) -> the names of mammoflow.pipelines.glam.model.GLAM
PREFIXES = (
    ("global_network.downsampling_branch.", "global_module.backbone."),
    ("global_network.postprocess_module.gn_conv_1.", "global_module.saliency_heads.0."),
    ("global_network.postprocess_module.gn_conv_2.", "global_module.saliency_heads.1."),
    ("global_network.postprocess_module.gn_conv_last.", "global_module.saliency_heads.2."),
    ("detection_network.dn_resnet.", "local_module.backbone."),
    ("detection_network.gn_conv_last.", "local_module.saliency_head."),
)
# parameters of the original that its forward pass never uses (PostProcessingStandard.combine)
UNUSED = ("global_network.postprocess_module.combine.weight",)
# the global blocks' projection shortcut is a one-conv Sequential in the original, a bare conv here
_GLOBAL_DOWNSAMPLE = re.compile(r"^(global_module\.backbone\.layer_list\.\d+\.\d+\.downsample)\.0\.")


def original_name_to_ours(name: str) -> str | None:
    """Our parameter name for an original one (None for the original's unused parameters); KeyError if unknown."""
    if name in UNUSED:
        return None
    for old, new in PREFIXES:
        if name.startswith(old):
            return _GLOBAL_DOWNSAMPLE.sub(r"\1.", new + name[len(old):])
    raise KeyError(name)


def ours_to_original_name(name: str) -> str:
    """The original's parameter name for one of ours (the inverse of original_name_to_ours)."""
    for old, new in PREFIXES:
        if name.startswith(new):
            rest = name[len(new):]
            if new == "global_module.backbone.":
                rest = re.sub(r"^(layer_list\.\d+\.\d+\.downsample)\.", r"\1.0.", rest)
            return old + rest
    raise KeyError(name)


def released_config(window: tuple[int, int] = (2944, 1920)) -> GlamConfig:
    """The released model's sizes (the paper's: ResNet-22 v2 global, ResNet-34 local, 512 x 512 crops)."""
    return GlamConfig(window=tuple(window), crop_shape=(512, 512), global_width=16, global_blocks=(2, 2, 2, 2, 2),
                      global_strides=(1, 2, 2, 2, 2), local_width=64, local_blocks=(3, 4, 6, 3), percent_k=0.03,
                      top_k_per_class=1, detection_pooling_percent_k=0.3, map_weights=(0.2, 0.6, 0.2))


def convert_state(original: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original state dict to ours; unknown names are an error naming them."""
    out, unknown = {}, []
    for k, v in original.items():
        try:
            new = original_name_to_ours(k)
        except KeyError:
            unknown.append(k)
            continue
        if new is not None:
            out[new] = v
    if unknown:
        raise ConfigError(f"released GLAM checkpoint: unknown parameters {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    return out


def load_released(path: str | Path, window: tuple[int, int] = (2944, 1920)) -> GLAM:
    """A GLAM model with the weights of a released checkpoint (weights_only loading, strict name and shape check).

    BatchNorm `num_batches_tracked` counters, which checkpoints of old PyTorch versions may lack, are the only
    entries allowed to be missing; every other missing, unexpected or mis-shaped entry is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"released GLAM checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a state dict")
    ours = convert_state(state)
    model = GLAM(released_config(window))
    expected = model.state_dict()
    missing = [k for k in expected if k not in ours and not k.endswith("num_batches_tracked")]
    extra = [k for k in ours if k not in expected]
    shapes = [f"{k}: {tuple(ours[k].shape)} != {tuple(expected[k].shape)}" for k in ours
              if k in expected and tuple(ours[k].shape) != tuple(expected[k].shape)]
    if missing or extra or shapes:
        raise ConfigError(f"{path}: does not match the released GLAM layout; missing {missing[:5]}, "
                          f"unexpected {extra[:5]}, shapes {shapes[:5]}")
    for k in expected:
        if k not in ours:
            ours[k] = expected[k]
    model.load_state_dict(ours, strict=True)
    return model.eval()
