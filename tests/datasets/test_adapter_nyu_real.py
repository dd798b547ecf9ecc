"""Exam 0 of the real GLAM sample data through the workflow: the crop and centre values seed 003 prints."""
from __future__ import annotations

import pytest

from mammoflow.core import rejections
from mammoflow.datasets.nyu import load_exam_list
from adapter_util import shared
import wfutil

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

# seed 003's README, exam 0 (default window 2944 x 1920)
PRINTED = {
    "window_location": {"L-CC": (0, 2023, 0, 801), "R-CC": (0, 2144, 0, 801), "L-MLO": (0, 2730, 0, 981),
                        "R-MLO": (0, 2650, 0, 1006)},
    "rightmost_points": {"L-CC": ((948, 957), 750), "R-CC": ((1232, 1249), 751), "L-MLO": ((1733, 1749), 930),
                         "R-MLO": ((1571, 1648), 956)},
    "bottommost_points": {"L-CC": (1972, (100, 100)), "R-CC": (2093, (101, 101)), "L-MLO": (2679, (100, 101)),
                          "R-MLO": (2599, (101, 102))},
    "distance_from_starting_side": {"L-CC": 0, "R-CC": 0, "L-MLO": 0, "R-MLO": 0},
    "best_center": {"L-CC": (1011, -211), "R-CC": (1072, -210), "L-MLO": (1206, -31), "R-MLO": (1126, -5)},
}


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else int(v)


def test_glam_sample_exam0_through_the_workflow(tmp_path):
    root = shared("nyu_glam_sample")
    config = {"seed": 1999, "datasets": {"nyu_real": {"format": "nyu", "root": str(root)}},
              "seed000": {"datasets": []}, "glam": {"datasets": []}}
    wd = wfutil.make_workdir(tmp_path / "wf", config)
    targets = ["results/nyu_real/glam/data.pkl", "results/nyu_real/glam/rejected.csv"]
    wfutil.smk(wd, *targets, run=True)
    exams = load_exam_list(wd / "results/nyu_real/glam/data.pkl")
    assert exams[0]["L-CC"] == ["0_L-CC"]
    assert all(e[v] == [] for e in exams[1:] for v in PRINTED["best_center"])  # exams 1-3 keep no image
    got = {key: {view: _tuples(exams[0][key][view][0]) for view in per_view} for key, per_view in PRINTED.items()}
    assert got == PRINTED
    rejected = rejections.read(wd / "results/nyu_real/glam/rejected.csv")
    expected = sorted(f"{i}_{v}" for i in (1, 2, 3) for v in PRINTED["best_center"])
    assert sorted(r["image_id"] for r in rejected) == expected
    assert all(r["image_id"] in r["reason"] for r in rejected), rejected  # their PNGs are not there
