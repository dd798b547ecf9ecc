"""The superres target on a tiny synthetic INbreast config: pairs, three models, SR outputs, metrics, GAN, FID."""
from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

import wfutil

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(wfutil.TINY_CONFIG)
CONFIG["datasets"] = {"inb": {"format": "inbreast", "root": "data/inb",
                              "synthetic": {"seed": 5, "n_patients": 5, "height": 256, "width": 208,
                                            "lesion_fraction": 0.9}}}
CONFIG["superres"] = {
    "datasets": ["inb"],
    "pairs": {"hr_size": 32, "per_image": 6, "min_breast_fraction": 0.5},
    "model": {"channels": 8, "blocks": 1, "skip": "bicubic", "disc_channels": 8, "disc_layers": 2,
              "feature_channels": 4},
    "train": {"batch_size": 8, "samples_per_epoch": 32, "feature_epochs": 1, "srresnet_epochs": 1,
              "srgan_epochs": 1},
    "evaluate": {"figures": 1},
    "gan": {"epochs": 1, "channels": 8, "n_samples": 32},
    "augment": {"epochs": 1, "samples_per_epoch": 32, "bootstrap": 20},
    "job": {"threads": 1},
}


def test_superres_target_builds_and_is_up_to_date(tmp_path):
    wd = wfutil.make_workdir(tmp_path / "wf", CONFIG)
    wfutil.smk(wd, "superres", run=True, cores=1)
    sr = wd / "results" / "inb" / "superres"
    pairs = pd.read_csv(sr / "pairs.csv", dtype={"pair_id": str})
    assert set(pairs["split"]) <= {"training", "test"} and len(pairs) > 20
    m = json.loads((sr / "metrics.json").read_text())
    assert set(m["quality_inside_breast"]) == {"bicubic", "srresnet", "srgan"}
    assert set(m["calcification_recall"]) >= {"hr", "bicubic", "srresnet", "srgan"}
    test = pairs[pairs["split"] == "test"]
    assert all((sr / "sr" / "test" / "srgan" / f"{p}.png").is_file() for p in test["pair_id"])
    fid = json.loads((sr / "gan" / "fid.json").read_text())
    assert {"fid_gan", "fid_noise", "fid_real_vs_real"} <= set(fid)
    aug = json.loads((sr / "gan" / "augment.json").read_text())
    assert "ci95" in aug["with_gan"] and "ci95" in aug["real_only"]
    assert wfutil.smk(wd, "superres") == []
