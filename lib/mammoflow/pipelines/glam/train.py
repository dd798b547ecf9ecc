"""Weakly supervised GLAM training through the engine: global, then local (global frozen), then joint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from mammoflow.core.errors import ConfigError
from mammoflow.core.provenance import fingerprint
from mammoflow.evaluation.metrics import roc_auc
from mammoflow.pipelines.glam.data import (CLASSES, GlamImage, WindowSet, batch_tensors, exam_splits,
                                           load_exam_images, write_csv)
from mammoflow.pipelines.glam.config import GlamConfig, model_config
from mammoflow.pipelines.glam.model import GLAM, GlamOutput, build_glam
from mammoflow.pipelines.glam.plan import OUTPUT_KEYS, train_config
from mammoflow.training import engine
from mammoflow.training.checkpoints import load_checkpoint, save_atomic
from mammoflow.training.device import seed_all

log = logging.getLogger("mammoflow.pipelines.glam.train")

STAGES = ("global", "local", "joint")


def _bce(pred: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None) -> torch.Tensor:
    p = pred.clamp(1e-6, 1 - 1e-6)
    loss = -(target * torch.log(p) + (1 - target) * torch.log(1 - p))
    if pos_weight is not None:
        loss = loss * (1 + (pos_weight - 1) * target)
    return loss.mean()


def _pos_weight(images: Sequence[GlamImage], mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    y = np.array([im.labels for im in images], dtype=float)
    pos = y.sum(0)
    neg = len(y) - pos
    return torch.tensor(np.clip(neg / np.maximum(pos, 1), 1.0, 10.0), dtype=torch.float32)


def _stage_loss(model: GLAM, stage: str, x: torch.Tensor, y: torch.Tensor,
                pw: torch.Tensor | None, sparsity: float = 0.0, map_loss: str = "mean") -> torch.Tensor:
    """BCE of the stage's image scores + sparsity x the mean of its saliency maps (GMIC's L1 term; 0 = off)."""
    if stage == "global":
        y_global, sal, ys = model.global_module(x, per_map=True)
        if map_loss == "each":
            return sum(_bce(yy, y, pw) for yy in ys) / len(ys) + sparsity * sal.mean()
        return _bce(y_global, y, pw) + sparsity * sal.mean()
    if stage == "local":
        with torch.no_grad():
            out = model(x, with_local=False)
        crops = out.crops.reshape(-1, 1, *model.cfg.crop_shape)
        scores, lsal = model.local_module(crops)
        K = out.crops.shape[1]
        return _bce(scores, y.repeat_interleave(K, dim=0), pw) + sparsity * lsal.mean()
    out = model(x)
    return (_bce(out.y_global, y, pw) + _bce(out.y_local, y, pw)
            + sparsity * (out.global_saliency.mean() + out.local_saliency.mean()))


def image_scores(out: GlamOutput, mode: str) -> torch.Tensor:
    """(benign, malignant) scores: the global ones (the original's output) or global and local averaged."""
    return out.y_global if mode == "global" else (out.y_global + out.y_local) / 2


@torch.no_grad()
def evaluate(model: GLAM, images: Sequence[GlamImage], stage: str, batch_size: int,
             device: torch.device | None = None) -> dict[str, float]:
    """Benign and malignant AUC of a stage's scores on a set of images."""
    if not images:
        return {}
    model.eval()
    scores, labels = [], []
    for i in range(0, len(images), batch_size):
        x, y = batch_tensors(images[i:i + batch_size], None, None)
        x = x.to(device or torch.device("cpu"))
        if stage == "global":
            s = model.global_module(x)[0]
        else:
            out = model(x)
            s = out.y_local if stage == "local" else (out.y_global + out.y_local) / 2
        scores.append(s.cpu().numpy())
        labels.append(y.numpy())
    s, y = np.concatenate(scores), np.concatenate(labels)
    return {f"{c}_auc": roc_auc(y[:, j], s[:, j]) for j, c in enumerate(CLASSES)}


class GlamTask(engine.Task):
    """The engine task of GLAM: per-stage parameters and modes, BCE of image scores, stage-wise val AUCs."""

    def __init__(self, augment: Mapping[str, Any], pos_weight: torch.Tensor | None, batch_size: int,
                 sparsity: float = 0.0, map_loss: str = "mean"):
        self.augment, self.pos_weight, self.batch_size, self.sparsity = augment, pos_weight, batch_size, sparsity
        self.map_loss = map_loss
        self.scope = "global"

    def parameters(self, model: GLAM, scope: str) -> list[nn.Parameter]:
        """global = global module, local = local module, joint = everything."""
        if scope == "global":
            return list(model.global_module.parameters())
        if scope == "local":
            return list(model.local_module.parameters())
        return list(model.parameters())

    def set_mode(self, model: GLAM, scope: str) -> None:
        """Only the trained module in train mode (frozen BatchNorm statistics stay fixed)."""
        self.scope = scope
        model.eval()
        if scope == "global":
            model.global_module.train()
        elif scope == "local":
            model.local_module.train()
        else:
            model.train()

    def step(self, model: GLAM, batch: list[GlamImage], optimizers, gen: torch.Generator,
             grad_clip: float) -> dict[str, float]:
        """One step on augmented windows; a one-image batch is skipped outside the local stage (BatchNorm)."""
        if len(batch) < 2 and self.scope != "local":
            return {}
        seeds = torch.randint(0, 2**62, (len(batch),), generator=gen).tolist()
        x, y = batch_tensors(batch, [np.random.default_rng(s) for s in seeds], self.augment)
        dev = next(model.parameters()).device
        pw = self.pos_weight.to(dev) if self.pos_weight is not None else None
        loss = _stage_loss(model, self.scope, x.to(dev), y.to(dev), pw, self.sparsity, self.map_loss)
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters(model, self.scope), grad_clip)
        opt.step()
        return {"loss": float(loss.detach())}

    def validate(self, model: GLAM, data: WindowSet, device: torch.device) -> dict[str, float]:
        """Benign and malignant AUC of the current stage's scores."""
        return {f"val_{k}": v for k, v in evaluate(model, data.images, self.scope, self.batch_size, device).items()}


def train_glam(train_images: Sequence[GlamImage], val_images: Sequence[GlamImage], model_cfg: GlamConfig,
               tcfg: Mapping[str, Any], state_dir: str | Path, seed: int, threads: int = 1,
               tb_dir: str | Path | None = None, interrupt_after: int | None = None,
               device: torch.device | None = None, code: str = "") -> tuple[GLAM, list[dict]]:
    """Three-stage weakly supervised training with per-stage checkpoints and resume from state_dir/last.pt.

    `interrupt_after` stops (raising KeyboardInterrupt) after that many epochs of this call: used by the
    resume test to simulate a killed job; a resumed run ends with exactly the weights of an uninterrupted one.
    """
    tcfg = train_config(tcfg, outputs=False)
    seed_all(seed, threads)
    dev = device or torch.device("cpu")
    model = build_glam(model_cfg, tcfg["pretrained_global"], tcfg["pretrained_local"])
    stages = tuple(engine.Stage(name, name, int(e), float(lr)) for name, e, lr in zip(STAGES, tcfg["epochs"], tcfg["lr"]))
    bs = int(tcfg["batch_size"])
    ecfg = engine.EngineConfig(stages=stages, batch_size=bs, weight_decay=float(tcfg["weight_decay"]),
                               grad_clip=float(tcfg["grad_clip"]), sampler="shuffle", monitor=None, tiebreak=None,
                               stage_checkpoints=True, drop_last=False, seed=seed, eval_batch_size=bs)
    fp = fingerprint(model_cfg.to_dict(), {k: v for k, v in tcfg.items() if k not in OUTPUT_KEYS},
                     [im.image_id for im in train_images], seed, code)
    done = []

    def interrupt(rec: dict[str, Any]) -> None:
        done.append(rec)
        if interrupt_after is not None and len(done) >= interrupt_after:
            raise KeyboardInterrupt(f"interrupted after {len(done)} epochs (test hook)")

    task = GlamTask(tcfg["augment"], _pos_weight(train_images, tcfg["pos_weight"]), bs, float(tcfg["sparsity"]),
                    str(tcfg["map_loss"]))
    res = engine.fit(engine.FitSpec(model, task, WindowSet(train_images), WindowSet(val_images) if val_images else None,
                                    ecfg, state_dir, {"model_config": model_cfg.to_dict()}, fp, dev, tb_dir,
                                    collate=WindowSet.collate, on_epoch_end=interrupt))
    model.eval()
    return model, res.history


def load_glam(path: str | Path) -> GLAM:
    """A GLAM model from a mammoflow checkpoint (weights_only)."""
    ck = load_checkpoint(path)
    model = GLAM(GlamConfig.from_dict(ck["model_config"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def run_train(data_pkl: str, cropped_dir: str, out_model: str, out_stages: Sequence[str], out_history: str,
              out_splits: str, state_dir: str, tb_dir: str, model: Mapping[str, Any], train: Mapping[str, Any],
              window: Sequence[int], seed: int, threads: int = 1, device: str = "auto", code: str = "") -> None:
    """Snakemake entry point: train GLAM on the training exams, write per-stage and final checkpoints."""
    from mammoflow.training.device import device as pick_device
    cfg = model_config(model, window)
    tcfg = train_config(train, outputs=False)
    splits = exam_splits(data_pkl, tcfg, seed)
    images, rejected = load_exam_images(data_pkl, cropped_dir, None, cfg.window, splits)
    write_csv(out_splits, [{"image_index": im.image_id, "exam_index": im.exam_index, "view": im.view,
                             "split": im.split, "benign_label": im.benign, "malignant_label": im.malignant}
                            for im in images], ["image_index", "exam_index", "view", "split", "benign_label",
                                                "malignant_label"])
    train_set = [im for im in images if im.split == "training"]
    val_set = [im for im in images if im.split == "validation"]
    if not train_set or not any(im.malignant for im in train_set):
        raise ConfigError(f"{data_pkl}: no training images with a malignant label; GLAM cannot be trained")
    log.info("training GLAM on %d images (%d validation, %d rejected); model %s", len(train_set), len(val_set),
             len(rejected), cfg.to_dict())
    dev = pick_device(device)
    if str(tcfg["released"]) not in ("", "none"):   # the released weights instead of training (no history)
        from mammoflow.pipelines.glam.released import load_released
        model_, history = load_released(tcfg["released"], cfg.window), []
        if model_.cfg.to_dict() != cfg.to_dict():
            raise ConfigError(f"glam.train.released needs the paper's glam.model sizes; got {cfg.to_dict()}")
        Path(tb_dir).mkdir(parents=True, exist_ok=True)
        for path in out_stages:
            save_atomic({"model": model_.state_dict(), "model_config": cfg.to_dict(), "released": tcfg["released"]},
                        path)
    else:
        model_, history = train_glam(train_set, val_set, cfg, {**tcfg}, state_dir, seed, threads, tb_dir,
                                     device=dev, code=code)
        for si, path in enumerate(out_stages):
            save_atomic(load_checkpoint(Path(state_dir) / f"stage{si + 1}_{STAGES[si]}.pt"), path)
    save_atomic({"model": {k: v.cpu() for k, v in model_.state_dict().items()}, "model_config": cfg.to_dict(),
                 "history": history}, out_model)
    cols = sorted({k for h in history for k in h}, key=lambda k: (k not in ("stage", "epoch"), k))
    write_csv(out_history, history, cols)
    (Path(state_dir) / "last.pt").unlink(missing_ok=True)   # a finished run is not resumed
