"""Synthetic VinDr-Mammo-shaped dataset: DICOM tree and CSVs in the real formats, deterministic from a seed."""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mammoflow.io import png
from mammoflow.datasets.synthetic import draw
from mammoflow.datasets.synthetic.phantom import Lesion, Rendered
from mammoflow.core.config import from_mapping

log = logging.getLogger(__name__)

VIEWS = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]
BREAST_COLUMNS = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                  "breast_birads", "breast_density", "split"]
FINDING_COLUMNS = ["study_id", "series_id", "image_id", "laterality", "view_position", "height", "width",
                   "breast_birads", "breast_density", "finding_categories", "finding_birads",
                   "xmin", "ymin", "xmax", "ymax", "split"]
SPECK_COLUMNS = ["image_id", "x", "y", "diameter_mm"]  # ground_truth/specks.csv: every calcification speck
BAD_KINDS = ["truncated", "not_dicom", "for_processing", "blank", "missing", "unsupported_ts", "box_outside",
             "escape"]


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of a synthetic VinDr-style dataset (defaults: workflow/schemas/synthetic/vindr.schema.yaml)."""

    seed: int
    n_studies: int
    height: int
    width: int
    lesion_fraction: float
    calc_fraction: float
    test_fraction: float
    inject_bad: bool
    transfer_syntaxes: tuple[str, ...]
    difficulty: str
    label_noise: float

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "SyntheticSpec":
        """From the validated `synthetic:` block of a vindr dataset."""
        return from_mapping(cls, cfg, "synthetic (vindr)", transfer_syntaxes=tuple)


def _md5(*parts: object) -> str:
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def _variant(i: int, spec: SyntheticSpec) -> dict[str, Any]:
    """DICOM encoding variant of the i-th image: every combination appears in a small dataset."""
    return {
        "bits_stored": (12, 14, 16)[i % 3],
        "photometric": ("MONOCHROME2", "MONOCHROME1")[(i // 3) % 2],
        "transfer_syntax": spec.transfer_syntaxes[(i // 2) % len(spec.transfer_syntaxes)],
        "window": (i // 5) % 2 == 0,
        "rescale": (i // 7) % 2 == 0,
        "padding": (i // 4) % 2 == 1,
        "lut_inverse": (i % 11) == 3,
    }


def vindr_plan(spec: SyntheticSpec) -> pd.DataFrame:
    """One row per planned image (no pixels): ids, labels, lesions, encoding variant and injected defect."""
    return _plan(spec).copy()


@lru_cache(maxsize=8)
def _plan(spec: SyntheticSpec) -> pd.DataFrame:
    rng = np.random.default_rng(spec.seed)
    hard = spec.difficulty == "hard"
    nrng = np.random.default_rng([spec.seed, 99])  # hard only: its own stream keeps the easy plan unchanged
    rows: list[dict[str, Any]] = []
    n_test = int(round(spec.n_studies * spec.test_fraction))
    test_studies = set(rng.choice(spec.n_studies, size=n_test, replace=False).tolist()) if n_test else set()
    k = 0
    for s in range(spec.n_studies):
        study_id = _md5(spec.seed, "study", s)
        series = {lat: _md5(spec.seed, "series", s, lat) for lat in "LR"}
        split = "test" if s in test_studies else "training"
        density = "DENSITY " + "ABCD"[int(rng.integers(0, 4))]
        for lat in "LR":
            lesions: list[Lesion] = []
            if rng.random() < spec.lesion_fraction:
                kind = "calc" if rng.random() < spec.calc_fraction else "mass"
                size = rng.uniform(0.035, 0.06) if kind == "mass" else rng.uniform(0.025, 0.04)
                lesions.append(Lesion(kind, float(rng.uniform(0.3, 0.65)), float(rng.uniform(-0.5, 0.5)),
                                      float(size), int(rng.integers(0, 2**31))))
                birads = int(rng.choice([3, 4, 5], p=[0.3, 0.5, 0.2]))
                if hard:  # benign (BI-RADS 3) or malignant (4-5) by morphology; a few reports disagree
                    lesions[0].malignant = birads >= 4
                    if nrng.random() < spec.label_noise:
                        birads = int(nrng.choice([2, 4])) if birads == 3 else 3
            else:
                birads = int(rng.choice([1, 2], p=[0.7, 0.3]))
                if hard and nrng.random() < spec.label_noise:
                    birads = 3
            shape_seed = int(rng.integers(0, 2**31))
            for view in ("CC", "MLO"):
                image_id = _md5(spec.seed, "image", s, lat, view)
                rows.append({
                    "study_id": study_id, "series_id": series[lat], "image_id": image_id, "laterality": lat,
                    "view_position": view, "height": spec.height, "width": spec.width,
                    "breast_birads": f"BI-RADS {birads}", "breast_density": density, "split": split,
                    "lesions": lesions, "shape_seed": shape_seed, "render_seed": int(rng.integers(0, 2**31)),
                    "defect": "", **_variant(k, spec),
                })
                k += 1
    if spec.inject_bad:
        rows.extend(_bad_rows(spec, rng))
    df = pd.DataFrame(rows)
    df["source"] = "images/" + df["study_id"] + "/" + df["image_id"] + ".dicom"
    return df


def _bad_rows(spec: SyntheticSpec, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Two extra studies whose images carry one defect each, plus a CSV row whose path escapes the root."""
    out = []
    kinds = BAD_KINDS[:-1]
    for j, defect in enumerate(kinds):
        s = spec.n_studies + j // 4
        lat, view = VIEWS[j % 4]
        lesions = []
        if defect == "box_outside":
            lesions = [Lesion("mass", 0.5, 0.0, 0.05, int(rng.integers(0, 2**31)))]
        out.append({
            "study_id": _md5(spec.seed, "study", s), "series_id": _md5(spec.seed, "series", s, lat),
            "image_id": _md5(spec.seed, "image", s, lat, view), "laterality": lat, "view_position": view,
            "height": spec.height, "width": spec.width,
            "breast_birads": "BI-RADS 4" if lesions else "BI-RADS 1", "breast_density": "DENSITY B",
            "split": "training", "lesions": lesions, "shape_seed": int(rng.integers(0, 2**31)),
            "render_seed": int(rng.integers(0, 2**31)), "defect": defect, **_variant(j, spec),
        })
    out.append({
        "study_id": "../../outside", "series_id": _md5(spec.seed, "series", "escape"),
        "image_id": _md5(spec.seed, "image", "escape"), "laterality": "L", "view_position": "CC",
        "height": spec.height, "width": spec.width, "breast_birads": "BI-RADS 1", "breast_density": "DENSITY B",
        "split": "training", "lesions": [], "shape_seed": 0, "render_seed": 0, "defect": "escape",
        **_variant(0, spec),
    })
    return out


def render_row(row: pd.Series | dict, difficulty: str = "easy") -> Rendered:
    """Render the presentation image and ground truth of one planned image."""
    density = "ABCD".find(str(row["breast_density"])[-1:]) + 1
    return draw.render(draw.ViewPlan(int(row["height"]), int(row["width"]), row["laterality"],
                                     row["view_position"], tuple(row["lesions"]), int(row["render_seed"]),
                                     int(row["shape_seed"]), difficulty, density))


def writes_file(row: pd.Series | dict) -> bool:
    """True if the generator writes a file for this planned row."""
    return row["defect"] not in ("missing", "escape")


def finding_rows(row: pd.Series | dict, rendered: Rendered | None) -> list[dict[str, Any]]:
    """finding_annotations.csv rows of one image (a "['No Finding']" row when it has none)."""
    base = {c: row[c] for c in FINDING_COLUMNS if c in row and c not in ("xmin", "ymin", "xmax", "ymax")}
    out = []
    boxes = list(rendered.boxes) if rendered is not None else []
    kinds = list(rendered.kinds) if rendered is not None else []
    if row["defect"] == "box_outside":
        boxes = [(row["width"] + 40.0, 10.0, row["width"] + 90.0, 60.0)]
        kinds = ["mass"]
    margins = list(rendered.margins) if rendered is not None and row["defect"] != "box_outside" else []
    for i, ((x0, y0, x1, y1), kind) in enumerate(zip(boxes, kinds)):
        distortion = i < len(margins) and margins[i] == "distortion"  # drawn without a mass: VinDr's own label
        cat = "['Architectural Distortion']" if distortion else "['Mass']" if kind == "mass" \
            else "['Suspicious Calcification']"
        out.append({**base, "finding_categories": cat, "finding_birads": row["breast_birads"],
                    "xmin": round(x0, 2), "ymin": round(y0, 2), "xmax": round(x1, 2), "ymax": round(y1, 2)})
    if not out:
        out.append({**base, "finding_categories": "['No Finding']", "finding_birads": np.nan,
                    "xmin": np.nan, "ymin": np.nan, "xmax": np.nan, "ymax": np.nan})
    return out


def generate_vindr(spec: SyntheticSpec, root: str | Path) -> pd.DataFrame:
    """Write the whole synthetic VinDr tree under root; returns the plan."""
    from mammoflow.io.dicom_writer import write_dicom  # local import: pydicom only needed here

    root = Path(root)
    plan = vindr_plan(spec)
    findings: list[dict[str, Any]] = []
    specks: list[dict[str, Any]] = []
    gt_dir = root / "ground_truth"
    gt_dir.mkdir(parents=True, exist_ok=True)
    for _, row in plan.iterrows():
        rendered = None
        if row["defect"] != "escape":
            rendered = render_row(row, spec.difficulty)
            specks.extend({"image_id": row["image_id"], "x": round(x, 3), "y": round(y, 3),
                           "diameter_mm": round(d, 3)} for x, y, d in rendered.specks)
        findings.extend(finding_rows(row, rendered))
        if not writes_file(row):
            continue
        path = root / row["source"]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_dicom(path, rendered.image, row)
        png.write(gt_dir / f"{row['image_id']}_breast.png", rendered.breast.astype(np.uint8) * 255)
        png.write(gt_dir / f"{row['image_id']}_lesion.png", rendered.lesion.astype(np.uint8) * 255)
    plan[BREAST_COLUMNS].to_csv(root / "breast-level_annotations.csv", index=False)
    pd.DataFrame(findings, columns=FINDING_COLUMNS).to_csv(root / "finding_annotations.csv", index=False)
    pd.DataFrame(specks, columns=SPECK_COLUMNS).to_csv(gt_dir / "specks.csv", index=False)
    meta = plan[plan.apply(writes_file, axis=1)]
    pd.DataFrame({
        "SOP Instance UID": meta["image_id"], "Series Instance UID": meta["series_id"],
        "Study Instance UID": meta["study_id"], "Manufacturer": "mammoflow-synthetic",
        "Manufacturer's Model Name": "Phantom 1", "Photometric Interpretation": meta["photometric"],
        "Bits Stored": meta["bits_stored"],
    }).to_csv(root / "metadata.csv", index=False)
    log.info("wrote %d planned images (%d files) to %s", len(plan), len(meta), root)
    return plan


def planned_files(spec: SyntheticSpec) -> dict[str, list[str]]:
    """Relative paths the generator writes, by kind (tables, dicoms, ground_truth)."""
    plan = vindr_plan(spec)
    ok = plan[plan.apply(writes_file, axis=1)]
    return {
        "tables": ["breast-level_annotations.csv", "finding_annotations.csv", "metadata.csv",
                   "ground_truth/specks.csv"],
        "dicoms": ok["source"].tolist(),
        "ground_truth": [f"ground_truth/{i}_{k}.png" for i in ok["image_id"] for k in ("breast", "lesion")],
    }


def generate_job(cfg: dict[str, Any], root: str) -> None:
    """Snakemake entry point: generate the dataset described by a config `synthetic` block under root."""
    generate_vindr(SyntheticSpec.from_config(cfg), root)
