"""Whole-image classifier: learns on a tiny synthetic set, joins labels by image id, warped and baseline runs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from seed000_synth import synth_canvas
from mammoflow.pipelines.nus import heatmap
from mammoflow.pipelines.nus import warps
from mammoflow.pipelines.nus import summary, whole_image
from mammoflow.core.config import schema_defaults
from test_heatmap import fake_checkpoint


def tiny_set(root, n_train=48, n_test=24, h=128, w=96, seed=3):
    """Canvases (half with one bright lesion), images.csv with the rows SHUFFLED (join must be by id)."""
    rng = np.random.default_rng(seed)
    (root / "pre").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_train + n_test):
        iid = f"im{i:03d}"
        pos = i % 2 == 0
        les = [(int(rng.integers(0.3 * h, 0.7 * h)), int(rng.integers(12, 0.4 * w)), int(rng.integers(9, 13)))] \
            if pos else []
        img, _ = synth_canvas(rng, h, w, les, True)
        cv2.imwrite(str(root / "pre" / f"{iid}.png"), img)
        rows.append({"image_id": iid, "study_id": f"st{i // 2:03d}" if i < n_train else f"te{i:03d}",
                     "split": "training" if i < n_train else "test", "label": int(pos),
                     "breast_birads": "BI-RADS 4" if pos else "BI-RADS 1",
                     "png_path": str(root / "pre" / f"{iid}.png"), "height": h, "width": w})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)
    df.to_csv(root / "images.csv", index=False)
    return df


def shard_tables(root, df, ck, lams=(1.0,)):
    items = pd.DataFrame({"image_id": df["image_id"], "split": df["split"], "png": df["png_path"]})
    probs = str(root / "hm" / "s000_prob.h5")
    heatmap.run_shard(items, ck, probs, str(root / "hm" / "s000.csv"))
    pngs = dict(zip(items["image_id"], items["png"]))
    warps.run_shard(str(root / "hm" / "s000.csv"), pngs, [20], [15], list(lams), 32,
                   str(root / "w" / "{image_id}_{scale}_{fwhm}_{lam}.png"),
                   str(root / "g" / "{image_id}_{scale}_{fwhm}_{lam}.npy"), str(root / "w" / "s000.csv"))
    return [str(root / "hm" / "s000.csv")], [str(root / "w" / "s000.csv")]


def cfg(**kw):
    base = schema_defaults("nus", "whole_image", height=64, width=48, init="none", arch="resnet18", extra_blocks=1, batch_size=16,
                stages=[{"name": "all", "train": "all", "epochs": 3, "lr": 1e-3}], val_fraction=0.2, device="cpu")
    base.update(kw)
    return whole_image.WholeImageConfig.from_config(base)


@pytest.mark.slow
def test_baseline_learns_and_joins_labels_by_image_id(tmp_path):
    df = tiny_set(tmp_path)
    ck = fake_checkpoint(tmp_path / "pc.pt", patch_size=64)
    heat, _ = shard_tables(tmp_path, df, ck)
    out = tmp_path / "unwarped"
    m = whole_image.train(str(tmp_path / "images.csv"), heat, None, str(out), cfg(), None, seed=0, threads=2,
                          tensorboard=str(out / "tensorboard"))
    assert m["run"] == "unwarped" and m["n_test"] == 24 and m["n_train"] + m["n_val"] == 48
    assert m["test"]["auc"] >= 0.8, m["test"]
    hist = pd.read_csv(out / "history.csv")
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]
    pred = pd.read_csv(out / "predictions.csv", dtype={"image_id": str})
    truth = dict(zip(df["image_id"], df["label"]))
    assert all(truth[i] == y for i, y in zip(pred["image_id"], pred["label"]))  # labels joined by id
    assert set(pred["image_id"]) == set(df.loc[df["split"] == "test", "image_id"])
    assert (out / "roc.png").is_file() and (out / "best.pt").is_file() and any((out / "tensorboard").iterdir())
    for k in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1"):
        assert k in json.loads((out / "metrics.json").read_text())["test"]


@pytest.mark.slow
def test_warped_run_from_patch_classifier_and_summary(tmp_path):
    df = tiny_set(tmp_path, n_train=16, n_test=8)
    ck = fake_checkpoint(tmp_path / "pc.pt", patch_size=64)
    heat, warps = shard_tables(tmp_path, df, ck, lams=(0.5, 1.0))
    c = cfg(init="patch_classifier", channels=["original", "warped", "heat"],
            stages=[{"name": "head", "train": "head", "epochs": 1, "lr": 1e-3}])
    run = tmp_path / whole_image.run_name(20.0, 15.0, 0.5)
    assert run.name == "scale20_fwhm15_lam0.5"
    m = whole_image.train(str(tmp_path / "images.csv"), heat, warps, str(run), c, ck, "20", "15", "0.5", seed=0)
    assert m["channels"] == ["original", "warped", "heat"] and m["n_test"] == 8
    # the trunk came from the patch classifier: a head-only stage leaves its convolutions equal to it
    pc = torch.load(ck, weights_only=True)["model"]
    best = torch.load(run / "best.pt", weights_only=True)["model"]
    assert torch.equal(pc["conv1.weight"], best["trunk.0.weight"])
    assert torch.equal(pc["layer4.1.conv2.weight"], best["trunk.7.1.conv2.weight"])
    base = tmp_path / "unwarped"
    whole_image.train(str(tmp_path / "images.csv"), heat, None, str(base), c, ck, seed=0)
    s = summary.summarize([str(run / "metrics.json"), str(base / "metrics.json")], str(tmp_path / "summary.csv"), 200)
    assert list(s["input"]) == ["unwarped", "warped"]
    assert s["auc_ci_lo"].iloc[1] <= s["auc"].iloc[1] <= s["auc_ci_hi"].iloc[1]
    assert s["auc_minus_unwarped"].iloc[1] == pytest.approx(s["auc"].iloc[1] - s["auc"].iloc[0], abs=1e-6)


def _fake_run(root, run, label, score, study, control=""):
    d = root / run
    d.mkdir(parents=True)
    auc = float(whole_image.binary_metrics(label, score, 0.5)["auc"])
    (d / "metrics.json").write_text(json.dumps({"run": run, "control": control, "scale": None, "fwhm": None,
                                                "lam": None, "test": {"auc": auc}, "n_test": len(label)}))
    pd.DataFrame({"image_id": [f"i{k}" for k in range(len(label))], "study_id": study, "label": label,
                  "score": score}).to_csv(d / "predictions.csv", index=False)
    return str(d / "metrics.json")


def test_summary_confidence_intervals_and_controls(tmp_path):
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 60)
    study = [f"s{k // 2}" for k in range(len(y))]
    paths = [_fake_run(tmp_path, "unwarped", y, np.round(rng.random(len(y)) + 0.3 * y, 4), study),
             _fake_run(tmp_path, "scale20_fwhm15_lam1", y, np.round(rng.random(len(y)) + 2.0 * y, 4), study),
             _fake_run(tmp_path, "shuffled", y, np.round(rng.random(len(y)), 4), study),
             _fake_run(tmp_path, "random_heat_scale20_fwhm15_lam1", y, np.round(rng.random(len(y)) + 0.3 * y, 4),
                       study, "random_heat"),
             _fake_run(tmp_path, "oracle_scale20_fwhm15_lam1", y, np.round(rng.random(len(y)) + 3.0 * y, 4), study,
                       "oracle")]
    (tmp_path / "seeds").mkdir()
    paths += [_fake_run(tmp_path / "seeds", f"unwarped_{n}", y, np.round(rng.random(len(y)) + k * y, 4), study)
              for n, k in ((1, 0.6), (2, 0.9))]
    for p in paths[-2:]:  # the same run trained with other seeds: same run name, folder seeds/<run>/seed<n>/
        m = json.loads(open(p).read())
        open(p, "w").write(json.dumps({**m, "run": "unwarped"}))
    s = summary.summarize(paths[::-1], str(tmp_path / "summary.csv"), n_boot=300, seed=1).set_index("run")
    assert list(s["input"]) == ["unwarped", "warped", "oracle", "random_heat", "shuffled"]
    aucs = [s.loc["unwarped", "auc"]] + [json.loads(open(p).read())["test"]["auc"] for p in paths[-2:]]
    assert s.loc["unwarped", "n_seeds"] == 3 and s.loc["unwarped", "auc_seed_mean"] == pytest.approx(np.mean(aucs))
    assert s.loc["unwarped", "auc_seed_sd"] == pytest.approx(np.std(aucs, ddof=1)) and np.std(aucs) > 0
    assert s.loc["shuffled", "n_seeds"] == 1 and np.isnan(s.loc["shuffled", "auc_seed_sd"])
    assert s.loc["oracle_scale20_fwhm15_lam1", "delta_ci_lo"] > 0.1
    w, sh = s.loc["scale20_fwhm15_lam1"], s.loc["shuffled"]
    assert w["delta_ci_lo"] > 0.1 and w["auc_ci_lo"] > 0.9                 # a real gain: CI excludes 0
    assert sh["auc_ci_lo"] < 0.5 < sh["auc_ci_hi"]                           # the control sits at chance
    assert s.loc["unwarped", "auc_minus_unwarped"] == 0 and s.loc["unwarped", "delta_ci_hi"] == 0
    assert (s["n_test_studies"] == 60).all()


def test_label_mapping_and_config_checks():
    im = pd.DataFrame({"label": [0, 1, 1], "breast_birads": ["BI-RADS 1", "BI-RADS 4", "BI-RADS 0"]})
    assert whole_image.map_labels(im, cfg()).tolist() == [0, 1, 1]
    c = cfg(label_column="breast_birads", label_map={"BI-RADS 1": 0, "BI-RADS 4": 1})
    y = whole_image.map_labels(im, c)
    assert y.iloc[:2].tolist() == [0, 1] and np.isnan(y.iloc[2])
    with pytest.raises(Exception, match="channel"):
        cfg(channels=["original", "warped", "bogus"])


def test_trunk_is_initialised_from_the_patch_classifier(tmp_path):
    """Every trunk tensor of a patch_classifier-initialised model equals the patch classifier's, none of a fresh one."""
    ck = fake_checkpoint(tmp_path / "pc.pt", patch_size=64, seed=7)
    pc = torch.load(ck, weights_only=True)["model"]
    names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]

    def trunk_state(net):
        out = {}
        for k, v in net.trunk.state_dict().items():
            i, rest = k.split(".", 1)
            out[f"{names[int(i)]}.{rest}"] = v
        return out

    net, norm, arch = whole_image.build(cfg(init="patch_classifier"), ck)
    got = trunk_state(net)
    assert arch == "resnet18" and norm == {"mean": 0.3, "std": 0.2} and len(got) > 100
    assert all(torch.equal(v, pc[k]) for k, v in got.items())
    torch.manual_seed(123)
    fresh = trunk_state(whole_image.build(cfg(init="none"), None)[0])
    assert not torch.equal(fresh["layer3.0.conv1.weight"], pc["layer3.0.conv1.weight"])


def test_model_shapes():
    from mammoflow.pipelines.nus.patch_model import build_model
    for arch in ("resnet18", "resnet50"):
        net = whole_image.WholeImageNet(build_model(arch, "none"), extra_blocks=2).eval()
        with torch.no_grad():
            assert net(torch.zeros(2, 3, 96, 64)).shape == (2, 2)


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    from mammoflow.training import engine as training
    df = tiny_set(tmp_path, n_train=16, n_test=8)
    ck = fake_checkpoint(tmp_path / "pc.pt", patch_size=64)
    heat, _ = shard_tables(tmp_path, df, ck)
    c = cfg(stages=[{"name": "all", "train": "all", "epochs": 3, "lr": 1e-3}])
    images = str(tmp_path / "images.csv")
    ref = whole_image.train(images, heat, None, str(tmp_path / "ref"), c, None, seed=0)

    def stop(rec):
        if rec["epoch"] == 1:
            raise training.Interrupt("simulated kill")

    with pytest.raises(training.Interrupt):
        whole_image.train(images, heat, None, str(tmp_path / "run"), c, None, seed=0, on_epoch_end=stop)
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "metrics.json").exists()
    res = whole_image.train(images, heat, None, str(tmp_path / "run"), c, None, seed=0)
    assert res["test"] == ref["test"] and res["best_epoch"] == ref["best_epoch"]
    assert (pd.read_csv(tmp_path / "run" / "history.csv").equals(pd.read_csv(tmp_path / "ref" / "history.csv")))
