"""Training one backbone with the shared engine (freeze-then-fine-tune, early stopping on validation AUC)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mammoflow.core import rejections
from mammoflow.core.provenance import file_digest, fingerprint
from mammoflow.evaluation.metrics import write_json
from mammoflow.pipelines.transfer import data, models, prep
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.training import engine
from mammoflow.training.classify import SoftmaxClassification
from mammoflow.training.device import device as pick_device
from mammoflow.training.device import seed_all
from mammoflow.training.splits import class_weights

log = logging.getLogger("mammoflow.pipelines.transfer.train")


def _task(cfg: TransferConfig, backbone: str, y_train: np.ndarray) -> SoftmaxClassification:
    tf = prep.augmenter(cfg.hflip, cfg.rotate, cfg.zoom)
    cw = None
    if cfg.balance == "class_weights":
        counts = np.bincount(y_train, minlength=2).astype(float)
        cw = torch.tensor(np.where(counts > 0, counts.sum() / (2 * np.maximum(counts, 1)), 0.0), dtype=torch.float)
    return SoftmaxClassification(lambda m, s: models.scope(m, backbone, s),
                                 lambda x, g: prep.to_model(prep.augment_batch(x, tf, g)), prep.to_model,
                                 eval_batch_size=cfg.eval_batch_size, class_weight=cw,
                                 recalibrate_bn=cfg.recalibrate_bn)


@torch.no_grad()
def probabilities(model: torch.nn.Module, x: np.ndarray, dev: torch.device, batch: int) -> np.ndarray:
    """P(malignant) of N x S x S inputs, as sigmoid of the logit margin in float64 (no saturation at 1.0)."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch])).unsqueeze(1).to(dev)
        logits = model(prep.to_model(xb)).double()
        out.append(torch.sigmoid(logits[:, 1] - logits[:, 0]).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def fit_backbone(samples: pd.DataFrame, cfg: TransferConfig, backbone: str, out_dir: str | Path, seed: int,
                 device: str = "auto", fp_extra: Any = None) -> tuple[torch.nn.Module, pd.DataFrame, list[dict]]:
    """Train on the train split, select on val AUC; returns the best model, predictions of every usable sample
    (sample_id, split, label, prob) and the rejection rows of unusable inputs."""
    seed_all(seed)
    x, kept, rej = data.load_arrays(samples, cfg)
    s = samples[kept].reset_index(drop=True)
    y = s["label"].to_numpy().astype(int)
    tr, va = (s["split"] == "train").to_numpy(), (s["split"] == "val").to_numpy()
    x_tr, y_tr = x[tr], y[tr]
    if cfg.background_negatives > 0 and cfg.inputs == "roi":  # hard negatives: training split only, class 0
        bg = data.background_samples(samples, cfg.background_negatives, seed)
        xb, _, _ = data.load_arrays(bg, cfg)  # a constant crop is skipped
        x_tr, y_tr = np.concatenate([x_tr, xb]), np.concatenate([y_tr, np.zeros(len(xb), dtype=int)])
        log.info("%d background negatives added to %d training samples", len(xb), int(tr.sum()))
    ds_tr, ds_va = data.tensor_dataset(x_tr, y_tr), data.tensor_dataset(x[va], y[va])
    ecfg = engine.EngineConfig(stages=engine.stages_from_config(cfg.stages), batch_size=cfg.batch_size,
                               optimizer=cfg.optimizer, weight_decay=cfg.weight_decay,
                               sampler="weighted" if cfg.balance == "weighted_sampler" else "shuffle",
                               samples_per_epoch=cfg.samples_per_epoch, monitor="val_auc", mode="max",
                               tiebreak="val_loss", patience=cfg.patience, seed=seed,
                               eval_batch_size=cfg.eval_batch_size)
    shape = (int(s["y1"].max()), int(s["x1"].max())) if len(s) else (1, 1)
    meta = {"backbone": backbone, "input_size": cfg.input_size, "clahe": cfg.clahe, "classes": list(data.CLASSES),
            "image_settings": cfg.image_settings(),
            "canvas_factor": prep.canvas_factor(s[tr], cfg.inputs, cfg.input_size, shape)}
    fp = fingerprint(ecfg.as_dict(), meta, cfg.__dict__, seed, fp_extra, int(len(s)), float(x.sum()))
    model = models.build(backbone, cfg.pretrained)
    dev = pick_device(device)
    out = Path(out_dir)
    result = engine.fit(engine.FitSpec(model, _task(cfg, backbone, y_tr), ds_tr, ds_va if va.any() else None,
                                       ecfg, out, meta, fp, dev, tensorboard_dir=out / "tensorboard",
                                       sample_weights=class_weights(y_tr.tolist()).tolist()))
    best, _ = models.load(out / "best.pt", backbone)
    best.to(dev)
    prob = probabilities(best, x, dev, cfg.eval_batch_size)
    pred = s[["sample_id", "image_id", "patient_id", "split", "label"]].assign(prob=prob)
    write_json(out / "history.json", {"best_epoch": result.best_epoch, "best": result.best_metrics,
                                      "stopped_early": result.stopped_early, "history": result.history,
                                      "n_train": int(tr.sum()),
                                      "n_background_negatives": int(len(y_tr) - tr.sum()), "n_val": int(va.sum()),
                                      "n_test": int((s["split"] == "test").sum())})
    return best, pred, rej


def train_job(splits_csv: str, cfg: TransferConfig, backbone: str, seed: int, device: str, out_dir: str,
              outputs: dict[str, str], threads: int = 1) -> None:
    """Snakemake entry point: best.pt, history.json, predictions.csv, rejected.csv of one backbone."""
    torch.set_num_threads(max(int(threads), 1))
    samples = pd.read_csv(splits_csv, keep_default_na=False)
    _, pred, rej = fit_backbone(samples, cfg, backbone, out_dir, seed, device, file_digest(splits_csv))
    pred.to_csv(outputs["predictions"], index=False)
    rejections.write(outputs["rejected"], rej)
