"""Lesion-probability heatmaps of the patch classifier (sliding windows or one dense pass) and saliency targets."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from mammoflow.io import probmaps

from mammoflow.pipelines.nus import warp
from mammoflow.core.errors import ImageRejected
from mammoflow.evaluation.metrics import write_json
from mammoflow.pipelines.nus.patch_classifier import trunk, window_weights

log = logging.getLogger("mammoflow.pipelines.nus.heatmap")
NET_STRIDE = 32  # total stride of a torchvision ResNet trunk


@dataclass(frozen=True)
class Geometry:
    """Where prob[i, j] sits on the canvas: pixel (origin_y + i*stride, origin_x + j*stride)."""

    origin_y: float
    origin_x: float
    stride: int
    rows: int
    cols: int
    height: int
    width: int
    patch_size: int

    @staticmethod
    def for_canvas(height: int, width: int, patch_size: int, stride: int) -> "Geometry":
        """Geometry of all windows of patch_size at `stride` fully inside a height x width canvas."""
        if height < patch_size or width < patch_size:
            raise ValueError(f"canvas {height}x{width} is smaller than the patch size {patch_size}")
        c = (patch_size - 1) / 2.0  # centre of the first window in pixel-centre coordinates
        return Geometry(c, c, int(stride), (height - patch_size) // stride + 1,
                        (width - patch_size) // stride + 1, int(height), int(width), int(patch_size))

    def centre(self, i: float, j: float) -> tuple[float, float]:
        """Canvas (y, x) of map cell (i, j)."""
        return self.origin_y + i * self.stride, self.origin_x + j * self.stride


def load_canvas(path: str | Path) -> np.ndarray:
    """A preprocessed uint16 canvas as float32 in [0, 1]; ImageRejected if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageRejected(str(path), "cannot be read as an image")
    if img.ndim != 2 or img.dtype != np.uint16:
        raise ImageRejected(str(path), f"expected a single-channel uint16 PNG, got {img.dtype} {img.shape}")
    return img.astype(np.float32) / 65535.0


def to_input(img: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """(H, W) [0,1] image -> (1, 3, H, W) normalised tensor (the patch classifier convention)."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    t = (t - float(mean)) / float(std)
    return t[None, None].expand(1, 3, *t.shape).contiguous()


@torch.no_grad()
def sliding_prob(model: nn.Module, x: torch.Tensor, patch_size: int, stride: int,
                 batch_size: int = 64, positive: int = 1) -> tuple[np.ndarray, Geometry]:
    """Reference map: P(lesion) of every patch_size window at `stride`, batched."""
    _, _, H, W = x.shape
    geo = Geometry.for_canvas(H, W, patch_size, stride)
    pos = [(i * stride, j * stride) for i in range(geo.rows) for j in range(geo.cols)]
    out = np.empty(len(pos), dtype=np.float64)
    dev = next(model.parameters()).device
    for s in range(0, len(pos), batch_size):
        crops = torch.cat([x[:, :, y:y + patch_size, xx:xx + patch_size] for y, xx in pos[s:s + batch_size]])
        logits = model(crops.to(dev)).double()
        out[s:s + len(crops)] = torch.softmax(logits, 1)[:, positive].cpu().numpy()
    return out.reshape(geo.rows, geo.cols).astype(np.float32), geo


class DenseHead(nn.Module):
    """Fully-convolutional form of a patch classifier: trunk, k x k stride-1 (weighted) average pool, fc as 1x1 conv."""

    def __init__(self, model: nn.Module, patch_size: int):
        super().__init__()
        if patch_size % NET_STRIDE:
            raise ValueError(f"dense heatmaps need a patch size divisible by {NET_STRIDE}, got {patch_size}")
        self.trunk = trunk(model)
        self.k = patch_size // NET_STRIDE
        self.pooling = getattr(model, "pooling", "mean")
        w = window_weights(self.k, self.k, self.pooling)
        self.register_buffer("window", w.to(model.fc.weight)[None, None], persistent=False)
        fc = model.fc
        self.head = nn.Conv2d(fc.in_features, fc.out_features, 1, dtype=fc.weight.dtype, device=fc.weight.device)
        self.head.weight.data.copy_(fc.weight.data.view(fc.out_features, fc.in_features, 1, 1))
        self.head.bias.data.copy_(fc.bias.data)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logit map (N, classes, rows, cols) of the windows at stride 32."""
        f = self.trunk(x)
        if self.pooling == "mean":
            f = F.avg_pool2d(f, self.k, stride=1)
        else:  # weighted window mean of a tiled classifier: depthwise k x k convolution
            f = F.conv2d(f, self.window.expand(f.shape[1], 1, self.k, self.k), groups=f.shape[1])
        return self.head(f)


@torch.no_grad()
def dense_prob(model: nn.Module | DenseHead, x: torch.Tensor, patch_size: int,
               positive: int = 1) -> tuple[np.ndarray, Geometry]:
    """One fully-convolutional pass giving the stride-32 window map (cropped to the sliding-window grid)."""
    head = model if isinstance(model, DenseHead) else DenseHead(model, patch_size).eval()
    _, _, H, W = x.shape
    geo = Geometry.for_canvas(H, W, patch_size, NET_STRIDE)
    dev = next(head.parameters()).device
    logits = head(x.to(dev)).double()
    p = torch.softmax(logits, 1)[0, positive].cpu().numpy()
    if p.shape[0] < geo.rows or p.shape[1] < geo.cols:
        raise RuntimeError(f"dense map {p.shape} smaller than the window grid {(geo.rows, geo.cols)}")
    return p[:geo.rows, :geo.cols].astype(np.float32), geo


def check_prob(prob: np.ndarray, name: str) -> None:
    """ImageRejected naming the image if the map has NaN/inf or all-equal values."""
    if not np.isfinite(prob).all():
        raise ImageRejected(name, "heatmap contains NaN or infinite values")
    if prob.size == 0 or float(prob.max() - prob.min()) == 0.0:
        raise ImageRejected(name, "heatmap values are all equal (no saliency)")


def argmax_canvas(prob: np.ndarray, geo: Geometry) -> tuple[float, float]:
    """Canvas (y, x) of the window centre with the highest probability."""
    i, j = np.unravel_index(int(np.argmax(prob)), prob.shape)
    return geo.centre(i, j)


def load_patch_model(checkpoint: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained patch classifier and its metadata (arch, norm, patch_size, classes), in eval mode."""
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"patch classifier checkpoint not found: {checkpoint}")
    from mammoflow.pipelines.nus import patch_classifier
    model, meta = patch_classifier.load_model(checkpoint)
    return model.eval(), meta


def _positive_index(meta: dict[str, Any]) -> int:
    classes = list(meta.get("classes", ["background", "lesion"]))
    return classes.index("lesion") if "lesion" in classes else 1


def run_shard(images: pd.DataFrame, checkpoint: str, prob_store: str, table_path: str,
              method: str = "dense", stride: int = NET_STRIDE, batch_size: int = 64,
              device: str = "auto", threads: int = 1) -> pd.DataFrame:
    """Probability maps of one shard: model loaded once, all maps in one HDF5 file, geometry/status table.

    `images` has image_id, split, png (the preprocessed canvas); the maps go to one HDF5 file (prob_store,
    mammoflow.io.probmaps), keyed by image id.
    A failing image gets a row with status 'rejected' and its reason, and a NaN map (so the downstream
    stages apply the identity warp and the classifier skips it); the batch goes on.
    """
    from mammoflow.training.torchutil import device as pick_device
    torch.set_num_threads(max(1, int(threads)))
    if method not in ("dense", "sliding"):
        raise ValueError(f"heatmap method must be dense or sliding, got {method!r}")
    if method == "dense" and stride != NET_STRIDE:
        raise ValueError(f"the dense method gives stride {NET_STRIDE} maps; got stride {stride}")
    model, meta = load_patch_model(checkpoint)
    dev = pick_device(device)
    model = model.to(dev)
    patch = int(meta["patch_size"])
    mean, std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])
    pos = _positive_index(meta)
    head = DenseHead(model, patch).to(dev).eval() if method == "dense" else None
    rows, maps = [], {}
    for _, r in images.iterrows():
        t0 = time.perf_counter()
        row: dict[str, Any] = {"image_id": r["image_id"], "split": r["split"], "method": method,
                               "prob_path": str(prob_store), "status": "ok", "reason": ""}
        try:
            img = load_canvas(r["png"])
            if float(img.max()) == 0.0:
                raise ImageRejected(str(r["png"]), "no breast tissue (all-zero canvas)")
            x = to_input(img, mean, std)
            if head is not None:
                prob, geo = dense_prob(head, x, patch, pos)
            else:
                prob, geo = sliding_prob(model, x, patch, stride, batch_size, pos)
            check_prob(prob, f"{r['image_id']} ({r['png']})")
            ay, ax = argmax_canvas(prob, geo)
            row.update(asdict(geo), prob_max=float(prob.max()), prob_mean=float(prob.mean()),
                       argmax_y=ay, argmax_x=ax)
        except (ImageRejected, ValueError, RuntimeError) as exc:
            log.warning("heatmap rejected %s: %s", r["image_id"], exc)
            h, w = _canvas_shape(r)
            try:
                geo = Geometry.for_canvas(h, w, patch, stride if method == "sliding" else NET_STRIDE)
                prob = np.full((geo.rows, geo.cols), np.nan, dtype=np.float32)
                row.update(asdict(geo))
            except ValueError:
                prob = np.full((1, 1), np.nan, dtype=np.float32)
            row.update(status="rejected", reason=f"{r['png']}: {exc}")
        maps[str(r["image_id"])] = prob
        row["seconds"] = round(time.perf_counter() - t0, 4)
        rows.append(row)
    probmaps.write(prob_store, maps)
    table = pd.DataFrame(rows)
    for k in ("stride", "rows", "cols", "height", "width", "patch_size"):
        if k in table:
            table[k] = table[k].astype("Int64")  # rejected rows have no geometry: keep the others integral
    Path(table_path).parent.mkdir(parents=True, exist_ok=True)
    table.drop(columns=["seconds"]).to_csv(table_path, index=False)  # timings vary: keep them in the log
    log.info("shard done: %d images, %.2f s/image (%s on %s)", len(table), table["seconds"].mean(), method, dev)
    return table


def _canvas_shape(r: pd.Series) -> tuple[int, int]:
    h, w = r.get("height"), r.get("width")
    if h is None or w is None or (isinstance(h, float) and math.isnan(h)):
        return 0, 0
    return int(h), int(w)


def geometry_from_row(row: pd.Series | dict) -> Geometry:
    """Geometry stored in a heatmap shard-table row."""
    i = lambda k: int(float(row[k]))  # noqa: E731  (CSV columns with rejected rows read back as floats)
    return Geometry(float(row["origin_y"]), float(row["origin_x"]), i("stride"), i("rows"), i("cols"),
                    i("height"), i("width"), i("patch_size"))


def saliency(prob: np.ndarray, geo: Geometry, scale: float, long_side: int) -> np.ndarray:
    """Scale-sharpened saliency mass softmax(scale*heat) on the warp grid (uniform if the map is unusable)."""
    gh, gw = warp.grid_shape(geo.height, geo.width, long_side)
    if not np.isfinite(prob).all():
        return np.full((gh, gw), 1.0 / (gh * gw))
    heat = warp.heat_on_grid(prob, (geo.origin_y, geo.origin_x), geo.stride, geo.height, geo.width, gh, gw)
    return warp.saliency_mass(heat, scale).numpy()


def smoothed_saliency(sal: np.ndarray, fwhm: float) -> np.ndarray:
    """FWHM-smoothed saliency density (the denominator of the pixel-driven grid), normalised to sum 1."""
    r = warp.gaussian_radius(fwhm)
    k = warp.gaussian_1d(fwhm, r)
    sp = F.pad(torch.as_tensor(sal, dtype=torch.float64)[None, None], (r, r, r, r), mode="replicate")[0, 0]
    d = warp._conv_sep(sp, k)
    return (d / (d.sum() + warp.EPS)).numpy()


def overlay(canvas: np.ndarray, density: np.ndarray, alpha: float = 0.35) -> np.ndarray:
    """8-bit BGR JET overlay of a density map on the grey canvas (full canvas size)."""
    H, W = canvas.shape
    d = cv2.resize(density.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    d = (d - d.min()) / (float(d.max() - d.min()) + 1e-12)
    jet = cv2.applyColorMap(np.clip(d * 255 + 0.5, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    grey = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    grey3 = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(jet, alpha, grey3, 1 - alpha, 0)


def derive_shard(table_path: str, pngs: dict[str, str], scales: Iterable[float], fwhms: Iterable[float],
                 long_side: int, heat_out: str, overlay_out: str, alpha: float = 0.35) -> None:
    """Per image and (scale, FWHM): smoothed saliency .npy on the warp grid and an overlay PNG.

    heat_out / overlay_out are templates with {split}, {image_id}, {scale}, {fwhm}.
    """
    table = pd.read_csv(table_path, keep_default_na=False, dtype={"image_id": str, "split": str})
    for _, row in table.iterrows():
        _derive_image(row, pngs[row["image_id"]], scales, fwhms, long_side, heat_out, overlay_out, alpha)


def derive_one(table_path: str, image_id: str, png: str, scale: float, fwhm: float, long_side: int,
               heat_out: str, overlay_out: str, alpha: float = 0.35) -> None:
    """The saliency .npy and overlay of one image and (scale, FWHM), identical to what derive_shard writes."""
    _derive_image(table_row(table_path, image_id), png, [scale], [fwhm], long_side, heat_out, overlay_out, alpha)


def table_row(table_path: str, image_id: str) -> pd.Series:
    """The row of one image in a heatmap shard table; KeyError naming the table if it is absent."""
    table = pd.read_csv(table_path, keep_default_na=False, dtype={"image_id": str, "split": str})
    rows = table[table["image_id"] == str(image_id)]
    if rows.empty:
        raise KeyError(f"{table_path}: no heatmap row for image {image_id}")
    return rows.iloc[0]


def _derive_image(row: pd.Series, png: str, scales: Iterable[float], fwhms: Iterable[float], long_side: int,
                  heat_out: str, overlay_out: str, alpha: float) -> None:
    prob = probmaps.of_row(row)
    geo = geometry_from_row(row) if row["status"] == "ok" else None
    canvas = load_canvas(png) if geo is not None else None
    for s in scales:
        sal = saliency(prob, geo, float(s), long_side) if geo is not None else None
        for f in fwhms:
            kw = dict(split=row["split"], image_id=row["image_id"], scale=warp.fmt_num(s), fwhm=warp.fmt_num(f))
            if sal is None:  # rejected upstream: 1x1 markers keep every target present
                dens = np.full((1, 1), np.nan)
                over = np.zeros((1, 1, 3), np.uint8)
            else:
                dens = smoothed_saliency(sal, float(f))
                over = overlay(canvas, dens, alpha)
            Path(heat_out.format(**kw)).parent.mkdir(parents=True, exist_ok=True)
            np.save(heat_out.format(**kw), dens.astype(np.float32))
            Path(overlay_out.format(**kw)).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(overlay_out.format(**kw), over)


def evaluate(tables: Sequence[str], findings_csv: str, out_json: str, dilate: float = 32.0,
             checkpoint: str | None = None, pngs: dict[str, str] | None = None, compare_max: int = 0,
             split: str = "test", threads: int = 1) -> dict[str, Any]:
    """Heatmap QC: share of lesion images whose arg-max lies in a dilated finding box; dense vs sliding agreement."""
    t = pd.concat([pd.read_csv(p, keep_default_na=False, dtype={"image_id": str}) for p in tables],
                  ignore_index=True)
    t = t[(t["status"] == "ok") & (t["split"] == split)].sort_values("image_id")
    fnd = pd.read_csv(findings_csv, dtype={"image_id": str})
    hits, n, misses = 0, 0, []
    for _, r in t.iterrows():
        boxes = fnd[fnd["image_id"] == r["image_id"]]
        if boxes.empty:
            continue
        n += 1
        y, x = float(r["argmax_y"]), float(r["argmax_x"])
        hit = bool(((boxes["rxmin"] - dilate <= x) & (x <= boxes["rxmax"] + dilate)
                    & (boxes["rymin"] - dilate <= y) & (y <= boxes["rymax"] + dilate)).any())
        hits += hit
        if not hit:
            misses.append(r["image_id"])
    res: dict[str, Any] = {"split": split, "images": int(len(t)), "lesion_images": n, "argmax_in_box": hits,
                           "argmax_in_box_rate": (hits / n) if n else None, "dilate_px": dilate,
                           "missed": misses}
    if compare_max and checkpoint and pngs:
        res["dense_vs_sliding"] = compare_methods(checkpoint, [pngs[i] for i in t["image_id"][:compare_max]],
                                                  threads=threads)
    write_json(out_json, res)
    return res


def compare_methods(checkpoint: str, pngs: Sequence[str], stride: int = NET_STRIDE,
                    threads: int = 1) -> dict[str, Any]:
    """Pearson correlation between dense and sliding maps (probabilities pooled over the images, per image, and
    log-odds pooled) and the speed-up of the dense pass on these images."""
    torch.set_num_threads(max(1, int(threads)))
    model, meta = load_patch_model(checkpoint)
    patch, pos = int(meta["patch_size"]), _positive_index(meta)
    head = DenseHead(model, patch).eval()
    per, a_all, b_all, t_d, t_s = [], [], [], 0.0, 0.0
    for p in pngs:
        x = to_input(load_canvas(p), meta["norm"]["mean"], meta["norm"]["std"])
        t0 = time.perf_counter()
        a, _ = dense_prob(head, x, patch, pos)
        t1 = time.perf_counter()
        b, _ = sliding_prob(model, x, patch, stride, 64, pos)
        t_d, t_s = t_d + t1 - t0, t_s + time.perf_counter() - t1
        per.append(correlation(a, b))
        a_all.append(a.ravel()); b_all.append(b.ravel())
    log.info("dense %.3f s, sliding %.3f s over %d images (%.1fx)", t_d, t_s, len(pngs), t_s / max(t_d, 1e-9))
    if not a_all:
        return {"images": 0}
    a, b = np.concatenate(a_all), np.concatenate(b_all)
    return {"images": len(pngs), "pooled_correlation": correlation(a, b),
            "pooled_logodds_correlation": correlation(_logit(a), _logit(b)),
            "mean_correlation": float(np.mean(per)), "min_correlation": float(min(per)), "per_image": per,
            "max_abs_difference": float(np.abs(a - b).max())}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps (1.0 when both are constant and equal)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))
