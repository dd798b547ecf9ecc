"""Synthetic Mini-DDSM archive: MINI-DDSM-Complete-JPEG-8/DataWMask.xlsx and one image folder variant.

variant png16 writes MINI-DDSM-Complete-PNG-16/<Status>/<case>/<stem>.png (16-bit, masks 8-bit PNG);
jpeg8 writes MINI-DDSM-Complete-JPEG-8/<Status>/<case>/<stem>.jpg (masks JPEG too). Sheet paths use
Windows back-slashes and the .jpg names of the release; `-` marks no mask; Normal cases are included; a
second lesion gets Tumour_Contour2. The xlsx is written byte-stable (fixed zip and document times).
inject_bad adds: a row whose image is missing, a truncated image, a mask of the wrong size, a path escaping
the root, a missing mask file, conflicting rows for one file name, and an exactly repeated row (merged)."""

from __future__ import annotations

import datetime
import io
import logging
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mammoflow.datasets import miniddsm
from mammoflow.datasets.synthetic import draw
from mammoflow.io import png

log = logging.getLogger(__name__)

BAD_KINDS = ("missing", "truncated", "mask_size", "escape", "missing_mask", "conflicting_rows", "repeated_row")
STATUS = {"normal": "Normal", "benign": "Benign", "malignant": "Cancer"}
FIXED_TIME = datetime.datetime(2020, 1, 1)


@dataclass(frozen=True)
class MiniddsmSynthConfig(draw.FromBlock):
    """Size and content of a synthetic Mini-DDSM archive (workflow/schemas/synthetic/miniddsm.schema.yaml)."""

    seed: int
    n_cases: int
    height: int
    width: int
    normal_fraction: float
    malignant_fraction: float
    variant: str
    inject_bad: bool
    difficulty: str


@lru_cache(maxsize=8)
def _plan(cfg: MiniddsmSynthConfig) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    bad = list(BAD_KINDS) if cfg.inject_bad else []
    rows: list[dict[str, Any]] = []
    for c in range(cfg.n_cases + len(bad)):
        defect = bad[c - cfg.n_cases] if c >= cfg.n_cases else ""
        status = "normal" if rng.random() < cfg.normal_fraction and defect not in ("mask_size", "missing_mask") \
            else "malignant" if rng.random() < cfg.malignant_fraction else "benign"
        case, letter = 1 + 3 * c, "ABCD"[c % 4]
        sick = str(rng.choice(["L", "R"]))
        n_les = 0 if status == "normal" else 2 if rng.random() < 0.15 else 1
        age, density = int(rng.integers(38, 80)), int(rng.integers(1, 5))
        for lat in ("L", "R"):
            kinds = ["mass" if rng.random() < 0.7 else "calc" for _ in range(n_les)] if lat == sick else []
            lesions = tuple(draw.with_pathology(draw.plan_lesion(rng, k), status == "malignant") for k in kinds)
            shape_seed = int(rng.integers(0, 2**31))
            for view in ("CC", "MLO"):
                stem = f"{letter}_{case:04d}_1.{'LEFT' if lat == 'L' else 'RIGHT'}_{view}"
                rows.append({"stem": stem, "folder": f"{STATUS[status]}/{case:04d}", "status": STATUS[status],
                             "laterality": lat, "view": view, "age": age, "density": density,
                             "defect": defect if (lat, view) == (sick, "CC") else "",
                             "plan": draw.ViewPlan(cfg.height, cfg.width, lat, view, lesions,
                                                   int(rng.integers(0, 2**31)), shape_seed, cfg.difficulty,
                                                   density)})
    return pd.DataFrame(rows)


def plan(cfg: MiniddsmSynthConfig) -> pd.DataFrame:
    """One row per planned image (no pixels): stem, folder, status, side, view, lesions, defect."""
    return _plan(cfg).copy()


def _base(cfg: MiniddsmSynthConfig) -> str:
    return miniddsm.PNG_DIR if cfg.variant == "png16" else miniddsm.JPEG_DIR


def _ext(cfg: MiniddsmSynthConfig) -> str:
    return ".png" if cfg.variant == "png16" else ".jpg"


def _mask_names(r: Any) -> list[str]:
    return [f"{r.stem}_Mask{'' if k == 0 else k + 1}" for k in range(len(r.plan.lesions))]


def expected_outputs(cfg: MiniddsmSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Files the generator writes (paths under root): sheet, images, masks, ground_truth."""
    root, base, ext = Path(root), _base(cfg), _ext(cfg)
    p = _plan(cfg)
    written = p[~p["defect"].isin(["missing", "escape"])]
    masks = [f"{base}/{r.folder}/{m}{ext}" for r in written.itertuples() for j, m in enumerate(_mask_names(r))
             if not (r.defect == "missing_mask" and j == 0)]
    return {"sheet": [str(root / miniddsm.JPEG_DIR / miniddsm.SHEET)],
            "images": [str(root / base / r.folder / f"{r.stem}{ext}") for r in written.itertuples()],
            "masks": [str(root / m) for m in masks],
            "ground_truth": [str(root / f) for f in draw.ground_truth_files(
                [miniddsm.ann.safe_id(s) for s in written["stem"]])]}


def sheet(cfg: MiniddsmSynthConfig) -> pd.DataFrame:
    """The DataWMask sheet as written (back-slash paths with the release's .jpg names)."""
    rows = []
    for r in _plan(cfg).itertuples():
        folder = r.folder.replace("/", "\\")
        full = f"..\\..\\outside\\{r.stem}.jpg" if r.defect == "escape" else f"{folder}\\{r.stem}.jpg"
        masks = [f"{folder}\\{m}.jpg" for m in _mask_names(r)] + ["-", "-"]
        row = {"fullPath": full, "fileName": f"{r.stem}.jpg", "View": r.view,
               "Side": "LEFT" if r.laterality == "L" else "RIGHT", "Status": r.status, "Tumour_Contour": masks[0],
               "Tumour_Contour2": masks[1], "Age": str(r.age), "Density": str(r.density)}
        rows.append(row)
        if r.defect == "conflicting_rows":
            rows.append({**row, "Density": str(5 - r.density) if r.density != 2 else "4"})
        if r.defect == "repeated_row":
            rows.append(dict(row))
    return pd.DataFrame(rows, columns=miniddsm.COLUMNS)


def listing(cfg: MiniddsmSynthConfig, root: str | Path) -> pd.DataFrame:
    """Parse-time listing of the archive the generator will write (what miniddsm.listing reads afterwards)."""
    written = {str(Path(f).relative_to(root)) for fs in expected_outputs(cfg, root).values() for f in fs}
    return miniddsm.listing_from_index(root, sheet(cfg), _base(cfg),
                                       str(Path(root) / miniddsm.JPEG_DIR / miniddsm.SHEET), written.__contains__)


def write_xlsx(df: pd.DataFrame, path: str | Path) -> None:
    """Write one sheet 'Data' as xlsx with fixed document and zip times (byte-stable)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))
    wb.properties.created = wb.properties.modified = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the current time
                data = _fixed_times(data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0)), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(out.getvalue())


def _fixed_times(core_xml: bytes) -> bytes:
    """docProps/core.xml with its created/modified stamps set to FIXED_TIME."""
    import re

    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>" + stamp + rb"\g<2>",
                  core_xml)


def _write_image(path: Path, image: np.ndarray, cfg: MiniddsmSynthConfig, mask: bool = False) -> None:
    if cfg.variant == "png16":
        png.write(path, image.astype(np.uint8) * 255 if mask else draw.quantise(image, 16))
        return
    data = image.astype(np.uint8) * 255 if mask else draw.quantise(image, 8)
    ok, buf = cv2.imencode(".jpg", data, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise OSError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def write(cfg: MiniddsmSynthConfig, root: str | Path) -> None:
    """Write the sheet, the images, their masks and the ground truth under root (deterministic)."""
    root, base, ext = Path(root), _base(cfg), _ext(cfg)
    for r in _plan(cfg).itertuples():
        if r.defect in ("missing", "escape"):
            continue
        rendered = draw.render(r.plan)
        image = draw.film(rendered.image, rendered.breast, r.laterality, np.random.default_rng(r.plan.seed + 1))
        path = root / base / r.folder / f"{r.stem}{ext}"
        _write_image(path, image, cfg)
        draw.write_ground_truth(root, miniddsm.ann.safe_id(r.stem), rendered.breast, rendered.lesion)
        for j, (name, m) in enumerate(zip(_mask_names(r), draw.lesion_masks(rendered))):
            if r.defect == "missing_mask" and j == 0:
                continue
            _write_image(root / base / r.folder / f"{name}{ext}", m[:-6] if r.defect == "mask_size" else m, cfg,
                         mask=True)
        if r.defect == "truncated":
            draw.truncate(path)
    write_xlsx(sheet(cfg), root / miniddsm.JPEG_DIR / miniddsm.SHEET)
    log.info("wrote %d synthetic Mini-DDSM images under %s", len(_plan(cfg)), root)
