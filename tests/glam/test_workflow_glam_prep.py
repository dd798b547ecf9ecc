"""The GLAM preparation rules on a tiny synthetic NYU dataset: targets, rejections, up-to-date, reruns."""
from __future__ import annotations

import copy
import json

import pytest
import yaml

from mammoflow.core.rejections import read as read_rejected
from mammoflow.datasets.nyu import load_exam_list

import wfutil as _root  # noqa: E402  (tests/ is on sys.path via tests/conftest.py)

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

CONFIG = {
    "seed": 1999,
    "datasets": {"nyu_tiny": {"format": "nyu", "root": "data/nyu_tiny",
                              "synthetic": {"seed": 3, "n_studies": 3, "height": 400, "width": 256,
                                            "inject_bad": True, "difficulty": "easy"}}},
    "preprocess": {"height": 192, "width": 160, "shard_size": 8},
    "seed000": {"datasets": []},
    "glam": {"datasets": [], "window": [368, 240], "crop": {"iterations": 40, "buffer_size": 20}},
}
TARGETS = ["results/nyu_tiny/glam/data.pkl", "results/nyu_tiny/glam/rejected.csv"]


def test_glam_prep_rules(tmp_path):
    wd = _root.make_workdir(tmp_path / "wf", CONFIG)
    built = _root.smk(wd, *TARGETS, run=True)
    assert "results/nyu_tiny/glam/data.pkl" in built and "data/nyu_tiny/exam_list_before_cropping.pkl" in built
    data = load_exam_list(wd / "results/nyu_tiny/glam/data.pkl")
    assert len(data) == 3 + 4 and all("best_center" in e for e in data)
    assert json.loads((wd / "results/nyu_tiny/glam/data.json").read_text())[0]["L-CC"] == ["0_L-CC"]
    crops = sorted(p.stem for p in (wd / "results/nyu_tiny/glam/cropped_images").glob("*.png"))
    assert crops == sorted(i for e in data for v in ("L-CC", "R-CC", "L-MLO", "R-MLO") for i in e[v])
    rej = read_rejected(wd / "results/nyu_tiny/glam/rejected.csv")
    assert {r["stage"] for r in rej} == {"glam_exam_list", "glam_crop"} and len(rej) == 5
    assert (wd / "logs/nyu_tiny/glam/crop.log").read_text().count("cropped to") == len(crops)
    # up to date: nothing to do
    assert _root.smk(wd, *TARGETS) == []
    # a crop setting changes the crop and what follows, not the data
    cfg = copy.deepcopy(CONFIG)
    cfg["glam"]["crop"]["buffer_size"] = 10
    (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    plan = _root.smk(wd, *TARGETS)
    assert "results/nyu_tiny/glam/cropped_exam_list.pkl" in plan and "results/nyu_tiny/glam/data.pkl" in plan
    assert not any(p.startswith("data/") for p in plan)
