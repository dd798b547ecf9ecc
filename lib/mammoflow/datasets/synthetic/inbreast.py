"""Synthetic INbreast release: AllDICOMs/, AllXML/ (OsiriX plists), semicolon INbreast.csv.

14-bit MONOCHROME2 FFDM DICOMs named <id>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm; masses as polygon ROIs
(some named with the release's typos), calcifications as one-point ROIs plus a Cluster polygon; CSV
rows with `removed` fields, padded ACR and BI-RADS 4a/4b/4c. Some patients have only one breast (2 images).
inject_bad adds: a CSV row without its DICOM, a truncated DICOM, a malformed XML, an ROI with points
outside the image, a File Name with two conflicting CSV rows, a DICOM the CSV does not name, and an exactly
repeated CSV row (merged)."""

from __future__ import annotations

import logging
import plistlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammoflow.datasets import inbreast
from mammoflow.datasets.synthetic import draw

log = logging.getLogger(__name__)

BAD_KINDS = ("missing", "truncated", "bad_xml", "roi_outside", "conflicting_rows", "unnamed_dicom", "repeated_row")
MASS_NAMES = ("Mass", "Mass", "Mass", "Spiculated Region", "Espiculated Region", "Spiculated region")
CALC_NAMES = ("Calcification", "Calcifications")
PIXEL_MM = 0.07
DM_SOP = "1.2.840.10008.5.1.4.1.1.1.2"


@dataclass(frozen=True)
class InbreastSynthConfig(draw.FromBlock):
    """Size and content of a synthetic INbreast tree (workflow/schemas/synthetic/inbreast.schema.yaml)."""

    seed: int
    n_patients: int
    height: int
    width: int
    lesion_fraction: float
    malignant_fraction: float
    single_breast_fraction: float
    inject_bad: bool
    difficulty: str


@lru_cache(maxsize=8)
def _plan(cfg: InbreastSynthConfig) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    rows: list[dict[str, Any]] = []
    bad = BAD_KINDS if cfg.inject_bad else ()
    ids = iter(rng.choice(np.arange(20_000_000, 60_000_000), size=4 * cfg.n_patients + len(bad), replace=False))

    def patient() -> dict[str, Any]:
        return {"hash": "".join(rng.choice(list("0123456789abcdef"), size=16)),
                "date": f"20{int(rng.integers(8, 11)):02d}{int(rng.integers(1, 13)):02d}",
                "acr": "" if rng.random() < 0.15 else str(int(rng.integers(1, 5)))}

    def breast(pat: dict[str, Any], lat: str, views: tuple[str, ...], defect: str = "") -> None:
        kinds = ["calc" if rng.random() < 0.35 else "mass"] if rng.random() < cfg.lesion_fraction else []
        if defect in ("bad_xml", "roi_outside") and not kinds:
            kinds = ["mass"]
        malignant = bool(kinds) and rng.random() < cfg.malignant_fraction
        birads = str(rng.choice(["4a", "4b", "4c", "5", "6"])) if malignant else \
            str(rng.choice(["2", "3"])) if kinds else str(rng.choice(["1", "1", "2"]))
        lesions = tuple(draw.with_pathology(draw.plan_lesion(rng, kd), malignant) for kd in kinds)
        names = tuple(str(rng.choice(MASS_NAMES if kd == "mass" else CALC_NAMES)) for kd in kinds)
        shape_seed = int(rng.integers(0, 2**31))
        for view in views:
            rows.append({"file_id": str(int(next(ids))), "laterality": lat, "view": view, "birads": birads,
                         "names": names, "defect": defect, **pat,
                         "plan": draw.ViewPlan(cfg.height, cfg.width, lat, view, lesions,
                                               int(rng.integers(0, 2**31)), shape_seed, cfg.difficulty,
                                               int(pat["acr"] or 0))})

    for _ in range(cfg.n_patients):
        pat = patient()
        sides = ["L", "R"] if rng.random() >= cfg.single_breast_fraction else [str(rng.choice(["L", "R"]))]
        for lat in sides:
            breast(pat, lat, ("CC", "MLO"))
    for j, defect in enumerate(bad):  # one image per defect, each its own patient
        breast(patient(), "LR"[j % 2], (("CC", "MLO")[(j // 2) % 2],), defect)
    df = pd.DataFrame(rows)
    df["dicom"] = [f"{r.file_id}_{r.hash}_MG_{r.laterality}_{'ML' if r.view == 'MLO' else 'CC'}_ANON.dcm"
                   for r in df.itertuples()]
    return df


def plan(cfg: InbreastSynthConfig) -> pd.DataFrame:
    """One row per planned image (no pixels): file id, patient hash, side, view, BI-RADS, ROI names, defect."""
    return _plan(cfg).copy()


def _has_xml(r: Any) -> bool:
    return bool(r.names) and r.defect not in ("missing", "unnamed_dicom")


def expected_outputs(cfg: InbreastSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Files the generator writes (paths under root): csv, dicoms, xml, ground_truth."""
    p = _plan(cfg)
    root = Path(root)
    written = p[p["defect"] != "missing"]
    return {"csv": [str(root / inbreast.CSV)],
            "dicoms": [str(root / "AllDICOMs" / d) for d in written["dicom"]],
            "xml": [str(root / "AllXML" / f"{r.file_id}.xml") for r in p.itertuples() if _has_xml(r)],
            "ground_truth": [str(root / f) for f in draw.ground_truth_files(written["file_id"].tolist())]}


def csv_frame(cfg: InbreastSynthConfig) -> pd.DataFrame:
    """INbreast.csv as written (before the cells' padding)."""
    rows = []
    for r in _plan(cfg).itertuples():
        if r.defect == "unnamed_dicom":
            continue
        row = {"Patient ID": "removed", "Patient age": "removed", "Laterality": r.laterality, "View": r.view,
               "Acquisition date": r.date, "File Name": r.file_id, "ACR": r.acr,
               "Bi-Rads": r.birads}
        rows.append(row)
        if r.defect == "conflicting_rows":
            rows.append({**row, "Bi-Rads": "1" if r.birads != "1" else "5"})
        if r.defect == "repeated_row":
            rows.append(dict(row))
    return pd.DataFrame(rows, columns=inbreast.CSV_COLUMNS)


def listing(cfg: InbreastSynthConfig, root: str | Path) -> pd.DataFrame:
    """Parse-time listing of the tree the generator will write (what inbreast.listing reads afterwards)."""
    p = _plan(cfg)
    names = sorted(p.loc[p["defect"] != "missing", "dicom"])
    written = {f"AllDICOMs/{n}" for n in names}
    return inbreast.listing_from_index(root, csv_frame(cfg), names, written.__contains__)


def _roi(index: int, name: str, pts: list[tuple[float, float]], image: np.ndarray) -> dict[str, Any]:
    """One ROI dict with the 13 OsiriX keys."""
    a = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    cx, cy = a.mean(axis=0)
    vals = image[np.clip(a[:, 1].astype(int), 0, image.shape[0] - 1), np.clip(a[:, 0].astype(int), 0,
                                                                              image.shape[1] - 1)]
    area = 0.0 if len(a) < 3 else 0.5 * abs(float(np.dot(a[:, 0], np.roll(a[:, 1], 1))
                                                  - np.dot(a[:, 1], np.roll(a[:, 0], 1)))) * PIXEL_MM**2
    return {"Area": area, "Center": f"({cx * PIXEL_MM:.6f}, {cy * PIXEL_MM:.6f}, 0.000000)",
            "Dev": float(vals.std()), "IndexInImage": index, "Max": float(vals.max()), "Mean": float(vals.mean()),
            "Min": float(vals.min()), "Name": name, "NumberOfPoints": len(a),
            "Point_mm": [f"({x * PIXEL_MM:.6f}, {y * PIXEL_MM:.6f}, 0.000000)" for x, y in a],
            "Point_px": [f"({x:.2f}, {y:.2f})" for x, y in a], "Total": float(vals.sum()),
            "Type": 15 if len(a) >= 3 else 19}


def _rois(r: Any, rendered: Any, stored: np.ndarray) -> list[dict[str, Any]]:
    """ROIs of one image: a polygon per mass, one-point ROIs per speck and a Cluster polygon per calc."""
    rois: list[dict[str, Any]] = []
    for name, les, mask in zip(r.names, r.plan.lesions, draw.lesion_masks(rendered)):
        if les.kind == "mass":
            rois.append(_roi(len(rois), name, draw.contour(mask)[::3], stored))
        else:
            centres = draw.speck_centres(rendered, mask)
            rois += [_roi(len(rois) + i, name, [c], stored) for i, c in enumerate(centres)]
            rois.append(_roi(len(rois), "Cluster", draw.hull_points(mask), stored))
    if r.defect == "roi_outside" and rois:
        rois[0]["Point_px"][0] = f"({r.plan.width + 25.0:.2f}, 10.00)"
    return rois


def write(cfg: InbreastSynthConfig, root: str | Path) -> None:
    """Write INbreast.csv, AllDICOMs/, AllXML/ and the ground truth under root (deterministic)."""
    root = Path(root)
    (root / "AllXML").mkdir(parents=True, exist_ok=True)
    for r in _plan(cfg).itertuples():
        if r.defect == "missing":
            continue
        rendered = draw.render(r.plan)
        stored = draw.quantise(rendered.image, 14)
        path = root / "AllDICOMs" / r.dicom
        draw.write_dicom(path, stored, {
            "SOPClassUID": DM_SOP, "Modality": "MG", "Manufacturer": "SIEMENS", "PatientID": r.hash,
            "ImageLaterality": r.laterality, "ViewPosition": r.view, "PresentationIntentType": "FOR PRESENTATION",
            "PixelSpacing": [PIXEL_MM, PIXEL_MM]}, bits_stored=14)
        draw.write_ground_truth(root, r.file_id, rendered.breast, rendered.lesion)
        if r.defect == "truncated":
            draw.truncate(path)
        if _has_xml(r):
            rois = _rois(r, rendered, stored)
            doc = {"Images": [{"ImageIndex": 0, "NumberOfROIs": len(rois), "ROIs": rois}]}
            xml = root / "AllXML" / f"{r.file_id}.xml"
            xml.write_bytes(plistlib.dumps(doc, fmt=plistlib.FMT_XML))
            if r.defect == "bad_xml":
                draw.truncate(xml, 0.5)
    csv = csv_frame(cfg)
    csv["ACR"] = csv["ACR"].map(lambda v: f"{v} " if v else "  ")  # padded blanks, as in the release
    csv.to_csv(root / inbreast.CSV, sep=";", index=False)
    log.info("wrote %d synthetic INbreast images under %s", len(_plan(cfg)), root)
