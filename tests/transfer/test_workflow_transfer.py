"""The seed-004 rules on a tiny synthetic CBIS-DDSM tree: splits, two backbones, ensemble, summary, Grad-CAM,
ImageFolder export; a second plan has nothing to do."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import yaml

import wfutil

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(wfutil.TINY_CONFIG)
CONFIG["datasets"] = {"cbis_t": {"format": "cbis", "root": "data/cbis_t", "synthetic": {
    "n_patients": 12, "height": 256, "width": 160, "malignant_fraction": 0.5, "inject_bad": True}}}
CONFIG["transfer"] = {"datasets": ["cbis_t"], "backbones": ["efficientnet_b0", "resnet50"], "input_size": 32,
                      "min_crop": 24, "n_boot": 20, "threads": 1, "val_fraction": 0.2, "test_fraction": 0.3,
                      "stages": [{"name": "head", "train": "head", "epochs": 1, "lr": 1.0e-3},
                                 {"name": "all", "train": "all", "epochs": 1, "lr": 1.0e-3}]}


def test_transfer_workflow(tmp_path):
    wd = wfutil.make_workdir(tmp_path / "wf", CONFIG)
    wfutil.smk(wd, "transfer", "results/cbis_t/transfer/imagefolder", run=True, cores=1)
    res = wd / "results" / "cbis_t"
    summary = pd.read_csv(res / "models" / "transfer" / "summary.csv")
    assert set(summary["model"]) == {"efficientnet_b0", "resnet50", "ensemble", "intensity_baseline"}
    assert set(summary["operating_point"]) == {"youden", "sensitivity_0.9"}
    splits = pd.read_csv(res / "transfer" / "splits.csv")
    assert splits.groupby("patient_id")["split"].nunique().max() == 1
    for bb in ("efficientnet_b0", "resnet50"):
        pointing = json.loads((res / "gradcam" / f"{bb}_pointing.json").read_text())
        assert pointing["backbone"] == bb and "pointing_game" in pointing
        test_ids = set(splits.loc[splits["split"] == "test", "image_id"])
        assert {p.stem for p in (res / "gradcam" / bb).glob("*.npy")} == test_ids
        for f in ("roc.png", "pr.png", "confusion_matrix.png"):
            assert (res / "models" / "transfer" / bb / "eval" / f).stat().st_size > 1000
    assert len(list((res / "transfer" / "imagefolder").rglob("*.png"))) == len(splits)
    assert wfutil.smk(wd, "transfer") == []
    # ROI-less whole-image inference on a named folder of raw DICOMs (on demand), one broken file among them
    raw = wd / "raw"
    raw.mkdir()
    images = pd.read_csv(res / "tables" / "images.csv")
    dicoms = [wd / p for p in images["source_path"].head(3)]  # full mammograms (the tree also holds ROI DICOMs)
    for i, d in enumerate(dicoms):
        (raw / f"img{i}.dcm").write_bytes(d.read_bytes())
    (raw / "broken.dcm").write_bytes(dicoms[0].read_bytes()[:1000])
    cfg = copy.deepcopy(CONFIG)
    cfg["transfer"]["infer_inputs"] = {"raw": str(raw)}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/cbis_t/transfer/infer/raw/efficientnet_b0/probabilities.csv"
    planned = wfutil.smk(wd, target)
    assert planned and all("/transfer/infer/raw/" in f for f in planned), planned  # nothing retrains
    wfutil.smk(wd, target, run=True, cores=1)
    probs = pd.read_csv(wd / target)
    assert len(probs) == 3 and probs["prob_malignant"].between(0, 1).all()
    rej = pd.read_csv(res / "transfer" / "infer" / "raw" / "efficientnet_b0" / "rejected.csv")
    assert len(rej) == 1 and "broken.dcm" in rej["reason"].iloc[0]
