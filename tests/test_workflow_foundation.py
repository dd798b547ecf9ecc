"""The foundation DAG on a tiny synthetic dataset: outputs, rejections, rebuild only what changed, determinism."""
from __future__ import annotations

import copy
import filecmp
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pydicom import dcmread

from wfutil import TINY_CONFIG, make_workdir, smk

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two independent full runs of the tiny config: one with the installed lib, one with a private lib copy."""
    a = make_workdir(tmp_path_factory.mktemp("wf") / "a", TINY_CONFIG)
    b = make_workdir(tmp_path_factory.mktemp("wf") / "b", TINY_CONFIG, with_lib=True)
    smk(a, run=True)
    smk(b, run=True)
    return a, b


def _files(root: Path) -> list[str]:
    out = []
    for sub in ("results", "data"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                out.append(str(p.relative_to(root)))
    return out


def test_tables_account_for_every_input(built):
    a, _ = built
    t = a / "results/tiny/tables"
    images = pd.read_csv(t / "images.csv")
    rejected = pd.read_csv(t / "rejected.csv")
    breast = pd.read_csv(a / "data/tiny/breast-level_annotations.csv")
    rejected_images = set(rejected.loc[rejected["stage"] != "findings", "image_id"])
    assert set(images["image_id"]) | rejected_images == set(breast["image_id"])
    assert not set(images["image_id"]) & rejected_images
    reasons = " ".join(rejected["reason"])
    for word in ("truncated", "not a DICOM", "FOR PROCESSING", "blank", "missing", "no decoder", "escapes",
                 "outside"):
        assert word in reasons
    manifest = pd.read_csv(t / "resized_images_manifest.csv")
    assert len(manifest) == len(images) and manifest["image_id"].is_unique
    train, test = pd.read_csv(t / "training_resized_images.csv"), pd.read_csv(t / "test_resized_images.csv")
    assert len(train) + len(test) == len(manifest)
    # splits are per study
    assert images.groupby("study_id")["split"].nunique().max() == 1
    qc = pd.read_csv(a / "results/tiny/qc/breast_mask_iou_summary.csv")
    assert qc["min_iou"].iloc[0] >= 0.95


def test_two_clean_runs_are_byte_identical(built):
    a, b = built
    fa, fb = _files(a), _files(b)
    assert fa == fb and len(fa) > 50
    mismatch = [f for f in fa if not filecmp.cmp(a / f, b / f, shallow=False)]
    assert mismatch == []


def test_nothing_to_do_after_a_run(built):
    a, _ = built
    assert smk(a) == []


def test_every_per_image_file_is_a_target(built):
    a, _ = built
    img = pd.read_csv(a / "results/tiny/tables/images.csv")
    one = f"results/tiny/preprocessed/{img['image_id'].iloc[0]}.png"
    os.remove(a / one)
    planned = smk(a, one)
    shard = img["shard"].iloc[0]
    assert one in planned and f"results/tiny/preprocess/shards/{shard}.csv" in planned
    assert not any("tables/" in p for p in planned)  # only the batch that makes it
    smk(a, one, run=True)


def test_changing_one_dicom_reruns_only_its_batch(built):
    a, _ = built
    img = pd.read_csv(a / "results/tiny/tables/images.csv")
    r = img.iloc[0]
    ds = dcmread(a / r["source_path"])
    arr = ds.pixel_array.copy()
    arr[10:20, 10:20] = arr.max() // 2
    ds.PixelData = arr.tobytes() if not ds.file_meta.TransferSyntaxUID.is_compressed else None
    if ds.PixelData is None:
        ds.compress(ds.file_meta.TransferSyntaxUID, arr)
    ds.save_as(a / r["source_path"])
    planned = set(smk(a))
    shard_members = img.loc[img["shard"] == r["shard"], "image_id"]
    allowed = {f"results/tiny/preprocess/shards/{r['shard']}.csv"}
    allowed |= {f"results/tiny/{k}/{i}.png" for k in ("preprocessed", "breast_masks") for i in shard_members}
    # rejected members of the shard also have marker targets
    listing = pd.read_csv(a / "results/tiny/preprocess/shards" / f"{r['shard']}.csv")
    allowed |= {f"results/tiny/{k}/{i}.png" for k in ("preprocessed", "breast_masks") for i in listing["image_id"]}
    allowed |= {f"results/tiny/tables/{n}.csv" for n in ("images", "findings", "rejected", "resized_images_manifest",
                                                          "training_resized_images", "test_resized_images")}
    allowed |= {"results/tiny/qc/breast_mask_iou.csv", "results/tiny/qc/breast_mask_iou_summary.csv",
                "results/tiny/qc/difficulty.json"}  # the intensity baseline reads the canvases
    allowed |= {p for p in planned if p.startswith("results/report/")}  # the report summarises the tables
    assert f"results/tiny/preprocessed/{r['image_id']}.png" in planned
    assert planned <= allowed
    assert not any(p.startswith("data/") for p in planned)
    other_shards = set(img["shard"]) - {r["shard"]}
    assert not any(f"shards/{s}.csv" in p for s in other_shards for p in planned)
    smk(a, run=True)


def test_changing_a_preprocessing_parameter_reruns_only_its_users(built):
    a, _ = built
    cfg = copy.deepcopy(TINY_CONFIG)
    cfg["preprocess"]["mask_threshold"] = 0.06
    (a / "config/config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    try:
        planned = smk(a)
        assert any("/preprocess/shards/" in p for p in planned)
        assert not any(p.startswith("data/") for p in planned)  # the generator does not use it
    finally:
        (a / "config/config.yaml").write_text(yaml.safe_dump(TINY_CONFIG, sort_keys=False))
    assert smk(a) == []


def test_library_code_changes_invalidate_the_rules_that_use_them(built):
    _, b = built
    f = b / "lib/mammoflow/preprocess/breast_mask.py"
    original = f.read_text()
    f.write_text(original + "\n# a change of the breast-mask code\n")
    try:
        planned = smk(b)
        shards = {p for p in planned if "/preprocess/shards/" in p}
        assert len(shards) == len(list((b / "results/tiny/preprocess/shards").glob("*.csv")))
        assert "results/tiny/qc/breast_mask_iou.csv" in planned
        assert not any(p.startswith("data/") for p in planned)  # the generator does not import it
    finally:
        f.write_text(original)
    assert smk(b) == []
