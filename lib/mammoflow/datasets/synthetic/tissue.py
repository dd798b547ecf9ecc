"""Synthetic tissue-label set in the tiryakiv layout: fgt_seg/<stem>.png + fgt_seg_labels/<stem>_LI.png.

8-bit scanned-film MLO images named like DDSM (A_0002_1.RIGHT_MLO.png) with 4-class label maps
(64 background, 128 adipose, 192 fibroglandular, 255 pectoral). test_fraction > 0 writes train_valid/ and
test/ folders, else one flat set. inject_bad adds: a missing label map, a label map with a foreign value,
a label map of the wrong size, a truncated image, and two files whose names map to the same image id."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammoflow.datasets import annotations as ann, tissue
from mammoflow.datasets.synthetic import draw
from mammoflow.io import png

log = logging.getLogger(__name__)

BAD_KINDS = ("missing_label", "foreign_value", "label_size", "truncated", "duplicate_a", "duplicate_b")


@dataclass(frozen=True)
class TissueSynthConfig(draw.FromBlock):
    """Size and content of a synthetic tissue-label set (workflow/schemas/synthetic/tissue.schema.yaml)."""

    seed: int
    n_images: int
    height: int
    width: int
    test_fraction: float
    inject_bad: bool
    difficulty: str


@lru_cache(maxsize=8)
def _plan(cfg: TissueSynthConfig) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    splits = draw.split_of(cfg.n_images, cfg.test_fraction, rng)
    rows: list[dict[str, Any]] = []
    n_total = cfg.n_images + (len(BAD_KINDS) if cfg.inject_bad else 0)
    for k in range(n_total):
        defect = BAD_KINDS[k - cfg.n_images] if k >= cfg.n_images else ""
        lat = "R" if rng.random() < 0.8 else "L"
        case = 2 + 7 * k
        stem = f"{'ABD'[k % 3]}_{case:04d}_1.{'RIGHT' if lat == 'R' else 'LEFT'}_MLO"
        if defect == "duplicate_b":
            stem = rows[-1]["stem"].replace(".", "_")  # another spelling of the previous file's id
        split = splits[k] if k < cfg.n_images else "training"
        folder = "" if cfg.test_fraction <= 0 else ("train_valid" if split == "training" else "test")
        base = f"{folder}/fgt_seg" if folder else "fgt_seg"
        rows.append({"stem": stem, "source": f"{base}/{stem}.png", "split": split if folder else "",
                     "laterality": lat, "defect": defect,
                     "view": draw.ViewPlan(cfg.height, cfg.width, lat, "MLO", (), int(rng.integers(0, 2**31)),
                                           int(rng.integers(0, 2**31)), cfg.difficulty)})
    df = pd.DataFrame(rows)
    df["image_id"] = [ann.safe_id(s) for s in df["stem"]]
    df["label_source"] = [tissue.label_source(s) for s in df["source"]]
    return df


def plan(cfg: TissueSynthConfig) -> pd.DataFrame:
    """One row per planned image (no pixels): stem, source, label source, split, laterality, defect."""
    return _plan(cfg).copy()


def expected_outputs(cfg: TissueSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Files the generator writes (paths under root), by kind: images, labels, ground_truth."""
    p = _plan(cfg)
    root = Path(root)
    labels = p.loc[p["defect"] != "missing_label", "label_source"]
    gt = sorted(set(draw.ground_truth_files(p["image_id"].tolist())))
    return {"images": [str(root / s) for s in p["source"]], "labels": [str(root / s) for s in labels],
            "ground_truth": [str(root / s) for s in gt]}


def listing(cfg: TissueSynthConfig, root: str | Path) -> pd.DataFrame:
    """Parse-time listing of the tree the generator will write (what tissue.listing reads afterwards)."""
    p = _plan(cfg)
    written = {str(Path(f).relative_to(root)) for fs in expected_outputs(cfg, root).values() for f in fs}
    return tissue.listing_from_files(root, list(zip(p["source"], p["split"])), written.__contains__)


def write(cfg: TissueSynthConfig, root: str | Path) -> None:
    """Write the whole tree under root (deterministic)."""
    root = Path(root)
    for r in _plan(cfg).itertuples():
        rendered = draw.render(r.view)
        rng = np.random.default_rng(r.view.seed + 1)
        image = draw.film(rendered.image, rendered.breast, r.laterality, rng)
        png.write(root / r.source, draw.quantise(image, 8))
        draw.write_ground_truth(root, r.image_id, rendered.breast, rendered.lesion)
        labels = np.asarray(tissue.LABEL_VALUES, dtype=np.uint8)[draw.tissue_classes(rendered, "MLO")]
        if r.defect == "foreign_value":
            labels[:4, :4] = 100
        elif r.defect == "label_size":
            labels = labels[: labels.shape[0] // 2]
        if r.defect != "missing_label":
            png.write(root / r.label_source, labels)
        if r.defect == "truncated":
            draw.truncate(root / r.source)
    log.info("wrote %d synthetic tissue images under %s", len(_plan(cfg)), root)
