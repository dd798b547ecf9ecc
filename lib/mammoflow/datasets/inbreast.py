"""INbreast: AllDICOMs/<id>_<hash>_MG_<L|R>_<CC|ML>_ANON.dcm, semicolon INbreast.csv, AllXML/<id>.xml plists.

The 8-digit file id joins the three; the hash groups one patient's images. ROIs (OsiriX plist export) carry
`Point_px` strings "(x, y)" in full-resolution pixels; ROIs of one or two points (single calcifications)
become small disks. INbreast gives no pathology: the usual BI-RADS proxy is used (>= 4 malignant, 2-3
benign, 1 normal). `write_json` writes the seed-002 files xml.json, csv.json and dataset.json."""

from __future__ import annotations

import json
import os
import plistlib
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import annotations as ann
from mammoflow.io import raster

FORMAT = "inbreast"
CANVAS_MAPS = ("lesion_masks",)  # what preprocessing draws on the canvas besides the breast mask
READS_IMAGES = True  # the annotation step checks image headers (sizes)
CSV = "INbreast.csv"
CSV_COLUMNS = ["Patient ID", "Patient age", "Laterality", "View", "Acquisition date", "File Name", "ACR", "Bi-Rads"]
ROI_KEYS = ["Area", "Center", "Dev", "IndexInImage", "Max", "Mean", "Min", "Name", "NumberOfPoints", "Point_px",
            "Total", "Type"]  # what the seed keeps of the 13 keys (Point_mm dropped)
POINT_RADIUS = 3  # px; the seed's disk radius for one-point ROIs
NAMES = {"mass": "Mass", "spiculated region": "Spiculated Region", "espiculated region": "Spiculated Region",
         "calcification": "Calcification", "calcifications": "Calcification", "cluster": "Cluster",
         "distortion": "Distortion", "asymmetry": "Asymmetry", "assymetry": "Asymmetry"}
CATEGORY = {"Mass": "mass", "Spiculated Region": "mass", "Calcification": "calcification",
            "Cluster": "calcification", "Distortion": "distortion", "Asymmetry": "asymmetry"}
EXTRA_IMAGE = ["inbreast_birads", "inbreast_acquisition"]
EXTRA_FINDING = ["inbreast_name"]
_DICOM = re.compile(r"^(\d+)_([0-9A-Za-z]+)_MG_([LR])_(CC|MLO|ML)_ANON\.dcm$", re.IGNORECASE)
_POINT = re.compile(r"^\(\s*(-?[\d.eE+-]+)\s*,\s*(-?[\d.eE+-]+)\s*(?:,\s*-?[\d.eE+-]+\s*)?\)$")

lesion_mask = ann.lesion_mask


def read_csv(root: str | Path) -> pd.DataFrame:
    """INbreast.csv (semicolon-separated) with every cell stripped."""
    path = Path(root) / CSV
    if not path.is_file():
        raise FileNotFoundError(f"dataset root {root} has no {CSV} (INbreast layout)")
    df = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: columns {missing} missing (semicolon-separated {CSV} expected)")
    return df[CSV_COLUMNS].apply(lambda c: c.str.strip())


def index_files(root: str | Path) -> list[str]:
    """The annotation files the adapter reads besides the listed images: INbreast.csv and AllXML/*.xml."""
    xml = Path(root) / "AllXML"
    return [str(Path(root) / CSV)] + (sorted(str(p) for p in xml.glob("*.xml")) if xml.is_dir() else [])


def listing(root: str | Path) -> pd.DataFrame:
    """One row per INbreast.csv image (plus rejected rows for DICOMs the CSV does not name)."""
    folder = Path(root) / "AllDICOMs"
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    return listing_from_index(root, read_csv(root), names)


def listing_from_index(root: str | Path, csv: pd.DataFrame, dicoms: list[str],
                       exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing from INbreast.csv and the AllDICOMs file names."""
    by_id: dict[str, list[tuple[str, re.Match]]] = {}
    for name in dicoms:
        m = _DICOM.match(name)
        if m:
            by_id.setdefault(m.group(1), []).append((name, m))
    merged, clash = ann.identical_or_conflicting(csv, ["File Name"])
    clashing = set(clash["File Name"])
    rows = []
    for r in pd.concat([merged, clash.drop_duplicates("File Name")]).to_dict("records"):
        fid = r["File Name"]
        files = by_id.get(fid, [])
        row = {"image_id": fid, "source": f"AllDICOMs/{files[0][0]}" if len(files) == 1 else f"AllDICOMs/{fid}",
               "laterality": r["Laterality"], "view": r["View"], "listing_reason": ""}
        if fid in clashing:
            row["listing_reason"] = f"{Path(root) / CSV}: conflicting rows for File Name {fid}"
        elif not files:
            row["listing_reason"] = f"{Path(root) / 'AllDICOMs'}: no {fid}_*_MG_*_ANON.dcm for this {CSV} row"
        elif len(files) > 1:
            row["listing_reason"] = f"duplicated image id {fid!r} (files: {', '.join(n for n, _ in files)})"
        else:
            m = files[0][1]
            row.update(patient_id=m.group(2), study_id=f"{m.group(2)}_{r['Acquisition date']}")
            view = "MLO" if m.group(4).upper().startswith("ML") else "CC"
            if (m.group(3).upper(), view) != (r["Laterality"].upper(), r["View"].upper()):
                row["listing_reason"] = (f"{Path(root) / row['source']}: file name says {m.group(3)} {view}, "
                                         f"{CSV} says {r['Laterality']} {r['View']}")
        rows.append(row)
    named = set(csv["File Name"])
    rows += [{"image_id": fid, "source": f"AllDICOMs/{n}", "listing_reason": f"{Path(root) / 'AllDICOMs' / n}: "
              f"not named in {CSV}"} for fid, fs in by_id.items() if fid not in named for n, _ in fs]
    return ann.finish_listing(pd.DataFrame(rows, columns=ann.LISTING_COLUMNS), root, exists)


def parse_point(text: str) -> tuple[float, float]:
    """'(1234.56, 2345.67)' -> (x, y); ValueError when malformed."""
    m = _POINT.match(str(text).strip())
    if not m:
        raise ValueError(f"malformed point {text!r}")
    return float(m.group(1)), float(m.group(2))


def read_xml(path: str | Path) -> list[dict[str, Any]]:
    """The ROI dicts of an OsiriX plist export; ImageRejected naming the file when it is malformed."""
    try:
        with open(path, "rb") as fh:
            doc = plistlib.load(fh, fmt=plistlib.FMT_XML)
        rois = [roi for image in doc["Images"] for roi in image["ROIs"]]
        for roi in rois:
            if not isinstance(roi, dict) or "Point_px" not in roi or "Name" not in roi:
                raise KeyError("ROI without Name/Point_px")
    except (plistlib.InvalidFileException, KeyError, TypeError, ValueError) as exc:
        raise ImageRejected(str(path), f"malformed ROI plist ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # expat errors of a truncated or non-XML file
        raise ImageRejected(str(path), f"unreadable ROI plist ({type(exc).__name__}: {str(exc)[:120]})") from None
    return rois


def normal_name(name: str) -> str:
    """The ROI Name with the release's typos normalised ('Espiculated Region' -> 'Spiculated Region')."""
    return NAMES.get(str(name).strip().lower(), str(name).strip())


def roi_finding(roi: dict[str, Any], shape: tuple[int, int], path: Path) -> dict[str, Any]:
    """Category, geometry and box of one ROI; points outside the image raise ImageRejected."""
    try:
        pts = np.array([parse_point(p) for p in roi["Point_px"]], dtype=np.float64).reshape(-1, 2)
    except ValueError as exc:
        raise ImageRejected(str(path), f"ROI {roi.get('IndexInImage', '?')}: {exc}") from None
    h, w = shape
    if not len(pts):
        raise ImageRejected(str(path), f"ROI {roi.get('IndexInImage', '?')} has no points")
    if (pts < 0).any() or (pts[:, 0] > w).any() or (pts[:, 1] > h).any():
        raise ImageRejected(str(path), f"ROI {roi.get('IndexInImage', '?')} ({roi['Name']}) has points outside "
                                       f"the {w}x{h} image")
    name = normal_name(roi["Name"])
    geometry = ({"polygon": np.round(pts, 3).tolist()} if len(pts) >= 3
                else {"points": np.round(pts, 3).tolist(), "radius": POINT_RADIUS})
    x0, y0, x1, y1 = ann.geometry_box(geometry)  # type: ignore[misc]
    return {"category": CATEGORY.get(name, "other"), "inbreast_name": name,
            "xmin": max(0.0, x0), "ymin": max(0.0, y0), "xmax": min(float(w), x1), "ymax": min(float(h), y1),
            "geometry": ann.geometry_json(geometry), "mask_source": ""}


def proxy_pathology(birads: str) -> str:
    """BI-RADS proxy of INbreast: >= 4 malignant, 2-3 benign, 1 normal, '' when absent."""
    s = str(birads).strip()
    if not s[:1].isdigit():
        return ""
    n = int(s[0])
    return "malignant" if n >= 4 else "benign" if n >= 2 else "normal"


def annotate(root: str | Path) -> ann.Annotations:
    """Image labels from INbreast.csv and ROI findings from AllXML of the usable images."""
    csv = read_csv(root).drop_duplicates().set_index("File Name")
    lst = ann.usable(listing(root))
    images, findings, rejected = [], [], []
    for r in lst.itertuples():
        c = csv.loc[r.image_id]
        pathology = proxy_pathology(c["Bi-Rads"])
        xml = Path(root) / "AllXML" / f"{r.image_id}.xml"
        try:
            rois = read_xml(xml) if xml.is_file() else []
            shape = raster.shape(confined(root, r.source)) if rois else (0, 0)
            found = [roi_finding(roi, shape, xml) for roi in rois]
        except ImageRejected as exc:
            rejected.append(ann.reject(r.image_id, exc.path, exc.reason))
            continue
        for k, f in enumerate(found):
            findings.append({"finding_id": f"{r.image_id}_{k}", "image_id": r.image_id, "pathology": pathology,
                             "finding_birads": ann.birads_text(c["Bi-Rads"]), **f})
        images.append({"image_id": r.image_id, "breast_birads": ann.birads_text(c["Bi-Rads"]),
                       "breast_density": ann.density_letter(c["ACR"]), "pathology": pathology,
                       "label": int(bool(found)), "inbreast_birads": c["Bi-Rads"],
                       "inbreast_acquisition": c["Acquisition date"]})
    return ann.Annotations(ann.image_frame(images, EXTRA_IMAGE), ann.finding_frame(findings, EXTRA_FINDING),
                           rejected)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return v


def seed_json(root: str | Path) -> dict[str, dict[str, Any]]:
    """The seed-002 structures: xml (per file id + total_xml_files), csv (per file id), dataset (merged)."""
    xml: dict[str, Any] = {}
    folder = Path(root) / "AllXML"
    for name in sorted(os.listdir(folder)) if folder.is_dir() else []:
        if not name.lower().endswith(".xml"):
            continue
        try:
            rois = read_xml(folder / name)
        except ImageRejected:
            continue  # the annotation step reports it
        xml[name[:-4]] = {"NumberOfROIs": len(rois),
                          "ROIs": [{k: _jsonable(roi.get(k)) for k in ROI_KEYS} for roi in rois]}
    xml_out = {**xml, "total_xml_files": len(xml)}
    csv_out: dict[str, Any] = {}
    for i, r in enumerate(read_csv(root).to_dict("records")):
        birads, acr = r["Bi-Rads"], r["ACR"]
        csv_out.setdefault(r["File Name"], {
            "Index": i, "FileName": r["File Name"], "PatientID": r["Patient ID"], "ViewPosition": r["View"],
            "Date": r["Acquisition date"], "BIRADS": int(birads[0]) if birads[:1].isdigit() else None,
            "ACR": int(acr) if acr.isdigit() else None})
    dataset = {k: {**v, "NumberOfROIs": xml.get(k, {}).get("NumberOfROIs", 0),
                   "ROIs": xml.get(k, {}).get("ROIs", [])} for k, v in csv_out.items()}
    return {"xml": xml_out, "csv": csv_out, "dataset": dataset}


def write_json(root: str | Path, xml_json: str | Path, csv_json: str | Path, dataset_json: str | Path) -> None:
    """Write the seed-002 JSON files (indented, keys in a stable order)."""
    data = seed_json(root)
    for key, path in (("xml", xml_json), ("csv", csv_json), ("dataset", dataset_json)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data[key], indent=2) + "\n")
