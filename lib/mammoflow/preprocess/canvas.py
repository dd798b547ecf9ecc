"""Source image to a 16-bit PNG canvas with breast mask and the invertible geometry of the resize."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import cv2
import numpy as np
import pandas as pd

from mammoflow.io import png, raster
from mammoflow.preprocess.breast_mask import breast_mask, chest_wall_side
from mammoflow.core.config import from_mapping
from mammoflow.core.errors import ImageRejected

log = logging.getLogger(__name__)

SHARD_COLUMNS = ["image_id", "status", "reason", "source_path", "rows", "cols", "bits_stored", "photometric",
                 "transfer_syntax", "presentation_intent", "laterality_dicom", "view_dicom", "manufacturer",
                 "window_applied", "height", "width", "new_height", "new_width", "scale_y", "scale_x", "pad_top",
                 "pad_left", "flipped", "chest_wall_side", "breast_fraction", "png_path", "mask_path",
                 "lesion_mask_path", "tissue_path"]


@dataclass(frozen=True)
class Geometry:
    """How an original image maps into the canvas: x' = x*scale_x + pad_left (after an optional mirror)."""

    rows: int
    cols: int
    height: int
    width: int
    new_height: int
    new_width: int
    scale_y: float
    scale_x: float
    pad_top: int
    pad_left: int
    flipped: bool = False


@dataclass(frozen=True)
class PreprocessParams:
    """Preprocessing knobs (config section `preprocess`)."""

    height: int
    width: int
    voi: str
    intensity: str
    flip_to: str
    mask_threshold: float
    mask_open_frac: float
    min_breast_fraction: float
    max_breast_fraction: float

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "PreprocessParams":
        """From the validated `preprocess` section (keys that are not preprocessing knobs are ignored)."""
        return from_mapping(cls, cfg, "preprocess")


def fit_geometry(rows: int, cols: int, height: int, width: int, flipped: bool = False) -> Geometry:
    """Aspect-preserving fit of rows x cols into height x width, padded symmetrically (floor top/left)."""
    s = min(height / rows, width / cols)
    nh = min(height, max(1, int(round(rows * s))))
    nw = min(width, max(1, int(round(cols * s))))
    return Geometry(rows, cols, height, width, nh, nw, nh / rows, nw / cols,
                    (height - nh) // 2, (width - nw) // 2, flipped)


def resize_to_canvas(image: np.ndarray, g: Geometry) -> np.ndarray:
    """Resize (area when shrinking, linear when enlarging), mirror if asked, pad with zeros."""
    interp = cv2.INTER_AREA if g.new_height < g.rows else cv2.INTER_LINEAR
    small = cv2.resize(image, (g.new_width, g.new_height), interpolation=interp)
    if g.flipped:
        small = small[:, ::-1]
    out = np.zeros((g.height, g.width), dtype=image.dtype)
    out[g.pad_top:g.pad_top + g.new_height, g.pad_left:g.pad_left + g.new_width] = small
    return out


def boxes_to_canvas(boxes: np.ndarray, g: Geometry) -> np.ndarray:
    """Map (N,4) boxes xmin,ymin,xmax,ymax from original pixels to canvas pixels."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b.T
    if g.flipped:
        x0, x1 = g.cols - x1, g.cols - x0
    return np.stack([x0 * g.scale_x + g.pad_left, y0 * g.scale_y + g.pad_top,
                     x1 * g.scale_x + g.pad_left, y1 * g.scale_y + g.pad_top], axis=1)


def boxes_to_original(boxes: np.ndarray, g: Geometry) -> np.ndarray:
    """Inverse of boxes_to_canvas."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = (b[:, 0] - g.pad_left) / g.scale_x
    x1 = (b[:, 2] - g.pad_left) / g.scale_x
    y0 = (b[:, 1] - g.pad_top) / g.scale_y
    y1 = (b[:, 3] - g.pad_top) / g.scale_y
    if g.flipped:
        x0, x1 = g.cols - x1, g.cols - x0
    return np.stack([x0, y0, x1, y1], axis=1)


def to_uint16(image: np.ndarray, mode: str = "minmax") -> np.ndarray:
    """Float image to uint16: per-image min..max (minmax) or the fixed [0,1] range (bits)."""
    img = image.astype(np.float32)
    if mode == "minmax":
        lo, hi = float(img.min()), float(img.max())
        img = (img - lo) / max(hi - lo, 1e-12)
    return np.rint(np.clip(img, 0.0, 1.0) * 65535.0).astype(np.uint16)


def mask_to_canvas(mask: np.ndarray, g: Geometry) -> np.ndarray:
    """A bool mask in original pixels on the canvas (area fraction >= 0.5 after the resize)."""
    return resize_to_canvas(np.asarray(mask, dtype=np.float32), g) >= 0.5


def labels_to_canvas(labels: np.ndarray, g: Geometry) -> np.ndarray:
    """A class-index map in original pixels on the canvas (nearest neighbour, mirrored like the image)."""
    small = cv2.resize(np.ascontiguousarray(labels, dtype=np.uint8), (g.new_width, g.new_height),
                       interpolation=cv2.INTER_NEAREST_EXACT)
    if g.flipped:
        small = small[:, ::-1]
    out = np.zeros((g.height, g.width), dtype=np.uint8)
    out[g.pad_top:g.pad_top + g.new_height, g.pad_left:g.pad_left + g.new_width] = small
    return out


@dataclass
class Canvas:
    """One preprocessed image: uint16 canvas, uint8 breast mask, record, and the optional canvas maps."""

    image: np.ndarray
    mask: np.ndarray
    record: dict[str, Any]
    lesion: np.ndarray | None = None
    tissue: np.ndarray | None = None


MapFn = Callable[[tuple[int, int]], np.ndarray]  # original (rows, cols) -> a map in original pixels


def preprocess(path: str | Path, p: PreprocessParams, lesion_fn: MapFn | None = None,
               tissue_fn: MapFn | None = None) -> Canvas:
    """One source image to its canvas; the breast mask comes from the tissue labels when they are given."""
    dec = raster.read(path, voi=p.voi)
    rows, cols = dec.image.shape
    tissue = tissue_fn((rows, cols)) if tissue_fn is not None else None
    thumb = _thumb(dec.image if tissue is None else (tissue > 0).astype(np.float32))
    side = chest_wall_side(breast_mask(thumb, p.mask_threshold, _open_px(p, thumb.shape[0])))
    g = fit_geometry(rows, cols, p.height, p.width, flipped=(p.flip_to == "left" and side == "right"))
    canvas = resize_to_canvas(dec.image, g)
    tissue_c = labels_to_canvas(tissue, g) if tissue is not None else None
    mask = breast_mask(canvas, p.mask_threshold, _open_px(p, canvas.shape[0])) if tissue_c is None else tissue_c > 0
    frac = float(mask.mean())
    if frac < p.min_breast_fraction:
        raise ImageRejected(str(path), f"no breast tissue found (breast mask covers {frac:.3%} of the canvas)")
    if frac > p.max_breast_fraction:
        raise ImageRejected(str(path), f"no background found (breast mask covers {frac:.1%} of the canvas): "
                                       "the decoded intensities cannot separate breast from background")
    out = to_uint16(np.where(mask, canvas, 0.0), p.intensity)
    lesion = mask_to_canvas(lesion_fn((rows, cols)), g) if lesion_fn is not None else None
    rec = {**dec.meta, **asdict(g), "chest_wall_side": "left" if g.flipped else side, "breast_fraction": frac}
    return Canvas(out, mask.astype(np.uint8) * 255, rec, lesion, tissue_c)


def preprocess_image(path: str | Path, p: PreprocessParams) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One source image to (uint16 canvas, uint8 mask, record); raises ImageRejected for unusable input."""
    c = preprocess(path, p)
    return c.image, c.mask, c.record


def _open_px(p: PreprocessParams, height: int) -> int:
    """Opening radius in pixels for an image of the given height."""
    return int(round(p.mask_open_frac * height))


def _thumb(image: np.ndarray, size: int = 256) -> np.ndarray:
    """A small copy for cheap orientation checks."""
    h, w = image.shape
    s = size / max(h, w)
    if s >= 1:
        return image
    return cv2.resize(image, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)


REJECTED_MARKER = np.zeros((1, 1), dtype=np.uint16)


def run_shard(items: Iterable[tuple[str, str | None, str]], png_paths: dict[str, str], mask_paths: dict[str, str],
              params: PreprocessParams, lesion_paths: dict[str, str] | None = None,
              tissue_paths: dict[str, str] | None = None,
              maps: Callable[[str], tuple[MapFn | None, MapFn | None]] | None = None) -> pd.DataFrame:
    """Preprocess a batch of (image_id, file path or None, listing reason); one table row per image.

    maps(image_id) gives the image's (lesion_fn, tissue_fn) for the lesion-mask and tissue-map outputs.
    A rejected image gets 1x1 marker PNGs (its targets exist) and status 'rejected' with the reason."""
    lesion_paths, tissue_paths = lesion_paths or {}, tissue_paths or {}
    rows = []
    for image_id, path, listing_reason in items:
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"image_id": image_id, "source_path": path or "", "status": "ok", "reason": ""}
        targets = [(d[image_id], k) for d, k in ((png_paths, "png"), (mask_paths, "mask"), (lesion_paths, "lesion"),
                                                 (tissue_paths, "tissue")) if image_id in d]
        try:
            if listing_reason:
                raise ImageRejected(path or image_id, listing_reason)
            c = preprocess(path, params, *(maps(image_id) if maps is not None else (None, None)))
            arrays = {"png": c.image, "mask": c.mask, "tissue": c.tissue,
                      "lesion": None if c.lesion is None else c.lesion.astype(np.uint8) * 255}
            for target, k in targets:
                png.write(target, arrays[k])
            rec.update(c.record)
            rec.update(png_path=png_paths[image_id], mask_path=mask_paths[image_id],
                       lesion_mask_path=lesion_paths.get(image_id, ""), tissue_path=tissue_paths.get(image_id, ""))
        except ImageRejected as exc:
            log.warning("rejected %s", exc)
            rec.update(status="rejected", reason=str(exc))
            for target, k in targets:
                png.write(target, REJECTED_MARKER if k == "png" else REJECTED_MARKER.astype(np.uint8))
        log.info("%s %s in %.3f s", image_id, rec["status"], time.perf_counter() - t0)
        rows.append(rec)
    df = pd.DataFrame(rows)
    for c in SHARD_COLUMNS:
        if c not in df:
            df[c] = np.nan
    return df[SHARD_COLUMNS]


def run_shard_job(items: list[list[Any]], outputs: Any, table: str, cfg: dict[str, Any],
                  maps: Callable[[str], tuple[MapFn | None, MapFn | None]] | None = None) -> None:
    """Snakemake entry point: preprocess one shard (output lists aligned with items) and write its table."""
    ids = [it[0] for it in items]
    paths = [dict(zip(ids, getattr(outputs, k, []) or [])) for k in ("pngs", "masks", "lesions", "tissue")]
    df = run_shard([(i, p, r) for i, p, r in items], *paths[:2], PreprocessParams.from_config(cfg), *paths[2:],
                   maps=maps)
    Path(table).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(table, index=False)
