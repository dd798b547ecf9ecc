"""Seed 000 end to end on the tiny dataset; saliency, overlay and grid files made on request equal the batched ones."""
from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

import wfutil as _root  # noqa: E402  (tests/ is on sys.path via tests/conftest.py)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = copy.deepcopy(_root.TINY_CONFIG)
CONFIG["preprocess"]["shard_size"] = 16
CONFIG["seed000"] = {
    "datasets": ["tiny"],
    "per_image_files": {"mode": "batch"},
    "patches": {"size": 32, "nb_abn": 3, "nb_bkg": 3, "normal_bkg_s10": 3, "min_tissue": 0.2},
    "patch_classifier": {"sets": ["s10"], "arch": "resnet18", "pretrained": "none", "overrides": {},
                         "stages": [{"name": "all", "train": "all", "epochs": 1, "lr": 1.0e-3}],
                         "samples_per_epoch": 48, "batch_size": 16, "threads": 1},
    "heatmaps": {"compare_sliding_max": 2, "threads": 1, "crossfit_folds": 1},
    "warps": {"scales": [20], "fwhms": [15], "lams": [0.5], "grid_long_side": 24},
    "whole_image": {"height": 48, "width": 40, "stages": [{"name": "all", "train": "all", "epochs": 1, "lr": 1.0e-3}],
                    "batch_size": 8, "threads": 1},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wd = _root.make_workdir(tmp_path_factory.mktemp("wf_s000") / "w", CONFIG)
    return wd, _root.smk(wd, run=True)


def _leaf_files(wd):
    t = pd.concat([pd.read_csv(p, dtype={"image_id": str}, keep_default_na=False)
                   for p in sorted((wd / "results/tiny/heatmaps/shards").glob("s[0-9][0-9][0-9].csv"))])
    row = t[(t["status"] == "ok") & (t["split"] == "test")].iloc[0]
    i = row["image_id"]
    return [f"results/tiny/heatmaps/test/{i}_scale20_fwhm15.npy",
            f"results/tiny/overlays/test/{i}_overlay_scale20_fwhm15.png",
            f"results/tiny/grids/test/{i}_grid_scale20_fwhm15_lam0.5.npy"]


def test_default_targets_build_every_stage(built):
    wd, updated = built
    assert "results/tiny/models/whole_image/summary.csv" in updated
    ev = yaml.safe_load((wd / "results/tiny/heatmaps/evaluation.json").read_text())
    dvs = ev["dense_vs_sliding"]
    # the default plain ResNet: the dense map approximates the sliding one (exact only for tiled: true)
    assert dvs["images"] == 2 and -1 <= dvs["pooled_correlation"] <= 1 and dvs["max_abs_difference"] > 0
    s = pd.read_csv(wd / "results/tiny/models/whole_image/summary.csv")
    assert list(s["input"]) == ["unwarped", "warped", "oracle", "random_heat", "shuffled"]
    assert list(s["run"])[2:4] == ["oracle_scale20_fwhm15_lam1", "random_heat_scale20_fwhm15_lam1"]
    oracle = pd.concat([pd.read_csv(p, dtype={"image_id": str})
                        for p in sorted((wd / "results/tiny/control_warps/oracle/shards").glob("*.csv"))])
    findings = pd.read_csv(wd / "results/tiny/tables/findings.csv", dtype={"image_id": str}).dropna(subset=["rxmin"])
    ok = oracle[oracle["status"] == "ok"]  # rejected heatmaps (the injected bad images) get the identity warp
    assert set(ok.loc[ok["source"] == "boxes", "image_id"]) == set(findings["image_id"]) & set(ok["image_id"])
    assert set(ok["source"]) == {"boxes", "decoy"} and set(oracle.loc[oracle["status"] != "ok", "source"]) <= {"identity"}
    assert all((wd / p).is_file() for p in oracle["warp_path"])
    assert (s["auc_ci_lo"] <= s["auc"] + 1e-9).all() and (s["auc"] <= s["auc_ci_hi"] + 1e-9).all()
    assert all((wd / f).is_file() for f in _leaf_files(wd))


def test_a_run_trained_with_another_seed(built):
    wd, _ = built
    run = "oracle_scale20_fwhm15_lam1"
    target = f"results/tiny/models/whole_image/seeds/{run}/seed5/metrics.json"
    updated = _root.smk(wd, target, run=True)
    assert target in updated and not [f for f in updated if "/seeds/" not in f]  # nothing upstream reruns
    m = yaml.safe_load((wd / target).read_text())
    assert m["run"] == run and m["seed"] == 5 and m["control"] == "oracle"
    base = pd.read_csv(wd / f"results/tiny/models/whole_image/{run}/predictions.csv", dtype={"image_id": str})
    again = pd.read_csv(wd / target.replace("metrics.json", "predictions.csv"), dtype={"image_id": str})
    assert list(again["image_id"]) == list(base["image_id"]) and not again["score"].equals(base["score"])
    cfg = copy.deepcopy(CONFIG)
    cfg["seed000"]["whole_image"]["seeds"] = [5, 6]
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    try:  # with two extra seeds the summary waits for both seeds of every run (seed 5 of the oracle is built)
        planned = _root.smk(wd, "results/tiny/models/whole_image/summary.csv")
        seed_runs = [f for f in planned if "/seeds/" in f and f.endswith("metrics.json")]
        assert len(seed_runs) == 2 * 5 - 1 and target not in seed_runs
    finally:
        (wd / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))


def test_on_demand_leaf_files_equal_the_batched_ones(built):
    wd, _ = built
    files = _leaf_files(wd)
    before = {f: (wd / f).read_bytes() for f in files}
    cfg = copy.deepcopy(CONFIG)
    cfg["seed000"]["per_image_files"] = {"mode": "on_demand"}
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    try:
        for f in files:
            (wd / f).unlink()
        assert sorted(_root.smk(wd, *files)) == sorted(files)  # only the requested files, no shard job
        updated = _root.smk(wd, *files, run=True)
        assert sorted(updated) == sorted(files)
        for f in files:
            assert (wd / f).read_bytes() == before[f], f
    finally:
        (wd / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
