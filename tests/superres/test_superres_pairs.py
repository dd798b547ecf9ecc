"""LR/HR pairs: 16-bit, scale apart, breast tissue, lesion over-sampling, patient-level splits, bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mammoflow.core import rejections
from mammoflow.core.config import schema_defaults
from mammoflow.core.errors import ConfigError, ImageRejected
from mammoflow.io import png
from mammoflow.pipelines.superres import data
from mammoflow.pipelines.superres.model import SRResNet, load_generator, save_model
from sr_synth import make_tables


def _pairs(tmp_path, **kw):
    ip, fp = make_tables(tmp_path, flat=True, tiny_breast=True)
    cfg = schema_defaults("superres", "pairs", hr_size=32, per_image=8, **kw)
    df = data.make_pairs(ip, fp, str(tmp_path / "pairs"), str(tmp_path / "pairs.csv"), str(tmp_path / "rej.csv"),
                         cfg, schema_defaults("superres", "clahe"), seed=3)
    return df, rejections.read(tmp_path / "rej.csv")


def test_pairs_are_16_bit_scale_apart_in_the_breast_with_patient_splits(tmp_path):
    df, _ = _pairs(tmp_path)
    assert len(df) > 50
    for r in df.head(10).itertuples():
        hr, lr, m = png.read(r.hr_path), png.read(r.lr_path), png.read(r.mask_path)
        assert hr.dtype == lr.dtype == np.uint16 and hr.shape == (32, 32) and lr.shape == (8, 8)
        assert (m > 0).mean() >= 0.6 and r.hr_path.endswith(f"/{r.split}/hr/{r.pair_id}.png")
    assert not set(df.loc[df.split == "training", "patient_id"]) & set(df.loc[df.split == "test", "patient_id"])
    # lesion over-sampling: half of an image's pairs are centred on its findings
    les = df[df.kind == "lesion"]
    assert (les.n_specks > 0).mean() > 0.9 > (df[df.kind == "random"].n_specks > 0).mean()
    sp = np.asarray(json.loads(les.iloc[0].specks))
    assert ((sp >= 0) & (sp < 32)).all()


def test_bad_input_gives_rejection_rows_naming_the_file_and_the_run_goes_on(tmp_path):
    df, rej = _pairs(tmp_path)
    reasons = [r["reason"] for r in rej]
    assert any("flat HR patch" in x and "img0CC.png" in x for x in reasons)
    assert any("outside the breast" in x and "img0MLO.png" in x for x in reasons)
    assert "img0CC" not in set(df.image_id) and "img0MLO" not in set(df.image_id) and len(set(df.image_id)) == 10


def test_degradations_and_scale_checks(tmp_path):
    hr = (np.random.default_rng(0).random((32, 32)) * 60000).astype(np.uint16)
    for deg, s in (("bicubic", 4), ("gaussian", 2)):
        cfg = data.PairConfig(32, s, deg, 1.5, 1, 0.5, 0.5, 1.0, 1)
        lr = data.degrade(hr, cfg)
        assert lr.dtype == np.uint16 and lr.shape == (32 // s, 32 // s)
        assert data.upsample_bicubic(lr, s).shape == hr.shape
    with pytest.raises(ImageRejected, match="lr_bad.png.*not x4 apart"):
        data.check_pair(hr, hr[:10, :10], 4, "lr_bad.png")
    save_model(SRResNet(2, 8, 1), tmp_path / "g2.pth", {"kind": "generator", "scale": 2, "channels": 8, "blocks": 1,
                                                        "skip": "none"})
    with pytest.raises(ConfigError, match="g2.pth.*x2 but the pairs are x4"):
        load_generator(tmp_path / "g2.pth", 4)
    assert load_generator(tmp_path / "g2.pth", 2).scale == 2


def test_clahe_keeps_16_bits(tmp_path):
    ip, _ = make_tables(tmp_path, n_patients=1)
    path = pd.read_csv(ip).png_path[0]
    out = data.load_canvas(path, data.ClaheConfig(True, 0.01, 4))
    raw = png.read(path)
    assert out.dtype == np.uint16 and out.shape == raw.shape and len(np.unique(out)) > 1000
    assert not np.array_equal(out, raw)


def test_same_seed_gives_byte_identical_pairs(tmp_path):
    ip, fp = make_tables(tmp_path / "d", n_patients=2)
    outs = []
    for k in ("a", "b"):
        data.make_pairs(ip, fp, str(tmp_path / k / "pairs"), str(tmp_path / k / "pairs.csv"), str(tmp_path / k / "r.csv"),
                        schema_defaults("superres", "pairs", hr_size=32, per_image=4),
                        schema_defaults("superres", "clahe"), seed=9)
        df = pd.read_csv(tmp_path / k / "pairs.csv")
        outs.append([(tmp_path / k / "pairs.csv").read_text().replace(f"/{k}/", "/")]
                    + [open(p, "rb").read() for p in df["hr_path"]] + [open(p, "rb").read() for p in df["lr_path"]])
    assert outs[0] == outs[1] and len(outs[0]) > 10
