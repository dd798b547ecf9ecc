"""S and S10 patch sets (seed 000 section 1.2): lesion-centred, lesion-near and breast-tissue background patches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from mammoflow.core.determinism import rng_for
from mammoflow.core import rejections
from mammoflow.io import png
from mammoflow.core.errors import ImageRejected
from mammoflow.core.config import from_mapping

log = logging.getLogger("mammoflow.pipelines.nus.patches")

SETS = ("s", "s10")
SPLITS = ("training", "test")
PATCH_COLUMNS = ["path", "label", "image_id", "split", "set"]
STAGE = "patches"
TABLE_COLUMNS = PATCH_COLUMNS + ["finding_id", "kind", "cy", "cx", "tissue"]


@dataclass(frozen=True)
class PatchConfig:
    """Sampling knobs of the `seed000.patches` section (defaults: the seed's values, in the schema)."""

    size: int
    nb_abn: int
    nb_bkg: int
    pos_cutoff: float
    cutoff_step: float
    tries_per_cutoff: int
    min_tissue: float
    bkg_margin: int
    normal_bkg_s: int
    normal_bkg_s10: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "PatchConfig":
        """From the validated `seed000.patches` section (keys that are not sampling knobs are ignored)."""
        return from_mapping(cls, cfg, "seed000.patches")


# ----------------------------------------------------------------------------- geometry


def patch_rect(cy: int, cx: int, size: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the size x size patch centred on (cy, cx); the centre pixel is at index size//2."""
    y0, x0 = int(cy) - size // 2, int(cx) - size // 2
    return y0, x0, y0 + size, x0 + size


def box_area(b: tuple[float, float, float, float]) -> float:
    """Area of a (y0, x0, y1, x1) box (0 if empty)."""
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def intersection(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection area of two (y0, x0, y1, x1) boxes."""
    return box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def overlap_ok(patch: tuple[float, ...], roi: tuple[float, ...], cutoff: float) -> bool:
    """Seed overlap test: |P and R|/|R| > cutoff or |P and R|/|P| > cutoff (small lesions fully inside pass)."""
    inter = intersection(patch, roi)
    ar, ap = box_area(roi), box_area(patch)
    return (ar > 0 and inter / ar > cutoff) or (ap > 0 and inter / ap > cutoff)


def crop(img: np.ndarray, cy: int, cx: int, size: int) -> np.ndarray:
    """Patch centred on (cy, cx), zero-filled where it leaves the image (= the seed's half-patch zero padding)."""
    y0, x0, y1, x1 = patch_rect(cy, cx, size)
    out = np.zeros((size, size), dtype=img.dtype)
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y1, img.shape[0]), min(x1, img.shape[1])
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return out


def pixel_box(finding: Mapping[str, Any], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Canvas box (y0, x0, y1, x1) in whole pixels, clipped to the image; None if it is empty or not finite."""
    vals = [finding.get(k) for k in ("rymin", "rxmin", "rymax", "rxmax")]
    try:
        f = [float(v) for v in vals]
    except (TypeError, ValueError):
        return None
    if not all(np.isfinite(f)):
        return None
    h, w = shape
    y0, x0 = int(np.clip(np.floor(f[0]), 0, h)), int(np.clip(np.floor(f[1]), 0, w))
    y1, x1 = int(np.clip(np.ceil(f[2]), 0, h)), int(np.clip(np.ceil(f[3]), 0, w))
    if y1 <= y0 or x1 <= x0:
        return None
    return y0, x0, y1, x1


def tissue_map(mask: np.ndarray, size: int) -> np.ndarray:
    """Fraction of breast pixels in the patch centred on every pixel (0 where the patch leaves the image)."""
    m = (mask > 0).astype(np.float64)
    h, w = m.shape
    ii = np.zeros((h + 1, w + 1))
    ii[1:, 1:] = m.cumsum(0).cumsum(1)
    out = np.zeros((h, w))
    lo = size // 2
    hi = size - lo
    if h < size or w < size:
        return out
    ys = np.arange(lo, h - hi + 1)
    xs = np.arange(lo, w - hi + 1)
    y0, y1 = ys - lo, ys + hi
    x0, x1 = xs - lo, xs + hi
    s = ii[np.ix_(y1, x1)] - ii[np.ix_(y0, x1)] - ii[np.ix_(y1, x0)] + ii[np.ix_(y0, x0)]
    out[np.ix_(ys, xs)] = s / float(size * size)
    return out


def free_centres(shape: tuple[int, int], boxes: Iterable[tuple[int, int, int, int]], size: int,
                 margin: int = 0) -> np.ndarray:
    """Boolean map of patch centres whose patch does not touch any box (boxes grown by margin)."""
    h, w = shape
    ok = np.ones((h, w), dtype=bool)
    lo, hi = size // 2, size - size // 2
    for y0, x0, y1, x1 in boxes:
        # patch rows [cy-lo, cy+hi) intersect box rows [y0-m, y1+m) iff cy in (y0-m-hi, y1+m+lo)
        ya, yb = max(y0 - margin - hi + 1, 0), min(y1 + margin + lo, h)
        xa, xb = max(x0 - margin - hi + 1, 0), min(x1 + margin + lo, w)
        if yb > ya and xb > xa:
            ok[ya:yb, xa:xb] = False
    return ok


# ----------------------------------------------------------------------------- sampling


@dataclass
class Patch:
    """One sampled patch: centre, label, set and provenance."""

    set: str
    kind: str  # roi | abn | bkg
    label: int
    cy: int
    cx: int
    finding: int  # index of the finding in the image (-1 for backgrounds)
    k: int  # index within its kind
    tissue: float = float("nan")


def sample_abnormal(box: tuple[int, int, int, int], n: int, cfg: PatchConfig,
                    rng: np.random.Generator) -> list[tuple[int, int]]:
    """n centres inside the box whose patch passes the overlap test; cutoff relaxes after every tries_per_cutoff misses."""
    y0, x0, y1, x1 = box
    cutoff = cfg.pos_cutoff
    out: list[tuple[int, int]] = []
    misses = 0
    while len(out) < n:
        cy, cx = int(rng.integers(y0, y1)), int(rng.integers(x0, x1))
        if overlap_ok(patch_rect(cy, cx, cfg.size), box, cutoff):
            out.append((cy, cx))
            misses = 0
            continue
        misses += 1
        if misses >= cfg.tries_per_cutoff:
            cutoff -= cfg.cutoff_step
            misses = 0
            if cutoff <= 0:
                raise ValueError(f"no patch passes the overlap test even at cutoff {cutoff + cfg.cutoff_step:.2f}")
    return out


def sample_backgrounds(valid: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """n distinct centres drawn uniformly from the valid-centre map (fewer if fewer exist)."""
    idx = np.flatnonzero(valid.ravel())
    if idx.size == 0 or n <= 0:
        return []
    pick = rng.choice(idx, size=min(n, idx.size), replace=False)
    w = valid.shape[1]
    return [(int(i // w), int(i % w)) for i in pick]


def plan_image(image_id: str, shape: tuple[int, int], mask: np.ndarray | None, findings: list[Mapping[str, Any]],
               cfg: PatchConfig, seed: int = 0, label: int = 0) -> tuple[list[Patch], list[dict[str, str]]]:
    """All patches of one image (every finding plus backgrounds avoiding all findings) and rejection reasons.

    The random stream is seeded from the image id, so the result does not depend on the other images.
    """
    rng = rng_for(image_id, "patches", seed)
    patches: list[Patch] = []
    problems: list[dict[str, str]] = []
    boxes: list[tuple[int, int, int, int]] = []
    n_ok = 0
    for j, f in enumerate(findings):
        fid = str(f.get("finding_id", j))
        box = pixel_box(f, shape)
        if box is None:
            problems.append({"finding_id": fid, "reason": "finding box is empty, not finite or outside the canvas"})
            continue
        boxes.append(box)
        y0, x0, y1, x1 = box
        # S: patch centred on the ROI's centre of mass (the box centre for a rectangular ROI)
        patches.append(Patch("s", "roi", 1, (y0 + y1 - 1) // 2, (x0 + x1 - 1) // 2, j, 0))
        try:
            cents = sample_abnormal(box, cfg.nb_abn, cfg, rng)
        except ValueError as exc:
            problems.append({"finding_id": fid, "reason": str(exc)})
            continue
        patches.extend(Patch("s10", "abn", 1, cy, cx, j, k) for k, (cy, cx) in enumerate(cents))
        n_ok += 1
    n_unusable = len(findings) - len(boxes)
    if findings and not boxes:
        return patches, problems  # no usable box: the lesion location is unknown, no background is safe
    if not findings and int(label) == 1:
        problems.append({"finding_id": "", "reason": "positive image without a finding box: no safe background"})
        return patches, problems
    if n_unusable:
        # an unusable box still marks a lesion somewhere in this image; backgrounds would not be safe
        problems.append({"finding_id": "", "reason": "image has an unusable finding box: no background sampled"})
        return patches, problems
    if boxes:
        n_s, n_s10 = len(boxes), cfg.nb_bkg * len(boxes)
    else:
        n_s, n_s10 = cfg.normal_bkg_s, cfg.normal_bkg_s10
    if n_s + n_s10 == 0:
        return patches, problems
    if mask is None or not np.any(mask):
        problems.append({"finding_id": "", "reason": "breast mask is empty: no background patch with tissue"})
        return patches, problems
    tis = tissue_map(mask, cfg.size)
    valid = (tis >= max(cfg.min_tissue, 1e-9)) & free_centres(shape, boxes, cfg.size, cfg.bkg_margin)
    cents = sample_backgrounds(valid, n_s + n_s10, rng)
    if len(cents) < n_s + n_s10:
        problems.append({"finding_id": "", "reason": f"only {len(cents)} of {n_s + n_s10} background positions "
                         f"with >= {cfg.min_tissue:.2f} tissue outside every finding"})
    for k, (cy, cx) in enumerate(cents):
        st = "s" if k < n_s else "s10"
        patches.append(Patch(st, "bkg", 0, cy, cx, -1, k if k < n_s else k - n_s, float(tis[cy, cx])))
    return patches, problems


# ----------------------------------------------------------------------------- I/O


def patch_name(image_id: str, p: Patch) -> str:
    """File name of a patch: image id, finding index, kind and index."""
    if p.kind == "bkg":
        return f"{image_id}_bkg{p.k}.png"
    if p.kind == "roi":
        return f"{image_id}_f{p.finding}_roi.png"
    return f"{image_id}_f{p.finding}_abn{p.k}.png"


def process_image(row: Mapping[str, Any], findings: list[Mapping[str, Any]], out_dirs: Mapping[tuple[str, str], Path],
                  cfg: PatchConfig, seed: int) -> tuple[list[dict], list[dict]]:
    """Sample and write the patches of one image; returns patch-table rows and rejection rows."""
    image_id, split = str(row["image_id"]), str(row["split"])
    img = png.read(row["png_path"])
    mask = png.read(row["mask_path"]) if row.get("mask_path") else (img > 0).astype(np.uint8)
    if mask.shape != img.shape:
        raise ImageRejected(str(row["mask_path"]), f"mask shape {mask.shape} != image shape {img.shape}")
    if not np.any(mask):
        raise ImageRejected(str(row["mask_path"]), "breast mask is empty (no breast tissue)")
    label = int(float(row.get("label", 0) or 0))
    patches, problems = plan_image(image_id, img.shape, mask, findings, cfg, seed=seed, label=label)
    rows = []
    for p in patches:
        out = Path(out_dirs[(split, p.set)]) / patch_name(image_id, p)
        png.write(out, crop(img, p.cy, p.cx, cfg.size))
        fid = str(findings[p.finding].get("finding_id", p.finding)) if p.finding >= 0 else ""
        rows.append({"path": out.as_posix(), "label": p.label, "image_id": image_id, "split": split, "set": p.set,
                     "finding_id": fid, "kind": p.kind, "cy": p.cy, "cx": p.cx, "tissue": p.tissue})
    src = row["png_path"]
    rej = [rejections.row(image_id, src, STAGE, f"{src}: " + (f"[finding {q['finding_id']}] " if q["finding_id"] else "")
                          + q["reason"]) for q in problems]
    return rows, rej


def run_shard(images_csv: str | Path, findings_csv: str | Path, image_ids: Iterable[str],
              out_dirs: Mapping[tuple[str, str], str | Path], table_out: str | Path, rejected_out: str | Path,
              cfg: PatchConfig, seed: int = 0) -> pd.DataFrame:
    """Patches of one shard's images: per-image PNGs in out_dirs[(split, set)], a patch table and a rejection table."""
    images = pd.read_csv(images_csv, dtype={"image_id": str, "study_id": str}, keep_default_na=False)
    findings = pd.read_csv(findings_csv, dtype={"image_id": str, "finding_id": str})
    dirs = {k: Path(v) for k, v in out_dirs.items()}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    wanted = set(map(str, image_ids))
    by_image = {k: g.sort_values("finding_id").to_dict("records") for k, g in findings.groupby("image_id")}
    rows: list[dict] = []
    rejected: list[dict] = []
    for row in images[images["image_id"].isin(wanted)].sort_values("image_id").to_dict("records"):
        iid = row["image_id"]
        try:
            if (str(row["split"]), "s") not in dirs:
                raise ImageRejected(iid, f"unknown split {row['split']!r}")
            r, j = process_image(row, by_image.get(iid, []), dirs, cfg, seed)
            rows.extend(r)
            rejected.extend(j)
        except ImageRejected as exc:
            log.warning("rejected %s", exc)
            rejected.append(rejections.row(iid, row.get("png_path", ""), STAGE, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad image must never crash the shard
            log.exception("unexpected error on %s", iid)
            rejected.append(rejections.row(iid, row.get("png_path", ""), STAGE,
                                           f"{row.get('png_path', iid)}: {type(exc).__name__}: {exc}"))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    Path(table_out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(table_out, index=False)
    rejections.write(rejected_out, rejected)
    log.info("shard: %d images, %d patches, %d rejection rows", len(wanted), len(table), len(rejected))
    return table


def aggregate(shard_tables: Iterable[str | Path], shard_rejected: Iterable[str | Path],
              set_csvs: Mapping[tuple[str, str], str | Path], rejected_out: str | Path) -> dict[tuple[str, str], int]:
    """Per-split, per-set patch CSVs (path,label,image_id,split,set) and one rejection table from the shard tables."""
    tabs = [pd.read_csv(t, dtype={"image_id": str, "finding_id": str}) for t in shard_tables]
    tab = pd.concat(tabs, ignore_index=True) if tabs else pd.DataFrame(columns=TABLE_COLUMNS)
    tab = tab.sort_values(["image_id", "set", "path"], kind="mergesort")
    counts = {}
    for (split, st), out in set_csvs.items():
        sub = tab[(tab["split"] == split) & (tab["set"] == st)][PATCH_COLUMNS]
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        sub.to_csv(out, index=False)
        counts[(split, st)] = len(sub)
    rej = [r for t in shard_rejected for r in rejections.read(t)]
    rejections.write(rejected_out, sorted(rej, key=lambda r: r["image_id"]))
    return counts
