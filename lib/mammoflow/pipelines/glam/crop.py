"""Breast cropping of the NYU pipelines (GMIC/GLAM `crop_mammogram`), exact, with fast morphology."""

from __future__ import annotations

import abc

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import cv2
import numpy as np

from mammoflow.core.config import from_mapping
from mammoflow.core.errors import ConfigError, ImageRejected
from mammoflow.core import rejections
from mammoflow.datasets.nyu import VIEWS, load_exam_list, orientation, unpack_images, write_exam_list
from mammoflow.io import png
from mammoflow.pipelines.glam.morphology import (CropFailed, dilated_region, dilate_fast,
                                                 dilate_naive, erode_fast, erode_naive, largest_component_fast,
                                                 largest_component_naive)

log = logging.getLogger("mammoflow.pipelines.glam.crop")

RIGHTMOST_FROM_RATIO = 1 / 3  # the original ignores the top third when searching the rightmost column


RESOURCE_KEYS = {"threads", "mem_mb", "runtime"}  # job resources that live next to the crop settings


@dataclass(frozen=True)
class CropParams:
    """Crop settings of glam.crop (the schema's defaults are the original's: 100 iterations, 50 px buffer)."""

    iterations: int
    buffer_size: int
    rightmost_from_ratio: float
    morphology: str  # fast | naive (scipy iterations, the original's way; same result)
    min_zero_fraction: float  # reject images whose background is not exactly zero
    reject_borders: bool  # reject images with a non-zero frame along the edges (scanner border)
    border_fraction: float  # an edge counts as a frame when this fraction of it is non-zero

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "CropParams":
        cfg = {k: v for k, v in (cfg or {}).items() if k not in RESOURCE_KEYS}
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(cfg) - known
        if unknown:
            raise ConfigError(f"glam.crop: unknown keys {sorted(unknown)}")
        p = from_mapping(cls, cfg, "glam.crop")
        if p.morphology not in ("fast", "naive"):
            raise ConfigError(f"glam.crop.morphology must be fast or naive, not {p.morphology!r}")
        if p.iterations < 0 or p.buffer_size < 0:
            raise ConfigError("glam.crop.iterations and buffer_size must be >= 0")
        return p


@dataclass(frozen=True)
class CropInfo:
    """The four values the original records per image (all builtin ints, in its conventions)."""

    window_location: tuple[int, int, int, int]
    rightmost_points: tuple[tuple[int, int], int]
    bottommost_points: tuple[int, tuple[int, int]]
    distance_from_starting_side: int


# --------------------------------------------------------------------------------------------------
# The crop geometry of the original, shared by both morphology back-ends
# --------------------------------------------------------------------------------------------------

class _Dilated(abc.ABC):
    """What the crop needs from the dilated mask: bbox, one row, and the extreme column of a row band."""

    shape: tuple[int, int]

    @abc.abstractmethod
    def bbox(self) -> tuple[int, int, int, int]:
        """y_top, y_bottom (exclusive), x_left, x_right (exclusive) of the dilated mask."""

    @abc.abstractmethod
    def row(self, y: int) -> np.ndarray:
        """x positions of the dilated mask in row y."""

    @abc.abstractmethod
    def extreme_column(self, r0: int, r1: int, c0: int, c1: int, last: bool) -> tuple[int, np.ndarray]:
        """(column, rows) of the last (or first) column in rows r0:r1, cols c0:c1 holding mask pixels."""


class _DilatedFull(_Dilated):
    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self.shape = mask.shape

    def bbox(self):
        rows = np.flatnonzero(self.mask.any(axis=1))
        cols = np.flatnonzero(self.mask.any(axis=0))
        return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

    def row(self, y):
        return np.flatnonzero(self.mask[y])

    def extreme_column(self, r0, r1, c0, c1, last):
        area = self.mask[r0:r1, c0:c1]
        has = np.flatnonzero(area.any(axis=0))
        if has.size == 0:
            raise CropFailed("no breast pixels in the lower part of the crop (rightmost point undefined)")
        c = int(has[-1] if last else has[0])
        return c0 + c, r0 + np.flatnonzero(area[:, c])


class _DilatedLazy(_Dilated):
    """The dilation of one component by the L1 diamond, never materialised in full."""

    def __init__(self, comp: np.ndarray, bounds: tuple[int, int, int, int], n: int):
        self.comp, self.n, self.shape = comp, n, comp.shape
        self.t, self.b, self.x0, self.x1 = bounds
        sub = comp[self.t: self.b + 1, self.x0: self.x1 + 1]
        # a connected component has pixels in every row of its bounding box
        self.left = self.x0 + sub.argmax(axis=1)
        self.right = self.x1 - sub[:, ::-1].argmax(axis=1)

    def bbox(self):
        H, W = self.shape
        n = self.n
        return (max(0, self.t - n), min(H, self.b + n + 1), max(0, self.x0 - n), min(W, self.x1 + n + 1))

    def row(self, y):
        W = self.shape[1]
        c0, c1 = max(0, self.x0 - self.n), min(W, self.x1 + self.n + 1)
        return c0 + np.flatnonzero(dilated_region(self.comp, y, y + 1, c0, c1, self.n)[0])

    def extreme_column(self, r0, r1, c0, c1, last):
        n, W = self.n, self.shape[1]
        # per output row r: furthest dilated column = max over |d| <= n of right[r + d] + n - |d|
        lo, hi = r0 - n, r1 + n
        big = np.int64(1) << 40
        ext = np.full(hi - lo, -big if last else big, dtype=np.int64)
        a, b = max(lo, self.t), min(hi, self.b + 1)
        if a < b:
            ext[a - lo: b - lo] = (self.right if last else self.left)[a - self.t: b - self.t]
        # windows[i] = ext[i : i + 2n + 1] holds rows r0 + i - n .. r0 + i + n
        windows = np.lib.stride_tricks.sliding_window_view(ext, 2 * n + 1)
        dist = np.abs(np.arange(-n, n + 1, dtype=np.int64))
        acc = (windows - dist).max(axis=1) if last else (windows + dist).min(axis=1)
        if last:
            valid = acc > -big // 2
            if not valid.any():
                raise CropFailed("no breast pixels in the lower part of the crop (rightmost point undefined)")
            c = int(min(W - 1, acc[valid].max() + n))
        else:
            valid = acc < big // 2
            if not valid.any():
                raise CropFailed("no breast pixels in the lower part of the crop (rightmost point undefined)")
            c = int(max(0, acc[valid].min() - n))
        col = dilated_region(self.comp, r0, r1, c, c + 1, n)[:, 0]
        return c, r0 + np.flatnonzero(col)


def _crop_geometry(dil: _Dilated, mode: str, buffer_size: int, ratio: float) -> CropInfo:
    """Bounding box, buffers, distance from the starting side, bottommost and rightmost points (original rules)."""
    H, W = dil.shape
    y_top, y_bottom, x_left, x_right = dil.bbox()
    bottom_y = y_bottom - 1
    bottom_x = dil.row(bottom_y)
    # buffer on top and bottom
    if y_top > 0:
        y_top -= min(y_top, buffer_size)
    if y_bottom < H:
        y_bottom += min(H - y_bottom, buffer_size)
    distance = W - x_right if mode == "left" else x_left
    # buffer only on the side away from the chest wall
    if mode == "left":
        if x_left > 0:
            x_left -= min(x_left, buffer_size)
    else:
        if x_right < W:
            x_right += min(W - x_right, buffer_size)
    # bottommost points w.r.t. the crop; mode "left" mirrors x as w - x (the original's convention)
    bottom_y -= y_top
    if mode == "left":
        bottom_x = (x_right - bottom_x)[::-1]
    else:
        bottom_x = bottom_x - x_left
    # rightmost points: ignore the top part of the crop, furthest column from the chest wall
    ignore = int((y_bottom - y_top) * ratio)
    c, ys = dil.extreme_column(y_top + ignore, y_bottom, x_left, x_right, last=(mode == "right"))
    if ys.size == 0:
        raise CropFailed("rightmost column is empty")
    rx = c - x_left
    if mode == "left":
        rx = (x_right - x_left) - rx
    ry = ys - y_top
    return CropInfo(
        window_location=(int(y_top), int(y_bottom), int(x_left), int(x_right)),
        rightmost_points=((int(ry[0]), int(ry[-1])), int(rx)),
        bottommost_points=(int(bottom_y), (int(bottom_x[0]), int(bottom_x[-1]))),
        distance_from_starting_side=int(distance),
    )


def crop_info(img: np.ndarray, mode: str, iterations: int = 100, buffer_size: int = 50,
              ratio: float = RIGHTMOST_FROM_RATIO, morphology: str = "fast") -> CropInfo:
    """The original's crop values for one image; mode = direction the breast faces ('left'/'right')."""
    if mode not in ("left", "right"):
        raise ValueError(f"mode must be left or right, not {mode!r}")
    mask = img > 0
    if morphology == "naive":
        comp = largest_component_naive(erode_naive(mask, iterations))
        dil: _Dilated = _DilatedFull(dilate_naive(comp, iterations))
    elif morphology == "fast":
        eroded, dist = erode_fast(mask, iterations) if iterations else (mask, None)
        comp, bounds = largest_component_fast(eroded, dist)
        dil = _DilatedLazy(comp, bounds, iterations)
    else:
        raise ValueError(f"unknown morphology {morphology!r}")
    return _crop_geometry(dil, mode, buffer_size, ratio)


def opened_mask(img: np.ndarray, iterations: int = 100, morphology: str = "fast") -> np.ndarray:
    """The full dilated largest component (the mask the original crops to), for checks and figures."""
    mask = img > 0
    if morphology == "naive":
        return dilate_naive(largest_component_naive(erode_naive(mask, iterations)), iterations)
    eroded, dist = erode_fast(mask, iterations)
    comp, _ = largest_component_fast(eroded, dist)
    return dilate_fast(comp, iterations)


# --------------------------------------------------------------------------------------------------
# Input checks (bad inputs become rejection rows with a reason)
# --------------------------------------------------------------------------------------------------

def check_image(img: np.ndarray, mode: str, p: CropParams) -> None:
    """Raise ImageRejected-style errors (as CropFailed) for inputs the NYU crop cannot handle."""
    if img.ndim != 2:
        raise CropFailed(f"not a greyscale image (shape {img.shape}); the NYU crop needs one channel")
    if not np.issubdtype(img.dtype, np.integer):
        raise CropFailed(f"pixel type {img.dtype} is not integer (expected 16-bit PNG)")
    H, W = img.shape
    zero_fraction = 1.0 - cv2.countNonZero(np.ascontiguousarray(img)) / float(img.size)
    if zero_fraction < p.min_zero_fraction:
        raise CropFailed(
            f"background is not exactly zero ({100 * zero_fraction:.2f}% zero pixels < "
            f"{100 * p.min_zero_fraction:.2f}%); the NYU crop thresholds at > 0, so window/threshold the "
            "image to a zero background first")
    if p.reject_borders:
        far_col = img[:, 0] if mode == "left" else img[:, W - 1]
        edges = {"top row": img[0], "bottom row": img[H - 1], "far-side column": far_col}
        frac = {k: float(np.count_nonzero(v)) / v.size for k, v in edges.items()}
        framed = [k for k, f in frac.items() if f >= p.border_fraction]
        if len(framed) >= 2:
            desc = ", ".join(f"{k} {100 * frac[k]:.0f}% non-zero" for k in framed)
            raise CropFailed(f"scanner border / frame along the image edges ({desc}); remove the frame "
                             "(zero it) before cropping")


def crop_image(img: np.ndarray, mode: str, p: CropParams) -> tuple[np.ndarray, CropInfo]:
    """Check and crop one image: (cropped pixels with the input's dtype, crop values)."""
    check_image(img, mode, p)
    info = crop_info(img, mode, p.iterations, p.buffer_size, p.rightmost_from_ratio, p.morphology)
    top, bottom, left, right = info.window_location
    return np.ascontiguousarray(img[top:bottom, left:right]), info


# --------------------------------------------------------------------------------------------------
# Dataset level: the crop stage of the NYU pipeline, batched, with rejection rows
# --------------------------------------------------------------------------------------------------

def _as_tuple(info: CropInfo) -> dict[str, Any]:
    return {
        "window_location": info.window_location,
        "rightmost_points": info.rightmost_points,
        "bottommost_points": info.bottommost_points,
        "distance_from_starting_side": info.distance_from_starting_side,
    }


def crop_exams(exams: list[dict[str, Any]], images_dir: str | Path, out_dir: str | Path, p: CropParams,
               reader: Callable[[Path], np.ndarray] = png.read, threads: int = 1
               ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Crop every image of an exam list: (cropped exam list with the original's metadata, rejection rows).

    Images that fail are dropped from their view list (as the original README says) and get a row."""
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(item: dict[str, Any]) -> tuple[str, CropInfo | None, dict[str, str] | None]:
        image_id, src = item["short_file_path"], images_dir / f"{item['short_file_path']}.png"
        t0 = time.perf_counter()
        try:
            try:
                img = reader(src)
            except (FileNotFoundError, OSError) as exc:
                raise CropFailed(f"cannot read image: {exc}") from None
            mode = orientation(item["horizontal_flip"], item["side"])
            cropped, info = crop_image(img, mode, p)
            png.write(out_dir / f"{image_id}.png", cropped)
        except Exception as exc:  # noqa: BLE001 - one bad image must never stop the batch
            reason = exc.reason if isinstance(exc, ImageRejected) else str(exc)
            log.warning("rejected %s: %s", src, reason)
            return image_id, None, {"image_id": image_id, "source_path": str(src), "stage": "glam_crop",
                                    "reason": f"{src}: {reason}"}
        log.info("%s cropped to %s in %.3f s", image_id, info.window_location, time.perf_counter() - t0)
        if info.distance_from_starting_side:
            log.warning("%s: %d empty columns on the chest-wall side (wrong horizontal_flip?)", image_id,
                        info.distance_from_starting_side)
        return image_id, info, None

    items = unpack_images(exams)
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:  # OpenCV and numpy release the GIL in the heavy parts
            results = list(pool.map(one, items))
    else:
        results = [one(i) for i in items]
    infos = {i: info for i, info, _ in results if info is not None}
    rejected = [row for _, _, row in results if row is not None]
    out = []
    for exam in exams:
        e = dict(exam)
        for view in VIEWS:
            e[view] = [i for i in exam.get(view, []) if i in infos]
        for key in ("window_location", "rightmost_points", "bottommost_points", "distance_from_starting_side"):
            if key in e:
                raise ValueError(f"exam list already holds {key!r}; crop a list that was not cropped before")
            e[key] = {view: [_as_tuple(infos[i])[key] for i in e[view]] for view in VIEWS}
        out.append(e)
    return out, rejected


def run(exam_list: str, images_dir: str, out_dir: str, out_pkl: str, out_json: str, rejected_csv: str,
        cfg: Mapping[str, Any], threads: int = 1) -> None:
    """Snakemake entry point: crop stage (cropped PNGs, cropped_exam_list.pkl + JSON, its rejection rows)."""
    p = CropParams.from_config(cfg)
    exams = load_exam_list(exam_list)
    cropped, rejected = crop_exams(exams, images_dir, out_dir, p, threads=threads)
    write_exam_list(cropped, out_pkl, out_json)
    rejections.write(rejected_csv, rejected)
    n_img = sum(len(e[v]) for e in cropped for v in VIEWS)
    log.info("cropped %d images, rejected %d", n_img, len(rejected))
