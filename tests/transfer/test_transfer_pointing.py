"""Grad-CAM frames (map cells on the pixels they see), sliding-window Grad-CAM and hard background negatives."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mammoflow.core.config import schema_defaults
from mammoflow.io import png
from mammoflow.pipelines.transfer import data, gradcam, models, train
from transfer_synth import tiny_config, write_tables


@pytest.mark.parametrize("backbone", sorted(models.BACKBONES))
def test_cam_cells_lie_on_their_receptive_fields(backbone):
    """The input-gradient centroid of an interior cell of the Grad-CAM layer is CAM_OFFSET + STRIDE * index."""
    torch.manual_seed(0)
    model = models.build(backbone).eval()
    acts = {}
    h = models.cam_layer(model, backbone).register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    x = torch.randn(1, 3, 512, 512, requires_grad=True)
    model(x)
    h.remove()
    assert acts["a"].shape[-1] * models.STRIDE == 512
    (g,) = torch.autograd.grad(acts["a"][0, :, 8, 5].sum(), x)
    w = g[0].abs().sum(0)
    ys, xs = torch.meshgrid(torch.arange(512.0), torch.arange(512.0), indexing="ij")
    cy, cx = float((w * ys).sum() / w.sum()), float((w * xs).sum() / w.sum())
    off = models.CAM_OFFSET[backbone]
    assert abs(cy - (off + 8 * models.STRIDE)) < 2.5 and abs(cx - (off + 5 * models.STRIDE)) < 2.5


def test_upsample_puts_cells_on_their_pixels():
    cam = torch.zeros(1, 1, 4, 5)
    cam[0, 0, 2, 3] = 1.0
    m = gradcam.upsample(cam, (128, 160), 32, 0.0)[0]
    assert np.unravel_index(int(m.argmax()), m.shape) == (64, 96)
    m = gradcam.upsample(cam, (128, 160), 32, 14.0)[0]
    assert np.unravel_index(int(m.argmax()), m.shape) == (78, 110)
    # the plain resize (the previous code) puts the cell half a stride further, 16 px off for offset 0
    m = gradcam.upsample(cam, (128, 160))[0]
    py, px = np.unravel_index(int(m.argmax()), m.shape)
    assert abs(py - 64) >= 15 and abs(px - 96) >= 15
    # outside the outer cells the map keeps the border value instead of fading to the image edge
    cam = torch.ones(1, 1, 2, 2)
    assert torch.allclose(gradcam.upsample(cam, (70, 70), 32, 0.0), torch.ones(1, 70, 70))


class _Spot(nn.Module):
    """Grad-CAM toy: one stride-32 cell = a centre-surround filter (17 x 17 centre, 33 x 33 zero-mean kernel)
    centred on pixel 32 * index, so a bright spot lights the one cell centred on it and flat regions nothing."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 1, 33, stride=32, padding=16, bias=False)
        k = torch.full((33, 33), -289.0 / (1089 - 289))
        k[8:25, 8:25] = 1.0
        with torch.no_grad():
            self.features.weight.copy_(k.expand(1, 3, 33, 33))
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head.bias.zero_()

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def test_whole_canvas_peak_lies_on_the_spot():
    """Whole-canvas Grad-CAM of a canvas whose size is no multiple of the stride puts the peak on the spot, near
    the origin and at the far corner; the plain resize of the previous code put it 8 px or more away."""
    model = _Spot()
    for (x, y) in ((32, 32), (192, 128)):
        im = np.zeros((150, 200), np.float32)
        im[y - 3:y + 4, x - 3:x + 4] = 1.0
        cam = gradcam.GradCAM(model, model.features, 0.0)
        m, _ = gradcam.cam_image(cam, im, np.ones_like(im, bool), torch.device("cpu"), pad=0)
        cam.close()
        assert np.unravel_index(int(m.argmax()), m.shape) == (y, x)
        old = gradcam.GradCAM(model, model.features)  # plain resize, no padding to the stride
        m = old(gradcam.prep.to_model(torch.from_numpy(im)[None, None]))[0][0]
        old.close()
        py, px = np.unravel_index(int(m.argmax()), m.shape)
        assert abs(px - x) >= 6 and abs(py - y) >= 6


def test_window_starts_cover_every_pixel():
    for n, side, step in ((100, 40, 10), (37, 64, 16), (5, 8, 100)):
        starts = gradcam.window_starts(n, side, step)
        centres = [s + side // 2 for s in starts]
        assert centres[0] == 0 and centres[-1] == n - 1 and np.all(np.diff(centres) <= step)
        covered = np.zeros(n, bool)
        for s in starts:
            covered[max(s, 0):max(s + side, 0)] = True
        assert covered.all()


def test_sliding_map_finds_the_evidence_inside_the_breast():
    model = _Spot()
    canvas = (0.4 + 0.01 * np.random.default_rng(0).random((160, 128))).astype(np.float32)
    canvas[60:72, 30:42] = canvas[100:112, 110:122] = 1.0  # the evidence, and a spot outside the breast
    breast = np.zeros(canvas.shape, bool)
    breast[20:140, 20:100] = True  # away from the canvas edge (zero-padded windows light the toy filter)
    cfg = tiny_config(input_size=64, clahe=False)
    cam = gradcam.GradCAM(model, model.features, 0.0)
    m, p, n = gradcam.sliding_map(cam, canvas, breast, 64, 16, cfg, torch.device("cpu"))
    cam.close()
    assert m.shape == canvas.shape and m.max() == pytest.approx(1.0) and not m[~breast].any()
    centres = [(y + 32, x + 32) for y in gradcam.window_starts(160, 64, 16) for x in gradcam.window_starts(128, 64, 16)]
    assert n == sum(breast[c] for c in centres) and 0.5 < p <= 1.0
    py, px = np.unravel_index(int(m.argmax()), m.shape)
    assert abs(py - 66) <= 16 and abs(px - 36) <= 16


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("pointing")
    ic, fc = write_tables(root, n_patients=16, h=160, w=128, seed=3)
    cfg = tiny_config(input_size=32, min_crop=32)
    samples, _ = data.build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=1)
    return root, samples


def test_background_samples_away_from_lesions_on_the_border(small):
    _, samples = small
    tr = samples[samples["split"] == "train"]
    bg = data.background_samples(samples, 1.0, seed=4)
    assert len(bg) == len(tr) and list(bg.columns) == data.SPLIT_COLUMNS
    assert (bg["label"] == 0).all() and (bg["split"] == "train").all() and bg["image_id"].isin(tr["image_id"]).all()
    pd.testing.assert_frame_equal(bg, data.background_samples(samples, 1.0, seed=4))
    assert not bg.equals(data.background_samples(samples, 1.0, seed=5))
    assert data.background_samples(samples, 0.0, seed=4).empty
    side = bg["x1"] - bg["x0"]
    assert (side == bg["y1"] - bg["y0"]).all()
    assert set(side) <= set(np.maximum(tr["x1"] - tr["x0"], tr["y1"] - tr["y0"]))
    on_border = []
    for r in bg.itertuples():
        f = samples[samples["image_id"] == r.image_id]
        assert not ((f["bx0"] < r.x1) & (f["bx1"] > r.x0) & (f["by0"] < r.y1) & (f["by1"] > r.y0)).any()
        breast = png.read_unit(r.png_path) > 0
        cx, cy = r.x0 + (r.x1 - r.x0) // 2, r.y0 + (r.y1 - r.y0) // 2
        assert breast[cy, cx]  # centred in the breast
        near = breast[max(cy - 3, 0):cy + 4, max(cx - 3, 0):cx + 4]
        on_border.append(not near.all() or cx < 3 or cy < 3)
    assert np.mean(on_border) >= 0.5  # every other crop is centred on the skin line / chest wall


def test_training_with_background_negatives(small, tmp_path):
    """Negatives join the training split only; predictions (and so every metric) stay on the labelled samples."""
    _, samples = small
    stages = [{"name": "all", "train": "all", "epochs": 1, "lr": 1e-3}]
    cfg = tiny_config(input_size=32, min_crop=32, stages=stages, background_negatives=0.5)
    _, pred, _ = train.fit_backbone(samples, cfg, "efficientnet_b0", tmp_path / "m", seed=1)
    hist = json.loads((tmp_path / "m" / "history.json").read_text())
    n_tr = int((samples["split"] == "train").sum())
    assert hist["n_train"] == n_tr and hist["n_background_negatives"] == round(0.5 * n_tr)
    assert sorted(pred["sample_id"]) == sorted(samples["sample_id"])


def test_options_default_off():
    d = schema_defaults("transfer")
    assert d["background_negatives"] == 0 and d["gradcam_mode"] == "whole" and 0 < d["gradcam_step"] <= 1


def test_run_sliding_mode_writes_maps_in_the_scaled_frame(small, tmp_path):
    _, samples = small
    test = samples[samples["split"] == "test"].head(2)
    model = models.build("efficientnet_b0")
    cfg = tiny_config(input_size=32, min_crop=32, gradcam_mode="sliding", gradcam_step=0.5)
    table, rej = gradcam.run(test, model, "efficientnet_b0", cfg, 0.5, tmp_path / "cam", torch.device("cpu"))
    assert not rej and len(table) == test["image_id"].nunique()
    iid = table["image_id"].iloc[0]
    m = np.load(tmp_path / "cam" / f"{iid}.npy").astype(np.float32)
    img, breast = gradcam.whole_input(png.read_unit(test.loc[test["image_id"] == iid, "png_path"].iloc[0]), 0.5, cfg)
    assert m.shape == img.shape == (80, 64) and 0 <= m.min() and m.max() <= 1.001 and not m[~breast].any()


def test_pointing_summary_with_wilson_intervals():
    t = pd.DataFrame({"hit": [1, 1, 0, 0, "", ""], "centre_hit": [0, 1, 0, 0, "", ""]})
    s = gradcam.pointing_summary(t)
    assert s["n_malignant_images"] == 4 and s["pointing_game"] == 0.5 and s["centre_baseline"] == 0.25
    lo, hi = s["pointing_game_ci"]
    assert lo == pytest.approx(0.1500, abs=1e-4) and hi == pytest.approx(0.8500, abs=1e-4)  # Wilson, 2 of 4
    assert gradcam.wilson(0, 8)[0] == 0.0 and gradcam.wilson(8, 8)[1] == 1.0
    assert np.isnan(gradcam.pointing_summary(t.iloc[4:])["pointing_game"])
