"""GLAM inference and its outputs: predictions.csv, per-lesion saliency Dice, metrics.json."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from mammoflow.core import rejections
from mammoflow.core.errors import ConfigError
from mammoflow.evaluation.metrics import dice, roc_auc
from mammoflow.pipelines.glam.data import CLASSES, GlamImage, GlamResult, batch_tensors, exam_splits, load_exam_images, write_csv
from mammoflow.pipelines.glam.figures import visualize, visualize_rejected
from mammoflow.pipelines.glam.model import GLAM
from mammoflow.pipelines.glam.plan import train_config
from mammoflow.pipelines.glam.train import image_scores, load_glam

log = logging.getLogger("mammoflow.pipelines.glam.infer")


@torch.no_grad()
def infer(model: GLAM, images: Iterable[GlamImage], score: str = "global", batch_size: int = 2,
          device: torch.device | None = None) -> Iterable[GlamResult]:
    """Run the model on images in batches (loaded once), yielding per-image results."""
    model.eval()
    dev = device or torch.device("cpu")
    model.to(dev)
    batch: list[GlamImage] = []

    def flush(b: list[GlamImage]):
        x, _ = batch_tensors(b, None, None)
        out = model(x.to(dev))
        fused = model.fused_saliency(out).cpu().numpy()
        sc = image_scores(out, score).cpu().numpy()
        yg, yl = out.y_global.cpu().numpy(), out.y_local.cpu().numpy()
        for i, im in enumerate(b):
            yield GlamResult(im, sc[i], fused[i], out.global_saliency[i].cpu().numpy(),
                             out.positions[i].cpu().numpy(), out.crops[i, :, 0].cpu().numpy(), yg[i], yl[i])

    for im in images:
        batch.append(im)
        if len(batch) == batch_size:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


def saliency_rows(res: GlamResult, threshold: float) -> list[dict]:
    """Per image and lesion class: Dice (fixed threshold, top-k, top 1 %) and the pointing game of the fused map,
    each with its uniform-map baseline (the whole breast; a random breast point)."""
    rows = []
    im = res.image
    breast = im.window > im.window.min()
    n_breast = max(int(breast.sum()), 1)
    for j, c in enumerate(CLASSES):
        m = im.masks.get(c)
        if m is None or not m.any():
            continue
        sal = res.fused[j]
        n = int(m.sum())
        iy, ix = np.unravel_index(int(np.argmax(sal)), sal.shape)
        rows.append({"image_index": im.image_id, "split": im.split, "lesion_class": c,
                     "lesion_pixels": n,
                     "dice": round(dice(sal >= threshold, m), 6),
                     "dice_uniform": round(dice(breast, m), 6),
                     "dice_top1pct": round(dice(sal >= np.quantile(sal, 0.99), m), 6),
                     "dice_topk": round(dice(top_k_mask(sal, n), m), 6),
                     "dice_topk_uniform": round(min(n, n_breast) / n_breast, 6),
                     "pointing": int(bool(m[iy, ix])),
                     "pointing_uniform": round(float(m[breast].sum()) / n_breast, 6),
                     "saliency_max": round(float(sal.max()), 6)})
    return rows


def top_k_mask(sal: np.ndarray, k: int) -> np.ndarray:
    """The k highest pixels of a map (ties broken by position, so exactly k pixels)."""
    flat = np.zeros(sal.size, dtype=bool)
    flat[np.argsort(-sal.ravel(), kind="stable")[:max(int(k), 0)]] = True
    return flat.reshape(sal.shape)


SALIENCY_COLUMNS = ["image_index", "split", "lesion_class", "lesion_pixels", "dice", "dice_uniform", "dice_top1pct",
                    "dice_topk", "dice_topk_uniform", "pointing", "pointing_uniform", "saliency_max"]
LOCALISATION_KEYS = ("dice", "dice_uniform", "dice_top1pct", "dice_topk", "dice_topk_uniform", "pointing",
                     "pointing_uniform")


def write_predictions(results: Sequence[GlamResult], path: str | Path) -> None:
    """predictions.csv with the original's columns and 4 decimals, rows in exam order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["image_index", "benign_pred", "malignant_pred", "benign_label", "malignant_label"])
        for r in results:
            w.writerow([r.image.image_id, f"{r.scores[0]:.4f}", f"{r.scores[1]:.4f}",
                        r.image.benign, r.image.malignant])


def compute_metrics(predictions_csv: str | Path, saliency_csv: str | Path, splits: Mapping[str, str],
                    threshold: float) -> dict[str, Any]:
    """metrics.json content: test AUCs and saliency Dice (fused map vs uniform baseline) on test images."""
    import pandas as pd
    pred = pd.read_csv(predictions_csv)
    pred["split"] = pred["image_index"].map(splits)
    test = pred[pred["split"] == "test"]
    sal = pd.read_csv(saliency_csv) if os.path.getsize(saliency_csv) > 0 else pd.DataFrame()
    st = sal[sal["split"] == "test"] if len(sal) else sal
    out: dict[str, Any] = {
        "n_test_images": int(len(test)),
        "n_test_malignant": int(test["malignant_label"].sum()), "n_test_benign": int(test["benign_label"].sum()),
        "malignant_auc": _r(roc_auc(test["malignant_label"], test["malignant_pred"])),
        "benign_auc": _r(roc_auc(test["benign_label"], test["benign_pred"])),
        "dice_threshold_rule": f"fused saliency map of the lesion's class >= {threshold} (fixed), window "
                               f"coordinates, test images with a lesion mask; baseline: uniform map over the "
                               f"whole breast (every window pixel above the background); dice_topk: the lesion-sized set of "
                               f"highest pixels (baseline: its expectation for random breast pixels = lesion / "
                               f"breast area); pointing: arg-max of the map inside the lesion mask (baseline: a "
                               f"random breast point hits with probability lesion / breast area)",
    }
    for c in ("all",) + CLASSES:
        part = st if c == "all" or not len(st) else st[st["lesion_class"] == c]
        key = "" if c == "all" else f"{c}_"
        for k in LOCALISATION_KEYS:
            out[f"{key}{k}"] = _r(part[k].mean()) if len(part) and k in part else None
        out[f"n_{key}lesions"] = int(len(part))
    return out


def _r(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else round(v, 4)


def run_predict(model_path: str, data_pkl: str, cropped_dir: str, seg_dir: str, out_predictions: str,
                out_saliency: str, out_rejected: str, figures: Sequence[str], train: Mapping[str, Any],
                window: Sequence[int], seed: int, threads: int = 1, device: str = "auto",
                rejected_tables: Sequence[str] = ()) -> None:
    """Snakemake entry point: predictions.csv, per-lesion saliency Dice and the five-panel figures (one job)."""
    from mammoflow.training.device import device as pick_device
    torch.set_num_threads(int(threads))
    tcfg = train_config(train)
    model = load_glam(model_path)
    if list(model.cfg.window) != list(window):
        raise ConfigError(f"model window {model.cfg.window} differs from glam.window {list(window)}")
    splits = exam_splits(data_pkl, tcfg, seed)
    images, rejected = load_exam_images(data_pkl, cropped_dir, seg_dir, model.cfg.window, splits, cache_mb=0)
    wanted = {Path(f).stem: f for f in figures}
    results, sal_rows = [], []
    for res in infer(model, images, tcfg["score"], batch_size=2, device=pick_device(device)):
        sal_rows.extend(saliency_rows(res, float(tcfg["dice_threshold"])))
        if res.image.image_id in wanted:
            visualize(res, wanted.pop(res.image.image_id), model.cfg.crop_shape)
        results.append(GlamResult(res.image, res.scores, np.empty(0), np.empty(0), res.positions, np.empty(0),
                                  res.y_global, res.y_local))   # keep only what the tables need in memory
    write_predictions(results, out_predictions)
    write_csv(Path(out_saliency).with_name("scores.csv"),
               [{"image_index": r.image.image_id, "split": r.image.split,
                 **{f"{c}_{m}": f"{v[j]:.6f}" for m, v in (("global", r.y_global), ("local", r.y_local))
                    for j, c in enumerate(CLASSES)}} for r in results],
               ["image_index", "split", "benign_global", "malignant_global", "benign_local", "malignant_local"])
    write_csv(out_saliency, sal_rows, SALIENCY_COLUMNS)
    earlier = [r for t in rejected_tables for r in rejections.read(t)]
    reasons = {r["image_id"]: r["reason"] for r in earlier + rejected if r.get("image_id")}
    for image_id, path in wanted.items():      # listed images that never reached the model
        visualize_rejected(image_id, reasons.get(image_id, "not in data.pkl (rejected before the model)"), path)
    rejections.write(out_rejected, rejected)
    log.info("predicted %d images, %d lesion masks scored, %d rejected", len(results), len(sal_rows), len(rejected))


def run_metrics(predictions: str, saliency: str, splits_csv: str, out_json: str, train: Mapping[str, Any]) -> None:
    """Snakemake entry point: metrics.json (test AUCs, saliency Dice vs the uniform baseline)."""
    tcfg = train_config(train)
    with open(splits_csv, newline="") as fh:
        splits = {r["image_index"]: r["split"] for r in csv.DictReader(fh)}
    out = compute_metrics(predictions, saliency, splits, float(tcfg["dice_threshold"]))
    out["score"] = tcfg["score"]
    scores = Path(saliency).with_name("scores.csv")
    if scores.is_file():   # for information: AUCs of the global module, the local module and their mean
        import pandas as pd
        sc = pd.read_csv(scores)
        sc = sc[sc["split"] == "test"]
        pred = pd.read_csv(predictions).set_index("image_index").loc[sc["image_index"]]
        for c in CLASSES:
            y = pred[f"{c}_label"].to_numpy()
            for name, s in (("global", sc[f"{c}_global"]), ("local", sc[f"{c}_local"]),
                            ("mean", (sc[f"{c}_global"] + sc[f"{c}_local"]) / 2)):
                out[f"{c}_auc_{name}"] = _r(roc_auc(y, s.to_numpy()))
    Path(out_json).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
