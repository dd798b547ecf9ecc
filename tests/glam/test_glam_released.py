"""Released GLAM checkpoints: the original parameter names and shapes load strictly into our model."""

from __future__ import annotations

import pytest
import torch

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam import released
from mammoflow.pipelines.glam.model import parameter_count

# names and shapes of the original modules (nyukat/GLAM src/modeling/modules.py), written out by hand
KNOWN = {
    "global_network.downsampling_branch.first_conv.weight": (16, 1, 7, 7),
    "global_network.downsampling_branch.layer_list.0.0.bn1.weight": (16,),
    "global_network.downsampling_branch.layer_list.0.0.downsample.0.weight": (16, 16, 1, 1),
    "global_network.downsampling_branch.layer_list.4.1.conv2.weight": (256, 256, 3, 3),
    "global_network.downsampling_branch.final_bn.running_var": (256,),
    "global_network.postprocess_module.gn_conv_1.weight": (2, 64, 1, 1),
    "global_network.postprocess_module.gn_conv_2.weight": (2, 128, 1, 1),
    "global_network.postprocess_module.gn_conv_last.weight": (2, 256, 1, 1),
    "global_network.postprocess_module.combine.weight": (2, 6, 1, 1),
    "detection_network.dn_resnet.conv1.weight": (64, 3, 7, 7),
    "detection_network.dn_resnet.layer2.0.downsample.1.running_mean": (128,),
    "detection_network.dn_resnet.layer3.5.conv2.weight": (256, 256, 3, 3),
    "detection_network.gn_conv_last.weight": (2, 512, 1, 1),
}


def original_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict under the original's names (built from our layout through the name map)."""
    g = torch.Generator().manual_seed(seed)
    model = released.GLAM(released.released_config((768, 512)))
    out = {released.ours_to_original_name(k): torch.randn(v.shape, generator=g) if v.is_floating_point() else v
           for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    out["global_network.postprocess_module.combine.weight"] = torch.randn(2, 6, 1, 1, generator=g)
    for k, v in out.items():
        if "running_var" in k:
            out[k] = v.abs() + 0.5
    return out


def test_original_names_and_shapes_are_the_released_layout():
    st = original_state()
    for k, shape in KNOWN.items():
        assert k in st and tuple(st[k].shape) == shape, k
    n = sum(v.numel() for k, v in st.items() if "running" not in k and k not in released.UNUSED)
    assert 23e6 < n < 25e6                       # ~24 M parameters (ResNet-34 local + ResNet-22 global)
    assert parameter_count(released.GLAM(released.released_config())) == n


def test_strict_loading_of_a_released_checkpoint(tmp_path):
    st = original_state()
    torch.save({"model": st}, tmp_path / "model_sep.ckpt")
    model = released.load_released(tmp_path / "model_sep.ckpt", window=(768, 512))
    ours = model.state_dict()
    assert torch.equal(ours["global_module.backbone.layer_list.0.0.downsample.weight"],
                       st["global_network.downsampling_branch.layer_list.0.0.downsample.0.weight"])
    assert torch.equal(ours["local_module.saliency_head.weight"], st["detection_network.gn_conv_last.weight"])
    with torch.no_grad():
        out = model(torch.randn(1, 1, 768, 512))
    assert tuple(out.y_global.shape) == (1, 2) and torch.isfinite(out.y_global).all()
    # a raw state dict works too; a missing, an unknown or a mis-shaped entry is refused
    bad = dict(st); bad.pop("detection_network.dn_resnet.layer1.0.conv1.weight")
    for i, variant in enumerate((bad, {**st, "global_network.extra.weight": torch.zeros(1)},
                                 {**st, "detection_network.gn_conv_last.weight": torch.zeros(3, 512, 1, 1)})):
        torch.save(variant, tmp_path / f"bad{i}.ckpt")
        with pytest.raises(ConfigError):
            released.load_released(tmp_path / f"bad{i}.ckpt", window=(768, 512))
    with pytest.raises(ConfigError, match="not found"):
        released.load_released(tmp_path / "missing.ckpt")


def test_released_layout_is_the_schema_default():
    """glam.train.released needs the default glam.model: the released layout must be exactly it."""
    from mammoflow.core.config import schema_defaults
    from mammoflow.pipelines.glam.config import model_config
    window = schema_defaults("glam")["window"]
    assert released.released_config(tuple(window)).to_dict() == model_config(schema_defaults("glam", "model"),
                                                                             window).to_dict()
    assert schema_defaults("glam", "train")["released"] == "none"
