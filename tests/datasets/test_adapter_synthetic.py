"""Every synthetic stand-in: the parse-time plan is what its adapter reads; the same config, the same bytes."""
from __future__ import annotations

import filecmp

import pandas as pd
import pytest

from mammoflow.datasets import listing
from adapter_util import synth_block

TINY = {"cbis": {"n_patients": 2, "height": 128, "width": 96, "inject_bad": True},
        "miniddsm": {"n_cases": 1, "height": 128, "width": 96, "inject_bad": True},
        "inbreast": {"n_patients": 1, "height": 128, "width": 104, "inject_bad": True},
        "mias": {"n_women": 2, "size": 128, "inject_bad": True},
        "tissue": {"n_images": 3, "height": 128, "width": 64, "inject_bad": True}}


@pytest.mark.parametrize("fmt", sorted(TINY))
def test_the_parse_time_listing_is_what_the_adapter_reads(fmt, tmp_path):
    cfg = listing.synth_config(fmt, synth_block(fmt, **TINY[fmt]))
    root = tmp_path / fmt
    listing.synthetic(fmt).write(cfg, root)
    planned = listing.synthetic(fmt).listing(cfg, root).sort_values("source").reset_index(drop=True)
    read = listing.adapter(fmt).listing(root).sort_values("source").reset_index(drop=True)
    pd.testing.assert_frame_equal(planned, read)
    assert (planned["listing_reason"] != "").any() and (planned["listing_reason"] == "").sum() >= 3
    written = sorted(str(p) for p in root.rglob("*") if p.is_file())
    assert written == sorted(f for fs in listing.synthetic(fmt).expected_outputs(cfg, root).values() for f in fs)


@pytest.mark.parametrize("fmt", sorted(TINY))
def test_same_config_same_bytes(fmt, tmp_path):
    cfg = listing.synth_config(fmt, synth_block(fmt, **TINY[fmt]))
    for d in ("a", "b"):
        listing.synthetic(fmt).write(cfg, tmp_path / d)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert len(files) > 10
    assert [str(f) for f in files if not filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False)] == []


@pytest.mark.parametrize("fmt", sorted(TINY))
def test_another_seed_another_tree(fmt, tmp_path):
    one = listing.synth_config(fmt, synth_block(fmt, **TINY[fmt]))
    two = listing.synth_config(fmt, synth_block(fmt, **{**TINY[fmt], "seed": 99}))
    listing.synthetic(fmt).write(one, tmp_path / "a")
    listing.synthetic(fmt).write(two, tmp_path / "b")
    gt = sorted((tmp_path / "a" / "ground_truth").glob("*_breast.png"))[0].name
    other = tmp_path / "b" / "ground_truth" / gt
    assert not other.exists() or not filecmp.cmp(tmp_path / "a" / "ground_truth" / gt, other, shallow=False)
