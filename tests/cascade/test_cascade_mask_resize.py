"""Lesion masks are resized to the stage-2 crop so that small lesions survive and areas stay faithful."""

from __future__ import annotations

import cv2
import numpy as np

from mammoflow.pipelines.cascade.crops import Box, crop_mask, resize_mask


def _specks(shape: tuple[int, int], centres: list[tuple[int, int]], r: int) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    for cy, cx in centres:
        cv2.circle(m, (cx, cy), r, 1, -1)
    return m


def test_small_specks_survive_a_7x_downsample_where_nearest_loses_them():
    # 2-px specks (5 px across) on a 448 x 448 crop -> 64 x 64: each covers < 0.5 of any target pixel.
    centres = [(30 + 37 * i, 41 + 53 * j) for i in range(10) for j in range(7)]
    m = _specks((448, 448), centres, 2)
    near = cv2.resize(m, (64, 64), interpolation=cv2.INTER_NEAREST_EXACT)
    out = resize_mask(m, (64, 64))
    n_out = cv2.connectedComponents(out, connectivity=8)[0] - 1
    assert near.sum() < len(centres)  # the defect: nearest neighbour drops specks
    assert n_out == len(centres), n_out  # every speck is still there, as its own component
    for cy, cx in centres:  # ... at the right place
        assert out[int(cy * 64 / 448), int(cx * 64 / 448)] or out[max(0, int(cy * 64 / 448) - 1):int(cy * 64 / 448) + 2,
                                                                   max(0, int(cx * 64 / 448) - 1):int(cx * 64 / 448) + 2].any()


def test_large_lesion_keeps_its_area_and_shape():
    m = _specks((440, 256), [(200, 120)], 40)
    out = resize_mask(m, (64, 64))
    expected = m.sum() * (64 * 64) / (440 * 256)
    assert abs(out.sum() - expected) / expected < 0.1, (out.sum(), expected)
    cover = cv2.resize(m.astype(np.float32), (64, 64), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out.astype(bool), cover >= 0.5)  # big lesions: plain area rule, no extra pixels


def test_empty_same_size_and_upsampling():
    assert resize_mask(np.zeros((100, 80), np.uint8), (32, 32)).sum() == 0
    m = (np.random.default_rng(0).random((20, 16)) > 0.7).astype(np.uint8)
    assert np.array_equal(resize_mask(m, (20, 16)), m)
    up = resize_mask(m, (40, 32))
    assert up.shape == (40, 32) and set(np.unique(up)) <= {0, 1} and up.sum() == 4 * m.sum()


def test_crop_mask_crops_then_resizes():
    m = np.zeros((300, 200), np.uint8)
    m[150:152, 100:102] = 1  # a 2 x 2 speck inside the box
    m[10:40, 10:40] = 1  # a lesion outside the box
    out = crop_mask(m, Box(100, 260, 60, 180), (32, 32))
    assert out.sum() == 1 and out[int((150 - 100) * 32 / 160), int((100 - 60) * 32 / 120)] == 1
