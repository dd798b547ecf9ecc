"""SRResNet learns on held-out pairs (above bicubic, above a shuffled-pair control); speck detector and recall."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from mammoflow.core.config import schema_defaults
from mammoflow.io import png
from mammoflow.pipelines.superres import data, evaluate as ev, train
from mammoflow.pipelines.superres.infer import super_resolve
from mammoflow.pipelines.superres.model import load_generator
from sr_synth import make_tables

torch.set_num_threads(1)


def _psnr_gain(tmp_path, pairs_csv, name):
    mc = schema_defaults("superres", "model", channels=16, blocks=2, skip="bicubic")
    tc = schema_defaults("superres", "train", srresnet_epochs=20, srresnet_lr=1e-3, batch_size=16, samples_per_epoch=320)
    train.run_train("srresnet", pairs_csv, str(tmp_path / f"{name}.pth"), str(tmp_path / f"{name}_history.csv"), mc, tc,
                    4, 0, 1)
    g = load_generator(tmp_path / f"{name}.pth", 4)
    test = pd.read_csv(pairs_csv)
    test = test[test["split"] == "test"]
    lr = np.stack([png.read(p) for p in test.lr_path])
    sr = super_resolve(g, lr)
    gains = []
    for r, s in zip(test.itertuples(), sr):
        hr, m = png.read(r.hr_path), png.read(r.mask_path)
        gains.append(ev.psnr_ssim(hr, s, m)[0] - ev.psnr_ssim(hr, data.upsample_bicubic(png.read(r.lr_path), 4), m)[0])
    return float(np.mean(gains))


def test_srresnet_beats_bicubic_on_held_out_pairs_and_a_shuffled_control_does_not(tmp_path):
    ip, fp = make_tables(tmp_path, n_patients=5, h=128, w=96)
    cfg = schema_defaults("superres", "pairs", hr_size=32, per_image=10)
    data.make_pairs(ip, fp, str(tmp_path / "pairs"), str(tmp_path / "pairs.csv"), str(tmp_path / "rej.csv"), cfg,
                    schema_defaults("superres", "clahe"), seed=1)
    gain = _psnr_gain(tmp_path, str(tmp_path / "pairs.csv"), "real")
    pairs = pd.read_csv(tmp_path / "pairs.csv")
    tr = pairs["split"] == "training"
    perm = np.random.default_rng(0).permutation(np.flatnonzero(tr))
    pairs.loc[tr, "hr_path"] = pairs.loc[perm, "hr_path"].to_numpy()  # HR of another pair: nothing to learn
    pairs.to_csv(tmp_path / "shuffled.csv", index=False)
    control = _psnr_gain(tmp_path, str(tmp_path / "shuffled.csv"), "shuffled")
    # 400 steps of a tiny residual SRResNet: a small but real gain; mismatched pairs learn nothing (docs/superres.md)
    assert gain > 0.1 and gain > control + 0.1, (gain, control)


def test_speck_detector_recall_at_a_fixed_false_positive_rate():
    rng = np.random.default_rng(0)
    img = (20000 + rng.normal(0, 300, (48, 48))).astype(np.float64)
    specks = np.array([[10.0, 12.0], [30.0, 30.0], [40.0, 8.0]])
    for x, y in specks:
        img[int(y) - 1:int(y) + 1, int(x) - 1:int(x) + 1] += 20000
    mask = np.ones_like(img, bool)
    c, s = ev.speck_candidates(img, 3, mask)
    sp, fp = ev.match(c, s, specks, 3.0)
    assert (sp > 10000).all() and (fp < 5000).all()
    blurred = data.upsample_bicubic(data.degrade(img.astype(np.uint16), data.PairConfig(48, 4, "bicubic", 1, 1, 0, 0,
                                                                                        0, 1)), 4)
    cfg = ev.EvalConfig(3, 3.0, 0.0, 0)
    st = {"hr": ev.speck_study([img], [specks], [mask], cfg), "bicubic": ev.speck_study([blurred], [specks], [mask], cfg)}
    out = ev.calcification_recall(st, 1, cfg)
    assert out["hr"]["recall_at_fp"] == 1.0
    assert out["bicubic"]["recall_at_hr_threshold"] < 1.0
    assert ev.recall_at_fp(np.array([5.0, 3.0, 1.0]), np.array([4.0, 2.0]), 2, 0.5) == (2 / 3, 2.0)


def test_tophat_option_keeps_specks_and_drops_smooth_structure():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 8:24, 8:24] = 0.5  # a broad plateau: no top-hat response inside it
    x[..., 4, 4] = 1.0  # a one-pixel speck: kept whole
    th = train.white_tophat(x, 3)
    assert float(th[..., 4, 4]) == 1.0 and float(th[..., 10:22, 10:22].abs().max()) == 0.0
    x.requires_grad_(True)
    train.white_tophat(x, 3).sum().backward()
    assert float(x.grad[..., 4, 4]) > 0  # differentiable where it matters
    hr, sr = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    model = lambda lr: sr  # noqa: E731  (a fixed "SR" output: compare the two losses on it)
    gen = torch.Generator().manual_seed(0)
    plain = train.SRResNetTask().loss(model, (hr, hr, None), gen)
    gen = torch.Generator().manual_seed(0)
    weighted = train.SRResNetTask(5.0, 2).loss(model, (hr, hr, None), gen)
    assert float(weighted) > float(plain)
