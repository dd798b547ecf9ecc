"""Heatmaps: window geometry and centre placement, dense = fully-convolutional sliding, shard robustness."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from mammoflow.pipelines.nus import heatmap
from mammoflow.pipelines.nus.windows import WindowGrid

from mammoflow.io import probmaps

from mammoflow.pipelines.nus import saliency, warp, warps
from mammoflow.pipelines.nus.patch_model import build_model


def fake_checkpoint(path, arch="resnet18", patch_size=64, seed=0, tiled=False):
    """A patch-classifier checkpoint with random weights (same format as the trained one)."""
    torch.manual_seed(seed)
    m = build_model(arch, "none", tiled)
    torch.save({"model": m.state_dict(), "arch": arch, "tiled": tiled, "norm": {"mean": 0.3, "std": 0.2}, "patch_size": patch_size,
                "classes": ["background", "lesion"]}, path)
    return str(path)


def test_geometry_of_the_seed_configuration():
    g = WindowGrid.for_canvas(1152, 896, 224, 32)
    assert (g.rows, g.cols) == (30, 22)  # 660 windows, as in the seed
    assert g.centre(0, 0) == (111.5, 111.5)  # centre of pixels 0..223
    assert g.centre(29, 21) == (111.5 + 29 * 32, 111.5 + 21 * 32)
    with pytest.raises(ValueError):
        WindowGrid.for_canvas(100, 300, 224, 32)


def test_dense_head_is_the_fully_convolutional_classifier():
    torch.manual_seed(0)
    m = build_model("resnet18", "none").eval()
    x = torch.randn(1, 3, 224, 192)
    with torch.no_grad():
        feats = heatmap.trunk(m)(x)  # (1, 512, 7, 6)
        dense = heatmap.DenseHead(m, 96).eval()(x)  # 3x3 pooling
        for i in range(feats.shape[2] - 2):
            for j in range(feats.shape[3] - 2):
                ref = m.fc(feats[0, :, i:i + 3, j:j + 3].mean((1, 2)))
                assert torch.allclose(dense[0, :, i, j], ref, atol=1e-5)


def test_dense_map_aligns_with_sliding_windows():
    # the same window cut from the image (sliding) and seen in context (dense) must sit at the same map cell
    torch.manual_seed(0)
    m = build_model("resnet18", "none").eval()
    x = torch.randn(1, 3, 320, 288)
    with torch.no_grad():
        full = heatmap.trunk(m)(x)[0]
        crop = heatmap.trunk(m)(x[:, :, 128:384 - 128 + 128, 96:96 + 256])[0]  # window at (4, 3) of stride 32
    sims = {(dy, dx): float(F.cosine_similarity(full[:, 4 + dy + 3, 3 + dx + 3], crop[:, 3, 3], 0))
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert max(sims, key=sims.get) == (0, 0)


def test_sliding_and_dense_shapes_match_on_odd_sizes():
    torch.manual_seed(0)
    m = build_model("resnet18", "none").eval()
    x = torch.randn(1, 3, 203, 171)
    a, ga = heatmap.sliding_prob(m, x, 64, 32, batch_size=7)
    b, gb = heatmap.dense_prob(m, x, 64)
    assert a.shape == b.shape == (ga.rows, ga.cols) == ((203 - 64) // 32 + 1, (171 - 64) // 32 + 1)
    assert ga == gb
    assert np.isfinite(a).all() and ((0 <= b) & (b <= 1)).all()
    # each sliding value is the classifier's output for that crop
    with torch.no_grad():
        p = torch.softmax(m(x[:, :, 32:96, 64:128]), 1)[0, 1]
    assert abs(float(p) - a[1, 2]) < 1e-5


@pytest.mark.parametrize("shape,pooling", [((203, 171), "mean"), ((320, 256), "mean"), ((203, 171), "gaussian"),
                                           ((320, 256), "gaussian")])
def test_tiled_model_dense_map_equals_sliding_windows(shape, pooling):
    # a tiled classifier's windows see only their own tiles, so one dense pass gives the sliding values exactly
    torch.manual_seed(1)
    m = build_model("resnet18", "none", tiled=True, pooling=pooling).eval()
    for mod in m.modules():  # non-trivial BatchNorm statistics, so the maps are not flat
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, *shape)
    a, ga = heatmap.sliding_prob(m, x, 64, 32, batch_size=16)
    b, gb = heatmap.dense_prob(m, x, 64)
    assert ga == gb and a.std() > 1e-3
    assert np.abs(a - b).max() < 1e-5
    assert heatmap.correlation(a, b) > 0.9999


def test_correlation_helper():
    a = np.arange(12.0).reshape(3, 4)
    assert heatmap.correlation(a, 2 * a + 1) == pytest.approx(1.0)
    assert heatmap.correlation(a, -a) == pytest.approx(-1.0)
    assert heatmap.correlation(np.ones(4), np.ones(4)) == 1.0


def test_check_prob_rejects_nan_and_constant_maps():
    with pytest.raises(Exception, match="NaN"):
        heatmap.check_prob(np.array([[0.1, np.nan]]), "img1")
    with pytest.raises(Exception, match="all equal"):
        heatmap.check_prob(np.full((3, 3), 0.5), "img1")
    heatmap.check_prob(np.array([[0.1, 0.2]]), "img1")


def _items(images_csv, ids=None):
    im = pd.read_csv(images_csv, dtype={"image_id": str})
    if ids is not None:
        im = im[im["image_id"].isin(ids)]
    return pd.DataFrame({"image_id": im["image_id"], "split": im["split"], "png": im["png_path"]})


@pytest.mark.slow
def test_shard_runs_reject_bad_images_and_feed_the_warps(synth_dataset, tmp_path):
    images_csv, findings_csv, _ = synth_dataset
    ck = fake_checkpoint(tmp_path / "best.pt")
    items = _items(images_csv).head(6).reset_index(drop=True)
    # a preprocess-rejected 1x1 marker and an all-black canvas: rejection rows, the batch goes on
    marker, black = tmp_path / "marker.png", tmp_path / "black.png"
    cv2.imwrite(str(marker), np.zeros((1, 1), np.uint16))
    cv2.imwrite(str(black), np.zeros((192, 160), np.uint16))
    items = pd.concat([items, pd.DataFrame({"image_id": ["bad1", "bad2"], "split": ["test", "test"],
                                            "png": [str(marker), str(black)]})], ignore_index=True)
    probs = str(tmp_path / "hm" / "s000_prob.h5")
    table = heatmap.run_shard(items, ck, probs, str(tmp_path / "hm" / "s000.csv"), method="dense")
    t = pd.read_csv(tmp_path / "hm" / "s000.csv", keep_default_na=False)
    assert list(t["status"]) == ["ok"] * 6 + ["rejected", "rejected"]
    assert "marker.png" in t["reason"].iloc[6] and "black.png" in t["reason"].iloc[7]
    assert "no breast" in t["reason"].iloc[7]
    ok = probmaps.read(probs, items["image_id"][0])
    assert ok.shape == ((192 - 64) // 32 + 1, (160 - 64) // 32 + 1) and np.isfinite(ok).all()
    assert np.isnan(probmaps.read(probs, "bad1")).all()
    with pytest.raises(KeyError, match="s000_prob.h5.*nope"):
        probmaps.read(probs, "nope")
    assert table["argmax_y"].notna().sum() == 6

    pngs = dict(zip(items["image_id"], items["png"]))
    heat_t = str(tmp_path / "{split}" / "{image_id}_scale{scale}_fwhm{fwhm}.npy")
    over_t = str(tmp_path / "{split}" / "{image_id}_overlay_scale{scale}_fwhm{fwhm}.png")
    saliency.derive_shard(str(tmp_path / "hm" / "s000.csv"), pngs, [20.0], [15], 32, heat_t, over_t)
    i0, s0 = items["image_id"][0], items["split"][0]
    d = np.load(heat_t.format(split=s0, image_id=i0, scale="20", fwhm="15"))
    assert d.shape == warp.grid_shape(192, 160, 32) and abs(d.sum() - 1) < 1e-5
    ov = cv2.imread(over_t.format(split=s0, image_id=i0, scale="20", fwhm="15"))
    assert ov.shape == (192, 160, 3)

    warp_t = str(tmp_path / "w" / "{image_id}_warp_scale{scale}_fwhm{fwhm}_lam{lam}.png")
    grid_t = str(tmp_path / "g" / "{image_id}_grid_scale{scale}_fwhm{fwhm}_lam{lam}.npy")
    wt = str(tmp_path / "w" / "s000.csv")
    warps.run_shard(str(tmp_path / "hm" / "s000.csv"), pngs, [20.0], [15.0], [0.5, 1.0], 32, warp_t, grid_t, wt)
    w = pd.read_csv(wt, keep_default_na=False, dtype=str)
    assert len(w) == 16 and set(w["lam"]) == {"0.5", "1"}
    black_rows = w[w["image_id"] == "bad2"]
    assert (black_rows["status"] == "identity").all()
    out = cv2.imread(warp_t.format(image_id=i0, scale="20", fwhm="15", lam="0.5"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (192, 160)
    g = np.load(grid_t.format(image_id=i0, scale="20", fwhm="15", lam="0.5"))
    assert g.shape == warp.grid_shape(192, 160, 32) + (2,) and np.abs(g).max() <= 1
    # deterministic: a second run writes byte-identical files
    warps.run_shard(str(tmp_path / "hm" / "s000.csv"), pngs, [20.0], [15.0], [0.5], 32,
                   warp_t.replace("/w/", "/w2/"), grid_t.replace("/g/", "/g2/"), str(tmp_path / "w2.csv"))
    for t in (warp_t, grid_t):
        a = t.format(image_id=i0, scale="20", fwhm="15", lam="0.5")
        b = a.replace("/w/", "/w2/").replace("/g/", "/g2/")
        assert open(a, "rb").read() == open(b, "rb").read()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    items = pd.DataFrame({"image_id": ["a"], "split": ["test"], "png": ["x.png"]})
    with pytest.raises(FileNotFoundError, match="nothere.pt"):
        heatmap.run_shard(items, str(tmp_path / "nothere.pt"), [str(tmp_path / "a.npy")], str(tmp_path / "t.csv"))


def test_evaluate_counts_argmax_inside_dilated_boxes(tmp_path):
    t = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "split": "test", "status": ["ok", "ok", "ok", "rejected"],
                      "argmax_y": [50.0, 50.0, 10.0, 0.0], "argmax_x": [50.0, 95.0, 10.0, 0.0]})
    t.to_csv(tmp_path / "s.csv", index=False)
    f = pd.DataFrame({"image_id": ["a", "b", "d"], "rxmin": [40.0, 40.0, 0.0], "rymin": [40.0, 40.0, 0.0],
                      "rxmax": [60.0, 60.0, 5.0], "rymax": [60.0, 60.0, 5.0]})
    f.to_csv(tmp_path / "f.csv", index=False)
    r = heatmap.evaluate([str(tmp_path / "s.csv")], str(tmp_path / "f.csv"), str(tmp_path / "e.json"), dilate=32)
    assert (r["lesion_images"], r["argmax_in_box"]) == (2, 1) and r["missed"] == ["b"]
    assert json.loads((tmp_path / "e.json").read_text())["argmax_in_box_rate"] == 0.5


def test_probability_store_is_byte_reproducible_and_keyed_by_image(tmp_path):
    maps = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.full((1, 1), np.nan, np.float32)}
    probmaps.write(tmp_path / "x.h5", maps)
    probmaps.write(tmp_path / "y.h5", dict(reversed(list(maps.items()))))
    assert (tmp_path / "x.h5").read_bytes() == (tmp_path / "y.h5").read_bytes()
    assert np.array_equal(probmaps.read(tmp_path / "x.h5", "b"), maps["b"])
    assert np.isnan(probmaps.of_row({"prob_path": str(tmp_path / "y.h5"), "image_id": "a"})).all()


@pytest.mark.slow
def test_evaluation_reports_the_arg_max_hit_rate_of_both_methods(synth_dataset, tmp_path):
    images_csv, _, _ = synth_dataset
    items = _items(images_csv).head(3).reset_index(drop=True)
    items["split"] = "test"
    pngs = dict(zip(items["image_id"], items["png"]))
    for tiled in (True, False):
        ck = fake_checkpoint(tmp_path / f"best_{tiled}.pt", tiled=tiled, seed=3)
        heatmap.run_shard(items, ck, str(tmp_path / f"p{tiled}.h5"), str(tmp_path / f"s{tiled}.csv"))
        t = pd.read_csv(tmp_path / f"s{tiled}.csv", dtype={"image_id": str}).set_index("image_id")
        a, b = items["image_id"][:2]
        # image a: a box on the dense arg-max (a hit); image b: a box far from it (a miss); image c: no finding
        ay, ax = t.loc[a, "argmax_y"], t.loc[a, "argmax_x"]
        by, bx = t.loc[b, "argmax_y"], t.loc[b, "argmax_x"]
        fy, fx = (5.0 if by > 96 else 180.0), (5.0 if bx > 80 else 150.0)
        pd.DataFrame({"image_id": [a, b], "rymin": [ay - 2, fy], "rxmin": [ax - 2, fx], "rymax": [ay + 2, fy + 4],
                      "rxmax": [ax + 2, fx + 4]}).to_csv(tmp_path / "f.csv", index=False)
        r = heatmap.evaluate([str(tmp_path / f"s{tiled}.csv")], str(tmp_path / "f.csv"), str(tmp_path / "e.json"),
                             dilate=0, checkpoint=ck, pngs=pngs, compare_max=3)
        d = r["dense_vs_sliding"]
        assert r["argmax_in_box"] == 1 and d["lesion_images"] == 2 and d["argmax_in_box_dense"] == 1
        assert "argmax" not in d and json.loads((tmp_path / "e.json").read_text())["dense_vs_sliding"] == d
        if tiled:  # the tiled model's dense map is the sliding map: same arg-max, same hit rate
            assert d["argmax_in_box_sliding"] == 1 and d["argmax_in_box_rate_sliding"] == 0.5
        else:
            assert d["argmax_in_box_sliding"] in (0, 1, 2)
