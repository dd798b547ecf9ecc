"""Warp math: identity for uniform saliency, lesion magnification, grid range/shape, file formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mammoflow.core.naming import fmt_num
from mammoflow.pipelines.nus import warp


@pytest.mark.parametrize("value,expected", [(20.0, "20"), (20, "20"), (0.5, "0.5"), (3.5, "3.5"), (1.0, "1"),
                                            ("15", "15"), ("0.50", "0.5"), (0.25, "0.25")])
def test_fmt_num_follows_the_seed(value, expected):
    assert fmt_num(value) == expected


def test_grid_shape_keeps_aspect_and_derives_from_input():
    assert warp.grid_shape(1152, 896, 144) == (144, 112)
    assert warp.grid_shape(576, 448, 144) == (144, 112)
    assert warp.grid_shape(448, 576, 144) == (112, 144)
    assert warp.grid_shape(2000, 1000, 100) == (100, 50)


@pytest.mark.parametrize("shape", [(576, 448), (203, 157), (96, 160)])
@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_uniform_saliency_is_identity(shape, lam):
    rng = np.random.default_rng(1)
    img = rng.random(shape)
    gh, gw = warp.grid_shape(*shape, 64)
    for heat in (np.zeros((gh, gw)), np.full((gh, gw), 0.7)):
        out, grid = warp.warp_image(img, heat, scale=20, fwhm=15, lam=lam, long_side=64)
        assert np.abs(out - img).max() < 1e-4
        assert torch.allclose(grid, warp.identity_grid(gh, gw), atol=1e-9)


def _lesion_case(H=576, W=448, box=(300, 340, 150, 195)):
    y0, y1, x0, x1 = box
    mask = np.zeros((H, W))
    mask[y0:y1, x0:x1] = 1
    gh, gw = warp.grid_shape(H, W, 144)
    ys = np.arange(gh) * (H - 1) / (gh - 1)
    xs = np.arange(gw) * (W - 1) / (gw - 1)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    heat = np.exp(-(((ys[:, None] - cy) / 48) ** 2 + ((xs[None, :] - cx) / 48) ** 2))  # P(lesion)-like peak
    return mask, heat


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_lesion_box_is_magnified_at_default_parameters(lam):
    mask, heat = _lesion_case()
    H, W = mask.shape
    grid = warp.blended_grid(warp.saliency_mass(heat, 20), 15, lam)  # seed default: scale 20, FWHM 15
    before, after = warp.area_share(mask, warp.upsample_grid(grid, H, W))
    assert after >= 1.5 * before, (before, after)


def test_magnification_grows_with_scale():
    mask, heat = _lesion_case()
    H, W = mask.shape
    shares = [warp.area_share(mask, warp.upsample_grid(warp.blended_grid(warp.saliency_mass(heat, s), 15, 1.0),
                                                        H, W))[1] for s in (0.0, 2.0, 5.0, 20.0)]
    assert shares[0] == pytest.approx(mask.mean(), abs=1e-6)
    assert all(b > a for a, b in zip(shares, shares[1:])), shares


def test_grid_range_shape_and_monotone_structure():
    mask, heat = _lesion_case()
    H, W = mask.shape
    for lam in (0.0, 0.5, 1.0):
        g = warp.blended_grid(warp.saliency_mass(heat, 20), 15, lam)
        full = warp.upsample_grid(g, H, W)
        assert full.shape == (H, W, 2)
        assert float(full.min()) >= -1 and float(full.max()) <= 1
    s = warp.structure_grid(warp.saliency_mass(heat, 20), 15)
    assert (torch.diff(s[0, :, 0]) >= 0).all() and (torch.diff(s[:, 0, 1]) >= 0).all()  # no folding
    assert torch.equal(s[0, :, 0], s[-1, :, 0])  # separable: straight lines stay straight


def test_extreme_saliency_stays_finite():
    heat = np.zeros((40, 30))
    heat[3, 4] = 1.0
    g = warp.blended_grid(warp.saliency_mass(heat, 2000.0), 5, 0.5)
    assert torch.isfinite(g).all()


def test_nan_heat_is_rejected():
    heat = np.zeros((8, 8))
    heat[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        warp.saliency_mass(heat, 10)


def test_window_centre_placement():
    # one hot window (2, 3) of a stride-32 map whose first centre is at pixel 111.5
    prob = np.zeros((30, 22))
    prob[2, 3] = 1.0
    H, W = 1152, 896
    heat = warp.heat_on_grid(prob, (111.5, 111.5), 32, H, W, H, W)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    assert abs(y - (111.5 + 64)) <= 0.5 and abs(x - (111.5 + 96)) <= 0.5
    # outside the span of window centres the map is edge-held, not stretched over the frame
    prob2 = np.arange(30)[:, None] * np.ones((1, 22)) / 29
    heat2 = warp.heat_on_grid(prob2, (111.5, 111.5), 32, H, W, H, W)
    assert heat2[:112].max() == 0.0 and heat2[-112:].min() == 1.0


@pytest.mark.parametrize("fmt", ["coarse", "full16"])
def test_saved_grid_roundtrip(tmp_path, fmt):
    mask, heat = _lesion_case()
    H, W = mask.shape
    g = warp.blended_grid(warp.saliency_mass(heat, 20), 15, 0.5)
    p = tmp_path / "g.npy"
    warp.save_grid(str(p), g, H, W, fmt)
    raw = np.load(p)
    assert raw.ndim == 3 and raw.shape[2] == 2 and np.abs(raw).max() <= 1
    assert raw.shape[:2] == ((H, W) if fmt == "full16" else tuple(g.shape[:2]))
    full = warp.load_grid(str(p), H, W)
    assert full.shape == (H, W, 2)
    assert float((full - warp.upsample_grid(g, H, W)).abs().max()) < 5e-4
