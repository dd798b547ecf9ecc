"""The patch and patch-classifier rules on the tiny synthetic dataset: targets, contract, rejections, up to date."""
from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest

from mammoflow.pipelines.nus import patch_classifier as PC
from mammoflow.pipelines.nus import patch_model as PM

import wfutil as _root  # noqa: E402  (tests/ is on sys.path via tests/conftest.py)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(_root.TINY_CONFIG)
CONFIG["seed000"] = {
    "datasets": ["tiny"],
    "patches": {"size": 32, "normal_bkg_s10": 2},
    "patch_classifier": {"sets": ["s10"], "arch": "resnet18", "pretrained": "none", "samples_per_epoch": 48,
                         "batch_size": 16, "threads": 2, "mem_mb": 2000, "runtime": 10,
                         "stages": [{"name": "head", "train": "head", "epochs": 1, "lr": 1.0e-3},
                                    {"name": "all", "train": "all", "epochs": 1, "lr": 1.0e-3}]},
    "heatmaps": {"crossfit_folds": 1},
}
MODEL = "results/tiny/models/patch_classifier/s10"
TARGET = f"{MODEL}/metrics.json"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wd = _root.make_workdir(tmp_path_factory.mktemp("wf_patches") / "w", CONFIG)
    return wd, _root.smk(wd, TARGET, run=True)


def test_patch_sets_and_rejections_cover_every_image(built):
    wd, updated = built
    assert TARGET in updated and "results/tiny/patches/training/s10.csv" in updated
    images = pd.read_csv(wd / "results/tiny/tables/images.csv", dtype={"image_id": str})
    rejected = pd.read_csv(wd / "results/tiny/patches/rejected.csv", dtype=str, keep_default_na=False)
    seen = set(rejected["image_id"])
    for split in ("training", "test"):
        for st in ("s", "s10"):
            df = pd.read_csv(wd / f"results/tiny/patches/{split}/{st}.csv", dtype={"image_id": str})
            assert list(df.columns) == ["path", "label", "image_id", "split", "set"]
            assert set(df["split"]) <= {split} and set(df["set"]) <= {st}
            assert all((wd / p).is_file() and f"patches/{split}/{st}/" in p for p in df["path"])
            seen |= set(df["image_id"])
    assert set(images["image_id"]) <= seen  # every usable image gave patches or a rejection row
    assert all(r.split(":")[0].endswith(".png") for r in rejected["reason"])  # reasons name the file


def test_checkpoint_contract_and_metrics(built):
    wd, _ = built
    model, meta = PM.load_model(wd / MODEL / "best.pt")
    assert meta["arch"] == "resnet18" and meta["patch_size"] == 32 and meta["classes"] == ["background", "lesion"]
    assert set(meta["norm"]) == {"mean", "std"}
    m = pd.read_json(wd / TARGET, typ="series")
    for k in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1"):
        assert k in m["test"]
    assert (wd / MODEL / "last.pt").is_file() and (wd / MODEL / "roc.png").is_file()
    assert any((wd / MODEL / "tensorboard").iterdir())


def test_nothing_to_do_after_a_run(built):
    wd, _ = built
    assert _root.smk(wd, TARGET) == []
