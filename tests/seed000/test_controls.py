"""Control warps of the whole-image experiment: oracle boxes (decoys for normals) and random heat."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mammoflow.io import png, probmaps
from mammoflow.pipelines.nus import controls, warp
from seed000_synth import synth_canvas
from test_heatmap import fake_checkpoint
from test_whole_image import shard_tables, tiny_set


def test_box_heat_peaks_on_the_box_and_is_zero_without_boxes():
    h = controls.box_heat([(40, 20, 60, 36)], 128, 96, 32, 24)
    assert h.shape == (32, 24) and h.max() == 1.0
    ys, xs = np.nonzero(h == 1.0)
    cy, cx = ys * 127 / 31, xs * 95 / 23  # cell centres on the canvas (align corners)
    assert (cy >= 40).all() and (cy <= 60).all() and (cx >= 20).all() and (cx <= 36).all()
    assert h[0, 0] == 0 and h[-1, -1] == 0
    assert not controls.box_heat([], 128, 96, 32, 24).any()
    # a box thinner than the cell spacing still gets a cell
    assert controls.box_heat([(50.2, 30.2, 50.4, 30.4)], 128, 96, 8, 6).max() == 1.0


def test_oracle_warp_magnifies_the_lesion_box():
    H, W = 128, 96
    box = (40, 20, 60, 36)
    sal = warp.saliency_mass(controls.box_heat([box], H, W, 32, 24), 20.0)
    full = warp.upsample_grid(warp.blended_grid(sal, 15.0, 1.0), H, W)
    mask = np.zeros((H, W))
    mask[box[0]:box[2] + 1, box[1]:box[3] + 1] = 1
    before, after = warp.area_share(mask, full)
    assert after > 1.5 * before


def test_decoy_box_lies_in_the_breast_and_is_reproducible():
    canvas, breast = synth_canvas(np.random.default_rng(0), 128, 96, [], True)
    for iid in ("a", "b", "c"):
        b1 = controls.decoy_box(canvas, (20, 16), controls.image_rng(3, iid))
        b2 = controls.decoy_box(canvas, (20, 16), controls.image_rng(3, iid))
        assert b1 == b2 and b1[2] - b1[0] == 20 and b1[3] - b1[1] == 16
        assert breast[int((b1[0] + b1[2]) / 2), int((b1[1] + b1[3]) / 2)] == 255
    assert controls.decoy_box(canvas, (20, 16), controls.image_rng(3, "a")) != \
        controls.decoy_box(canvas, (20, 16), controls.image_rng(4, "a"))


def test_typical_box_is_the_median_located_size():
    f = pd.DataFrame({"image_id": ["a", "b", "c", "d"], "rymin": [0, 10, 5, np.nan], "rymax": [10, 40, 25, np.nan],
                      "rxmin": [0, 0, 0, np.nan], "rxmax": [4, 8, 6, np.nan]})
    assert controls.typical_box(f) == (20.0, 6.0)


def test_permuted_prob_keeps_the_values_and_the_outside():
    canvas = np.zeros((96, 64), np.uint16)
    canvas[:, :32] = 1000
    row = {"origin_y": 15.5, "origin_x": 15.5, "stride": 8, "rows": 9, "cols": 5, "height": 96, "width": 64,
           "patch_size": 32, "image_id": "x"}
    prob = np.random.default_rng(1).random((9, 5))
    out = controls.permuted_prob(prob, row, canvas, controls.image_rng(0, "x"))
    cx = np.rint(15.5 + np.arange(5) * 8).astype(int)
    inside = np.broadcast_to((canvas[0, cx] > 0)[None, :], (9, 5))
    assert np.array_equal(out[~inside], prob[~inside])
    assert sorted(out[inside]) == pytest.approx(sorted(prob[inside]))
    assert not np.array_equal(out[inside], prob[inside])


@pytest.mark.slow
def test_control_shard_oracle_decoys_and_random_heat(tmp_path):
    df = tiny_set(tmp_path, n_train=8, n_test=4)
    ck = fake_checkpoint(tmp_path / "ck.pt", patch_size=64)
    heat, _ = shard_tables(tmp_path, df, ck)
    table = pd.read_csv(heat[0], dtype={"image_id": str})
    pos = df[df["label"] == 1]
    # canvas boxes of the positives: find their bright blob (the lesion) in each canvas
    fnd = []
    for _, r in pos.iterrows():
        img = png.read_unit(r["png_path"], np.uint16)
        y, x = np.unravel_index(np.argmax(img), img.shape)
        fnd.append({"image_id": r["image_id"], "rymin": y - 8, "rxmin": x - 8, "rymax": y + 8, "rxmax": x + 8})
    pd.DataFrame(fnd).to_csv(tmp_path / "findings.csv", index=False)
    pngs = dict(zip(df["image_id"], df["png_path"]))
    tables = {k: str(tmp_path / "cw" / k / "s000.csv") for k in controls.CONTROLS}
    args = (controls.CONTROLS, heat[0], str(tmp_path / "findings.csv"), pngs, 20, 15, 1.0, 32,
            str(tmp_path / "cw" / "{control}" / "{split}" / "{image_id}.png"), tables, 5)
    controls.run_shard(*args)
    oracle = pd.read_csv(tables["oracle"], dtype={"image_id": str}).set_index("image_id")
    rnd = pd.read_csv(tables["random_heat"], dtype={"image_id": str}).set_index("image_id")
    assert set(oracle.index) == set(table["image_id"]) == set(rnd.index)
    assert (oracle.loc[pos["image_id"], "source"] == "boxes").all()
    assert (oracle.drop(pos["image_id"])["source"] == "decoy").all()
    assert (rnd["source"] == "permuted").all() and (oracle["status"] == "ok").all()
    # normals are warped about as strongly as lesion images (being warped does not give the label away)
    assert oracle.drop(pos["image_id"])["max_shift"].median() > 0.5 * oracle.loc[pos["image_id"], "max_shift"].median()
    # the oracle warp magnifies each positive's lesion box
    for f in fnd:
        r = table.set_index("image_id").loc[f["image_id"]]
        H, W = int(r["height"]), int(r["width"])
        box = [(f["rymin"], f["rxmin"], f["rymax"], f["rxmax"])]
        gh, gw = warp.grid_shape(H, W, 32)
        sal = warp.saliency_mass(controls.box_heat(box, H, W, gh, gw), 20.0)
        full = warp.upsample_grid(warp.blended_grid(sal, 15.0, 1.0), H, W)
        mask = np.zeros((H, W))
        mask[max(f["rymin"], 0):f["rymax"] + 1, max(f["rxmin"], 0):f["rxmax"] + 1] = 1
        before, after = warp.area_share(mask, full)
        assert after > 1.3 * before
        out = png.read_unit(oracle.loc[f["image_id"], "warp_path"], np.uint16)
        ref = warp.sample(png.read_unit(pngs[f["image_id"]], np.uint16), full).numpy()
        assert np.abs(out - ref).max() < 1e-4
    # the random-heat saliency is built from the image's own map values
    r0 = table.iloc[0]
    canvas = png.read_unit(pngs[r0["image_id"]], np.uint16)
    perm = controls.permuted_prob(probmaps.of_row(r0), r0, canvas, controls.image_rng(5, r0["image_id"]))
    assert sorted(perm.ravel()) == pytest.approx(sorted(probmaps.of_row(r0).ravel()))
    # reproducible: a second run writes identical tables and images
    first = {p: p.read_bytes() for p in sorted((tmp_path / "cw").rglob("*.*"))}
    controls.run_shard(*args)
    assert {p: p.read_bytes() for p in sorted((tmp_path / "cw").rglob("*.*"))} == first
