"""NYU exam lists (GMIC/GLAM `exam_list_before_cropping.pkl` format): safe loading, validation, building."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from mammoflow.core import rejections
from mammoflow.core.errors import MammoflowError
from mammoflow.core.paths import is_safe_id
from mammoflow.core.safe_pickle import dump, restricted_load

log = logging.getLogger("mammoflow.datasets.nyu")

VIEWS = ("L-CC", "R-CC", "L-MLO", "R-MLO")  # the original's VIEWS.LIST order
CANCER_KEYS = ("benign", "right_benign", "malignant", "left_benign", "unknown", "right_malignant",
               "left_malignant")
CROP_KEYS = ("window_location", "rightmost_points", "bottommost_points", "distance_from_starting_side")
STAGE = "glam_exam_list"


class ExamListError(MammoflowError):
    """The exam list as a whole is unusable (wrong top-level structure)."""


def orientation(horizontal_flip: str, side: str) -> str:
    """Direction the breast faces in the stored image ('left'/'right'), as the original's image_orientation."""
    if horizontal_flip not in ("YES", "NO"):
        raise ValueError(f"horizontal_flip must be 'YES' or 'NO', not {horizontal_flip!r}")
    if side not in ("L", "R"):
        raise ValueError(f"side must be 'L' or 'R', not {side!r}")
    if horizontal_flip == "YES":
        return "right" if side == "R" else "left"
    return "left" if side == "R" else "right"


def is_right(view: str) -> bool:
    """True for R-CC / R-MLO."""
    return view in ("R-CC", "R-MLO")


def is_cc(view: str) -> bool:
    """True for L-CC / R-CC."""
    return view in ("L-CC", "R-CC")


def view_labels(exam: Mapping[str, Any], view: str) -> tuple[int, int] | None:
    """(benign, malignant) label of the breast shown in `view` (the original's fetch_cancer_label_by_view)."""
    cl = exam.get("cancer_label")
    if not cl:
        return None
    side = "left" if view[0] == "L" else "right"
    return int(cl.get(f"{side}_benign", 0)), int(cl.get(f"{side}_malignant", 0))


def unpack_images(exams: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One dict per image: short_file_path, horizontal_flip, full_view, side, view, exam_index, split,
    labels (benign, malignant) or None, and the per-image crop/centre metadata when present."""
    out = []
    for k, exam in enumerate(exams):
        for view in VIEWS:
            for j, image in enumerate(exam.get(view, [])):
                d = dict(short_file_path=image, horizontal_flip=exam["horizontal_flip"], full_view=view,
                         side=view[0], view=view[2:], exam_index=k, split=exam.get("split"),
                         labels=view_labels(exam, view))
                for key in CROP_KEYS + ("best_center",):
                    if key in exam:
                        d[key] = exam[key][view][j]
                out.append(d)
    return out


def to_jsonable(obj: Any) -> Any:
    """Tuples to lists, recursively (the JSON twin of a builtins-only exam list)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def write_exam_list(exams: list[dict[str, Any]], pkl_path: str | Path, json_path: str | Path | None = None) -> None:
    """Write the exam list as a protocol-4 builtins-only pickle plus an indented JSON twin."""
    dump(exams, pkl_path, protocol=4)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(to_jsonable(exams), indent=1) + "\n")


def load_exam_list(path: str | Path) -> list[dict[str, Any]]:
    """Load an exam list with the restricted unpickler (builtins only) and check its top-level shape."""
    exams = restricted_load(path)
    if not isinstance(exams, list):
        raise ExamListError(f"{path}: an exam list must be a list of dicts, found {type(exams).__name__}")
    for k, exam in enumerate(exams):
        if not isinstance(exam, dict):
            raise ExamListError(f"{path}: exam {k} is a {type(exam).__name__}, not a dict")
    return exams


def _row(image_id: str, source: str, reason: str, stage: str = STAGE) -> dict[str, str]:
    return {"image_id": image_id, "source_path": source, "stage": stage, "reason": reason}


def _int01(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and v in (0, 1):
        return v
    if isinstance(v, float) and v in (0.0, 1.0):
        return int(v)
    return None


def validate_exams(exams: list[Any], source: str, images_dir: str | Path | None = None
                   ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Normalise an exam list and collect rejection rows (bad exams/views/ids, missing files).

    Every kept exam has all four view keys (lists, possibly empty); unusable images are removed."""
    clean: list[dict[str, Any]] = []
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for k, exam in enumerate(exams):
        where = f"{source}: exam {k}"
        if not isinstance(exam, dict):
            rows.append(_row("", source, f"{where} is a {type(exam).__name__}, not a dict; exam skipped"))
            continue
        flip = exam.get("horizontal_flip")
        if flip not in ("YES", "NO"):
            ids = [i for v in VIEWS for i in (exam.get(v) or []) if isinstance(i, str)]
            for i in ids or [""]:
                rows.append(_row(i, source, f"{where}: horizontal_flip must be 'YES' or 'NO', not {flip!r}; "
                                            "exam skipped"))
            continue
        done = [key for key in CROP_KEYS + ("best_center",) if key in exam]
        if done:
            rows.append(_row("", source, f"{where}: already holds {done}; give the list from before cropping"))
            continue
        e = dict(exam)
        for view in VIEWS:
            ids = exam.get(view)
            if ids is None:
                rows.append(_row("", source, f"{where}: view {view} missing (no such key); "
                                             "the exam keeps its other views"))
                ids = []
            elif isinstance(ids, str):
                ids = [ids]
            elif not isinstance(ids, (list, tuple)):
                rows.append(_row("", source, f"{where}: view {view} is a {type(ids).__name__}, not a list of "
                                             "image ids; view dropped"))
                ids = []
            keep = []
            for i in ids:
                if not isinstance(i, str) or not is_safe_id(i):
                    rows.append(_row(str(i), source, f"{where}: image id {i!r} ({view}) is not a safe file stem "
                                                     "(letters, digits, '_' and '-' only)"))
                elif i in seen:
                    rows.append(_row(i, source, f"{where}: image id {i!r} listed twice; later copy dropped"))
                elif images_dir is not None and not (Path(images_dir) / f"{i}.png").is_file():
                    rows.append(_row(i, str(Path(images_dir) / f"{i}.png"),
                                     f"{where}: image file {Path(images_dir) / (i + '.png')} is missing ({view})"))
                else:
                    keep.append(i)
                    seen.add(i)
            e[view] = keep
        if "cancer_label" in exam:
            cl = exam["cancer_label"]
            if not isinstance(cl, dict) or any(_int01(v) is None for v in cl.values()):
                rows.append(_row("", source, f"{where}: cancer_label must be a dict of 0/1 ints; labels dropped"))
                e.pop("cancer_label")
            else:
                e["cancer_label"] = {str(key): _int01(v) for key, v in cl.items()}
        for view in VIEWS:
            for cls in ("benign", "malignant"):
                key = f"{view}_{cls}_seg"
                if key in e:
                    segs = e[key] if isinstance(e[key], (list, tuple)) else [e[key]]
                    e[key] = [s for s in segs if isinstance(s, str) and is_safe_id(s)]
        clean.append(e)
    return clean, rows


def run_validate(exam_list: str, images_dir: str, out_pkl: str, out_json: str, rejected_csv: str) -> None:
    """Snakemake entry point: safe-load + validate a raw NYU exam list, write pkl/JSON and rejection rows."""
    exams = load_exam_list(exam_list)
    clean, rows = validate_exams(exams, exam_list, images_dir)
    write_exam_list(clean, out_pkl, out_json)
    rejections.write(rejected_csv, rows)
    log.info("%d exams, %d images kept, %d rejection rows", len(clean),
             sum(len(e[v]) for e in clean for v in VIEWS), len(rows))


# --------------------------------------------------------------------------------------------------
# Building the exam list from the canonical image table (users of the original asked for this)
# --------------------------------------------------------------------------------------------------

_BIRADS = re.compile(r"(\d)")


def _birads(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    m = _BIRADS.search(str(value))
    return int(m.group(1)) if m else None


def _side_labels(rows: pd.DataFrame, malignant_birads: int) -> tuple[int, int]:
    """(benign, malignant) of one breast from its images' labels and breast BI-RADS."""
    label = pd.to_numeric(rows["label"], errors="coerce").fillna(0).astype(int) if "label" in rows else None
    if "breast_birads" in rows:
        birads = rows["breast_birads"].map(_birads)
        malignant = int(bool((birads.fillna(0) >= malignant_birads).any()))
    else:
        malignant = int(bool(label is not None and (label == 1).any()))
    positive = bool(label is not None and (label == 1).any())
    benign = int(positive and not malignant)
    return benign, malignant


def exam_list_from_table(table: pd.DataFrame, source: str = "images.csv", malignant_birads: int = 4
                         ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Group a canonical image table (image_id, study_id, laterality, view, ...) into NYU exam dicts.

    cancer_label per breast: malignant if a breast BI-RADS >= malignant_birads (or, without BI-RADS, label 1),
    benign if labelled positive otherwise. horizontal_flip from chest_wall_side when present."""
    need = {"image_id", "study_id", "laterality", "view"}
    missing = need - set(table.columns)
    if missing:
        raise ExamListError(f"{source}: missing columns {sorted(missing)}")
    rows_out: list[dict[str, str]] = []
    df = table.copy()
    df["image_id"] = df["image_id"].astype(str)
    df["study_id"] = df["study_id"].astype(str)
    df["laterality"] = df["laterality"].astype(str).str.strip().str.upper()
    df["view"] = df["view"].astype(str).str.strip().str.upper()
    ok = df["laterality"].isin(["L", "R"]) & df["view"].isin(["CC", "MLO"]) & df["image_id"].map(is_safe_id)
    for r in df[~ok].itertuples():
        rows_out.append(_row(r.image_id, source, f"{source}: image {r.image_id!r} has laterality {r.laterality!r} "
                                                 f"and view {r.view!r}; GLAM uses L/R x CC/MLO with safe ids"))
    df = df[ok]
    exams = []
    for study, g in sorted(df.groupby("study_id", sort=True), key=lambda kv: kv[0]):
        g = g.sort_values("image_id", kind="stable")
        if "chest_wall_side" in g:
            expected = g["laterality"].map({"L": "left", "R": "right"})
            mirrored = (g["chest_wall_side"].astype(str).str.lower() != expected).to_numpy()
        else:
            mirrored = pd.Series(False, index=g.index).to_numpy()
        flip = "YES" if mirrored.sum() * 2 > len(mirrored) else "NO"
        bad = mirrored if flip == "NO" else ~mirrored
        for image_id in g["image_id"][bad]:
            rows_out.append(_row(image_id, source, f"{source}: study {study}: image {image_id} is mirrored unlike "
                                                   f"the rest of the exam (horizontal_flip {flip}); run the "
                                                   "preprocessing with flip_to: none"))
        g = g[~bad]
        exam: dict[str, Any] = {"horizontal_flip": flip}
        for view in VIEWS:
            side, v = view.split("-")
            exam[view] = g[(g["laterality"] == side) & (g["view"] == v)]["image_id"].tolist()
        lb, lm = _side_labels(g[g["laterality"] == "L"], malignant_birads)
        rb, rm = _side_labels(g[g["laterality"] == "R"], malignant_birads)
        exam["cancer_label"] = {"benign": int(lb or rb), "right_benign": rb, "malignant": int(lm or rm),
                                "left_benign": lb, "unknown": 0, "right_malignant": rm, "left_malignant": lm}
        exam["exam_id"] = study
        if "split" in g:
            splits = sorted(set(g["split"].astype(str)))
            exam["split"] = splits[0] if len(splits) == 1 else ",".join(splits)
        exams.append(exam)
    return exams, rows_out


def run_from_table(images_csv: str, out_pkl: str, out_json: str, rejected_csv: str,
                   malignant_birads: int = 4) -> None:
    """Snakemake entry point: exam list (pkl + JSON) from results/{dataset}/tables/images.csv."""
    table = pd.read_csv(images_csv, dtype={"image_id": str, "study_id": str})
    exams, rows = exam_list_from_table(table, images_csv, malignant_birads)
    write_exam_list(exams, out_pkl, out_json)
    rejections.write(rejected_csv, rows)
    log.info("%d exams from %s, %d rejection rows", len(exams), images_csv, len(rows))


def dataset_layout(dataset: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """Where the GLAM preparation of a dataset starts: images folder, raw exam list, exam-list stage name.

    format nyu: root/images + root/exam_list_before_cropping.pkl; format vindr: the preprocessed PNGs and the
    exam list built from results/{dataset}/tables/images.csv."""
    root = str(spec.get("root", ""))
    if spec.get("format") == "nyu":
        return {"images": str(Path(root) / "images"), "raw_exam_list": str(Path(root) / "exam_list_before_cropping.pkl"),
                "exam_list": "exam_list"}
    return {"images": f"results/{dataset}/preprocessed", "raw_exam_list": "", "exam_list": "exam_list_from_table"}
