"""Cross-fitted heatmaps on the tiny dataset: a training image's map comes from the fold model that did not see its
study, test images from the full model; crossfit_folds 1 plans no fold job."""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import heatmap

import wfutil as _root  # noqa: E402  (tests/ is on sys.path via tests/conftest.py)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(_root.TINY_CONFIG)
CONFIG["datasets"]["tiny"]["synthetic"].update(n_studies=6, lesion_fraction=0.9, inject_bad=False)
CONFIG["preprocess"]["shard_size"] = 16
CONFIG["seed000"] = {
    "datasets": ["tiny"],
    "patches": {"size": 32, "nb_abn": 3, "nb_bkg": 3, "normal_bkg_s10": 3, "min_tissue": 0.2},
    "patch_classifier": {"sets": ["s10"], "arch": "resnet18", "pretrained": "none", "overrides": {},
                         "stages": [{"name": "all", "train": "all", "epochs": 1, "lr": 1.0e-3}],
                         "samples_per_epoch": 32, "batch_size": 16, "threads": 1},
    "heatmaps": {"compare_sliding_max": 0, "threads": 1, "crossfit_folds": 2},
}
PC = "results/tiny/models/patch_classifier"
TARGET = "results/tiny/heatmaps/evaluation.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wd = _root.make_workdir(tmp_path_factory.mktemp("wf_crossfit") / "w", CONFIG)
    return wd, _root.smk(wd, TARGET, run=True)


def _tables(wd):
    return pd.concat([pd.read_csv(p, dtype={"image_id": str}, keep_default_na=False)
                      for p in sorted((wd / "results/tiny/heatmaps/shards").glob("s[0-9][0-9][0-9].csv"))],
                     ignore_index=True)


def _map(wd, ck, image_id):
    m = heatmap.ShardModel(wd / ck, "dense", torch.device("cpu"))
    return m.prob(png.read_unit(wd / f"results/tiny/preprocessed/{image_id}.png", np.uint16), 32, 64)[0]


def test_fold_models_leave_their_fold_out(built):
    wd, updated = built
    assert {f"{PC}/folds.csv", f"{PC}/s10_fold0/best.pt", f"{PC}/s10_fold1/metrics.json"} <= set(updated)
    folds = pd.read_csv(wd / PC / "folds.csv", dtype=str)
    images = pd.read_csv(wd / "results/tiny/tables/images.csv", dtype=str, keep_default_na=False)
    assert sorted(folds["image_id"]) == sorted(images.loc[images["split"] == "training", "image_id"])
    assert (folds.groupby("study_id")["fold"].nunique() == 1).all() and set(folds["fold"]) == {"0", "1"}
    train = pd.read_csv(wd / "results/tiny/patches/training/s10.csv", dtype=str)
    study = dict(zip(images["image_id"], images["study_id"]))
    for j in (0, 1):
        m = json.loads((wd / PC / f"s10_fold{j}/metrics.json").read_text())
        held = set(folds.loc[folds["fold"] == str(j), "study_id"])
        assert m["fold"] == j and set(m["held_out_studies"]) == held
        assert m["n_train"] + m["n_val"] == sum(study[i] not in held for i in train["image_id"])
        assert (wd / PC / f"s10_fold{j}/history.csv").is_file()


def test_training_maps_come_from_the_fold_that_did_not_see_the_study(built):
    wd, _ = built
    t = _tables(wd)
    folds = pd.read_csv(wd / PC / "folds.csv", dtype={"image_id": str})
    fold_of = dict(zip(folds["image_id"], folds["fold"]))
    ok = t[t["status"] == "ok"]
    tr, te = ok[ok["split"] == "training"], ok[ok["split"] == "test"]
    assert len(tr) and len(te) and (te["model"] == "full").all()
    assert list(tr["model"]) == [f"fold{fold_of[i]}" for i in tr["image_id"]]
    for j in (0, 1):  # one training image per fold, recomputed with its fold checkpoint
        r = tr[tr["model"] == f"fold{j}"].iloc[0]
        stored = probmaps.read(wd / r["prob_path"], r["image_id"])
        np.testing.assert_allclose(stored, _map(wd, f"{PC}/s10_fold{j}/best.pt", r["image_id"]), atol=1e-5)
        assert np.abs(stored - _map(wd, f"{PC}/s10/best.pt", r["image_id"])).max() > 1e-4
    r = te.iloc[0]
    np.testing.assert_allclose(probmaps.read(wd / r["prob_path"], r["image_id"]),
                               _map(wd, f"{PC}/s10/best.pt", r["image_id"]), atol=1e-5)
    ev = json.loads((wd / TARGET).read_text())
    assert ev["split"] == "test" and ev["images"] == len(te)
    assert _root.smk(wd, TARGET) == []


def test_one_fold_plans_no_fold_job(tmp_path):
    cfg = copy.deepcopy(CONFIG)
    cfg["seed000"]["heatmaps"]["crossfit_folds"] = 1
    planned = _root.smk(_root.make_workdir(tmp_path / "w", cfg), TARGET)
    assert f"{PC}/s10/best.pt" in planned
    assert not [p for p in planned if "fold" in p]
