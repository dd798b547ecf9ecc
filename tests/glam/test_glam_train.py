"""GLAM training (learning, resume, determinism), predictions.csv, saliency metrics and figures."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from mammoflow.pipelines.glam.data import GlamImage, image_labels
from mammoflow.pipelines.glam.figures import visualize
from mammoflow.pipelines.glam.infer import GlamResult, compute_metrics, dice, infer, saliency_rows, write_predictions
from mammoflow.pipelines.glam.plan import exam_split
from mammoflow.pipelines.glam.train import train_glam
from mammoflow.core.config import schema_defaults
from mammoflow.evaluation.metrics import roc_auc

from glam_fixtures import SMALL, make_images, train_settings

TINY = train_settings(epochs=[2, 1, 1], batch_size=4, augment={"crop_noise": 0.02, "size_noise": 0.02})


def test_image_labels_follow_the_view_side():
    cl = {"benign": 1, "malignant": 1, "left_benign": 0, "right_benign": 1, "left_malignant": 1,
          "right_malignant": 0, "unknown": 0}
    assert image_labels(cl, "L-CC") == (0, 1) and image_labels(cl, "L-MLO") == (0, 1)
    assert image_labels(cl, "R-CC") == (1, 0) and image_labels(cl, "R-MLO") == (1, 0)


def test_exam_split_is_grouped_deterministic_and_sized():
    s = exam_split(40, seed=3, val_fraction=0.15, test_fraction=0.3)
    assert s == exam_split(40, seed=3, val_fraction=0.15, test_fraction=0.3)
    assert s != exam_split(40, seed=4, val_fraction=0.15, test_fraction=0.3)
    assert s.count("test") == 12 and s.count("validation") == 6 and s.count("training") == 22
    assert exam_split(4, 3, 0, 0.5, explicit={0: "test", 1: "training"})[:2] == ["test", "training"]


def test_dice():
    a = np.zeros((10, 10), bool); a[2:6, 2:6] = True
    b = np.zeros((10, 10), bool); b[4:8, 2:6] = True
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0
    assert dice(a, b) == pytest.approx(2 * 8 / 32)


def _shuffled(images, seed):
    """The same images with their (benign, malignant) labels permuted across images (masks dropped)."""
    import dataclasses
    perm = np.random.default_rng(seed).permutation(len(images))
    labels = [(im.benign, im.malignant) for im in images]
    return [dataclasses.replace(im, benign=labels[p][0], malignant=labels[p][1], masks={})
            for im, p in zip(images, perm)]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """GLAM trained on 24 exams (and, as the control, on the same exams with shuffled labels); 12 held-out exams."""
    tmp = tmp_path_factory.mktemp("glam_learn")
    train, test = make_images(24, seed=0), make_images(12, seed=1)
    settings = train_settings(epochs=[8, 3, 2], batch_size=4, augment={"intensity_noise": 0.3})
    model, hist = train_glam(train, test[:8], SMALL, settings, tmp / "state", seed=1, tb_dir=tmp / "tb")
    control, _ = train_glam(_shuffled(train, 7), [], SMALL, settings, tmp / "control", seed=1)
    return {"tmp": tmp, "hist": hist, "res": list(infer(model, test)), "control": list(infer(control, test))}


def _malignant_auc(res):
    return roc_auc([r.image.malignant for r in res], [r.scores[1] for r in res])


@pytest.mark.slow
def test_training_learns_on_held_out_exams(learned):
    tmp, hist = learned["tmp"], learned["hist"]
    assert [h["stage"] for h in hist] == ["global"] * 8 + ["local"] * 3 + ["joint"] * 2
    assert (tmp / "state" / "stage1_global.pt").is_file() and (tmp / "state" / "stage3_joint.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp / "tb").iterdir())
    auc, control = _malignant_auc(learned["res"]), _malignant_auc(learned["control"])
    assert auc >= 0.8, f"malignant AUC on held-out exams {auc:.3f} not above chance"
    assert control <= 0.75 and auc - control >= 0.2, f"shuffled-label control AUC {control:.3f} vs {auc:.3f}"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known defect (docs/glam.md, Localisation): on these windows the global "
                   "saliency peaks off the lesion (often outside the breast) although the AUC is high; strict, so "
                   "the test fails as soon as localisation works and this marker must go")
def test_saliency_points_at_malignant_lesions(learned):
    rows = [row for r in learned["res"] for row in saliency_rows(r, 0.5) if row["lesion_class"] == "malignant"]
    pointing = np.mean([r["pointing"] for r in rows])
    baseline = np.mean([r["pointing_uniform"] for r in rows])
    topk, topk_uniform = np.mean([r["dice_topk"] for r in rows]), np.mean([r["dice_topk_uniform"] for r in rows])
    assert len(rows) >= 4
    assert pointing >= max(0.3, 3 * baseline), f"pointing game {pointing:.3f} vs uniform {baseline:.3f}"
    assert topk >= 2 * topk_uniform, f"top-k Dice {topk:.3f} vs uniform {topk_uniform:.3f}"


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_interrupted_training_resumes_to_identical_weights(tmp_path):
    images = make_images(4, seed=2)
    full, hist_full = train_glam(images, [], SMALL, TINY, tmp_path / "a", seed=5)
    # killed after each epoch, restarted each time: 4 epochs over 3 stages
    for _ in range(3):
        with pytest.raises(KeyboardInterrupt):
            train_glam(images, [], SMALL, TINY, tmp_path / "b", seed=5, interrupt_after=1)
    resumed, hist_res = train_glam(images, [], SMALL, TINY, tmp_path / "b", seed=5)
    assert hist_res == hist_full
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a checkpoint from another configuration is not resumed
    other, hist_other = train_glam(images, [], SMALL, {**TINY, "lr": [1e-2, 1e-3, 1e-4]}, tmp_path / "b", seed=5)
    assert len(hist_other) == 4 and hist_other != hist_full


def test_predictions_csv_format_and_order(tmp_path):
    images = make_images(2, seed=3)
    torch.manual_seed(0)
    from mammoflow.pipelines.glam.model import GLAM
    res = list(infer(GLAM(SMALL), images, batch_size=3))
    path = tmp_path / "predictions.csv"
    write_predictions(res, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "image_index,benign_pred,malignant_pred,benign_label,malignant_label"
    assert [l.split(",")[0] for l in lines[1:]] == [im.image_id for im in images]
    for l in lines[1:]:
        assert re.fullmatch(r"[0-9]+_[LR]-(CC|MLO),[01]\.[0-9]{4},[01]\.[0-9]{4},[01],[01]", l), l
    rows = list(csv.DictReader(open(path)))
    assert [int(r["malignant_label"]) for r in rows] == [im.malignant for im in images]


def _result(win, masks, fused, split="test"):
    im = GlamImage("0_L-CC", 0, "L-CC", win, int("benign" in masks), int("malignant" in masks), masks, split)
    return GlamResult(im, np.array([0.2, 0.9]), fused, np.zeros((2, 4, 4)), np.array([[0, 0]]),
                      np.zeros((1, 8, 8)))


def test_saliency_rows_and_metrics(tmp_path):
    win = np.full((32, 32), -1.0, np.float32); win[:, :20] = 1.0          # breast = left 20 columns
    m = np.zeros((32, 32), bool); m[8:16, 4:12] = True
    fused = np.zeros((2, 32, 32), np.float32); fused[1, 8:16, 4:12] = 0.9
    rows = saliency_rows(_result(win, {"malignant": m}, fused), threshold=0.5)
    assert len(rows) == 1 and rows[0]["dice"] == 1.0 and rows[0]["lesion_class"] == "malignant"
    assert rows[0]["dice_uniform"] == pytest.approx(2 * 64 / (64 + 640), abs=1e-6)
    assert rows[0]["pointing"] == 1 and rows[0]["dice_topk"] == 1.0
    assert rows[0]["pointing_uniform"] == pytest.approx(64 / 640) == rows[0]["dice_topk_uniform"]
    off = np.zeros_like(fused); off[1, 20:28, 24:32] = 0.9                 # a peak outside the lesion
    miss = saliency_rows(_result(win, {"malignant": m}, off), threshold=0.5)[0]
    assert miss["pointing"] == 0 and miss["dice"] == 0 and miss["dice_topk"] == 0
    pred = tmp_path / "p.csv"
    pred.write_text("image_index,benign_pred,malignant_pred,benign_label,malignant_label\n"
                    "a,0.1,0.9,0,1\nb,0.2,0.1,0,0\nc,0.8,0.3,1,0\nd,0.5,0.6,0,1\n")
    sal = tmp_path / "s.csv"
    sal.write_text("image_index,split,lesion_class,lesion_pixels,dice,dice_uniform,dice_top1pct\n"
                   "a,test,malignant,10,0.5,0.1,0.4\nd,training,malignant,10,0.9,0.1,0.4\n")
    out = compute_metrics(pred, sal, {"a": "test", "b": "test", "c": "test", "d": "training"}, 0.5)
    assert out["n_test_images"] == 3 and out["malignant_auc"] == 1.0 and out["benign_auc"] == 1.0
    assert out["dice"] == 0.5 and out["dice_uniform"] == 0.1 and out["n_lesions"] == 1
    assert out["benign_dice"] is None
    json.dumps(out)


def test_visualisation_has_five_panels(tmp_path):
    import matplotlib.image as mpimg
    win = np.random.default_rng(0).standard_normal((64, 40)).astype(np.float32)
    m = np.zeros((64, 40), bool); m[10:20, 10:20] = True
    res = _result(win, {"benign": m}, np.random.default_rng(1).random((2, 64, 40)).astype(np.float32))
    visualize(res, tmp_path / "v.png", (16, 16))
    a = mpimg.imread(tmp_path / "v.png")
    assert a.shape[1] > 3 * a.shape[0]             # five 3 x 4.5 inch panels side by side
    visualize(res, tmp_path / "w.png", (16, 16))
    assert (tmp_path / "v.png").read_bytes() == (tmp_path / "w.png").read_bytes()


def test_load_exam_images_from_the_preparation(tmp_path):
    """Synthetic NYU exams -> crop -> optimal centres -> model inputs with labels, masks and splits."""
    from mammoflow.pipelines.glam import crop as glam_crop
    from mammoflow.pipelines.glam import centers as optimal_centers
    from mammoflow.datasets.synthetic import nyu as synthetic_nyu
    from mammoflow.pipelines.glam.data import load_exam_images
    from mammoflow.pipelines.glam.plan import dataset_splits, figure_ids
    from mammoflow.datasets.nyu import load_exam_list
    spec = schema_defaults("synthetic/nyu", seed=3, n_studies=3, height=320, width=200, lesion_fraction=1.0,
                           test_fraction=0.34, difficulty="easy")
    root, out = tmp_path / "data", tmp_path / "out"
    synthetic_nyu.generate(root, spec)
    glam_crop.run(str(root / "exam_list_before_cropping.pkl"), str(root / "images"), str(out / "crop"),
                  str(out / "cropped.pkl"), str(out / "cropped.json"), str(out / "rej.csv"),
                  schema_defaults("glam", "crop", iterations=10, buffer_size=5))
    window = (256, 160)
    optimal_centers.run(str(out / "cropped.pkl"), str(out / "crop"), str(out / "data.pkl"), str(out / "data.json"),
                        str(out / "rej2.csv"), list(window))
    exams = load_exam_list(out / "data.pkl")
    splits = dataset_splits(exams, seed=1, val_fraction=0.0, test_fraction=0.5)
    assert splits == [e["split"] for e in exams]              # the exam list's own split is kept
    images, rejected = load_exam_images(out / "data.pkl", out / "crop", root / "segmentation", window, splits)
    assert not rejected and len(images) == 12
    assert [im.image_id for im in images][:4] == ["0_L-CC", "0_R-CC", "0_L-MLO", "0_R-MLO"]
    n_masks = 0
    for im in images:
        e = exams[im.exam_index]["cancer_label"]
        side = "left" if im.view[0] == "L" else "right"
        assert (im.benign, im.malignant) == (e[f"{side}_benign"], e[f"{side}_malignant"])
        assert im.window.shape == window and abs(float(im.window.mean())) < 1e-3
        for c, m in im.masks.items():
            assert getattr(im, c) == 1 and m.shape == window
            # the lesion is brighter than the breast around it: the mask landed on it
            breast = im.window > im.window.min()
            assert im.window[m].mean() > im.window[breast & ~m].mean()
            n_masks += 1
    assert n_masks >= 3
    ids = figure_ids({"format": "nyu", "root": str(root), "synthetic": spec}, train_settings(visualize="test"), 1, {})
    assert ids == [im.image_id for im in images if im.split == "test"]
    # a broken cropped image becomes a rejection row naming the file, the others still load
    (out / "crop" / "1_R-MLO.png").write_bytes(b"not a png")
    images2, rejected2 = load_exam_images(out / "data.pkl", out / "crop", root / "segmentation", window, splits)
    assert len(images2) == 11 and len(rejected2) == 1
    assert rejected2[0]["image_id"] == "1_R-MLO" and "1_R-MLO.png" in rejected2[0]["reason"]


class _Shift(torch.nn.Module):
    def __init__(self, head, shift):
        super().__init__()
        self.head, self.shift = head, shift

    def forward(self, f):
        return self.head(f) + self.shift


@pytest.mark.parametrize("map_loss", ["mean", "each"])
def test_map_loss_values(map_loss):
    from mammoflow.pipelines.glam.model import GLAM
    from mammoflow.pipelines.glam.train import _bce, _stage_loss
    torch.manual_seed(0)
    model = GLAM(SMALL).train()
    x, y = torch.randn(2, 1, *SMALL.window), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    torch.manual_seed(1)
    loss = _stage_loss(model, "global", x, y, None, map_loss=map_loss)
    torch.manual_seed(1)
    y_global, _, ys = model.global_module(x, per_map=True)
    want = _bce(y_global, y, None) if map_loss == "mean" else sum(_bce(v, y, None) for v in ys) / 3
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)


def test_map_loss_each_still_trains_a_saturated_map():
    """A map whose sigmoid saturated near 0 (measured in the demo: the stage-4 map) gets almost no gradient from
    the BCE of the mean score (the other maps make up the mean); the per-map BCE (`map_loss: each`) still trains it."""
    from mammoflow.pipelines.glam.model import GLAM
    from mammoflow.pipelines.glam.train import _stage_loss
    grads = {}
    for map_loss in ("mean", "each"):
        torch.manual_seed(0)
        model = GLAM(SMALL).train()
        heads = model.global_module.saliency_heads
        heads[1] = _Shift(heads[1], -12.0)          # stage-4 map ~ sigmoid(-12): dead
        heads[2] = _Shift(heads[2], 12.0)           # stage-5 map ~ 1: carries the mean
        x, y = torch.randn(2, 1, *SMALL.window), torch.ones(2, 2)
        _stage_loss(model, "global", x, y, None, map_loss=map_loss).backward()
        grads[map_loss] = heads[1].head.weight.grad.norm().item()
    assert grads["each"] > 1000 * grads["mean"], grads
