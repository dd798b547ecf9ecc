"""Cross-fitting: study-grouped, stratified, deterministic folds; the heatmap shard picks the unseen fold's model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mammoflow.core.errors import ConfigError, ImageRejected
from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import crossfit, heatmap
from mammoflow.pipelines.nus.patch_model import build_model
from mammoflow.training.splits import grouped_folds


def _images(n_studies: int = 11, views: int = 4, seed: int = 0) -> pd.DataFrame:
    """An images.csv-like table: 4-view studies, a third of them with a lesion image, the last two in test."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_studies):
        pos = s % 3 == 0
        for v in range(views):
            rows.append({"image_id": f"im{s:02d}_{v}", "study_id": f"st{s:02d}",
                         "split": "test" if s >= n_studies - 2 else "training",
                         "label": int(pos and v == 0), "x": rng.random()})
    return pd.DataFrame(rows).sample(frac=1, random_state=seed)  # row order must not matter


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_group_studies_cover_each_training_image_once_and_are_deterministic(tmp_path, k):
    im = _images()
    p = tmp_path / "images.csv"
    im.to_csv(p, index=False)
    t = crossfit.write_folds(p, tmp_path / "folds.csv", k, seed=7)
    train = im[im["split"] == "training"]
    assert list(t.columns) == ["image_id", "study_id", "fold"]
    assert sorted(t["image_id"]) == sorted(train["image_id"]) and t["image_id"].is_unique  # each exactly once
    assert (t.groupby("study_id")["fold"].nunique() == 1).all()  # a study never spans two folds
    assert set(t["fold"]) == set(range(k))  # k non-empty folds
    sizes = t.groupby("fold")["study_id"].nunique()
    assert sizes.max() - sizes.min() <= 1
    # stratified: the positive studies are spread over the folds as evenly as possible
    pos = set(train.loc[train["label"] == 1, "study_id"])
    per = t[t["study_id"].isin(pos)].groupby("fold")["study_id"].nunique().reindex(range(k), fill_value=0)
    assert per.max() - per.min() <= 1
    again = tmp_path / "again.csv"
    im.sample(frac=1, random_state=3).to_csv(p, index=False)
    crossfit.write_folds(p, again, k, seed=7)
    assert again.read_bytes() == (tmp_path / "folds.csv").read_bytes()
    assert crossfit.fold_of_images(again) == dict(zip(t["image_id"], t["fold"]))


def test_folds_depend_on_the_seed_and_need_enough_studies():
    g = [f"s{i}" for i in range(20)]
    y = [i % 2 for i in range(20)]
    a, b = grouped_folds(g, y, 4, seed=0), grouped_folds(g, y, 4, seed=1)
    assert (a == grouped_folds(g, y, 4, seed=0)).all() and (a != b).any()
    with pytest.raises(ValueError, match="at least 5 groups"):
        grouped_folds(g[:4], y[:4], 5, seed=0)


def test_too_few_training_studies_and_empty_folds_are_config_errors(tmp_path):
    p = tmp_path / "images.csv"
    _images(n_studies=4).to_csv(p, index=False)  # 2 training studies
    with pytest.raises(ConfigError, match="crossfit_folds"):
        crossfit.write_folds(p, tmp_path / "folds.csv", 3, seed=0)
    crossfit.write_folds(p, tmp_path / "folds.csv", 2, seed=0)
    assert crossfit.held_out_studies(tmp_path / "folds.csv", 1)
    with pytest.raises(ConfigError, match="fold 2 holds no study"):
        crossfit.held_out_studies(tmp_path / "folds.csv", 2)


def _checkpoint(path, seed):
    torch.manual_seed(seed)
    m = build_model("resnet18", "none", False)
    torch.save({"model": m.state_dict(), "arch": "resnet18", "tiled": False, "norm": {"mean": 0.3, "std": 0.2},
                "patch_size": 64, "classes": ["background", "lesion"]}, path)
    return str(path)


def test_shard_maps_training_images_with_their_fold_model_and_test_images_with_the_full_one(tmp_path):
    from seed000_synth import make_dataset
    images_csv, _ = make_dataset(tmp_path / "data", n_train=4, n_test=2)
    im = pd.read_csv(images_csv, dtype={"image_id": str})
    items = pd.DataFrame({"image_id": im["image_id"], "split": im["split"], "png": im["png_path"]})
    train_ids = list(items.loc[items["split"] == "training", "image_id"])
    folds = pd.DataFrame({"image_id": train_ids[:-1], "study_id": train_ids[:-1],
                          "fold": [j % 2 for j in range(len(train_ids) - 1)]})
    folds.to_csv(tmp_path / "folds.csv", index=False)  # the last training image has no fold: rejected
    cks = [_checkpoint(tmp_path / f"{n}.pt", s) for n, s in (("full", 0), ("f0", 1), ("f1", 2))]
    probs, table = str(tmp_path / "p.h5"), str(tmp_path / "t.csv")
    heatmap.run_shard(items, cks[0], probs, table, fold_checkpoints=cks[1:], folds_csv=str(tmp_path / "folds.csv"))
    t = pd.read_csv(table, dtype={"image_id": str}, keep_default_na=False).set_index("image_id")
    fold_of = dict(zip(folds["image_id"], folds["fold"]))
    for i, r in items.set_index("image_id").iterrows():
        if i == train_ids[-1]:
            assert t.loc[i, "status"] == "rejected" and "no cross-fitting fold" in t.loc[i, "reason"]
            continue
        want = f"fold{fold_of[i]}" if r["split"] == "training" else "full"
        assert t.loc[i, "model"] == want and t.loc[i, "status"] == "ok"
        ck = {"full": cks[0], "fold0": cks[1], "fold1": cks[2]}[want]
        alone = heatmap.ShardModel(ck, "dense", torch.device("cpu"))
        ref, _ = alone.prob(png.read_unit(r["png"], np.uint16), 32, 64)
        np.testing.assert_array_equal(probmaps.read(probs, i), ref)
    # no cross-fitting: no model column (the table of crossfit_folds 1 is unchanged)
    heatmap.run_shard(items, cks[0], probs, table)
    assert "model" not in pd.read_csv(table).columns
    with pytest.raises(ImageRejected):
        heatmap.model_name("x", "training", {})
