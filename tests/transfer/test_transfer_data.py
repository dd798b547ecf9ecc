"""Seed-004 data: labels from pathology or BI-RADS, patient-level splits, roi crops, CLAHE, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mammoflow.core import rejections
from mammoflow.core.errors import ConfigError, ImageRejected
from mammoflow.pipelines.transfer import data, models, prep
from transfer_synth import tiny_config, write_tables


def test_labels_from_pathology_or_birads():
    cfg = tiny_config()
    assert data.label_of("MALIGNANT", "", cfg) == 1 and data.label_of("benign_without_callback", "", cfg) == 0
    assert data.label_of("", "BI-RADS 4", cfg) == 1 and data.label_of("", "3", cfg) == 0  # auto falls back
    assert data.label_of("", "BI-RADS 1", cfg) is None and data.label_of("", "", cfg) is None
    vindr = tiny_config(label_source="birads", birads_malignant_min=5)
    assert data.label_of("malignant", "4", vindr) == 0 and data.label_of("", "5", vindr) == 1
    assert tiny_config(label_source="pathology") and data.label_of("", "5", tiny_config(label_source="pathology")) is None


def test_splits_patient_level_stratified_and_deterministic(tmp_path):
    ic, fc = write_tables(tmp_path, n_patients=40, h=96, w=80)
    cfg = tiny_config()
    s, rej = data.build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=5)
    assert not rej and len(s) == 80
    assert s.groupby("patient_id")["split"].nunique().max() == 1  # no patient on two sides
    counts = s.groupby(["split", "label"]).size()
    assert all(counts[(sp, c)] > 0 for sp in data.SPLITS for c in (0, 1))
    assert s["split"].eq("test").mean() == pytest.approx(0.2, abs=0.06)
    s2, _ = data.build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=5)
    pd.testing.assert_frame_equal(s, s2)
    # roi crops are squares around the box with the margin, at least min_crop
    side = s["x1"] - s["x0"]
    assert (side == s["y1"] - s["y0"]).all() and (side >= cfg.min_crop).all()
    assert ((s["x0"] <= s["bx0"]) & (s["x1"] >= s["bx1"]) & (s["y0"] <= s["by0"]) & (s["y1"] >= s["by1"])).all()


def test_whole_inputs_and_unlabelled_rows(tmp_path):
    ic, fc = write_tables(tmp_path, n_patients=10, h=96, w=80, pathology=False)
    f = pd.read_csv(fc)
    f.loc[0, "finding_birads"] = ""  # no pathology and no BI-RADS: no label
    cfg = tiny_config(label_source="pathology")
    s, rej = data.build_samples(pd.read_csv(ic), f, cfg, seed=0)
    assert s.empty and len(rej) == 20 and all("no benign/malignant label" in r["reason"] for r in rej)
    im = pd.read_csv(ic, keep_default_na=False)
    im.loc[im["image_id"] == f.loc[0, "image_id"], ["pathology", "breast_birads"]] = ""
    s, rej = data.build_samples(im, f, tiny_config(inputs="whole"), seed=0)
    assert len(s) == 19 and len(rej) == 1 and rej[0]["image_id"] == f.loc[0, "image_id"]
    assert str(rej[0]["source_path"]).endswith(".png") and rej[0]["source_path"] in rej[0]["reason"]
    assert (s["x1"] == 80).all() and (s["y1"] == 96).all()


def test_clahe_constant_image_rejected_and_range():
    with pytest.raises(ImageRejected, match="constant image.*flat.png|flat.png.*constant image"):
        prep.clahe(np.full((32, 32), 0.3, np.float32), 0.01, 8, "flat.png")
    x = np.random.default_rng(0).uniform(0.2, 0.4, (64, 64)).astype(np.float32)
    y = prep.clahe(x, 0.01, 8)
    assert y.min() >= 0 and y.max() <= 1 and y.std() > x.std()  # contrast stretched
    out = prep.model_input(x[:40], 32, True, 0.01, 8)
    assert out.shape == (32, 32) and out.dtype == np.float32


def test_load_arrays_rejects_constant_and_missing(tmp_path):
    ic, fc = write_tables(tmp_path, n_patients=4, h=96, w=80)
    cfg = tiny_config()
    s, _ = data.build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=0)
    import cv2
    cv2.imwrite(str(s.loc[0, "png_path"]), np.full((96, 80), 1000, np.uint16))
    s.loc[1, "png_path"] = str(tmp_path / "gone.png")
    x, kept, rej = data.load_arrays(s, cfg)
    assert kept[:2] == [False, False] and all(kept[2:]) and len(x) == len(s) - 2
    assert "constant image" in rej[0]["reason"] and "gone.png" in rej[1]["reason"]
    rejections.write(tmp_path / "r.csv", rej)
    assert len(rejections.read(tmp_path / "r.csv")) == 2


def test_augmentation_reproducible_and_varied():
    tf = prep.augmenter(0.5, 10, 0.1)
    x = torch.rand(4, 1, 32, 32)
    a = prep.augment_batch(x, tf, torch.Generator().manual_seed(1))
    b = prep.augment_batch(x, tf, torch.Generator().manual_seed(1))
    c = prep.augment_batch(x, tf, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape
    assert prep.to_model(x).shape == (4, 3, 32, 32)


def test_imagefolder_export(tmp_path):
    ic, fc = write_tables(tmp_path, n_patients=10, h=96, w=80)
    cfg = tiny_config()
    s, _ = data.build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=0)
    data.export_imagefolder(s, cfg, str(tmp_path / "if"))
    files = sorted((tmp_path / "if").rglob("*.png"))
    assert len(files) == len(s)
    assert {f.parent.parent.name for f in files} <= set(data.SPLITS)
    assert {f.parent.name for f in files} == set(data.CLASSES)


def test_checkpoint_head_mismatch_named(tmp_path):
    m = models.build("resnet50")
    state = m.state_dict()
    state["fc.weight"], state["fc.bias"] = torch.zeros(3, 2048), torch.zeros(3)
    torch.save({"model": state, "backbone": "resnet50"}, tmp_path / "bad.pt")
    with pytest.raises(ConfigError, match=r"bad\.pt.*fc\.weight.*2 outputs"):
        models.load(tmp_path / "bad.pt", "resnet50")
    with pytest.raises(ConfigError, match="not one of"):
        models.build("vgg16")
    with pytest.raises(ConfigError, match="local torch hub cache|not found"):
        models.build("efficientnet_b0", "imagenet" if False else str(tmp_path / "none.pt"))
