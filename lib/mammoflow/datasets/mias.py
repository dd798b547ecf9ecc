"""mini-MIAS: Info.txt (one row per abnormality) + mdbNNN.pgm (P5, 8-bit, square, origin bottom-left).

Row form: `REFNUM BG CLASS [SEVERITY [X Y RADIUS]]`; X, Y are the lesion centre with the origin at the
bottom-left corner (row = height - Y), RADIUS encloses the abnormality. `*NOTE 3*` in place of X, and
abnormal rows without coordinates, become image-level findings without a box. Refs 2k-1 and 2k are the
two breasts of one woman (the patient key)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from mammoflow.core.errors import ImageRejected
from mammoflow.core.paths import confined
from mammoflow.datasets import annotations as ann
from mammoflow.io import raster

FORMAT = "mias"
CANVAS_MAPS = ("lesion_masks",)  # what preprocessing draws on the canvas besides the breast mask
READS_IMAGES = True  # the annotation step checks image headers (sizes)
INFO = "Info.txt"
CATEGORY = {"CALC": "calcification", "CIRC": "mass", "SPIC": "mass", "MISC": "mass", "ARCH": "distortion",
            "ASYM": "asymmetry"}
PATHOLOGY = {"B": "benign", "M": "malignant"}
INFO_COLUMNS = ["refnum", "background", "abnormality", "severity", "x", "y", "radius", "line"]
EXTRA_IMAGE = ["mias_background"]
EXTRA_FINDING = ["mias_class"]
_REF = re.compile(r"^mdb(\d{3})$")

lesion_mask = ann.lesion_mask


def parse_info(lines: Iterable[str]) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Info.txt rows as a table (coordinates '' when absent) and the malformed lines (number, text)."""
    rows, bad = [], []
    for n, line in enumerate(lines, start=1):
        tok = line.split()
        if not tok or not _REF.match(tok[0]):
            continue  # header, blank or comment line
        rest = tok[3:]
        severity = rest.pop(0) if rest and rest[0] in PATHOLOGY else ""
        coords = rest[:3] if len(rest) >= 3 and all(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in rest[:3]) else []
        note = bool(rest) and rest[0].startswith("*")
        if len(tok) < 3 or tok[2] not in set(CATEGORY) | {"NORM"} or (rest and not coords and not note) \
                or (tok[2] != "NORM" and not severity):
            bad.append((n, line.rstrip("\n")))
            continue
        rows.append({"refnum": tok[0], "background": tok[1], "abnormality": tok[2], "severity": severity,
                     "x": coords[0] if coords else "", "y": coords[1] if coords else "",
                     "radius": coords[2] if coords else "", "line": n})
    return pd.DataFrame(rows, columns=INFO_COLUMNS), bad


def read_info(root: str | Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """Parse root/Info.txt."""
    path = Path(root) / INFO
    if not path.is_file():
        raise FileNotFoundError(f"dataset root {root} has no {INFO} (mini-MIAS layout)")
    return parse_info(path.read_text(errors="replace").splitlines())


def patient_of(refnum: str) -> str:
    """mdb001 and mdb002 -> 'mias_001' (the two breasts of one woman)."""
    return f"mias_{(int(refnum[3:]) + 1) // 2:03d}"


def index_files(root: str | Path) -> list[str]:
    """The annotation file the adapter reads besides the listed images: Info.txt."""
    return [str(Path(root) / INFO)]


def listing(root: str | Path) -> pd.DataFrame:
    """One row per image named in Info.txt, plus rejected rows for PGMs that Info.txt does not name."""
    info, bad = read_info(root)
    pgms = sorted(f for f in os.listdir(root) if f.lower().endswith(".pgm"))
    return listing_from_index(root, info, bad, pgms)


def listing_from_index(root: str | Path, info: pd.DataFrame, bad: list[tuple[int, str]], pgms: list[str],
                       exists: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """Listing from a parsed Info.txt, its malformed lines and the PGM file names present."""
    refs = list(dict.fromkeys(info["refnum"]))
    malformed = {}
    for n, text in bad:
        ref = text.split()[0]
        malformed[ref] = f"{Path(root) / INFO}: line {n} is malformed ({text.strip()!r})"
        if ref not in refs:
            refs.append(ref)
    rows = [{"image_id": r, "patient_id": patient_of(r), "study_id": patient_of(r), "view": "MLO",
             "source": f"{r}.pgm", "listing_reason": malformed.get(r, "")} for r in refs]
    named = set(refs)
    rows += [{"image_id": ann.safe_id(os.path.splitext(f)[0]), "source": f,
              "listing_reason": f"{Path(root) / f}: image not named in {INFO}"}
             for f in pgms if os.path.splitext(f)[0] not in named]
    df = pd.DataFrame(rows, columns=ann.LISTING_COLUMNS)
    return ann.finish_listing(df, root, exists)


def annotate(root: str | Path) -> ann.Annotations:
    """Image labels and circle findings (boxes in pixel rows from the top) of the usable images."""
    info, _ = read_info(root)
    info = info.drop(columns="line").drop_duplicates()  # a repeated identical row is one finding
    lst = ann.usable(listing(root))
    images, findings, rejected = [], [], []
    for r in lst.itertuples():
        rows = info[info["refnum"] == r.image_id]
        path = confined(root, r.source)
        try:
            shape = raster.shape(path)
            found = [_finding(f, r.image_id, k, shape, path)
                     for k, f in enumerate(rows[rows["abnormality"] != "NORM"].itertuples())]
        except ImageRejected as exc:
            rejected.append(ann.reject(r.image_id, exc.path, exc.reason))
            continue
        sev = set(rows["severity"]) - {""}
        pathology = "malignant" if "M" in sev else "benign" if "B" in sev else "normal" if len(rows) else ""
        images.append({"image_id": r.image_id, "breast_birads": "", "breast_density": "", "pathology": pathology,
                       "label": int(bool(found)), "mias_background": rows["background"].iloc[0]})
        findings += found
    return ann.Annotations(ann.image_frame(images, EXTRA_IMAGE), ann.finding_frame(findings, EXTRA_FINDING),
                           rejected)


def _finding(f: Any, image_id: str, k: int, shape: tuple[int, int], path: Path) -> dict[str, Any]:
    """One abnormality row -> a finding (circle -> box clipped to the image; no box without coordinates)."""
    cls, severity, x, y, radius = f.abnormality, f.severity, f.x, f.y, f.radius
    out = {"finding_id": f"{image_id}_{k}", "image_id": image_id, "category": CATEGORY[cls],
           "pathology": PATHOLOGY.get(severity, ""), "finding_birads": "", "mask_source": "", "geometry": "{}",
           "xmin": np.nan, "ymin": np.nan, "xmax": np.nan, "ymax": np.nan, "mias_class": cls}
    if x == "":
        return out
    h, w = shape
    cx, cy, rad = float(x), float(h) - float(y), float(radius)
    if not (0 <= cx < w and 0 <= cy < h) or rad <= 0:
        raise ImageRejected(str(path), f"{INFO} gives the {cls} centre (X {x}, Y {y}, radius {radius}) "
                                       f"outside the {w}x{h} image")
    out.update(xmin=max(0.0, cx - rad), ymin=max(0.0, cy - rad), xmax=min(float(w), cx + rad),
               ymax=min(float(h), cy + rad), geometry=ann.geometry_json({"circle": [cx, cy, rad]}))
    return out
