"""Lesion-probability heatmaps of the patch classifier (sliding windows or one dense pass) and saliency targets."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from mammoflow.io import probmaps

from mammoflow.io import png
from mammoflow.pipelines.nus.windows import WindowGrid
from mammoflow.pipelines.nus.crossfit import fold_of_images
from mammoflow.core.errors import ImageRejected
from mammoflow.evaluation.metrics import write_json
from mammoflow.pipelines.nus.patch_model import load_model, trunk, window_weights

log = logging.getLogger("mammoflow.pipelines.nus.heatmap")
NET_STRIDE = 32  # total stride of a torchvision ResNet trunk


def to_input(img: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """(H, W) [0,1] image -> (1, 3, H, W) normalised tensor (the patch classifier convention)."""
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    t = (t - float(mean)) / float(std)
    return t[None, None].expand(1, 3, *t.shape).contiguous()


@torch.no_grad()
def sliding_prob(model: nn.Module, x: torch.Tensor, patch_size: int, stride: int,
                 batch_size: int = 64, positive: int = 1) -> tuple[np.ndarray, WindowGrid]:
    """Reference map: P(lesion) of every patch_size window at `stride`, batched."""
    _, _, H, W = x.shape
    geo = WindowGrid.for_canvas(H, W, patch_size, stride)
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
               positive: int = 1) -> tuple[np.ndarray, WindowGrid]:
    """One fully-convolutional pass giving the stride-32 window map (cropped to the sliding-window grid)."""
    head = model if isinstance(model, DenseHead) else DenseHead(model, patch_size).eval()
    _, _, H, W = x.shape
    geo = WindowGrid.for_canvas(H, W, patch_size, NET_STRIDE)
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


def argmax_canvas(prob: np.ndarray, geo: WindowGrid) -> tuple[float, float]:
    """Canvas (y, x) of the window centre with the highest probability."""
    i, j = np.unravel_index(int(np.argmax(prob)), prob.shape)
    return geo.centre(i, j)


def load_patch_model(checkpoint: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained patch classifier and its metadata (arch, norm, patch_size, classes), in eval mode."""
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"patch classifier checkpoint not found: {checkpoint}")
    model, meta = load_model(checkpoint)
    return model.eval(), meta


def _positive_index(meta: dict[str, Any]) -> int:
    classes = list(meta.get("classes", ["background", "lesion"]))
    return classes.index("lesion") if "lesion" in classes else 1


class ShardModel:
    """One loaded patch classifier of a shard job: the model, its dense head, patch size, norm and lesion class."""

    def __init__(self, checkpoint: str | Path, method: str, dev: torch.device):
        model, meta = load_patch_model(checkpoint)
        self.model = model.to(dev)
        self.patch = int(meta["patch_size"])
        self.mean, self.std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])
        self.pos = _positive_index(meta)
        self.head = DenseHead(self.model, self.patch).to(dev).eval() if method == "dense" else None

    def prob(self, img: np.ndarray, stride: int, batch_size: int) -> tuple[np.ndarray, WindowGrid]:
        """P(lesion) map of one canvas (dense pass or sliding windows)."""
        x = to_input(img, self.mean, self.std)
        if self.head is not None:
            return dense_prob(self.head, x, self.patch, self.pos)
        return sliding_prob(self.model, x, self.patch, stride, batch_size, self.pos)


def shard_models(checkpoint: str, fold_checkpoints: Sequence[str] | None, method: str,
                 dev: torch.device) -> dict[str, ShardModel]:
    """'full' and, when cross-fitting, 'fold0'..'fold{k-1}', each loaded once; all with the same patch size."""
    models = {"full": ShardModel(checkpoint, method, dev)}
    for j, ck in enumerate(fold_checkpoints or ()):
        models[f"fold{j}"] = ShardModel(ck, method, dev)
    sizes = {m.patch for m in models.values()}
    if len(sizes) > 1:
        raise ValueError(f"the heatmap models have different patch sizes {sorted(sizes)}")
    return models


def model_name(image_id: str, split: str, folds: dict[str, int] | None) -> str:
    """Which model maps an image: the fold model that did not see it (training images, cross-fitting), else full."""
    if folds is None or split != "training":
        return "full"
    if image_id not in folds:
        raise ImageRejected(image_id, "training image has no cross-fitting fold (not in folds.csv)")
    return f"fold{folds[image_id]}"


def run_shard(images: pd.DataFrame, checkpoint: str, prob_store: str, table_path: str,
              method: str = "dense", stride: int = NET_STRIDE, batch_size: int = 64,
              device: str = "auto", threads: int = 1, fold_checkpoints: Sequence[str] | None = None,
              folds_csv: str | None = None) -> pd.DataFrame:
    """Probability maps of one shard: models loaded once, all maps in one HDF5 file, geometry/status table.

    `images` has image_id, split, png (the preprocessed canvas); the maps go to one HDF5 file (prob_store,
    mammoflow.io.probmaps), keyed by image id.
    Cross-fitting (`fold_checkpoints` not None, fold j's model at index j; `folds_csv` when the shard has
    training images): a training image's map comes from the fold model that did not see its study, test
    images keep the full model; the table's `model` column says which (full, fold0, ...).
    A failing image gets a row with status 'rejected' and its reason, and a NaN map (so the downstream
    stages apply the identity warp and the classifier skips it); the batch goes on.
    """
    from mammoflow.training.device import device as pick_device
    torch.set_num_threads(max(1, int(threads)))
    if method not in ("dense", "sliding"):
        raise ValueError(f"heatmap method must be dense or sliding, got {method!r}")
    if method == "dense" and stride != NET_STRIDE:
        raise ValueError(f"the dense method gives stride {NET_STRIDE} maps; got stride {stride}")
    dev = pick_device(device)
    models = shard_models(checkpoint, fold_checkpoints, method, dev)
    patch = models["full"].patch
    crossfit = fold_checkpoints is not None
    folds = fold_of_images(folds_csv) if crossfit and folds_csv else ({} if crossfit else None)
    rows, maps = [], {}
    for _, r in images.iterrows():
        t0 = time.perf_counter()
        row: dict[str, Any] = {"image_id": r["image_id"], "split": r["split"], "method": method,
                               "prob_path": str(prob_store), "status": "ok", "reason": ""}
        if crossfit:
            row["model"] = ""
        try:
            img = png.read_unit(r["png"], np.uint16)
            if float(img.max()) == 0.0:
                raise ImageRejected(str(r["png"]), "no breast tissue (all-zero canvas)")
            name = model_name(str(r["image_id"]), str(r["split"]), folds)
            if crossfit:
                row["model"] = name
            if name not in models:
                raise ValueError(f"no checkpoint for model {name} ({len(models) - 1} fold models loaded)")
            prob, geo = models[name].prob(img, stride, batch_size)
            check_prob(prob, f"{r['image_id']} ({r['png']})")
            ay, ax = argmax_canvas(prob, geo)
            row.update(asdict(geo), prob_max=float(prob.max()), prob_mean=float(prob.mean()),
                       argmax_y=ay, argmax_x=ax)
        except (ImageRejected, ValueError, RuntimeError) as exc:
            log.warning("heatmap rejected %s: %s", r["image_id"], exc)
            h, w = _canvas_shape(r)
            try:
                geo = WindowGrid.for_canvas(h, w, patch, stride if method == "sliding" else NET_STRIDE)
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
    log.info("shard done: %d images, %.2f s/image (%s on %s, models %s)", len(table), table["seconds"].mean(),
             method, dev, ", ".join(models))
    return table


def _canvas_shape(r: pd.Series) -> tuple[int, int]:
    h, w = r.get("height"), r.get("width")
    if h is None or w is None or (isinstance(h, float) and math.isnan(h)):
        return 0, 0
    return int(h), int(w)


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
        hit = _in_boxes(boxes, float(r["argmax_y"]), float(r["argmax_x"]), dilate)
        hits += hit
        if not hit:
            misses.append(r["image_id"])
    res: dict[str, Any] = {"split": split, "images": int(len(t)), "lesion_images": n, "argmax_in_box": hits,
                           "argmax_in_box_rate": (hits / n) if n else None, "dilate_px": dilate,
                           "missed": misses}
    if compare_max and checkpoint and pngs:
        ids = list(t["image_id"][:compare_max])
        cmp = compare_methods(checkpoint, [pngs[i] for i in ids], threads=threads)
        # arg-max hit rates of both methods on the compared lesion images (the same images for both)
        found = {m: 0 for m in ("dense", "sliding")}
        lesion = 0
        for i, peaks in zip(ids, cmp.pop("argmax", [])):
            boxes = fnd[fnd["image_id"] == i]
            if boxes.empty:
                continue
            lesion += 1
            for m, (y, x) in peaks.items():
                found[m] += _in_boxes(boxes, y, x, dilate)
        cmp.update(lesion_images=lesion, **{f"argmax_in_box_{m}": found[m] for m in found},
                   **{f"argmax_in_box_rate_{m}": (found[m] / lesion) if lesion else None for m in found})
        res["dense_vs_sliding"] = cmp
    write_json(out_json, res)
    return res


def _in_boxes(boxes: pd.DataFrame, y: float, x: float, dilate: float) -> bool:
    """Whether canvas point (y, x) lies in one of the finding boxes dilated by `dilate` pixels."""
    return bool(((boxes["rxmin"] - dilate <= x) & (x <= boxes["rxmax"] + dilate)
                 & (boxes["rymin"] - dilate <= y) & (y <= boxes["rymax"] + dilate)).any())


def compare_methods(checkpoint: str, pngs: Sequence[str], stride: int = NET_STRIDE,
                    threads: int = 1) -> dict[str, Any]:
    """Pearson correlation between dense and sliding maps (probabilities pooled over the images, per image, and
    log-odds pooled), the largest difference and each image's arg-max on the canvas for both methods."""
    torch.set_num_threads(max(1, int(threads)))
    model, meta = load_patch_model(checkpoint)
    patch, pos = int(meta["patch_size"]), _positive_index(meta)
    head = DenseHead(model, patch).eval()
    per, a_all, b_all, peaks, t_d, t_s = [], [], [], [], 0.0, 0.0
    for p in pngs:
        x = to_input(png.read_unit(p, np.uint16), meta["norm"]["mean"], meta["norm"]["std"])
        t0 = time.perf_counter()
        a, geo_a = dense_prob(head, x, patch, pos)
        t1 = time.perf_counter()
        b, geo_b = sliding_prob(model, x, patch, stride, 64, pos)
        peaks.append({"dense": argmax_canvas(a, geo_a), "sliding": argmax_canvas(b, geo_b)})
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
            "max_abs_difference": float(np.abs(a - b).max()), "argmax": peaks}


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
