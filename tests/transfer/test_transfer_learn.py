"""Seed-004 models learn on held-out data (above chance and a shuffled-label control); all three backbones,
the ensemble, the summary table and Grad-CAM run on a tiny set; a bad checkpoint is named."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mammoflow.pipelines.transfer import baseline, evaluate, gradcam, models, train
from mammoflow.pipelines.transfer.data import build_samples
from transfer_synth import tiny_config, write_tables

LEARN = "efficientnet_b0"
STAGES = [{"name": "head", "train": "head", "epochs": 1, "lr": 1e-3}, {"name": "all", "train": "all", "epochs": 6,
                                                                        "lr": 1e-3}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    ic, fc = write_tables(root, n_patients=60, h=160, w=128, seed=0)
    cfg = tiny_config(input_size=48, stages=STAGES)
    samples, _ = build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=1)
    return root, cfg, samples


@pytest.fixture(scope="module")
def learned(tiny):
    root, cfg, samples = tiny
    model, pred, rej = train.fit_backbone(samples, cfg, LEARN, root / LEARN, seed=1)
    pred.to_csv(root / f"{LEARN}.csv", index=False)
    return model, pred


def _test_auc(pred: pd.DataFrame) -> float:
    m = evaluate.evaluate(pred, 100, 0.9, 0)
    return m["operating_points"]["youden"]["roc_auc"]["value"]


def test_learns_above_chance_and_shuffled_control(tiny, learned):
    root, cfg, samples = tiny
    _, pred = learned
    auc = _test_auc(pred)
    shuffled = samples.copy()
    fit = shuffled["split"] != "test"
    shuffled.loc[fit, "label"] = np.random.default_rng(0).permutation(shuffled.loc[fit, "label"].to_numpy())
    _, pred_s, _ = train.fit_backbone(shuffled, cfg, LEARN, root / "shuffled", seed=1)
    pred_s["label"] = samples.set_index("sample_id").loc[pred_s["sample_id"], "label"].to_numpy()  # true test labels
    auc_s = _test_auc(pred_s)
    assert auc >= 0.8, f"test AUC {auc:.3f}"
    assert auc - auc_s >= 0.2, f"learned {auc:.3f} vs shuffled-label control {auc_s:.3f}"


def test_all_backbones_ensemble_summary_and_gradcam(tiny, learned, tmp_path):
    root, cfg, samples = tiny
    small = tiny_config(input_size=32, stages=[{"name": "head", "train": "head", "epochs": 1, "lr": 1e-3},
                                               {"name": "all", "train": "all", "epochs": 1, "lr": 1e-3}])
    preds, metric_files = {LEARN: learned[1]}, []
    sub = samples[samples["patient_id"].isin(sorted(samples["patient_id"].unique())[:30])]  # keep the test fast
    for bb in ("resnet50", "densenet121"):
        model, preds[bb], _ = train.fit_backbone(sub, small, bb, tmp_path / bb, seed=1)
        assert (tmp_path / bb / "best.pt").is_file() and (tmp_path / bb / "last.pt").is_file()
        assert any((tmp_path / bb / "tensorboard").iterdir())
        reloaded, ck = models.load(tmp_path / bb / "best.pt", bb)
        assert ck["backbone"] == bb
    for name in (*preds, "ensemble"):
        csvs = []
        for bb in (preds if name == "ensemble" else [name]):
            preds[bb].to_csv(tmp_path / f"{bb}.csv", index=False)
            csvs.append(str(tmp_path / f"{bb}.csv"))
        out = {k: str(tmp_path / f"{name}_{k}.{'json' if k == 'metrics' else 'png'}")
               for k in ("metrics", "roc", "pr", "confusion")}
        evaluate.eval_job(csvs, name, 50, 0.9, 0, out)
        metric_files.append(out["metrics"])
        m = json.loads(open(out["metrics"]).read())
        op = m["operating_points"]["sensitivity_0.9"]
        scored = preds[name] if name in preds else evaluate.ensemble(list(preds.values()))
        assert op["n"] == int((scored["split"] == "test").sum()) > 0
        assert op["roc_auc"]["lo"] <= op["roc_auc"]["value"] <= op["roc_auc"]["hi"]
    bp = baseline.baseline_predictions(samples, cfg)
    from mammoflow.evaluation.metrics import write_json
    write_json(tmp_path / "base.json", {"model": "intensity_baseline", **evaluate.evaluate(bp, 50, 0.9, 0)})
    evaluate.summary_job(metric_files, str(tmp_path / "base.json"), str(tmp_path / "summary.csv"))
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["model"]) == {LEARN, "resnet50", "densenet121", "ensemble", "intensity_baseline"}
    assert len(summary) == 10 and summary["roc_auc"].notna().all()
    # Grad-CAM of the learned model on the whole test canvases; the pointing game is defined
    test = samples[samples["split"] == "test"]
    factor = models.load(root / LEARN / "best.pt", LEARN)[1]["canvas_factor"]
    table, rej = gradcam.run(test, learned[0], LEARN, cfg, factor, tmp_path / "cam", torch.device("cpu"))
    assert not rej and len(table) == test["image_id"].nunique()
    ids = sorted(test["image_id"].unique())
    m = np.load(tmp_path / "cam" / f"{ids[0]}.npy")
    assert m.ndim == 2 and float(m.max()) <= 1.0 and (tmp_path / "cam" / f"{ids[0]}.png").is_file()
    s = gradcam.pointing_summary(table)
    assert s["n_malignant_images"] == int(test.groupby("image_id")["label"].max().sum())
    gradcam.examples(table, tmp_path / "cam", tmp_path / "ex.png")
    assert (tmp_path / "ex.png").stat().st_size > 1000
