"""GLAM/NYU cropping: the original's values on images with known answers, fast == naive, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.glam import crop as gc
from mammoflow.pipelines.glam import morphology as gm
from mammoflow.core.rejections import read as read_rejected
from mammoflow.datasets.nyu import load_exam_list
from mammoflow.io.png import read as read_png, write as write_png
from prep_shapes import EXAM0, exam0_view, random_mask, to_image

CROP_KEYS = ("window_location", "rightmost_points", "bottommost_points", "distance_from_starting_side")


@pytest.mark.parametrize("view", ["L-CC", "R-CC", "L-MLO", "R-MLO"])
@pytest.mark.parametrize("morphology", ["fast", "naive"])
def test_exam0_values_of_the_original(view, morphology):
    """Designed stand-ins for sample exam 0 give exactly the values seed 003 prints (both orientations)."""
    img = exam0_view(view)
    mode = "left" if view[0] == "R" else "right"
    info = gc.crop_info(img, mode, morphology=morphology)
    for key in CROP_KEYS:
        assert getattr(info, key) == EXAM0[key][view], key
    assert all(type(v) is int for v in info.window_location)


def test_hand_computed_rectangle_both_orientations():
    """A 30x20 block (rows 10..39, cols 0..19) in a 60x50 image, 2 iterations, buffer 5."""
    img = np.zeros((60, 50), np.uint16)
    img[10:40, 0:20] = 1000
    right = gc.crop_info(img, "right", iterations=2, buffer_size=5)
    # opening by a radius-2 diamond rounds the block's corners, bbox stays rows 10..39, cols 0..19 (the
    # left edge is restored because the dilation reaches back to column 0)
    assert right.window_location == (5, 45, 0, 25)
    assert right.distance_from_starting_side == 0
    # bottom row 39 holds cols 2..17 after the opening (corners rounded); crop-relative: y 34
    assert right.bottommost_points == (34, (2, 17))
    # rightmost column 19 (crop width 25), rows 12..37 -> crop rows 7..32; search skips int(40/3)=13 rows
    assert right.rightmost_points == ((13, 32), 19)
    mirrored = np.ascontiguousarray(np.fliplr(img))
    left = gc.crop_info(mirrored, "left", iterations=2, buffer_size=5)
    # block at cols 30..49; buffer only on the left -> left 25; w - x mirror: 25 - (x - 25)
    assert left.window_location == (5, 45, 25, 50)
    assert left.distance_from_starting_side == 0
    assert left.bottommost_points == (34, (3, 18))  # one larger than a zero-based mirror (w - x convention)
    assert left.rightmost_points == ((13, 32), 20)


def test_distance_from_starting_side_and_buffers_at_edges():
    img = np.zeros((40, 40), np.uint16)
    img[0:40, 7:20] = 500  # 7 empty columns at the chest wall (left edge, mode right)
    info = gc.crop_info(img, "right", iterations=1, buffer_size=50)
    assert info.distance_from_starting_side == 7
    assert info.window_location == (0, 40, 7, 40)  # buffer clipped at the image, none at the chest wall
    info_l = gc.crop_info(np.ascontiguousarray(np.fliplr(img)), "left", iterations=1, buffer_size=50)
    assert info_l.distance_from_starting_side == 7
    assert info_l.window_location == (0, 40, 0, 33)


def test_fast_morphology_identical_to_scipy_iterations():
    rng = np.random.default_rng(3)
    for trial in range(120):
        shape = tuple(int(v) for v in rng.integers(12, 70, 2))
        n = int(rng.integers(0, 9))
        m = random_mask(rng, shape)
        e_naive = gm.erode_naive(m, n)
        e_fast, dist = gm.erode_fast(m, n) if n else (m, None)
        assert np.array_equal(e_naive, e_fast), trial
        if not e_naive.any():
            with pytest.raises(gc.CropFailed):
                gm.largest_component_fast(e_fast, dist)
            continue
        comp = gm.largest_component_naive(e_naive)
        comp_fast, (t, b, l, r) = gm.largest_component_fast(e_fast, dist)
        assert np.array_equal(comp, comp_fast), trial
        rows, cols = np.flatnonzero(comp.any(1)), np.flatnonzero(comp.any(0))
        assert (t, b, l, r) == (rows[0], rows[-1], cols[0], cols[-1])
        assert np.array_equal(gm.dilate_naive(comp, n), gm.dilate_fast(comp, n)), trial


def test_fast_crop_values_identical_to_naive_on_random_images():
    rng = np.random.default_rng(11)
    checked = 0
    for trial in range(150):
        shape = tuple(int(v) for v in rng.integers(16, 80, 2))
        img = to_image(random_mask(rng, shape), seed=trial)
        n, buf = int(rng.integers(0, 7)), int(rng.integers(0, 9))
        for mode in ("left", "right"):
            try:
                want = gc.crop_info(img, mode, n, buf, morphology="naive")
            except gc.CropFailed:
                with pytest.raises(gc.CropFailed):
                    gc.crop_info(img, mode, n, buf, morphology="fast")
                continue
            assert gc.crop_info(img, mode, n, buf, morphology="fast") == want, (trial, mode)
            checked += 1
    assert checked > 200


def test_equal_largest_components_pick_the_first_label():
    """Two components of equal size: the original's idxmax takes the lower label (first in raster order)."""
    m = np.zeros((30, 40), bool)
    m[2:8, 25:35] = True  # starts first in raster order
    m[15:21, 3:13] = True
    comp, bounds = gm.largest_component_fast(m)
    assert np.array_equal(comp, gm.largest_component_naive(m))
    assert bounds == (2, 7, 25, 34)


def test_thin_lines_and_labels_are_removed():
    """A breast plus a 6 px scanner line and a small label: erosion removes both, the crop ignores them."""
    img = np.zeros((500, 400), np.uint16)
    yy, xx = np.mgrid[:500, :400]
    img[((yy - 250) / 200.0) ** 2 + (xx / 250.0) ** 2 < 1] = 1500
    img[480:486, :] = 900  # thin line touching the breast
    img[20:40, 350:390] = 4000  # label
    info = gc.crop_info(img, "right")
    assert info.window_location[1] <= 500 and info.window_location[0] >= 0
    top, bottom, left, right = info.window_location
    assert right < 350 + 50 + 1 and bottom < 486 + 50  # label and line are not what sets the box
    assert info == gc.crop_info(img, "right", morphology="naive")


def _write_case(tmp_path, exams, images):
    from mammoflow.datasets.nyu import write_exam_list
    for name, img in images.items():
        write_png(tmp_path / "images" / f"{name}.png", img)
    write_exam_list(exams, tmp_path / "exams.pkl", tmp_path / "exams.json")


def test_crop_exams_rejects_bad_inputs_and_keeps_the_batch(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:700, :450]
    good = to_image(((yy - 350) / 300.0) ** 2 + (xx / 380.0) ** 2 < 1)  # breast facing right
    noisy = good.copy()
    noisy[noisy == 0] = rng.integers(3, 30, size=int((noisy == 0).sum()))
    framed = np.ascontiguousarray(np.fliplr(good))
    framed[:5], framed[-5:], framed[:, :5], framed[:, -5:] = 2000, 2000, 2000, 2000
    tiny = np.zeros((120, 90), np.uint16)
    tiny[20:100, 0:60] = 800
    images = {"0_L-CC": good, "0_R-CC": noisy, "0_L-MLO": tiny, "0_R-MLO": framed}
    exams = [{"horizontal_flip": "NO", "L-CC": ["0_L-CC"], "R-CC": ["0_R-CC"], "L-MLO": ["0_L-MLO", "0_missing"],
              "R-MLO": ["0_R-MLO"], "cancer_label": {"left_malignant": 1}}]
    _write_case(tmp_path, exams, images)
    gc.run(str(tmp_path / "exams.pkl"), str(tmp_path / "images"), str(tmp_path / "out"),
           str(tmp_path / "cropped.pkl"), str(tmp_path / "cropped.json"), str(tmp_path / "rejected.csv"),
           schema_defaults("glam", "crop"))
    cropped = load_exam_list(tmp_path / "cropped.pkl")
    assert cropped[0]["L-CC"] == ["0_L-CC"] and cropped[0]["R-CC"] == [] and cropped[0]["L-MLO"] == []
    assert cropped[0]["R-MLO"] == [] and cropped[0]["cancer_label"] == {"left_malignant": 1}
    for key in CROP_KEYS:
        assert set(cropped[0][key]) == {"L-CC", "R-CC", "L-MLO", "R-MLO"}
        assert len(cropped[0][key]["L-CC"]) == 1 and cropped[0][key]["R-CC"] == []
    rej = {r["image_id"]: r["reason"] for r in read_rejected(tmp_path / "rejected.csv")}
    assert set(rej) == {"0_R-CC", "0_L-MLO", "0_missing", "0_R-MLO"}
    assert "background is not exactly zero" in rej["0_R-CC"] and "0_R-CC.png" in rej["0_R-CC"]
    assert "no breast region survives the erosion" in rej["0_L-MLO"]
    assert "scanner border" in rej["0_R-MLO"]
    assert "cannot read image" in rej["0_missing"]
    # the crop keeps the bit depth and the pixels
    out = read_png(tmp_path / "out" / "0_L-CC.png")
    t, b, l, r = cropped[0]["window_location"]["L-CC"][0]
    assert out.dtype == np.uint16 and np.array_equal(out, good[t:b, l:r])


def test_crop_params_from_config():
    p = gc.CropParams.from_config(schema_defaults("glam", "crop"))  # the schema holds the original's values
    assert (p.iterations, p.buffer_size, p.rightmost_from_ratio, p.morphology) == (100, 50, 1 / 3, "fast")
    with pytest.raises(Exception):
        gc.CropParams.from_config(schema_defaults("glam", "crop", iterationz=3))
    with pytest.raises(Exception):
        gc.CropParams.from_config(schema_defaults("glam", "crop", morphology="magic"))
    with pytest.raises(Exception, match="missing"):
        gc.CropParams.from_config({})


@pytest.mark.slow
def test_fast_crop_is_faster_on_a_large_image():
    """Guard against a silent fallback to the slow path (the 5x floor itself is the benchmark's job)."""
    import time
    yy, xx = np.mgrid[:1500, :1000]
    img = to_image(((yy - 700) / 650.0) ** 2 + (xx / 800.0) ** 2 < 1)
    img[1400:1430, 850:950] = 4000

    def best(morphology):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            info = gc.crop_info(img, "right", morphology=morphology)
            times.append(time.perf_counter() - t0)
        return min(times), info

    t_naive, a = best("naive")
    t_fast, b = best("fast")
    assert a == b
    assert t_naive > 2 * t_fast
