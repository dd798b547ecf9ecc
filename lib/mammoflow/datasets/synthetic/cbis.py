"""Synthetic CBIS-DDSM download: the four case-description CSVs and an NBIA-retriever DICOM tree.

Tree: CBIS-DDSM/<case>/<date>-DDSM-NA-<n>/1.000000-full mammogram images-<last 5 of series UID>/1-1.dcm and
per abnormality <case>_<id>/.../1.000000-ROI mask images-<digits>/1-1.dcm + 1-2.dcm (mask and crop in a
random order) or two series (ROI mask images, cropped images). CSV paths use the TCIA form with the UIDs;
calc CSVs spell `breast density`; some cells carry trailing whitespace and some rows swap the crop and mask
columns. Images are 16-bit MONOCHROME2 Secondary Capture with Laterality (0020,0060) and the view in
Patient Orientation (0020,0020), film-like (labels, a scanner border). inject_bad adds: a row whose DICOM
is missing, a truncated DICOM, ROI files of the wrong size, a path escaping the root, conflicting rows for
one abnormality id, and an exactly repeated row (merged)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammoflow.datasets import annotations as ann, cbis
from mammoflow.datasets.synthetic import draw

log = logging.getLogger(__name__)

BAD_KINDS = ("missing", "truncated", "roi_size", "escape", "conflicting_rows", "repeated_row")
UID_ROOT = "1.3.6.1.4.1.9590.100.1.2"
SC_SOP = "1.2.840.10008.5.1.4.1.1.7"
MASS_COLUMNS = ["patient_id", "breast_density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "mass shape", "mass margins", "assessment", "pathology", "subtlety",
                "image file path", "cropped image file path", "ROI mask file path"]
CALC_COLUMNS = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
                "abnormality type", "calc type", "calc distribution", "assessment", "pathology", "subtlety",
                "image file path", "cropped image file path", "ROI mask file path"]
SHAPES = {"mass": (("OVAL", "CIRCUMSCRIBED"), ("ROUND", "CIRCUMSCRIBED"), ("IRREGULAR", "SPICULATED"),
                   ("LOBULATED", "ILL_DEFINED")),
          "calc": (("PUNCTATE", "CLUSTERED"), ("PLEOMORPHIC", "SEGMENTAL"), ("AMORPHOUS", "CLUSTERED"),
                   ("FINE_LINEAR_BRANCHING", "LINEAR"))}


@dataclass(frozen=True)
class CbisSynthConfig(draw.FromBlock):
    """Size and content of a synthetic CBIS-DDSM tree (workflow/schemas/synthetic/cbis.schema.yaml)."""

    seed: int
    n_patients: int
    height: int
    width: int
    calc_fraction: float
    malignant_fraction: float
    test_fraction: float
    inject_bad: bool
    difficulty: str


def _uid(rng: np.random.Generator) -> str:
    return f"{UID_ROOT}.{int(rng.integers(10**11, 10**12))}{int(rng.integers(10**11, 10**12))}"


@lru_cache(maxsize=8)
def _plan(cfg: CbisSynthConfig) -> pd.DataFrame:
    """One row per abnormality of each image (the CSV rows), with the files it refers to."""
    rng = np.random.default_rng(cfg.seed)
    bad = list(BAD_KINDS) if cfg.inject_bad else []
    splits = draw.split_of(cfg.n_patients + len(bad), cfg.test_fraction, rng)
    rows: list[dict[str, Any]] = []
    for p in range(cfg.n_patients + len(bad)):
        defect = bad[p - cfg.n_patients] if p >= cfg.n_patients else ""
        kind = "calc" if rng.random() < cfg.calc_fraction else "mass"
        lat = str(rng.choice(["L", "R"]))
        n_abn = 2 if rng.random() < 0.15 else 1
        lesions = tuple(draw.plan_lesion(rng, kind) for _ in range(n_abn))
        pathology = tuple(str(rng.choice(["MALIGNANT"] if rng.random() < cfg.malignant_fraction else
                                         ["BENIGN", "BENIGN_WITHOUT_CALLBACK"])) for _ in range(n_abn))
        density, shape_seed = int(rng.integers(1, 5)), int(rng.integers(0, 2**31))
        lesions = tuple(draw.with_pathology(les, pa == "MALIGNANT") for les, pa in zip(lesions, pathology))
        prefix = f"{'Calc' if kind == 'calc' else 'Mass'}-{'Training' if splits[p] == 'training' else 'Test'}"
        for view in ("CC", "MLO"):
            case = f"{prefix}_P_{p + 1:05d}_{'LEFT' if lat == 'L' else 'RIGHT'}_{view}"
            study, series = _uid(rng), _uid(rng)
            vp = draw.ViewPlan(cfg.height, cfg.width, lat, view, lesions, int(rng.integers(0, 2**31)), shape_seed,
                               cfg.difficulty, density)
            for a in range(n_abn):
                roi_study, mask_series = _uid(rng), _uid(rng)
                two_series = rng.random() < 0.4
                crop_series = _uid(rng) if two_series else mask_series
                shape_margin = SHAPES[kind][int(rng.integers(0, 4))]
                rows.append({
                    "kind": kind, "case": case, "patient_id": f"P_{p + 1:05d}", "laterality": lat, "view": view,
                    "abnormality": a + 1, "n_abn": n_abn, "pathology": pathology[a], "density": density,
                    "assessment": int(rng.choice([4, 5]) if pathology[a] == "MALIGNANT" else rng.choice([2, 3, 4])),
                    "subtlety": int(rng.integers(1, 6)), "shape": shape_margin[0], "margins": shape_margin[1],
                    "study": study, "series": series, "roi_study": roi_study, "mask_series": mask_series,
                    "crop_series": crop_series, "mask_first": bool(rng.random() < 0.5),
                    "swap": bool(rng.random() < 0.3), "pad": bool(rng.random() < 0.3), "plan": vp,
                    "split": splits[p], "defect": defect if view == "CC" and a == 0 else "",
                    "rle": bool(rng.random() < 0.3)})
    df = pd.DataFrame(rows)
    df["image_dir"] = [f"{cbis.TREE}/{r.case}/07-20-2016-DDSM-NA-{r.study[-5:]}/1.000000-full mammogram "
                       f"images-{r.series[-5:]}" for r in df.itertuples()]
    df["roi_dir"] = [f"{cbis.TREE}/{r.case}_{r.abnormality}/07-21-2016-DDSM-NA-{r.roi_study[-5:]}" for r in
                     df.itertuples()]
    return df


def plan(cfg: CbisSynthConfig) -> pd.DataFrame:
    """One row per planned abnormality (no pixels): case, UIDs, pathology, the swap, the defect."""
    return _plan(cfg).copy()


def _roi_files(r: Any) -> dict[str, str]:
    """Relative paths of the mask and the crop of one abnormality."""
    if r.crop_series != r.mask_series:
        return {"mask": f"{r.roi_dir}/1.000000-ROI mask images-{r.mask_series[-5:]}/1-1.dcm",
                "crop": f"{r.roi_dir}/1.000000-cropped images-{r.crop_series[-5:]}/1-1.dcm"}
    folder = f"{r.roi_dir}/1.000000-ROI mask images-{r.mask_series[-5:]}"
    first, second = f"{folder}/1-1.dcm", f"{folder}/1-2.dcm"
    return {"mask": first, "crop": second} if r.mask_first else {"mask": second, "crop": first}


def expected_outputs(cfg: CbisSynthConfig, root: str | Path) -> dict[str, list[str]]:
    """Files the generator writes (paths under root): csvs, dicoms (images and ROIs), ground_truth."""
    p = _plan(cfg)
    root = Path(root)
    images = p.drop_duplicates("case")
    images = images[~images["defect"].isin(["missing", "escape"])]
    rois = [f for r in p.itertuples() for f in _roi_files(r).values()]
    csvs = [f"{k}_case_description_{s}_set.csv" for k in ("mass", "calc") for s in ("train", "test")]
    return {"csvs": [str(root / c) for c in csvs],
            "dicoms": sorted(str(root / d / "1-1.dcm") for d in images["image_dir"]) + sorted(str(root / f)
                                                                                              for f in rois),
            "ground_truth": [str(root / f) for f in draw.ground_truth_files(sorted(images["case"]))]}


def case_tables(cfg: CbisSynthConfig) -> dict[str, pd.DataFrame]:
    """The four CSVs by file name, as written."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in _plan(cfg).itertuples():
        csv_kind = "calc" if r.kind == "calc" else "mass"
        name = f"{csv_kind}_case_description_{'train' if r.split == 'training' else 'test'}_set.csv"
        image = f"{r.case}/{r.study}/{r.series}/000000.dcm"
        if r.defect == "escape":
            image = f"../../outside/{image}"
        mask = f"{r.case}_{r.abnormality}/{r.roi_study}/{r.mask_series}/000000.dcm"
        crop = f"{r.case}_{r.abnormality}/{r.roi_study}/{r.crop_series}/000001.dcm"
        if r.swap:
            mask, crop = crop, mask
        pad = "\n" if r.pad else ""
        row = dict(zip(MASS_COLUMNS if csv_kind == "mass" else CALC_COLUMNS, [
            r.patient_id, str(r.density), "LEFT" if r.laterality == "L" else "RIGHT", r.view, str(r.abnormality),
            "calcification" if r.kind == "calc" else "mass", r.shape, r.margins, str(r.assessment), r.pathology,
            str(r.subtlety), image + pad, crop, mask + pad]))
        out.setdefault(name, []).append(row)
        if r.defect == "conflicting_rows":
            out[name].append({**row, "pathology": "MALIGNANT" if r.pathology != "MALIGNANT" else "BENIGN"})
        if r.defect == "repeated_row":
            out[name].append(dict(row))
    names = [f"{k}_case_description_{s}_set.csv" for k in ("mass", "calc") for s in ("train", "test")]
    return {n: pd.DataFrame(out.get(n, []), columns=MASS_COLUMNS if n.startswith("mass") else CALC_COLUMNS)
            for n in names}


def _cases(cfg: CbisSynthConfig) -> pd.DataFrame:
    """The CSV rows as cbis.read_cases returns them."""
    return pd.concat([cbis.normalise_cases(df, name) for name, df in sorted(case_tables(cfg).items())],
                     ignore_index=True).fillna("")


def listing(cfg: CbisSynthConfig, root: str | Path) -> pd.DataFrame:
    """Parse-time listing of the tree the generator will write (what cbis.listing reads afterwards)."""
    files = [str(Path(f).relative_to(root)) for f in expected_outputs(cfg, root)["dicoms"]]
    return cbis.listing_from_index(root, _cases(cfg), files, cbis.TREE, set(files).__contains__)


def write(cfg: CbisSynthConfig, root: str | Path) -> None:
    """Write the CSVs, the DICOM tree and the ground truth under root (deterministic)."""
    root = Path(root)
    p = _plan(cfg)
    for case, g in p.groupby("case", sort=True):
        r0 = g.iloc[0]
        rendered = draw.render(r0["plan"])
        rng = np.random.default_rng(r0["plan"].seed + 1)
        image = draw.film(rendered.image, rendered.breast, r0["laterality"], rng, zero_fraction_bg=0.97)
        stored = draw.quantise(image, 16)
        tags = {"SOPClassUID": SC_SOP, "Modality": "MG", "ConversionType": "WSD", "PatientID": case,
                "PatientName": case, "StudyInstanceUID": r0["study"], "Laterality": r0["laterality"],
                "PatientOrientation": r0["view"], "SecondaryCaptureDeviceManufacturer": "MathWorks"}
        if r0["defect"] not in ("missing", "escape"):
            path = root / r0["image_dir"] / "1-1.dcm"
            draw.write_dicom(path, stored, {**tags, "SeriesInstanceUID": r0["series"],
                                            "SeriesDescription": "full mammogram images"},
                             "rle" if r0["rle"] else "explicit_le")
            draw.write_ground_truth(root, case, rendered.breast, rendered.lesion)
            if r0["defect"] == "truncated":
                draw.truncate(path)
        masks = draw.lesion_masks(rendered)
        for r in g.itertuples():
            m = masks[r.abnormality - 1] if r.abnormality - 1 < len(masks) else rendered.lesion
            if r.defect == "roi_size":
                m = m[: m.shape[0] - 8]
            x0, y0, x1, y1 = (int(v) for v in (ann.mask_box(m) or (0, 0, 8, 8)))
            files = _roi_files(r)
            roi_tags = {**tags, "StudyInstanceUID": r.roi_study}
            crop = stored[y0:y1, x0:x1] if r.defect != "roi_size" else stored[:9, :9]
            draw.write_dicom(root / files["mask"], m.astype(np.uint16) * 255, {
                **roi_tags, "SeriesInstanceUID": r.mask_series, "SeriesDescription": "ROI mask images"}, bits_stored=8)
            draw.write_dicom(root / files["crop"], crop, {
                **roi_tags, "SeriesInstanceUID": r.crop_series, "SeriesDescription": "cropped images"})
    for name, df in case_tables(cfg).items():
        df.to_csv(root / name, index=False)
    log.info("wrote %d synthetic CBIS-DDSM images under %s", p["case"].nunique(), root)
