"""Engine task and fit of a segmentation stage (tissue: 4 classes, lesion: 1 logit) on in-memory arrays."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from mammoflow.core.config import from_mapping
from mammoflow.core.provenance import fingerprint
from mammoflow.pipelines.cascade.augment import Augment, augment
from mammoflow.pipelines.cascade.losses import l1_penalty, lesion_loss, tissue_loss
from mammoflow.pipelines.cascade.model import build_model
from mammoflow.training import engine
from mammoflow.training.checkpoints import load_checkpoint
from mammoflow.training.device import seed_all

log = logging.getLogger("mammoflow.pipelines.cascade")

TISSUE_CLASSES = ("background", "adipose", "fibroglandular", "pectoral")
FGT = 2


@dataclass(frozen=True)
class StageConfig:
    """Training settings of one stage (cascade.schema.yaml stage1 / stage2)."""

    height: int
    width: int
    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    t0: int
    t_mult: int
    eta_min: float
    grad_clip: float
    l1_lambda: float
    val_fraction: float
    augment: dict

    @classmethod
    def from_config(cls, d: Mapping[str, Any]) -> "StageConfig":
        """From a validated stage block."""
        return from_mapping(cls, d, "cascade stage")

    def engine(self, monitor: str, seed: int) -> engine.EngineConfig:
        """The engine settings: AdamW, cosine warm restarts, grad clip, best epoch on `monitor`."""
        return engine.EngineConfig(stages=(engine.Stage("all", "all", self.epochs, self.lr),),
                                   batch_size=self.batch_size, optimizer="adamw", weight_decay=self.weight_decay,
                                   scheduler="cosine_warm_restarts", t0=self.t0, t_mult=self.t_mult,
                                   eta_min=self.eta_min, grad_clip=self.grad_clip, monitor=monitor, mode="max",
                                   tiebreak="val_loss", seed=seed, drop_last=False, eval_batch_size=self.batch_size)


def dice_per_class(pred: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """(images, classes) hard Dice; NaN where a class is absent from both prediction and truth."""
    out = np.full((pred.shape[0], classes), np.nan)
    for i in range(pred.shape[0]):
        for c in range(classes):
            p, t = pred[i] == c, truth[i] == c
            s = p.sum() + t.sum()
            if s:
                out[i, c] = 2.0 * (p & t).sum() / s
    return out


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits of images x (N,1,H,W) in eval mode, on the CPU."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]) \
        if len(x) else torch.zeros(0)


def tissue_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per-class Dice (mean over images) and their mean over the four classes."""
    d = dice_per_class(pred, truth, len(TISSUE_CLASSES))
    per = {f"dice_{c}": float(np.nanmean(d[:, k])) if np.isfinite(d[:, k]).any() else float("nan")
           for k, c in enumerate(TISSUE_CLASSES)}
    per["dice_mean"] = float(np.nanmean([per[f"dice_{c}"] for c in TISSUE_CLASSES]))
    return per


def lesion_scores(prob: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Lesion Dice (mean over images with a lesion), pooled Dice, per-image detection rate (any overlap)."""
    pred, t = prob >= threshold, truth.astype(bool)
    dices, hits = [], []
    for p, g in zip(pred, t):
        if g.any():
            dices.append(2.0 * (p & g).sum() / (p.sum() + g.sum()))
            hits.append(bool((p & g).any()))
    pooled = 2.0 * (pred & t).sum() / max(pred.sum() + t.sum(), 1)
    return {"dice_lesion": float(np.mean(dices)) if dices else float("nan"), "dice_pooled": float(pooled),
            "detection_rate": float(np.mean(hits)) if hits else float("nan"), "n_lesion_images": len(dices)}


class SegTask(engine.Task):
    """Augmented batches -> stage loss (+ L1); validation: tissue per-class Dice or lesion Dice."""

    def __init__(self, kind: str, aug: Augment, l1_lambda: float, batch_size: int):
        self.kind, self.aug, self.l1, self.batch_size = kind, aug, l1_lambda, batch_size

    def loss(self, model: nn.Module, batch: Any, gen: torch.Generator) -> torch.Tensor:
        """Stage loss of an augmented batch."""
        x, y = batch
        dev = x.device
        xa, ya = augment(x.cpu(), y.cpu(), self.aug, gen)
        logits = model(xa.to(dev))
        base = tissue_loss(logits, ya.to(dev)) if self.kind == "tissue" else lesion_loss(logits, ya.to(dev))
        return base + l1_penalty(model, self.l1)

    def validate(self, model: nn.Module, data: TensorDataset, device: torch.device) -> dict[str, float]:
        """val_loss and the stage's Dice figures on the validation arrays."""
        x, y = data.tensors
        logits = predict_logits(model, x, self.batch_size, device)
        if self.kind == "tissue":
            loss = float(tissue_loss(logits, y))
            s = tissue_scores(logits.argmax(1).numpy(), y.numpy())
        else:
            loss = float(lesion_loss(logits, y))
            s = lesion_scores(logits[:, 0].sigmoid().numpy(), y.numpy())
        return {"val_loss": loss, **{f"val_{k}": float(v) for k, v in s.items()}}


def to_tensors(images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> TensorDataset:
    """(N,1,H,W) float images and (N,H,W) int64 masks."""
    x = torch.from_numpy(np.stack(images).astype(np.float32))[:, None]
    y = torch.from_numpy(np.stack(masks).astype(np.int64))
    return TensorDataset(x, y)


def fit_stage(kind: str, train: TensorDataset, val: TensorDataset | None, cfg: StageConfig, model_name: str,
              pretrained: str, out_dir: str | Path, seed: int, tb_dir: str | Path | None = None,
              device: torch.device | None = None, threads: int = 1, code: str = "",
              on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> tuple[nn.Module, engine.FitResult]:
    """Train one stage through the engine; out_dir gets best.pt and the resumable last.pt."""
    seed_all(seed, threads)
    classes = len(TISSUE_CLASSES) if kind == "tissue" else 1
    model = build_model(model_name, classes, pretrained)
    monitor = "val_dice_mean" if kind == "tissue" else "val_dice_lesion"
    ecfg = cfg.engine(monitor if val is not None and len(val) else None, seed)
    meta = {"kind": kind, "model_name": model_name, "classes": classes, "size": [cfg.height, cfg.width]}
    fp = fingerprint({"meta": meta, "cfg": ecfg.as_dict(), "aug": cfg.augment, "l1": cfg.l1_lambda,
                      "n": len(train), "x": float(train.tensors[0].sum()), "y": int(train.tensors[1].sum()),
                      "code": code, "pretrained": pretrained})
    task = SegTask(kind, Augment.from_config(cfg.augment), cfg.l1_lambda, cfg.batch_size)
    spec = engine.FitSpec(model=model, task=task, train_data=train, val_data=val, config=ecfg, out_dir=out_dir,
                          meta=meta, fingerprint=fp, device=device or torch.device("cpu"), tensorboard_dir=tb_dir,
                          on_epoch_end=on_epoch_end)
    result = engine.fit(spec)
    best = load_checkpoint(Path(out_dir) / "best.pt")
    model.load_state_dict(best["model"], strict=True)
    return model.cpu().eval(), result
