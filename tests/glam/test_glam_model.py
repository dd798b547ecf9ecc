"""GLAM model: layer arithmetic at paper sizes, pooling, patch selection, cropping and map fusion."""

from __future__ import annotations

import dataclasses
import time

import pytest
import torch
import torchvision

from mammoflow.core.errors import ConfigError
from mammoflow.pipelines.glam.model import (GLAM, GlamConfig, build_glam, cells_to_pixels, crop_with_fill, fuse_maps,
                            parameter_count, select_patches, top_t_percent_pool)

from glam_fixtures import SMALL, glam_config


def test_paper_layer_arithmetic():
    cfg = glam_config()
    assert cfg.stage_sizes == [(735, 479), (368, 240), (184, 120), (92, 60), (46, 30)]
    assert cfg.cam_size == (184, 120)
    assert cfg.crop_cells == (32, 32)
    assert cfg.local_map_size == (128, 128)


def test_paper_shapes_on_meta_device():
    cfg = glam_config()
    with torch.device("meta"):
        model = GLAM(cfg)
        feats = model.global_module.backbone(torch.zeros(1, 1, 2944, 1920))
        y, sal = model.global_module(torch.zeros(1, 1, 2944, 1920))
        scores, lsal = model.local_module(torch.zeros(1, 1, 512, 512))
    assert [tuple(f.shape) for f in feats] == [(1, 64, 184, 120), (1, 128, 92, 60), (1, 256, 46, 30)]
    assert tuple(y.shape) == (1, 2) and tuple(sal.shape) == (1, 2, 184, 120)
    assert tuple(scores.shape) == (1, 2) and tuple(lsal.shape) == (1, 2, 128, 128)


def test_parameter_counts_and_resnet34_layout():
    model = GLAM(glam_config())
    assert 2_700_000 < parameter_count(model.global_module) < 2_900_000      # "global ~2.8 M"
    tv = torchvision.models.resnet34()                                       # random init, no network
    state = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    model.local_module.backbone.load_state_dict(state, strict=True)          # same names and shapes
    assert parameter_count(model.local_module) == sum(v.numel() for k, v in tv.named_parameters()
                                                      if not k.startswith("fc.")) + 512 * 2


@pytest.mark.slow
def test_paper_size_global_forward_on_cpu():
    torch.manual_seed(0)
    gm = GLAM(glam_config()).global_module.eval()
    t = time.time()
    with torch.no_grad():
        y, sal = gm(torch.randn(1, 1, 2944, 1920))
    assert time.time() - t < 20
    assert tuple(sal.shape) == (1, 2, 184, 120)
    assert torch.all((y > 0) & (y < 1)) and torch.all((sal >= 0) & (sal <= 1))


def test_top_t_percent_pool():
    m = torch.arange(100, dtype=torch.float32).reshape(1, 1, 10, 10).repeat(1, 2, 1, 1)
    m[0, 1] = m[0, 1].flip(0)
    out = top_t_percent_pool(m, 0.03)
    assert torch.allclose(out, torch.tensor([[98.0, 98.0]]))          # mean of 99, 98, 97
    assert torch.allclose(top_t_percent_pool(m, 0.001), torch.tensor([[99.0, 99.0]]))   # at least one pixel
    assert torch.allclose(top_t_percent_pool(m, 1.0), torch.tensor([[49.5, 49.5]]))


def test_select_patches_picks_max_window_then_next():
    sal = torch.zeros(1, 2, 20, 12)
    sal[0, 0, 3:7, 2:6] = 50.0       # benign hot spot (large scale)
    sal[0, 1, 3:7, 2:6] = 0.2        # malignant at the same place (small scale, normalised per class)
    sal[0, 1, 12:16, 7:11] = 0.15    # a weaker malignant spot elsewhere
    pos = select_patches(sal, (4, 4), top_k=2)
    assert pos.tolist() == [[[3, 2], [12, 7]]]
    pos1 = select_patches(sal, (4, 4), top_k=1)
    assert pos1.tolist() == [[[3, 2]]]


def test_cells_to_pixels_is_proportional():
    cells = torch.tensor([[[152, 88], [0, 0]]])
    px = cells_to_pixels(cells, (184, 120), (2944, 1920))
    assert px.tolist() == [[[2432, 1408], [0, 0]]]      # 152*16 + 512 = 2944: the last window fits exactly


def test_crop_with_fill_uses_image_minimum_outside():
    img = torch.arange(1, 26, dtype=torch.float32).reshape(1, 5, 5)
    c = crop_with_fill(img, 3, -1, (3, 3))
    assert c.shape == (1, 3, 3)
    assert c[0, 0].tolist() == [1.0, 16.0, 17.0] and c[0, 1].tolist() == [1.0, 21.0, 22.0]
    assert c[0, 2].tolist() == [1.0, 1.0, 1.0]


def test_fusion_pastes_local_map_at_crop_position():
    g = torch.zeros(1, 2, 8, 6)
    loc = torch.ones(1, 1, 2, 4, 4)
    fused = fuse_maps(g, loc, torch.tensor([[[32, 16]]]), (128, 96), (16, 16))
    assert fused.shape == (1, 2, 128, 96)
    assert torch.all(fused[0, :, 32:48, 16:32] == 0.5)
    fused[0, :, 32:48, 16:32] = 0
    assert torch.all(fused == 0)
    # a crop hanging over the window edge is clipped, not wrapped
    edge = fuse_maps(g, loc, torch.tensor([[[120, 90]]]), (128, 96), (16, 16))
    assert torch.all(edge[0, :, 120:, 90:] == 0.5) and float(edge.sum()) == 0.5 * 2 * 8 * 6
    # the global half: a constant global map contributes half of its value everywhere
    const = fuse_maps(torch.full((1, 2, 8, 6), 0.4), loc * 0, torch.tensor([[[0, 0]]]), (128, 96), (16, 16))
    assert torch.allclose(const, torch.full_like(const, 0.2))


def test_forward_small_config_shapes_and_crops():
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, top_k_per_class=2)
    model = GLAM(cfg).eval()
    x = torch.randn(2, 1, *cfg.window)
    with torch.no_grad():
        out = model(x)
        fused = model.fused_saliency(out)
    h, w = cfg.cam_size
    assert out.y_global.shape == (2, 2) and out.global_saliency.shape == (2, 2, h, w)
    assert out.positions.shape == (2, 2, 2) and out.crops.shape == (2, 2, 1, 64, 64)
    assert out.local_saliency.shape == (2, 2, 2, 16, 16) and out.patch_scores.shape == (2, 2, 2)
    assert fused.shape == (2, 2, *cfg.window)
    for b in range(2):
        for k in range(2):
            t, l = out.positions[b, k].tolist()
            assert 0 <= t <= cfg.window[0] - 64 and 0 <= l <= cfg.window[1] - 64
            assert torch.equal(out.crops[b, k, 0], x[b, 0, t:t + 64, l:l + 64])
    with pytest.raises(ValueError):
        model(torch.randn(1, 1, 100, 100))


def test_config_validation():
    with pytest.raises(ConfigError):
        GlamConfig.from_dict({"windw": [10, 10]})
    with pytest.raises(ConfigError):
        glam_config(**{"window": [40, 40], "crop_shape": [64, 64]})
    with pytest.raises(ConfigError):
        glam_config(**{"window": [12, 12], "crop_shape": [4, 4]})
    cfg = glam_config(**{"window": [736, 480], "crop_shape": [128, 128]})
    assert cfg.cam_size == (46, 30) and cfg.crop_cells == (8, 8)
    assert GlamConfig.from_dict(cfg.to_dict()) == cfg


def test_pretrained_options(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match="local torch hub cache"):
        build_glam(glam_config(), pretrained_local="imagenet")
    with pytest.raises(ConfigError):
        build_glam(SMALL, pretrained_global="imagenet")
    torch.manual_seed(1)
    src = GLAM(SMALL)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(2)
    dst = build_glam(SMALL, pretrained_global=str(tmp_path / "w.pt"))
    for k, v in src.global_module.state_dict().items():
        assert torch.equal(dst.global_module.state_dict()[k], v)
    assert not torch.equal(dst.local_module.backbone.conv1.weight, src.local_module.backbone.conv1.weight)


@pytest.mark.parametrize("pixel", [(40, 24), (200, 130), (128, 20)])
def test_global_map_frame_is_the_window_frame(pixel):
    """A change at window pixel (y, x) moves the stage-3 saliency most at cell (y, x) / stride: no transposition,
    flip or offset between the window and the cam grid (the frame patch selection and fusion rely on)."""
    torch.manual_seed(0)
    model = GLAM(SMALL).eval()
    x = torch.zeros(1, 1, *SMALL.window)
    y0, x0 = pixel
    bumped = x.clone()
    bumped[0, 0, y0 - 2:y0 + 3, x0 - 2:x0 + 3] = 5.0
    with torch.no_grad():
        feats = [model.global_module.backbone(t)[0] for t in (x, bumped)]
    change = (feats[1] - feats[0]).abs().sum(1)[0]
    h, w = SMALL.cam_size
    assert tuple(change.shape) == (h, w)
    cy, cx = divmod(int(change.argmax()), w)
    sy, sx = SMALL.window[0] / h, SMALL.window[1] / w
    assert abs(cy - y0 / sy) <= 1.5 and abs(cx - x0 / sx) <= 1.5, (cy, cx, y0 / sy, x0 / sx)


def test_global_module_per_map_scores_average_to_y_global():
    torch.manual_seed(0)
    model = GLAM(SMALL).eval()
    x = torch.randn(2, 1, *SMALL.window)
    with torch.no_grad():
        y, sal = model.global_module(x)
        y2, sal2, ys = model.global_module(x, per_map=True)
    assert ys.shape == (3, 2, 2)
    assert torch.allclose(ys.mean(0), y) and torch.allclose(y2, y) and torch.equal(sal2, sal)
