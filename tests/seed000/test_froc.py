"""FROC points and map peaks (evaluation.froc)."""

import numpy as np
import pytest

from mammoflow.evaluation.froc import froc_points, peaks


def test_froc_points_by_hand():
    # image 0: hit lesion 0 (0.9), FP (0.8), duplicate on lesion 0 (0.7); image 1: FP (0.95), hit lesion 0 (0.6)
    pts = froc_points([[0.9, 0.8, 0.7], [0.95, 0.6]], [[0, -1, 0], [-1, 0]], [1, 2], fps=(0.25, 0.5, 1, 4))
    # thresholds: 0.95 -> fp 1 (0.5/img), sens 0; 0.9 -> sens 1/3; 0.8 -> fp 2 (1/img); 0.6 -> sens 2/3
    assert pts[0.25] == 0 and pts[0.5] == pytest.approx(1 / 3) and pts[1] == pytest.approx(2 / 3)
    assert pts[4] == pytest.approx(2 / 3)          # the second lesion of image 1 is never found


def test_peaks_are_local_maxima_highest_first():
    p = np.zeros((8, 8)); p[2, 2] = 0.9; p[6, 5] = 0.5; p[6, 6] = 0.4
    assert peaks(p, 2) == [(2, 2, 0.9), (6, 5, 0.5)]
