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
from mammoflow.pipelines.cascade import data, segtrain
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


def train_stage2(images_csv: str, canvas: str, lesion_tmpl: str, breast_tmpl: str, stage1: str,
                 out: Mapping[str, str], cfg: Mapping[str, Any], model_name: str, pretrained: str, seed: int,
                 state_dir: str, threads: int = 1, code: str = "") -> dict[str, Any]:
    """Stage 2 on FGT crops of stage 1 (margin, resized) as at inference; metrics incl. the brightest baseline."""
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
            metrics[k] = lesion_scores(prob, truth)
            metrics[k]["brightest_baseline"] = lesion_scores(brightest_baseline(parts[k].images, parts[k].masks,
                                                                                frac), truth)
    metrics["history"] = result.history
    write_json(out["metrics"], metrics)
    rejections.write(out["rejected"], pairs.rejected)
    return metrics
