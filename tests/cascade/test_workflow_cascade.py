"""The whole cascade on a tiny config: both stages, shard inference, density, Dice table, rejections."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import wfutil
from mammoflow.io import png
from mammoflow.pipelines.cascade.infer import load_stage
from mammoflow.pipelines.cascade.plan import SUFFIXES

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(wfutil.TINY_CONFIG)
CONFIG["datasets"] = {
    "tissue_t": {"format": "tissue", "root": "data/tissue_t",
                 "synthetic": {"seed": 5, "n_images": 8, "height": 256, "width": 128, "test_fraction": 0.25,
                               "inject_bad": True}},
    "cbis_t": {"format": "cbis", "root": "data/cbis_t", "shard_size": 32,
               "synthetic": {"seed": 19, "n_patients": 4, "height": 256, "width": 160, "calc_fraction": 0.0,
                             "inject_bad": True}},
}
CONFIG["cascade"] = {"tissue_dataset": "tissue_t", "lesion_datasets": ["cbis_t"], "threads": 1,
                     "stage1": {"height": 64, "width": 64, "epochs": 2, "batch_size": 4},
                     "stage2": {"height": 32, "width": 32, "epochs": 2, "batch_size": 4}, "report_examples": 1}


@pytest.fixture(scope="module")
def wd(tmp_path_factory):
    wd = wfutil.make_workdir(tmp_path_factory.mktemp("wf") / "cascade", CONFIG)
    wfutil.smk(wd, "cascade", run=True, cores=1)
    return wd


def test_cascade_targets_and_checkpoints(wd):
    s1 = wd / "results/tissue_t/models/cascade/stage1"
    s2 = wd / "results/cbis_t/models/cascade/stage2"
    m1 = json.loads((s1 / "metrics.json").read_text())
    assert set(m1["test"]) >= {"dice_background", "dice_adipose", "dice_fibroglandular", "dice_pectoral"}
    m2 = json.loads((s2 / "metrics.json").read_text())
    assert {"dice_lesion", "detection_rate", "brightest_baseline", "full_size"} <= set(m2["test"])
    assert {"dice_lesion", "detection_rate"} <= set(m2["test"]["full_size"])
    assert any(k.startswith("dice_lesion_") for k in m2["test"])  # per finding category (findings.csv)
    dice = pd.read_csv(wd / "results/cbis_t/cascade/dice.csv")
    assert {"full_size_dice_lesion", "dice_lesion"} <= set(dice.loc[dice["stage"] == "2 lesion", "metric"])
    for p in (s1 / "best_stage1.pth", s2 / "best_stage2.pth"):
        model, size = load_stage(p)  # strict load
        assert size[0] in (32, 64)
    assert (s1 / "state" / "last.pt").is_file() and any((s1 / "tensorboard").iterdir())


def test_every_image_has_its_four_files_and_a_density_row(wd):
    images = pd.read_csv(wd / "results/cbis_t/tables/images.csv", dtype=str)
    pred = wd / "results/cbis_t/cascade/predictions"
    for i in images["image_id"]:
        for s in SUFFIXES:
            assert (pred / f"{i}_{s}.png").is_file(), (i, s)
    rows = pd.concat([pd.read_csv(p) for p in (pred / "shards").glob("s*[0-9].csv")])
    assert set(rows.loc[rows["status"] == "ok", "image_id"]) == set(images["image_id"])
    assert (rows.loc[~rows["image_id"].isin(images["image_id"]), "status"] == "upstream").all()
    for r in rows[rows["status"] == "ok"].itertuples():
        prob = png.read(pred / f"{r.image_id}_cancer_prob.png")
        inside = np.zeros(prob.shape, bool)
        inside[int(r.box_r0):int(r.box_r1), int(r.box_c0):int(r.box_c1)] = True
        assert prob[~inside].max(initial=0) == 0  # pasted into the crop box only
        assert set(np.unique(png.read(pred / f"{r.image_id}_tissue_seg.png"))) <= {0, 1, 2, 3}
    dens = pd.read_csv(wd / "results/cbis_t/cascade/density.csv", keep_default_na=False)
    assert len(dens) == len(images) and set(dens["density_class"]) <= {"A", "B", "C", "D"}
    agree = json.loads((wd / "results/cbis_t/cascade/density.json").read_text())
    assert agree["n_labelled"] == len(images)  # CBIS rows carry a density label
    dice = pd.read_csv(wd / "results/cbis_t/cascade/dice.csv")
    assert {"1 tissue", "2 lesion", "2 baseline (brightest pixels)", "cascade"} <= set(dice["stage"])
    assert (wd / "results/cbis_t/cascade/rejected.csv").is_file()
