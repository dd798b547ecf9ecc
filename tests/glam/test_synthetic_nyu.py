"""Synthetic NYU-style dataset: layout, conventions, determinism, and the whole preparation chain on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mammoflow.core import rejections
from mammoflow.core.config import schema_defaults
from mammoflow.datasets import nyu as el
from mammoflow.pipelines.glam import crop as gc
from mammoflow.pipelines.glam import centers as oc
from mammoflow.datasets.synthetic import nyu as sn
from mammoflow.io.png import read as read_png
from mammoflow.core.safe_pickle import UnsafePickle

SPEC = schema_defaults("synthetic/nyu", **{"seed": 5, "n_studies": 6, "height": 400, "width": 256, "lesion_fraction": 0.9, "flip_fraction": 0.6,
        "inject_bad": True, "difficulty": "easy"})
CROP = schema_defaults("glam", "crop", iterations=40, buffer_size=20)
WINDOW = (368, 240)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nyu")
    sn.generate(root, SPEC)
    return root


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def test_layout_matches_expected_outputs(dataset):
    exp = sn.expected_outputs(sn.NYUSynthConfig.from_config(SPEC), dataset)
    want = {Path(p) for v in exp.values() for p in v}
    have = {p for p in dataset.rglob("*") if p.is_file()}
    assert have == want


def test_deterministic(dataset, tmp_path):
    spec = dict(SPEC, n_studies=2, inject_bad=False)
    sn.generate(tmp_path / "a", spec)
    sn.generate(tmp_path / "b", spec, threads=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_images_follow_the_nyu_conventions(dataset):
    exams = el.load_exam_list(dataset / "exam_list_before_cropping.pkl")
    assert len(exams) == SPEC["n_studies"] + 4
    for exam in exams[: SPEC["n_studies"]]:
        assert list(exam["cancer_label"]) == list(el.CANCER_KEYS)
        for view in el.VIEWS:
            img = read_png(dataset / "images" / f"{exam[view][0]}.png")
            assert img.dtype == np.uint16 and img.max() <= 4095
            zero = img == 0
            assert 0.15 < zero.mean() < 0.8
            faces_left = (view[0] == "R") != (exam["horizontal_flip"] == "YES")
            chest, far = (img[:, -1], img[:, 0]) if faces_left else (img[:, 0], img[:, -1])
            assert (chest > 0).mean() > 0.5 and (far > 0).mean() < 0.05, view
            side = "left" if view[0] == "L" else "right"
            for cls in ("benign", "malignant"):
                f = dataset / "segmentation" / f"{exam[view][0]}_{cls}.png"
                assert f.exists() == bool(exam["cancer_label"][f"{side}_{cls}"]), f
                if f.exists():
                    m = read_png(f)
                    assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 255}
                    inside = m > 0
                    assert inside.sum() > 50 and np.all(img[inside] > 0)
                    ring = (np.abs(np.arange(img.shape[0])[:, None] - np.argwhere(inside).mean(0)[0]) < 60) & ~inside & (img > 0)
                    assert img[inside].mean() > img[ring].mean() + 150
    assert any(e["split"] == "test" for e in exams)
    assert {e["horizontal_flip"] for e in exams[: SPEC["n_studies"]]} == {"YES", "NO"}


def test_unsafe_pickle_is_refused(dataset):
    with pytest.raises(UnsafePickle):
        el.load_exam_list(dataset / "exam_list_unsafe.pkl")


def test_preparation_chain_on_synthetic_data(dataset, tmp_path):
    out = tmp_path
    el.run_validate(str(dataset / "exam_list_before_cropping.pkl"), str(dataset / "images"), str(out / "exams.pkl"),
                    str(out / "exams.json"), str(out / "rej_list.csv"))
    gc.run(str(out / "exams.pkl"), str(dataset / "images"), str(out / "crops"), str(out / "cropped.pkl"),
           str(out / "cropped.json"), str(out / "rej_crop.csv"), CROP)
    oc.run(str(out / "cropped.pkl"), str(out / "crops"), str(out / "data.pkl"), str(out / "data.json"),
           str(out / "rej_centers.csv"), list(WINDOW))
    n = SPEC["n_studies"]
    rej = rejections.read(out / "rej_list.csv") + rejections.read(out / "rej_crop.csv")
    reasons = {(r["image_id"], r["stage"]): r["reason"] for r in rej}
    assert "background is not exactly zero" in reasons[(f"{n}_L-CC", "glam_crop")]
    assert "scanner border" in reasons[(f"{n + 1}_R-MLO", "glam_crop")]
    assert "is missing" in reasons[(f"{n + 2}_L-MLO", "glam_exam_list")]
    assert any("view R-CC missing" in r["reason"] for r in rej if r["stage"] == "glam_exam_list")
    assert "survives the erosion" in reasons[(f"{n + 3}_L-MLO", "glam_crop")]
    assert len(rej) == 5
    assert rejections.read(out / "rej_centers.csv") == []
    data = el.load_exam_list(out / "data.pkl")
    assert data[n + 3]["R-CC"] == [f"{n + 3}_R-CC"]  # smaller than the window: kept, padded at extraction
    small = read_png(out / "crops" / f"{n + 3}_R-CC.png")
    assert small.shape[0] < WINDOW[0] and small.shape[1] < WINDOW[1]
    win, place = oc.extract_window(small, "R-CC", data[n + 3]["best_center"]["R-CC"][0], WINDOW)
    assert win.shape == WINDOW and place.pad_top + place.pad_bottom == WINDOW[0] - small.shape[0]
    assert place.pad_right == WINDOW[1] - small.shape[1]
    images = el.unpack_images(data)
    assert {i["split"] for i in images} == {"training", "test"}
    lab = {i["short_file_path"]: i["labels"] for i in images}
    assert all(lab[e[v][0]] == el.view_labels(e, v) for e in data[:n] for v in el.VIEWS)
    hits = 0
    for exam in data[:n]:
        for view in el.VIEWS:
            for cls in ("benign", "malignant"):
                f = dataset / "segmentation" / f"{exam[view][0]}_{cls}.png"
                if not f.exists():
                    continue
                crop = read_png(out / "crops" / f"{exam[view][0]}.png")
                center = exam["best_center"][view][0]
                win, _ = oc.extract_window(crop, view, center, WINDOW, exam["horizontal_flip"])
                mwin = oc.mask_to_window(read_png(f), exam["window_location"][view][0], view, center, WINDOW,
                                         exam["horizontal_flip"])
                assert win.shape == WINDOW and mwin.shape == WINDOW
                if (mwin > 0).sum() > 20:
                    hits += 1
                    assert win[mwin > 0].mean() > win[(win > win.min())].mean() + 0.3
    assert hits >= 4


def test_hard_renderer_is_the_default_and_keeps_the_layout(tmp_path):
    """difficulty: hard (default) draws with the shared anatomy renderer into the same files as easy; masks lie in
    the breast; an unknown difficulty is a ConfigError."""
    spec = schema_defaults("synthetic/nyu", seed=4, n_studies=3, height=320, width=200, lesion_fraction=1.0)
    assert spec["difficulty"] == "hard"
    cfg = sn.NYUSynthConfig.from_config(spec)
    hard, easy = tmp_path / "hard", tmp_path / "easy"
    sn.generate(hard, spec)
    sn.generate(easy, {**spec, "difficulty": "easy"})
    expected = sn.expected_outputs(cfg, hard)
    files = sorted(str(p.relative_to(hard)) for p in hard.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(easy)) for p in easy.rglob("*") if p.is_file())
    assert all(Path(f).is_file() for k in ("images", "masks") for f in expected[k])
    differ = 0
    for m in expected["masks"]:
        mask = read_png(m) > 0
        image_id = Path(m).stem.rsplit("_", 1)[0]
        img = read_png(hard / "images" / f"{image_id}.png")
        assert mask.any() and np.all(img[mask] > 0), m
        differ += int(not np.array_equal(img, read_png(easy / "images" / f"{image_id}.png")))
    assert differ == len(expected["masks"])
    with pytest.raises(Exception, match="difficulty"):
        sn.render_view(sn.plan(cfg)[0], "L-CC", sn.NYUSynthConfig.from_config({**spec, "difficulty": "odd"}))
