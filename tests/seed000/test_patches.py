"""S/S10 patch sampling: overlap test, tissue check, finding avoidance, per-image determinism, rejections."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.nus import patches as P

def _patches(**kw) -> P.PatchConfig:
    """Patch-sampling settings: the schema defaults with overrides."""
    return P.PatchConfig.from_config(schema_defaults("nus", "patches", **kw))


CFG = _patches(size=64, nb_abn=10, nb_bkg=10, min_tissue=0.5, normal_bkg_s=1, normal_bkg_s10=4)


def _dirs(root: Path) -> dict:
    return {(sp, st): root / sp / st / "s000" for sp in P.SPLITS for st in P.SETS}


def _run(ip, fp, out: Path, ids=None, cfg=CFG, seed=3):
    ids = ids if ids is not None else pd.read_csv(ip, dtype=str)["image_id"].tolist()
    tab = P.run_shard(ip, fp, ids, _dirs(out), out / "shard.csv", out / "rej.csv", cfg, seed=seed)
    return tab, pd.read_csv(out / "rej.csv", dtype=str, keep_default_na=False)


def test_overlap_rule():
    roi_small = (100, 100, 110, 110)  # fully inside the patch: |P&R|/|R| = 1
    assert P.overlap_ok(P.patch_rect(105, 105, 64), roi_small, 0.9)
    assert not P.overlap_ok(P.patch_rect(105, 160, 64), roi_small, 0.9)  # no overlap at all
    roi_big = (0, 0, 300, 300)  # lesion larger than the patch: passes when it fills the patch
    assert P.overlap_ok(P.patch_rect(150, 150, 64), roi_big, 0.9)
    assert not P.overlap_ok(P.patch_rect(150, 295, 64), roi_big, 0.9)  # mostly outside the lesion
    half = (100, 100, 110, 110)  # half of the lesion inside the patch: 0.5
    p = (100, 105, 164, 169)
    assert P.intersection(p, half) == 50
    assert P.overlap_ok(p, half, 0.4) and not P.overlap_ok(p, half, 0.5)


def test_crop_is_zero_padded_at_borders():
    img = np.arange(1, 101, dtype=np.uint16).reshape(10, 10)
    c = P.crop(img, 0, 0, 6)
    assert c.shape == (6, 6)
    assert (c[:3, :] == 0).all() and (c[:, :3] == 0).all()
    assert (c[3:, 3:] == img[:3, :3]).all()
    assert (P.crop(img, 5, 5, 4) == img[3:7, 3:7]).all()


def test_tissue_map_and_free_centres_match_brute_force():
    rng = np.random.default_rng(0)
    mask = (rng.random((30, 26)) > 0.4).astype(np.uint8) * 255
    size = 8
    tm = P.tissue_map(mask, size)
    boxes = [(5, 6, 9, 12), (20, 2, 23, 4)]
    free = P.free_centres(mask.shape, boxes, size, margin=1)
    for cy in range(30):
        for cx in range(26):
            y0, x0, y1, x1 = P.patch_rect(cy, cx, size)
            inside = y0 >= 0 and x0 >= 0 and y1 <= 30 and x1 <= 26
            want = (mask[y0:y1, x0:x1] > 0).mean() if inside else 0.0
            assert tm[cy, cx] == pytest.approx(want)
            grown = [(a - 1, b - 1, c + 1, d + 1) for a, b, c, d in boxes]
            assert free[cy, cx] == all(P.intersection((y0, x0, y1, x1), g) == 0 for g in grown)


def test_relaxation_after_1000_rejections():
    box = (100, 50, 130, 150)  # 30 x 100 box: best ratios with a 64 patch are 0.64 and 0.47
    cfg = _patches(size=64)
    assert not any(P.overlap_ok(P.patch_rect(cy, cx, 64), box, 0.9) for cy in range(100, 130) for cx in range(50, 150))
    rng = np.random.default_rng(1)
    cents = P.sample_abnormal(box, 10, cfg, rng)
    assert len(cents) == 10
    assert all(box[0] <= cy < box[2] and box[1] <= cx < box[3] for cy, cx in cents)
    assert all(P.overlap_ok(P.patch_rect(cy, cx, 64), box, 0.6 - 1e-9) for cy, cx in cents)


def test_plan_multi_finding_backgrounds_avoid_all_findings_and_contain_tissue():
    rng = np.random.default_rng(5)
    h, w = 256, 200
    mask = np.zeros((h, w), np.uint8)
    mask[20:240, :170] = 255
    findings = [{"finding_id": "a", "rxmin": 40, "rymin": 50, "rxmax": 60, "rymax": 70},
                {"finding_id": "b", "rxmin": 100, "rymin": 150, "rxmax": 130, "rymax": 185}]
    pts, problems = P.plan_image("imgX", (h, w), mask, findings, CFG, seed=0, label=1)
    assert problems == []
    boxes = [P.pixel_box(f, (h, w)) for f in findings]
    by = pd.DataFrame([p.__dict__ for p in pts])
    assert (by.query("set=='s' and kind=='roi'").shape[0], by.query("set=='s' and kind=='bkg'").shape[0]) == (2, 2)
    assert by.query("set=='s10' and kind=='abn'").shape[0] == 20
    assert by.query("set=='s10' and kind=='bkg'").shape[0] == 20
    bk = by[by.kind == "bkg"]
    assert len(set(zip(bk.cy, bk.cx))) == len(bk)  # distinct positions
    for p in pts:
        rect = P.patch_rect(p.cy, p.cx, CFG.size)
        if p.kind == "bkg":
            assert p.label == 0
            assert all(P.intersection(rect, b) == 0 for b in boxes)
            y0, x0, y1, x1 = rect
            assert y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w
            assert (mask[y0:y1, x0:x1] > 0).mean() >= CFG.min_tissue
        else:
            assert p.label == 1
            assert P.overlap_ok(rect, boxes[p.finding], CFG.pos_cutoff)


def test_determinism_per_image_id():
    mask = np.full((200, 160), 255, np.uint8)
    f = [{"finding_id": "a", "rxmin": 40, "rymin": 50, "rxmax": 60, "rymax": 70}]
    a, _ = P.plan_image("id1", mask.shape, mask, f, CFG, seed=0, label=1)
    b, _ = P.plan_image("id1", mask.shape, mask, f, CFG, seed=0, label=1)
    c, _ = P.plan_image("id2", mask.shape, mask, f, CFG, seed=0, label=1)
    d, _ = P.plan_image("id1", mask.shape, mask, f, CFG, seed=1, label=1)
    key = lambda ps: [(p.set, p.kind, p.cy, p.cx) for p in ps]  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)  # the seed's RandomState(321) gave every image the same stream
    assert key(a) != key(d)


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.png")}


def test_run_shard_files_tables_and_independence(synth_dataset):
    ip, fp, tmp = synth_dataset
    tab, rej = _run(ip, fp, tmp / "full")
    assert rej.empty, rej
    images = pd.read_csv(ip, dtype=str)
    findings = pd.read_csv(fp, dtype=str)
    # every finding image: 1 roi + 1 bkg per finding in S, 10 abn + 10 bkg per finding in S10
    for iid, g in tab.groupby("image_id"):
        nf = int((findings.image_id == iid).sum())
        s, s10 = g[g.set == "s"], g[g.set == "s10"]
        if nf:
            assert (s.label == 1).sum() == nf and (s.label == 0).sum() == nf
            assert (s10.label == 1).sum() == 10 * nf and (s10.label == 0).sum() == 10 * nf
        else:
            assert (s.label == 0).sum() == 1 and (s10.label == 0).sum() == 4 and (g.label == 1).sum() == 0
    assert tab.path.is_unique
    multi = findings.image_id.value_counts()
    assert (multi > 1).any()  # the fixture has multi-finding images, each processed once
    # the patch files: 16-bit, right size, equal to the crop of the canvas
    row = tab[tab.kind == "abn"].iloc[0]
    patch = cv2.imread(row.path, cv2.IMREAD_UNCHANGED)
    canvas = cv2.imread(images.set_index("image_id").loc[row.image_id, "png_path"], cv2.IMREAD_UNCHANGED)
    assert patch.dtype == np.uint16 and patch.shape == (64, 64)
    assert (patch == P.crop(canvas, int(row.cy), int(row.cx), 64)).all()
    # files go to the split's folder
    assert all(f"/{r.split}/{r.set}/" in r.path for r in tab.itertuples())
    # a shard of a subset writes byte-identical patches for its images (per-image streams)
    sub = images.image_id.tolist()[3:9]
    _run(ip, fp, tmp / "sub", ids=sub)
    full, part = _digests(tmp / "full"), _digests(tmp / "sub")
    assert part and all(full[k] == v for k, v in part.items())


def test_bad_inputs_become_rejection_rows(synth_dataset):
    ip, fp, tmp = synth_dataset
    images = pd.read_csv(ip, dtype=str)
    findings = pd.read_csv(fp, dtype=str)
    # blank mask, missing PNG, box outside the canvas, positive label without a box
    blank = tmp / "blank_mask.png"
    cv2.imwrite(str(blank), np.zeros((192, 160), np.uint8))
    images.loc[1, "mask_path"] = str(blank)
    images.loc[3, "png_path"] = str(tmp / "does_not_exist.png")
    lesion_img = findings.image_id.iloc[0]
    findings.loc[len(findings)] = {"finding_id": "zz_out", "image_id": lesion_img, "study_id": "x",
                                   "split": "training", "rxmin": 900, "rymin": 900, "rxmax": 950, "rymax": 990}
    images.loc[5, "label"] = "1"
    images.to_csv(ip, index=False)
    findings.to_csv(fp, index=False)
    tab, rej = _run(ip, fp, tmp / "out")
    fid = rej.reason.str.extract(r"\[finding (\S+)\]", expand=False).fillna("")
    reasons = dict(zip(rej.image_id + "/" + fid, rej.reason))
    assert "breast mask is empty" in reasons[images.image_id[1] + "/"]
    assert "does_not_exist.png" in reasons[images.image_id[3] + "/"]
    assert "outside the canvas" in reasons[lesion_img + "/zz_out"]
    assert "no safe background" in reasons[images.image_id[5] + "/"]
    # positives of the other finding of that image are still produced, but no background (a lesion is unplaced)
    g = tab[tab.image_id == lesion_img]
    assert (g.label == 1).sum() > 0 and (g.label == 0).sum() == 0
    assert set(tab.image_id) >= set(images.image_id) - {images.image_id[1], images.image_id[3], images.image_id[5]}


def test_aggregate_writes_set_csvs(synth_dataset):
    ip, fp, tmp = synth_dataset
    _run(ip, fp, tmp / "out")
    csvs = {(sp, st): tmp / "patches" / sp / f"{st}.csv" for sp in P.SPLITS for st in P.SETS}
    counts = P.aggregate([tmp / "out" / "shard.csv"], [tmp / "out" / "rej.csv"], csvs, tmp / "patches" / "rejected.csv")
    for (sp, st), path in csvs.items():
        df = pd.read_csv(path)
        assert list(df.columns) == ["path", "label", "image_id", "split", "set"]
        assert len(df) == counts[(sp, st)] > 0
        assert set(df.split) == {sp} and set(df.set) == {st} and set(df.label) == {0, 1}
    assert (tmp / "patches" / "rejected.csv").is_file()
