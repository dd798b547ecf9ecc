"""Optimal centres (CC and MLO rules) and the test-time window extraction of the NYU pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from mammoflow.pipelines.glam import crop as gc
from mammoflow.pipelines.glam import centers as oc
from mammoflow.core.rejections import read as read_rejected
from mammoflow.datasets.nyu import load_exam_list, write_exam_list
from mammoflow.io.png import write as write_png
from prep_shapes import EXAM0, exam0_view


@pytest.mark.parametrize("view", ["L-CC", "R-CC", "L-MLO", "R-MLO"])
def test_exam0_best_centers_of_the_original(view):
    img = exam0_view(view)
    info = gc.crop_info(img, "left" if view[0] == "R" else "right")
    t, b, l, r = info.window_location
    cropped = oc.flip_image(img[t:b, l:r], view, "NO")
    center = oc.best_center(cropped, view, info.rightmost_points[1], info.bottommost_points[0], (2944, 1920))
    assert center == EXAM0["best_center"][view]


def test_cc_search_maximises_pixels_then_closest_to_centre():
    # rows 6..8 non-zero; window 4x4; candidates y 2..8; x fixed at rightmost 5 - 2 - 1 = 2
    img = np.zeros((10, 6), np.uint16)
    img[6:9, :] = 7
    # window at y covers rows y-2..y+1: y=7 and y=8 both hold the 3 rows; 7 is closer to com 5
    assert oc.best_center(img, "L-CC", rightmost_x=5, bottommost_y=8, window=(4, 4)) == (7, 2)


def test_cc_tie_at_equal_distance_takes_the_smaller_row():
    img = np.zeros((11, 6), np.uint16)
    img[[0, 1, 8, 9], :] = 1
    # y=2 covers rows 0..3 (2 rows), y=8 rows 6..9 (2), y=9 rows 7..10 (2); com 5: y=2 and y=8 tie at 3
    assert oc.best_center(img, "R-CC", rightmost_x=5, bottommost_y=9, window=(4, 4)) == (2, 2)


def test_cc_short_image_keeps_the_image_centre_row():
    img = np.ones((7, 30), np.uint16)
    assert oc.best_center(img, "L-CC", rightmost_x=25, bottommost_y=6, window=(10, 8)) == (3, 25 - 4 - 1)


def test_mlo_rule_uses_the_last_row_of_the_rightmost_window_columns():
    img = np.zeros((20, 10), np.uint16)
    img[0:16, 0:6] = 5  # tissue down to row 15, but only in the left columns
    img[0:13, 6:10] = 5  # the rightmost 4 columns end at row 12
    # window (6, 4): y = min(15, 12) - 3 - 1 = 8, x = 9 - 2 - 1 = 6
    assert oc.best_center(img, "L-MLO", rightmost_x=9, bottommost_y=15, window=(6, 4)) == (8, 6)
    # the bottommost point wins when it is higher
    assert oc.best_center(img, "L-MLO", rightmost_x=9, bottommost_y=10, window=(6, 4)) == (6, 6)


def _reference_cc(img, rightmost_x, window):
    """Independent brute force of the documented CC rule (sum of non-zero pixels per candidate row)."""
    H, W = img.shape
    h, w = window
    com = (H // 2, W // 2)
    cx = rightmost_x - w // 2 - 1
    ys = range(h // 2, H - (h - h // 2) + 1) if H > h else [com[0]]
    best, best_key = None, None
    for y in ys:
        top, left = y - h // 2, cx - w // 2
        bottom, right = y + h - h // 2, cx + w - w // 2
        if left < 0:  # windows leaving the image on the left are shifted right, then clipped
            right, left = right - left, 0
        s = int((img[max(top, 0):min(bottom, H), left:min(right, W)] > 0).sum())
        key = (-s, (y - com[0]) ** 2 + (cx - com[1]) ** 2, y)
        if best_key is None or key < best_key:
            best, best_key = (y, cx), key
    return best


def test_cc_search_matches_brute_force_on_random_images():
    rng = np.random.default_rng(5)
    for trial in range(60):
        H, W = int(rng.integers(8, 40)), int(rng.integers(5, 30))
        img = (rng.random((H, W)) < rng.uniform(0.05, 0.6)).astype(np.uint16) * 9
        window = (int(rng.integers(2, 20)), int(rng.integers(2, 20)))
        rx = int(rng.integers(0, W))
        assert oc.best_center(img, "L-CC", rx, H - 1, window) == _reference_cc(img, rx, window), trial


def _reference_window(image, view, center, window, flipped):
    """The documented padding/shift rules written out with np.pad."""
    img = np.fliplr(image) if flipped else image
    H, W = img.shape
    h, w = window
    top, left = center[0] - h // 2, center[1] - w // 2
    pt = pb = pr = 0
    if H < h:
        pad = h - H
        pt = pad // 2 if "CC" in view else 0
        pb = pad - pt
        top = 0
    if W < w:
        pr, left = w - W, 0
    img = np.pad(img, ((pt, pb), (0, pr)))
    top = min(max(top, 0), img.shape[0] - h)
    left = min(max(left, 0), img.shape[1] - w)
    return img[top:top + h, left:left + w]


@pytest.mark.parametrize("view", ["L-CC", "R-CC", "L-MLO", "R-MLO"])
def test_window_extraction_padding_and_shift(view):
    rng = np.random.default_rng(len(view))
    for shape, center in [((25, 10), (12, -7)), ((50, 40), (45, 38)), ((9, 50), (-3, 0)), ((41, 17), (20, 8))]:
        img = rng.integers(0, 4095, size=shape).astype(np.uint16)
        win, place = oc.extract_window(img, view, center, (30, 20), "NO", normalize=False)
        ref = _reference_window(img.astype(np.float32), view, center, (30, 20), view[0] == "R")
        assert win.shape == (30, 20) and win.dtype == np.float32
        assert np.array_equal(win, ref), (shape, center)


def test_cc_pads_equally_mlo_at_the_bottom():
    img = np.full((25, 20), 100, np.uint16)
    _, cc = oc.extract_window(img, "L-CC", (12, 9), (30, 20))
    _, mlo = oc.extract_window(img, "L-MLO", (12, 9), (30, 20))
    assert (cc.pad_top, cc.pad_bottom) == (2, 3)  # int(5 / 2) on top
    assert (mlo.pad_top, mlo.pad_bottom) == (0, 5)


def test_standardisation():
    img = np.arange(600, dtype=np.uint16).reshape(30, 20)
    win, _ = oc.extract_window(img, "R-MLO", (15, 10), (30, 20))
    assert win.dtype == np.float32
    assert abs(float(win.mean())) < 1e-4 and abs(float(win.std()) - 1) < 1e-4
    flat, _ = oc.extract_window(np.zeros((30, 20), np.uint16), "L-CC", (15, 10), (30, 20))
    assert np.all(flat == 0)


@pytest.mark.parametrize("view,flip", [("L-CC", "NO"), ("R-CC", "NO"), ("R-MLO", "YES"), ("L-MLO", "YES")])
def test_mask_mapping_from_original_coordinates(view, flip):
    rng = np.random.default_rng(1)
    original = np.zeros((60, 45), np.uint8)
    window_location = (5, 55, 3, 40)
    ys, xs = [10, 30, 50], [5, 20, 38]
    original[ys, xs] = 255
    placement = oc.window_placement((50, 37), view, (20, 10), (40, 30), flip)
    win = oc.mask_to_window(original, window_location, view, (20, 10), (40, 30), flip)
    wy, wx = oc.original_to_window(np.array(ys), np.array(xs), window_location, placement)
    inside = (wy >= 0) & (wy < 40) & (wx >= 0) & (wx < 30)
    assert inside.any()
    assert np.all(win[wy[inside], wx[inside]] == 255)
    assert int((win > 0).sum()) == int(inside.sum())
    # and the same mapping moves image pixels: a mask pixel lands on the same window pixel as its image pixel
    image = rng.integers(1, 4095, size=(60, 45)).astype(np.uint16)
    t, b, l, r = window_location
    wimg, _ = oc.extract_window(image[t:b, l:r], view, (20, 10), (40, 30), flip, normalize=False)
    assert np.array_equal(wimg[wy[inside], wx[inside]], image[np.array(ys)[inside], np.array(xs)[inside]])


def test_add_centers_dataset_level(tmp_path):
    img = exam0_view("L-MLO")[::4, ::4].copy()
    info = gc.crop_info(img, "right", iterations=20, buffer_size=10)
    t, b, l, r = info.window_location
    write_png(tmp_path / "crops" / "1_L-MLO.png", img[t:b, l:r])
    meta = {k: {"L-CC": [], "R-CC": [], "L-MLO": [], "R-MLO": []} for k in gc.__dict__["CropInfo"].__dataclass_fields__}
    exam = {"horizontal_flip": "NO", "L-CC": [], "R-CC": [], "L-MLO": ["1_L-MLO", "1_gone"], "R-MLO": []}
    for k in meta:
        meta[k]["L-MLO"] = [getattr(info, k), getattr(info, k)]
    exam.update(meta)
    write_exam_list([exam], tmp_path / "cropped.pkl")
    oc.run(str(tmp_path / "cropped.pkl"), str(tmp_path / "crops"), str(tmp_path / "data.pkl"),
           str(tmp_path / "data.json"), str(tmp_path / "rej.csv"), window=[736, 480])
    data = load_exam_list(tmp_path / "data.pkl")
    assert data[0]["L-MLO"] == ["1_L-MLO"]
    assert data[0]["window_location"]["L-MLO"] == [info.window_location]
    y, x = data[0]["best_center"]["L-MLO"][0]
    assert (y, x) == (info.bottommost_points[0] - 368 - 1, info.rightmost_points[1] - 240 - 1)
    assert [r["image_id"] for r in read_rejected(tmp_path / "rej.csv")] == ["1_gone"]
