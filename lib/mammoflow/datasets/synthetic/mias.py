"""Synthetic mini-MIAS tree: Info.txt (two-line header) + mdbNNN.pgm (P5, 8-bit, square, film look).

Two breasts per woman (refs 2k-1 left, 2k right), the breast against one vertical edge of the square,
lesion circles written with the origin at the bottom-left; some calcification rows are `*NOTE 3*` and some
mass rows have no coordinates. inject_bad adds: a row whose PGM is missing, a truncated PGM, a centre
outside the image, an exactly repeated row (merged, not rejected), a PGM that Info.txt does not name, and a
malformed row."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from mammoflow.datasets import mias
from mammoflow.datasets.synthetic import draw

log = logging.getLogger(__name__)

BAD_KINDS = ("missing", "truncated", "outside", "repeated_row", "unnamed_pgm", "malformed")
HEADER = ["REFNUM BG CLASS SEVERITY X Y RADIUS", ""]
BREAST_WIDTH = 0.72  # of the square side


@dataclass(frozen=True)
class MiasSynthConfig(draw.FromBlock):
    """Size and content of a synthetic mini-MIAS tree (workflow/schemas/synthetic/mias.schema.yaml)."""

    seed: int
    n_women: int
    size: int
    lesion_fraction: float
    malignant_fraction: float
    inject_bad: bool
    difficulty: str


@lru_cache(maxsize=8)
def _plan(cfg: MiasSynthConfig) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    n_clean = 2 * cfg.n_women
    rows: list[dict[str, Any]] = []
    for k in range(n_clean + (len(BAD_KINDS) if cfg.inject_bad else 0)):
        defect = BAD_KINDS[k - n_clean] if k >= n_clean else ""
        lat = "L" if k % 2 == 0 else "R"
        lesions, classes = [], []
        n_les = 0 if defect in ("unnamed_pgm", "malformed") else int(rng.random() < cfg.lesion_fraction) + \
            int(rng.random() < 0.15 * cfg.lesion_fraction)
        if defect == "outside":
            n_les = 1
        for _ in range(n_les):
            malignant = rng.random() < cfg.malignant_fraction
            calc = rng.random() < 0.3
            kind = "calc" if calc else "mass"
            cls = "CALC" if calc else ("SPIC" if malignant else "CIRC") if rng.random() < 0.7 else "MISC"
            coords = "note" if calc and rng.random() < 0.25 else "none" if not calc and rng.random() < 0.1 else "xy"
            lesions.append(draw.with_pathology(draw.plan_lesion(rng, kind), bool(malignant),
                                               "" if calc else "spiculated" if cls == "SPIC" else
                                               "circumscribed" if cls == "CIRC" else ""))
            classes.append((cls, "M" if malignant else "B", coords))
        background = "FGD"[int(rng.integers(0, 3))]
        rows.append({"refnum": f"mdb{k + 1:03d}", "background": background, "laterality": lat,
                     "classes": tuple(classes), "defect": defect,
                     "view": draw.ViewPlan(cfg.size, int(round(cfg.size * BREAST_WIDTH)), lat, "MLO",
                                           tuple(lesions), int(rng.integers(0, 2**31)), int(rng.integers(0, 2**31)),
                                           cfg.difficulty, {"F": 1, "G": 2, "D": 4}[background])})
    return pd.DataFrame(rows)


def plan(cfg: MiasSynthConfig) -> pd.DataFrame:
    """One row per planned image (no pixels): refnum, background, side, lesion classes, defect."""
    return _plan(cfg).copy()


def _writes_pgm(defect: str) -> bool:
    return defect != "missing"


def expected_outputs(cfg: MiasSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Files the generator writes (paths under root): info, images, ground_truth."""
    p = _plan(cfg)
    root = Path(root)
    ids = [r for r, d in zip(p["refnum"], p["defect"]) if _writes_pgm(d)]
    return {"info": [str(root / mias.INFO)], "images": [str(root / f"{i}.pgm") for i in ids],
            "ground_truth": [str(root / f) for f in draw.ground_truth_files(ids)]}


def _info_lines(cfg: MiasSynthConfig, boxes: Mapping[str, list[tuple[float, float, float, float]]] | None) -> list[str]:
    """Info.txt lines; boxes (per refnum, in square coordinates) are needed only for the coordinates."""
    lines = list(HEADER)
    for r in _plan(cfg).itertuples():
        if r.defect == "unnamed_pgm":
            continue
        if r.defect == "malformed":
            lines.append(f"{r.refnum} {r.background}")
            continue
        if not r.classes:
            lines.append(f"{r.refnum} {r.background} NORM ")
        for j, (cls, sev, coords) in enumerate(r.classes):
            text = f"{r.refnum} {r.background} {cls} {sev}"
            if coords == "note":
                text += " *NOTE 3*"
            elif coords == "xy" and boxes is not None and j < len(boxes.get(r.refnum, [])):
                x0, y0, x1, y1 = boxes[r.refnum][j]
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                rad = int(math.ceil(max(x1 - x0, y1 - y0) / 2)) + 2
                x = cfg.size + 40 if r.defect == "outside" else int(round(cx))
                text += f" {x} {cfg.size - int(round(cy))} {rad}"
            elif coords == "xy":
                text += " 1 1 1"  # parse-time stand-in: the listing does not read coordinates
            lines.append(text + " ")
            if r.defect == "repeated_row":
                lines.append(text + " ")
    return lines


def listing(cfg: MiasSynthConfig, root: str | Path) -> pd.DataFrame:
    """Parse-time listing of the tree the generator will write (what mias.listing reads afterwards)."""
    info, bad = mias.parse_info(_info_lines(cfg, None))
    p = _plan(cfg)
    pgms = sorted(f"{r}.pgm" for r, d in zip(p["refnum"], p["defect"]) if _writes_pgm(d))
    written = set(pgms) | {mias.INFO}
    return mias.listing_from_index(root, info, bad, pgms, written.__contains__)


def _square(r: Any, cfg: MiasSynthConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Render one view into the square film: image, breast, lesion and boxes in square coordinates."""
    rendered = draw.render(r.view)
    s, wb = cfg.size, r.view.width
    off = 0 if r.laterality == "L" else s - wb
    out = []
    for a in (rendered.image, rendered.breast, rendered.lesion):
        sq = np.zeros((s, s), dtype=a.dtype)
        sq[:, off:off + wb] = a
        out.append(sq)
    boxes = [(x0 + off, y0, x1 + off, y1) for x0, y0, x1, y1 in rendered.boxes]
    return out[0], out[1], out[2], boxes


def write(cfg: MiasSynthConfig, root: str | Path) -> None:
    """Write Info.txt, the PGMs and the ground truth under root (deterministic)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    boxes = {}
    for r in _plan(cfg).itertuples():
        image, breast, lesion, boxes[r.refnum] = _square(r, cfg)
        if not _writes_pgm(r.defect):
            continue
        film = draw.film(image, breast, r.laterality, np.random.default_rng(r.view.seed + 1))
        data = draw.quantise(film, 8)
        path = root / f"{r.refnum}.pgm"
        path.write_bytes(f"P5\n{cfg.size} {cfg.size}\n255\n".encode() + data.tobytes())
        draw.write_ground_truth(root, r.refnum, breast, lesion)
        if r.defect == "truncated":
            draw.truncate(path)
    (root / mias.INFO).write_text("\n".join(_info_lines(cfg, boxes)) + "\n")
    log.info("wrote %d synthetic mini-MIAS images under %s", len(_plan(cfg)), root)
