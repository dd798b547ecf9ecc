"""One short stage-1 fold on the real tiryakiv tissue set (skipped when the fixture is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.cascade import data, segtrain

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [Path(os.environ["MAMMOFLOW_SHARED_DATA"])] if os.environ.get("MAMMOFLOW_SHARED_DATA") else [
    REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"]


def _root() -> Path:
    for c in CANDIDATES:
        if (c / "tissue_tiryakiv" / "train_valid" / "fgt_seg").is_dir():
            return c / "tissue_tiryakiv" / "train_valid"
    pytest.skip(f"real tissue fixture absent (looked in {[str(c) for c in CANDIDATES]})")


def test_short_real_fold_beats_all_background(tmp_path):
    items = data.folder_items(_root())
    assert len(items) == 60
    p = data.load_tissue(items[:24], (64, 32), "test", data.raw_label_reader)
    assert not p.rejected and all(set(np.unique(m)) <= {0, 1, 2, 3} for m in p.masks)
    assert any((m == 0).any() for m in p.masks) and any((m == 2).any() for m in p.masks)  # 64 = background
    tr, te = segtrain.to_tensors(p.images[:16], p.masks[:16]), segtrain.to_tensors(p.images[16:], p.masks[16:])
    cfg = segtrain.StageConfig.from_config(schema_defaults("cascade", "stage1", height=64, width=32, epochs=4,
                                                           batch_size=4))
    model, _ = segtrain.fit_stage("tissue", tr, None, cfg, "aca_resunet", "none", tmp_path, seed=0)
    pred = segtrain.predict_logits(model, te.tensors[0], 8, torch.device("cpu")).argmax(1).numpy()
    truth = te.tensors[1].numpy()
    got = segtrain.tissue_scores(pred, truth)
    trivial = segtrain.tissue_scores(np.zeros_like(truth), truth)
    assert got["dice_mean"] > trivial["dice_mean"] + 0.15, (got, trivial)  # measured 0.40 vs 0.14 (4 epochs)
    assert got["dice_background"] > 0.6 and got["dice_adipose"] > 0.4, got
