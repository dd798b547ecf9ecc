"""Optimal window centres (GMIC/GLAM `get_optimal_centers`) and the test-time window extraction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from mammoflow.core.errors import ConfigError
from mammoflow.core import rejections
from mammoflow.datasets.nyu import VIEWS, is_cc, is_right, load_exam_list, write_exam_list
from mammoflow.io import png

log = logging.getLogger("mammoflow.pipelines.glam.centers")

DEFAULT_WINDOW = (2944, 1920)  # (height, width) of the model input for every view (INPUT_SIZE_DICT)
STAGE = "glam_centers"


def window_shape(cfg: Any) -> tuple[int, int]:
    """(height, width) from a config value [h, w]; the default is the original's 2944 x 1920."""
    if cfg is None:
        return DEFAULT_WINDOW
    try:
        h, w = (int(v) for v in cfg)
    except (TypeError, ValueError):
        raise ConfigError(f"glam.window must be [height, width], not {cfg!r}") from None
    if h < 2 or w < 2:
        raise ConfigError(f"glam.window {cfg!r} is too small")
    return h, w


def flip_image(image: np.ndarray, view: str, horizontal_flip: str = "NO") -> np.ndarray:
    """Mirror the image so the breast faces right (R views when horizontal_flip is NO, L views when YES)."""
    if horizontal_flip == "NO":
        return np.fliplr(image) if is_right(view) else image
    if horizontal_flip == "YES":
        return image if is_right(view) else np.fliplr(image)
    raise ValueError(f"horizontal_flip must be 'YES' or 'NO', not {horizontal_flip!r}")


def _window_sums(integral: np.ndarray, centers: np.ndarray, image_dim: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Non-zero pixel counts of the windows at `centers`; windows leaving the top/left are shifted, clipped at the
    bottom/right (the original's implicit zero padding)."""
    half = window // 2
    rem = window - half
    tl = centers - half
    offset = np.clip(-tl, 0, None)
    tl = np.clip(tl, 0, None)
    br = np.minimum(centers + rem + offset, image_dim)
    if np.any(br < tl):
        raise ValueError("candidate window lies outside the image")
    y0, x0, y1, x1 = tl[:, 0], tl[:, 1], br[:, 0], br[:, 1]
    s = integral.astype(np.int64, copy=False)
    return s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]


def best_center(image: np.ndarray, view: str, rightmost_x: int, bottommost_y: int,
                window: Sequence[int] = DEFAULT_WINDOW) -> tuple[int, int]:
    """The original's best_center (y, x) for a cropped image already flipped to face right.

    CC: x fixed so the window ends at the rightmost point, y maximises the non-zero pixels inside the window
    (ties: closest to the image centre). MLO: y from the bottommost point, x as for CC."""
    image_dim = np.array(image.shape[:2], dtype=np.int64)
    window_dim = np.array(window, dtype=np.int64)
    com = image_dim // 2
    half = window_dim // 2
    rem = window_dim - half
    tl = half.copy()  # candidate centres span [half, size - rem] (step 1)
    br = image_dim - rem
    if tl[0] >= br[0]:
        tl[0] = br[0] = com[0]
    if tl[1] >= br[1]:
        tl[1] = br[1] = com[1]
    br = br + 1
    if is_cc(view):
        if tl[1] != br[1]:
            new_x = rightmost_x - half[1]
            tl[1], br[1] = new_x - 1, new_x
    else:
        rows = np.flatnonzero(np.any(image[:, -int(window_dim[1]):] != 0, axis=1))
        if rows.size:
            bottommost_y = min(int(rows[-1]), bottommost_y)
        br = np.array([bottommost_y, rightmost_x], dtype=np.int64) - half
        tl = br - 1
    ys = np.arange(tl[0], br[0])
    xs = np.arange(tl[1], br[1])
    centers = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)  # y-major order
    # summed-area table of the non-zero pixels, zero first row/column (the original's 2-D cumulative sum)
    integral = cv2.integral(np.ascontiguousarray(image > 0).view(np.uint8), sdepth=cv2.CV_32S)
    sums = _window_sums(integral, centers, image_dim, window_dim)
    if len(sums) == 1:
        best = tl
    else:
        winners = centers[sums == sums.max()]
        if len(winners) == 1:
            best = winners[0]
        else:
            off = winners - com
            best = com + off[np.argmin((off ** 2).sum(axis=1))]
    return int(best[0]), int(best[1])


# --------------------------------------------------------------------------------------------------
# Test-time window extraction (GMIC/GLAM loading.process_image with zero crop and size noise)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowPlacement:
    """Where the model window sits: padding added to the flipped cropped image and the window's corner in it."""

    window_shape: tuple[int, int]
    image_shape: tuple[int, int]  # shape of the cropped image (flipping does not change it)
    flipped: bool  # the cropped image was mirrored to face right
    pad_top: int
    pad_bottom: int
    pad_right: int
    top: int  # window corner in padded coordinates
    left: int

    def from_cropped(self, y: np.ndarray | int, x: np.ndarray | int) -> tuple[Any, Any]:
        """Window coordinates of cropped-image (stored orientation) pixel coordinates."""
        xf = (self.image_shape[1] - 1 - np.asarray(x)) if self.flipped else np.asarray(x)
        return np.asarray(y) + self.pad_top - self.top, xf - self.left

    def apply(self, cropped: np.ndarray, fill: float = 0) -> np.ndarray:
        """Cut the window out of a cropped-image-shaped array (stored orientation), zero padding outside."""
        arr = np.fliplr(cropped) if self.flipped else cropped
        H, W = self.image_shape
        h, w = self.window_shape
        out = np.full((h, w) + arr.shape[2:], fill, dtype=arr.dtype)
        # window rows/cols in image coordinates
        y0, x0 = self.top - self.pad_top, self.left
        sy0, sy1 = max(0, y0), min(H, y0 + h)
        sx0, sx1 = max(0, x0), min(W, x0 + w)
        if sy0 < sy1 and sx0 < sx1:
            out[sy0 - y0: sy1 - y0, sx0 - x0: sx1 - x0] = arr[sy0:sy1, sx0:sx1]
        return out


def _shift_inside(start: int, end: int, size: int, length: int) -> tuple[int, int]:
    if start < 0:
        return 0, length
    if end > size:
        return size - length, size
    return start, end


def window_placement(image_shape: Sequence[int], view: str, center: Sequence[int],
                     window: Sequence[int] = DEFAULT_WINDOW, horizontal_flip: str = "NO") -> WindowPlacement:
    """The original's test-time window: pad CC equally top/bottom, MLO at the bottom, both on the right if
    narrower than the window, then shift the window inside the padded image."""
    H, W = int(image_shape[0]), int(image_shape[1])
    h, w = int(window[0]), int(window[1])
    cy, cx = int(center[0]), int(center[1])
    top, bottom = cy - h // 2, cy + h - h // 2
    left, right = cx - w // 2, cx + w - w // 2
    pad_top = pad_bottom = pad_right = 0
    if H < h:
        pad = h - H
        top, bottom = 0, h
        if is_cc(view):
            pad_top = int(pad / 2)
        pad_bottom = pad - pad_top
    if W < w:
        left, right = 0, w
        pad_right = w - W
    top, bottom = _shift_inside(top, bottom, H + pad_top + pad_bottom, h)
    left, right = _shift_inside(left, right, W + pad_right, w)
    flipped = _is_flipped(view, horizontal_flip)
    return WindowPlacement((h, w), (H, W), flipped, pad_top, pad_bottom, pad_right, top, left)


def _is_flipped(view: str, horizontal_flip: str) -> bool:
    if horizontal_flip not in ("YES", "NO"):
        raise ValueError(f"horizontal_flip must be 'YES' or 'NO', not {horizontal_flip!r}")
    return is_right(view) if horizontal_flip == "NO" else not is_right(view)


def standardize(window: np.ndarray) -> np.ndarray:
    """Per-window standardisation (x - mean) / max(std, 1e-5) in float32, as the original does in place."""
    out = np.array(window, dtype=np.float32, copy=True)
    out -= np.mean(out)
    out /= np.maximum(np.std(out), 10 ** (-5))
    return out


def extract_window(cropped: np.ndarray, view: str, center: Sequence[int], window: Sequence[int] = DEFAULT_WINDOW,
                   horizontal_flip: str = "NO", normalize: bool = True) -> tuple[np.ndarray, WindowPlacement]:
    """Model input for one cropped image (stored orientation): (float32 window, placement)."""
    p = window_placement(cropped.shape, view, center, window, horizontal_flip)
    win = p.apply(cropped.astype(np.float32), 0.0)
    return (standardize(win) if normalize else win), p


def mask_to_window(mask: np.ndarray, window_location: Sequence[int], view: str, center: Sequence[int],
                   window: Sequence[int] = DEFAULT_WINDOW, horizontal_flip: str = "NO") -> np.ndarray:
    """A mask in ORIGINAL image coordinates (our segmentation files) mapped into the model window (uint8)."""
    top, bottom, left, right = (int(v) for v in window_location)
    cropped = np.zeros((bottom - top, right - left), dtype=np.uint8)
    src = mask[max(0, top):bottom, max(0, left):right]
    cropped[: src.shape[0], : src.shape[1]] = src
    p = window_placement(cropped.shape, view, center, window, horizontal_flip)
    return p.apply(cropped, 0)


def original_to_window(y: Any, x: Any, window_location: Sequence[int], placement: WindowPlacement) -> tuple[Any, Any]:
    """Window coordinates of ORIGINAL image pixel coordinates (row y, column x)."""
    return placement.from_cropped(np.asarray(y) - int(window_location[0]), np.asarray(x) - int(window_location[2]))


# --------------------------------------------------------------------------------------------------
# Dataset level
# --------------------------------------------------------------------------------------------------

def add_centers(exams: list[dict[str, Any]], cropped_dir: str | Path, window: Sequence[int],
                reader: Callable[[Path], np.ndarray] = png.read) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """best_center for every image of a cropped exam list; failures are dropped with a rejection row."""
    cropped_dir = Path(cropped_dir)
    rows: list[dict[str, str]] = []
    out = []
    for k, exam in enumerate(exams):
        if "best_center" in exam:
            raise ValueError(f"exam {k} already holds best_center")
        e = {key: (dict(v) if isinstance(v, dict) else v) for key, v in exam.items()}
        e["best_center"] = {}
        for view in VIEWS:
            keep_idx, centers = [], []
            for j, image_id in enumerate(exam.get(view, [])):
                src = cropped_dir / f"{image_id}.png"
                try:
                    image = flip_image(reader(src), view, exam["horizontal_flip"])
                    rightmost_x = exam["rightmost_points"][view][j][1]
                    bottommost_y = exam["bottommost_points"][view][j][0]
                    centers.append(best_center(image, view, rightmost_x, bottommost_y, window))
                    keep_idx.append(j)
                except Exception as exc:  # noqa: BLE001 - one bad image must never stop the batch
                    log.warning("rejected %s: %s", src, exc)
                    rows.append({"image_id": image_id, "source_path": str(src), "stage": STAGE,
                                 "reason": f"{src}: optimal centre failed: {exc}"})
            e[view] = [exam[view][j] for j in keep_idx]
            for key in ("window_location", "rightmost_points", "bottommost_points", "distance_from_starting_side"):
                if key in e:
                    e[key][view] = [exam[key][view][j] for j in keep_idx]
            e["best_center"][view] = centers
        out.append(e)
    return out, rows


def run(cropped_exam_list: str, cropped_dir: str, out_pkl: str, out_json: str, rejected_csv: str,
        window: Any = None) -> None:
    """Snakemake entry point: data.pkl (+ JSON) with best_center, and the stage's rejection rows."""
    exams = load_exam_list(cropped_exam_list)
    out, rows = add_centers(exams, cropped_dir, window_shape(window))
    write_exam_list(out, out_pkl, out_json)
    rejections.write(rejected_csv, rows)
    log.info("best centres for %d images, %d rejected", sum(len(e[v]) for e in out for v in VIEWS), len(rows))
