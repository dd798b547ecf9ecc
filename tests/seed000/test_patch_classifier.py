"""Patch classifier: model contract, grouped split, augmentation, learning on held-out patches, exact resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from seed000_synth import make_dataset
from mammoflow.core.config import schema_defaults
from resume_util import interrupt_after
from mammoflow.pipelines.nus import patch_classifier as PC
from mammoflow.pipelines.nus import patch_model as PM
from mammoflow.pipelines.nus import patches as P
from mammoflow.training import engine as training
from mammoflow.training import splits
from mammoflow.core.errors import ConfigError
from mammoflow.training.checkpoints import load_checkpoint
from mammoflow.training.pretrained import torch_hub_dir


def _pc(**kw) -> PC.ClassifierConfig:
    """Patch-classifier settings: the schema defaults with overrides."""
    return PC.ClassifierConfig.from_config(schema_defaults("nus", "patch_classifier", device="auto", **kw))


def _patches(**kw) -> P.PatchConfig:
    """Patch-sampling settings: the schema defaults with overrides."""
    return P.PatchConfig.from_config(schema_defaults("nus", "patches", **kw))


@pytest.fixture(scope="module")
def patch_set(tmp_path_factory):
    """S10 patch CSVs (64 px, 2 x 2 ResNet cells) of a small synthetic dataset, plus its images.csv."""
    root = tmp_path_factory.mktemp("pc")
    ip, fp = make_dataset(root / "data", n_train=28, n_test=12, seed=11)
    dirs = {(sp, st): root / "patches" / sp / st / "s000" for sp in P.SPLITS for st in P.SETS}
    cfg = _patches(size=64, min_tissue=0.5, normal_bkg_s10=6)
    P.run_shard(ip, fp, pd.read_csv(ip, dtype=str).image_id, dirs, root / "t.csv", root / "r.csv", cfg, seed=1)
    csvs = {(sp, st): root / "patches" / sp / f"{st}.csv" for sp in P.SPLITS for st in P.SETS}
    P.aggregate([root / "t.csv"], [root / "r.csv"], csvs, root / "rej.csv")
    return {"train": csvs[("training", "s10")], "test": csvs[("test", "s10")], "images": ip, "root": root,
            "tables": [root / "t.csv"], "canvas": str(root / "data" / "pre" / "{image_id}.png")}


def _outputs(d: Path) -> PC.TrainOutputs:
    return PC.TrainOutputs(model_dir=str(d), metrics=str(d / "metrics.json"), predictions=str(d / "pred.csv"),
                           history=str(d / "history.csv"), roc=str(d / "roc.png"), tensorboard=str(d / "tb"),
                           extra={"set": "s10"})


def test_build_model_contract(tmp_path):
    m = PM.build_model("resnet18", "none")
    assert isinstance(m.fc, torch.nn.Linear) and m.fc.out_features == 2
    m.eval()
    assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 2)
    # a weights file: all backbone weights load, the head is kept when shapes differ
    other = PM.build_model("resnet18", "none")
    torch.save({"model": other.state_dict()}, tmp_path / "w.pt")
    m2 = PM.build_model("resnet18", str(tmp_path / "w.pt"))
    assert torch.equal(m2.conv1.weight, other.conv1.weight)
    with pytest.raises(ConfigError):
        PM.build_model("vgg11", "none")
    with pytest.raises(ConfigError):
        PM.build_model("resnet18", str(tmp_path / "missing.pt"))
    if not (torch_hub_dir() / "resnet18-f37072fd.pth").is_file():
        with pytest.raises(ConfigError, match="local torch hub cache"):
            PM.build_model("resnet18", "imagenet")


def test_grouped_split_has_no_leakage_and_both_classes():
    groups = [f"s{i // 4}" for i in range(80)]
    labels = [1 if (i // 4) % 3 == 0 and i % 2 else 0 for i in range(80)]
    val = splits.grouped_split(groups, labels, 0.25, seed=0)
    g = np.asarray(groups)
    assert not set(g[val]) & set(g[~val])
    assert 0.1 < val.mean() < 0.4
    assert set(np.asarray(labels)[val]) == {0, 1}
    assert (splits.grouped_split(groups, labels, 0.25, seed=0) == val).all()


def test_augment_is_deterministic_and_flips_exact():
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    cfg = _pc(rotation_deg=20, scale_min=0.9, scale_max=1.1)
    a = PC.augment(x, torch.Generator().manual_seed(5), cfg)
    b = PC.augment(x, torch.Generator().manual_seed(5), cfg)
    c = PC.augment(x, torch.Generator().manual_seed(6), cfg)
    assert torch.equal(a, b) and not torch.equal(a, c)
    flips = PC.augment(x, torch.Generator().manual_seed(5), _pc(rotation_deg=0, scale_min=1, scale_max=1))
    for i in range(8):  # pure flips keep the pixel values
        assert any(torch.equal(flips[i], t) for t in (x[i], x[i].flip(-1), x[i].flip(-2), x[i].flip(-1).flip(-2)))
    assert PM.normalise(x, {"mean": 0.5, "std": 0.25}).shape == (8, 3, 32, 32)


@pytest.mark.slow
def test_training_learns_and_writes_contract(patch_set, tmp_path):
    cfg = _pc(arch="resnet18", pretrained="none", batch_size=64, samples_per_epoch=512,
                              stages=({"name": "head", "train": "head", "epochs": 1, "lr": 1e-3},
                                      {"name": "last_block", "train": "last_block", "epochs": 1, "lr": 1e-3},
                                      {"name": "all", "train": "all", "epochs": 3, "lr": 1e-3}))
    assert not cfg.tiled and cfg.context_px == 0  # the default: the seed's plain ResNet on whole patches, no context crops
    out = tmp_path / "m"
    m = PC.train(patch_set["train"], patch_set["test"], _outputs(out), cfg, images_csv=patch_set["images"], seed=0,
                 threads=2, patch_tables=patch_set["tables"], canvas=patch_set["canvas"])
    test = pd.read_csv(patch_set["test"])
    assert m["n_test"] == len(test) and set(test.label) == {0, 1}
    print("held-out patch AUC", m["test"]["auc"])
    assert m["test"]["auc"] >= 0.85, m["test"]  # held-out images, chance is 0.5
    saved = json.loads((out / "metrics.json").read_text())
    for k in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1"):
        assert k in saved["test"]
    model, meta = PM.load_model(out / "best.pt")
    assert meta["arch"] == "resnet18" and meta["patch_size"] == 64 and meta["classes"] == ["background", "lesion"]
    assert not meta["tiled"] and not isinstance(model, PM.TiledResNet)
    assert 0 < meta["norm"]["mean"] < 1 and meta["norm"]["std"] > 0
    ck = load_checkpoint(out / "best.pt")
    assert set(ck) >= {"model", "arch", "norm", "patch_size", "classes"}
    assert (out / "roc.png").is_file() and any((out / "tb").iterdir())
    hist = pd.read_csv(out / "history.csv")
    assert list(hist.stage) == ["head", "last_block", "all", "all", "all"]


def test_resume_after_interrupt_is_exact(patch_set, tmp_path):
    tr = pd.read_csv(patch_set["train"])
    small = tr.groupby("label").head(40)
    small.to_csv(tmp_path / "train.csv", index=False)
    pd.read_csv(patch_set["test"]).groupby("label").head(20).to_csv(tmp_path / "test.csv", index=False)
    cfg = _pc(arch="resnet18", pretrained="none", batch_size=16, samples_per_epoch=48,
                              rotation_deg=10, tiled=False, context_px=32,  # the plain-ResNet path with context crops
                              stages=({"name": "head", "train": "head", "epochs": 1, "lr": 1e-3},
                                                       {"name": "last_block", "train": "last_block", "epochs": 2, "lr": 1e-3},
                                                       {"name": "all", "train": "all", "epochs": 2, "lr": 1e-4}))
    args = (tmp_path / "train.csv", tmp_path / "test.csv")
    kw = {"images_csv": patch_set["images"], "seed": 4, "threads": 2, "patch_tables": patch_set["tables"],
          "canvas": patch_set["canvas"]}
    PC.train(*args, _outputs(tmp_path / "ref"), cfg, **kw)

    out = tmp_path / "resumed"
    with pytest.raises(training.Interrupt):  # stops in the middle of stage 2 (optimizer state must survive)
        PC.train(*args, _outputs(out), cfg, **kw, on_epoch_end=interrupt_after(2))
    assert not (out / "metrics.json").exists()
    assert load_checkpoint(out / "last.pt")["global_epoch"] == 2
    for name in ("best.pt", "history.csv"):  # Snakemake deletes the declared outputs of an interrupted job
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "tb")
    epochs_run = []
    PC.train(*args, _outputs(out), cfg, **kw, on_epoch_end=epochs_run.append)
    assert [r["epoch"] for r in epochs_run] == [2, 3, 4]  # continued, not restarted
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(tmp_path / "ref" / name), load_checkpoint(out / name)
        assert a.keys() == b.keys()
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), (name, k)
    assert (tmp_path / "ref" / "metrics.json").read_bytes() == (out / "metrics.json").read_bytes()
    assert (tmp_path / "ref" / "history.csv").read_bytes() == (out / "history.csv").read_bytes()
    # a changed configuration does not resume a foreign last.pt
    cfg2 = PC.ClassifierConfig(**{**cfg.__dict__, "batch_size": 8, "stages": cfg.stages[:1]})
    seen = []
    PC.train(*args, _outputs(out), cfg2, **kw, on_epoch_end=seen.append)
    assert [r["epoch"] for r in seen] == [0]


def test_context_crops_hold_the_patch_and_the_dense_view_matches_the_heatmap_head(patch_set):
    from mammoflow.pipelines.nus import heatmap

    tr = pd.read_csv(patch_set["train"]).head(6)
    cen = PC.patch_centres(patch_set["tables"], tr["path"].tolist())
    ds = PC.ContextPatchDataset([patch_set["canvas"].format(image_id=i) for i in cen["image_id"]], cen["cy"],
                                cen["cx"], tr["label"], 64, 32)
    for k in range(len(tr)):
        x, y = ds[k]
        assert x.shape == (1, 128, 128) and int(y) == int(tr["label"].iloc[k])
        patch = PC.read_patch(tr["path"].iloc[k]).astype(np.float32) / 65535.0
        assert np.array_equal(x[0, 32:96, 32:96].numpy(), patch)  # the patch file is the crop's centre
    torch.manual_seed(0)
    model = PM.build_model("resnet18", "none").eval()
    xb = PM.normalise(torch.stack([ds[k][0] for k in range(len(tr))]), {"mean": 0.4, "std": 0.2})
    with torch.no_grad():
        ctx = PM.centre_logits(model, xb, 64)
        dense = heatmap.DenseHead(model, 64).eval()(xb)  # (N, 2, 3, 3) window map at stride 32
    assert torch.allclose(ctx, dense[:, :, 1, 1], atol=1e-5)  # the centre window as the dense heatmap sees it
    y = torch.tensor(tr["label"].to_numpy(copy=True))
    with torch.no_grad():
        plain = torch.nn.functional.cross_entropy(model(xb[:, :, 32:96, 32:96]), y)
        assert torch.allclose(PM.context_consistency_loss(model, xb[:, :, 32:96, 32:96], y, 64, 1.0), plain)
        assert PM.context_consistency_loss(model, xb, y, 64, 1.0) > plain
    with pytest.raises(ConfigError):
        PM.centre_logits(model, xb[:, :, :80, :80], 64)


def test_config_per_set_overrides():
    sec = schema_defaults("nus", "patch_classifier", arch="resnet18", samples_per_epoch=384,
                          overrides={"s": {"samples_per_epoch": 256}}, threads=2, mem_mb=4000)
    assert PC.ClassifierConfig.for_set(sec, "s", device="auto").samples_per_epoch == 256
    assert PC.ClassifierConfig.for_set(sec, "s10", device="cpu").samples_per_epoch == 384
    assert PC.ClassifierConfig.for_set(sec, "s10", device="cpu").device == "cpu"
    with pytest.raises(ConfigError):
        _pc(arch="alexnet")
    with pytest.raises(ConfigError, match="tiled: false"):
        _pc(tiled=True, context_px=32)
    assert _pc(tiled=False, context_px=32).context_px == 32
    assert _pc().pooling == "gaussian"
    with pytest.raises(ConfigError):
        _pc(pooling="max")


def test_tiled_model_sees_one_tile_at_a_time(tmp_path):
    torch.manual_seed(0)
    m = PM.build_model("resnet18", "none", tiled=True).eval()
    plain = PM.build_model("resnet18", "none")
    assert m.state_dict().keys() == plain.state_dict().keys()  # same layers: weights move between the two
    x = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        f = PM.trunk(m)(x)
        assert f.shape == (2, 512, 3, 2)
        x2 = x.clone()
        x2[0, :, 40:50, 33:60] += 3.0  # inside tile (1, 1) of the first image only
        d = (PM.trunk(m)(x2) - f).abs().amax(1)
        assert d[0, 1, 1] > 1e-3 and d.sum() == d[0, 1, 1]  # no other tile's features move
        # each tile's features are the plain trunk's features of that tile alone
        plain.load_state_dict(m.state_dict())
        plain.eval()
        assert torch.allclose(f[1, :, 2, 0], PM.trunk(plain)(x[1:, :, 64:96, 0:32])[0, :, 0, 0], atol=1e-5)
        # a window's logits: fc of the mean of its tiles' features
        assert torch.allclose(m(x), m.fc(f.mean((2, 3))), atol=1e-5)
        assert PM.trunk(m)(torch.randn(1, 3, 70, 40)).shape == (1, 512, 3, 2)  # zero-padded to whole tiles
    g = PM.build_model("resnet18", "none", tiled=True, pooling="gaussian").eval()
    g.load_state_dict(m.state_dict())
    with torch.no_grad():
        w = PM.window_weights(3, 2, "gaussian")
        assert torch.allclose(g(x), g.fc((f * w).sum((2, 3))), atol=1e-5)
    torch.save({"model": g.state_dict(), "arch": "resnet18", "tiled": True, "pooling": "gaussian",
                "norm": {"mean": 0.3, "std": 0.2}, "patch_size": 64, "classes": ["background", "lesion"]},
               tmp_path / "t.pt")
    loaded, meta = PM.load_model(tmp_path / "t.pt")
    assert isinstance(loaded, PM.TiledResNet) and meta["tiled"] and loaded.pooling == "gaussian"


def test_window_weights():
    u = PM.window_weights(7, 7, "mean")
    assert torch.allclose(u, torch.full((7, 7), 1 / 49))
    g = PM.window_weights(7, 7, "gaussian")
    assert abs(float(g.sum()) - 1) < 1e-6 and torch.equal(g, g.T) and torch.equal(g, g.flip(0))
    assert g[3, 3] == g.max() and g[0, 0] == g.min() and g[3, 3] / g[3, 0] > 4  # sigma = 7/4 tiles
    g4 = PM.window_weights(4, 4, "gaussian")  # even side: the four centre tiles share the peak
    assert torch.allclose(g4[1:3, 1:3], g4[1:3, 1:3].max().expand(2, 2))
    with pytest.raises(ConfigError):
        PM.window_weights(3, 3, "max")


def test_fold_model_leaves_its_studies_out_and_resumes(patch_set, tmp_path):
    from mammoflow.pipelines.nus import crossfit
    folds = tmp_path / "folds.csv"
    crossfit.write_folds(patch_set["images"], folds, 3, seed=5)
    held = crossfit.held_out_studies(folds, 1)
    cfg = _pc(arch="resnet18", pretrained="none", batch_size=16, samples_per_epoch=32,
              stages=({"name": "all", "train": "all", "epochs": 3, "lr": 1e-3},))
    kw = {"images_csv": patch_set["images"], "seed": 2, "threads": 2, "folds_csv": folds, "fold": 1}
    args = (patch_set["train"], patch_set["test"])
    out = tmp_path / "fold1"
    with pytest.raises(training.Interrupt):
        PC.train(*args, _outputs(out), cfg, **kw, on_epoch_end=interrupt_after(1))
    epochs_run = []
    m = PC.train(*args, _outputs(out), cfg, **kw, on_epoch_end=epochs_run.append)
    assert [r["epoch"] for r in epochs_run] == [1, 2]  # resumed from last.pt
    tr = pd.read_csv(patch_set["train"], dtype={"image_id": str})
    study = PC.study_groups(tr, patch_set["images"])
    assert m["fold"] == 1 and set(m["held_out_studies"]) == held
    assert m["n_train"] + m["n_val"] == sum(s not in held for s in study) < len(tr)
    with pytest.raises(ConfigError, match="fold 3 holds no study"):
        PC.train(*args, _outputs(tmp_path / "fold3"), cfg, **{**kw, "fold": 3})
