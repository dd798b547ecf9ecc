"""The two training jobs: stage 1 on a tissue dataset's canvases, stage 2 on the FGT crops stage 1 makes of a
lesion dataset's canvases; each writes best_stage*.pth, metrics.json and its rejection table."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from mammoflow.core import rejections
from mammoflow.evaluation.metrics import write_json
from mammoflow.io import png
from mammoflow.pipelines.cascade import data, segtrain
from mammoflow.pipelines.cascade.crops import Box, paste_back
from mammoflow.pipelines.cascade.infer import load_stage
from mammoflow.pipelines.cascade.segtrain import StageConfig, lesion_scores, predict_logits, tissue_scores
from mammoflow.training.checkpoints import load_checkpoint, save_atomic
from mammoflow.training.splits import grouped_split

log = logging.getLogger("mammoflow.pipelines.cascade.stages")


def split_rows(images_csv: str | Path, val_fraction: float, seed: int) -> pd.DataFrame:
    """images.csv with a 'part' column: train / val (patient-grouped share of training) / test."""
    df = pd.read_csv(images_csv, dtype=str, keep_default_na=False).sort_values("image_id").reset_index(drop=True)
    train = (df["split"] != "test").to_numpy()
    part = np.where(train, "train", "test").astype(object)
    idx = np.flatnonzero(train)
    if len(idx) > 2 and val_fraction > 0:
        groups = df.loc[idx, "patient_id"] if "patient_id" in df else df.loc[idx, "image_id"]
        val = grouped_split(groups.tolist(), [0] * len(idx), val_fraction, seed)
        part[idx[val]] = "val"
    df["part"] = part
    return df


def _parts(p: data.Pairs, df: pd.DataFrame) -> dict[str, data.Pairs]:
    where = dict(zip(df["image_id"], df["part"]))
    return {k: p.subset([where[i] == k for i in p.ids]) for k in ("train", "val", "test")}


def _ds(p: data.Pairs):
    return segtrain.to_tensors(p.images, p.masks) if p.ids else None


def _publish(out_dir: Path, best: str | Path) -> None:
    """best.pt of the engine as the stage's declared checkpoint (same dict, weights only)."""
    save_atomic(load_checkpoint(out_dir / "best.pt"), best)


def train_stage1(images_csv: str, canvas: str, tissue_tmpl: str, out: Mapping[str, str], cfg: Mapping[str, Any],
                 model_name: str, pretrained: str, seed: int, state_dir: str, threads: int = 1,
                 code: str = "") -> dict[str, Any]:
    """Stage 1 on canvases + canvas tissue maps; out: checkpoint, metrics, rejected, tensorboard."""
    sc = StageConfig.from_config(cfg)
    df = split_rows(images_csv, sc.val_fraction, seed)
    items = [(i, canvas.format(image_id=i), tissue_tmpl.format(image_id=i)) for i in df["image_id"]]
    pairs = data.load_tissue(items, (sc.height, sc.width), "cascade_stage1")
    parts = _parts(pairs, df)
    model, result = segtrain.fit_stage("tissue", _ds(parts["train"]), _ds(parts["val"]), sc, model_name, pretrained,
                                       state_dir, seed, out["tensorboard"], threads=threads, code=code)
    _publish(Path(state_dir), out["checkpoint"])
    metrics: dict[str, Any] = {"model": model_name, "best_epoch": result.best_epoch,
                               "n": {k: len(v.ids) for k, v in parts.items()}, "n_rejected": len(pairs.rejected)}
    for k in ("val", "test"):
        if parts[k].ids:
            x = _ds(parts[k]).tensors[0]
            pred = predict_logits(model, x, sc.batch_size, torch.device("cpu")).argmax(1).numpy()
            metrics[k] = tissue_scores(pred, np.stack(parts[k].masks))
    metrics["history"] = result.history
    write_json(out["metrics"], metrics)
    rejections.write(out["rejected"], pairs.rejected)
    return metrics


def brightest_baseline(images: list[np.ndarray], masks: list[np.ndarray], fraction: float) -> np.ndarray:
    """Per image, the `fraction` brightest pixels as the lesion (the trivial baseline stage 2 must beat)."""
    out = []
    for img in images:
        q = np.quantile(img, 1 - fraction) if fraction > 0 else np.inf
        out.append((img >= q).astype(np.float32))
    return np.stack(out)


def full_size_scores(crop_maps: np.ndarray, boxes: list[Box], full_masks: list[np.ndarray],
                     threshold: float = 0.5) -> dict[str, float]:
    """lesion_scores of crop-space maps pasted back into their boxes at full size against the full-size masks
    (lesion pixels the crop box cut off count as misses), as the cascade's cancer_prob maps are judged."""
    dices, hits, inter, total = [], [], 0, 0
    for m, b, g in zip(crop_maps, boxes, full_masks):
        p = paste_back(m, b, g.shape) >= threshold
        g = g.astype(bool)
        i, s = int((p & g).sum()), int(p.sum() + g.sum())
        inter, total = inter + i, total + s
        if g.any():
            dices.append(2.0 * i / s)
            hits.append(i > 0)
    return {"dice_lesion": float(np.mean(dices)) if dices else float("nan"), "dice_pooled": 2.0 * inter / max(total, 1),
            "detection_rate": float(np.mean(hits)) if hits else float("nan"), "n_lesion_images": len(dices)}


def image_categories(findings_csv: str | Path | None, ids: list[str]) -> list[str]:
    """Per image the finding category (findings.csv 'category': mass, calcification, ...), 'mixed' when an image
    has several, '' when unknown."""
    if not findings_csv or not Path(findings_csv).exists():
        return [""] * len(ids)
    f = pd.read_csv(findings_csv, dtype=str, keep_default_na=False)
    cats = f.groupby("image_id")["category"].agg(lambda c: sorted(set(c) - {""})).to_dict()
    return [("mixed" if len(c) > 1 else c[0]) if (c := cats.get(i, [])) else "" for i in ids]


def lesion_report(prob: np.ndarray, truth: np.ndarray, boxes: list[Box], full: list[np.ndarray],
                  categories: list[str]) -> dict[str, Any]:
    """Crop-size lesion scores, per finding category, and the full-size scores of the pasted-back maps."""
    out: dict[str, Any] = lesion_scores(prob, truth)
    for c in sorted(set(categories) - {""}):
        sel = np.array([k == c for k in categories])
        out[f"dice_lesion_{c}"] = lesion_scores(prob[sel], truth[sel])["dice_lesion"]
        out[f"n_{c}"] = int(sel.sum())
    out["full_size"] = full_size_scores(prob, boxes, full)
    return out


def train_stage2(images_csv: str, canvas: str, lesion_tmpl: str, breast_tmpl: str, stage1: str,
                 out: Mapping[str, str], cfg: Mapping[str, Any], model_name: str, pretrained: str, seed: int,
                 state_dir: str, threads: int = 1, code: str = "", findings_csv: str | None = None) -> dict[str, Any]:
    """Stage 2 on FGT crops of stage 1 (margin, resized) as at inference; metrics incl. the brightest baseline,
    Dice per finding category (findings_csv) and at full size (maps pasted back into the crop box)."""
    sc = StageConfig.from_config(cfg)
    torch.set_num_threads(threads)
    df = split_rows(images_csv, sc.val_fraction, seed)
    m1, size1 = load_stage(stage1)
    from mammoflow.pipelines.cascade.infer import Cascade

    cas = Cascade(m1, size1, m1, size1, float(cfg["margin"]))
    items = [(i, canvas.format(image_id=i), lesion_tmpl.format(image_id=i), breast_tmpl.format(image_id=i))
             for i in df["image_id"]]
    pairs = data.lesion_crops(items, cas.fgt, (sc.height, sc.width), float(cfg["margin"]), "cascade_stage2")
    parts = _parts(pairs, df)
    model, result = segtrain.fit_stage("lesion", _ds(parts["train"]), _ds(parts["val"]), sc, model_name, pretrained,
                                       state_dir, seed, out["tensorboard"], threads=threads, code=code)
    _publish(Path(state_dir), out["checkpoint"])
    tr = parts["train"]
    frac = float(np.mean([m.mean() for m in tr.masks])) if tr.ids else 0.0
    metrics: dict[str, Any] = {"model": model_name, "best_epoch": result.best_epoch, "margin": float(cfg["margin"]),
                               "n": {k: len(v.ids) for k, v in parts.items()}, "n_rejected": len(pairs.rejected),
                               "fallback_crops": int(sum(b.fallback for b in pairs.boxes)),
                               "baseline_fraction": frac}
    for k in ("val", "test"):
        if parts[k].ids:
            x = _ds(parts[k]).tensors[0]
            prob = predict_logits(model, x, sc.batch_size, torch.device("cpu"))[:, 0].sigmoid().numpy()
            truth = np.stack(parts[k].masks)
            full = [png.read(lesion_tmpl.format(image_id=i)) > 0 for i in parts[k].ids]
            cats = image_categories(findings_csv, parts[k].ids)
            base = brightest_baseline(parts[k].images, parts[k].masks, frac)
            metrics[k] = lesion_report(prob, truth, parts[k].boxes, full, cats)
            metrics[k]["brightest_baseline"] = lesion_report(base, truth, parts[k].boxes, full, cats)
    metrics["history"] = result.history
    write_json(out["metrics"], metrics)
    rejections.write(out["rejected"], pairs.rejected)
    return metrics
