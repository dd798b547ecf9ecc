"""Patch classifier (seed 000 section 1.3): torchvision ResNet, 3-stage fine-tuning on S/S10 patches, test metrics."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Dataset

from mammoflow.core.config import from_mapping
from mammoflow.core.errors import ConfigError
from mammoflow.core.provenance import file_digest, fingerprint
from mammoflow.evaluation.metrics import binary_metrics, write_json
from mammoflow.evaluation.plots import plot_roc
from mammoflow.io import png
from mammoflow.pipelines.nus import patches
from mammoflow.pipelines.nus.crossfit import held_out_studies
from mammoflow.pipelines.nus.patch_model import (ARCHS, CLASSES, POOLINGS, TILE, build_model,
                                                 context_consistency_loss, load_model, normalise, trainable)
from mammoflow.training import engine
from mammoflow.training.classify import SoftmaxClassification, scores
from mammoflow.training.device import device as pick_device
from mammoflow.training.device import seed_all
from mammoflow.training.splits import class_weights, grouped_split

log = logging.getLogger("mammoflow.pipelines.nus.patch_classifier")



@dataclass(frozen=True)
class ClassifierConfig:
    """Model and training knobs of the `seed000.patch_classifier` config section."""

    arch: str
    pretrained: str
    stages: tuple
    batch_size: int
    weight_decay: float
    samples_per_epoch: int
    val_fraction: float
    hflip: bool
    vflip: bool
    rotation_deg: float
    scale_min: float
    scale_max: float
    num_workers: int
    norm_max_patches: int
    cache_mb: int
    eval_batch_size: int
    threshold: float
    tiled: bool
    pooling: str
    context_px: int
    consistency_weight: float
    device: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "ClassifierConfig":
        """Build from a config mapping (unknown keys ignored; stages become a tuple of dicts)."""
        out = from_mapping(cls, cfg, "seed000.patch_classifier", stages=lambda v: tuple(dict(s) for s in v))
        if out.arch not in ARCHS:
            raise ConfigError(f"patch_classifier.arch {out.arch!r} is not one of {ARCHS}")
        if out.pooling not in POOLINGS:
            raise ConfigError(f"patch_classifier.pooling {out.pooling!r} is not one of {POOLINGS}")
        if out.tiled and out.context_px:
            raise ConfigError("patch_classifier.context_px only applies to tiled: false (a tiled model's dense "
                              "heatmap already equals the sliding one); set context_px: 0 or tiled: false")
        return out

    @classmethod
    def for_set(cls, cfg: Mapping[str, Any] | None, patch_set: str, **extra: Any) -> "ClassifierConfig":
        """The config of one patch set: the section's keys, overridden by `overrides[patch_set]`, then extra."""
        cfg = dict(cfg or {})
        over = dict((cfg.pop("overrides", None) or {}).get(patch_set, {}) or {})
        return cls.from_config({**cfg, **over, **extra})


# ----------------------------------------------------------------------------- data


def read_patch(path: str | Path) -> np.ndarray:
    """A 16-bit patch PNG as uint16; ImageRejected naming the file if unreadable."""
    return png.read(path).astype(np.uint16, copy=False)


class PatchDataset(Dataset):
    """Patches as (1, H, W) float tensors in [0,1] (16-bit / 65535) with integer labels; optionally kept in memory."""

    def __init__(self, paths: Sequence[str], labels: Sequence[int], cache: bool = False):
        self.paths = [str(p) for p in paths]
        self.labels = torch.tensor(np.array(labels, dtype=np.int64))
        self.cache = np.stack([read_patch(p) for p in self.paths]) if cache and self.paths else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.cache[i] if self.cache is not None else read_patch(self.paths[i])
        return torch.from_numpy(a.astype(np.float32) / 65535.0)[None], self.labels[i]


class ContextPatchDataset(Dataset):
    """Patches with `margin` px of their canvas around them, (1, P+2m, P+2m) floats in [0,1], with labels.

    The canvas crop centred on the patch centre holds the patch file's pixels in its middle; canvases are
    kept in memory up to cache_mb, read again per sample beyond that.
    """

    def __init__(self, canvases: Sequence[str], cys: Sequence[int], cxs: Sequence[int], labels: Sequence[int],
                 patch_size: int, margin: int, cache_mb: int = 2048):
        self.canvases = [str(c) for c in canvases]
        self.centres = list(zip((int(v) for v in cys), (int(v) for v in cxs)))
        self.labels = torch.tensor(np.array(labels, dtype=np.int64))
        self.size = int(patch_size) + 2 * int(margin)
        self.cache: dict[str, np.ndarray] = {}
        self.budget = int(cache_mb) * 2**20

    def __len__(self) -> int:
        return len(self.canvases)

    def _canvas(self, path: str) -> np.ndarray:
        img = self.cache.get(path)
        if img is None:
            img = read_patch(path)
            if self.budget >= img.nbytes:
                self.cache[path] = img
                self.budget -= img.nbytes
        return img

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        cy, cx = self.centres[i]
        a = patches.crop(self._canvas(self.canvases[i]), cy, cx, self.size)
        return torch.from_numpy(a.astype(np.float32) / 65535.0)[None], self.labels[i]


def patch_centres(patch_tables: Sequence[str | Path], paths: Sequence[str]) -> pd.DataFrame:
    """Canvas centre (cy, cx) and image id of each patch path, from the patch shard tables."""
    tab = pd.concat([pd.read_csv(t, dtype={"image_id": str, "path": str}, usecols=["path", "image_id", "cy", "cx"])
                     for t in patch_tables], ignore_index=True).drop_duplicates("path").set_index("path")
    missing = [p for p in paths if p not in tab.index]
    if missing:
        raise ConfigError(f"{len(missing)} patches have no centre in the patch tables, e.g. {missing[0]}")
    return tab.loc[list(paths)].reset_index()


def patch_norm(paths: Sequence[str], max_patches: int, seed: int) -> dict[str, float]:
    """Mean and std of pixel values (/65535) over the training patches (a seeded subset if there are more)."""
    paths = list(paths)
    if not paths:
        raise ConfigError("no training patches to compute the normalisation from")
    if max_patches and len(paths) > max_patches:
        idx = np.sort(np.random.default_rng(seed).choice(len(paths), max_patches, replace=False))
        paths = [paths[i] for i in idx]
    s = s2 = n = 0.0
    for p in paths:
        a = read_patch(p).astype(np.float64) / 65535.0
        s += a.sum()
        s2 += (a * a).sum()
        n += a.size
    mean = s / n
    std = math.sqrt(max(s2 / n - mean * mean, 0.0))
    return {"mean": float(mean), "std": float(max(std, 1e-6))}


def augment(x: torch.Tensor, gen: torch.Generator, cfg: ClassifierConfig) -> torch.Tensor:
    """Random flips, rotation and isotropic scaling of a (N,1,H,W) batch, drawn from gen (deterministic)."""
    n = x.shape[0]
    r = torch.rand(n, 4, generator=gen, dtype=torch.float64).to(x.device)
    if cfg.hflip:
        x = torch.where((r[:, 0] < 0.5)[:, None, None, None], x.flip(-1), x)
    if cfg.vflip:
        x = torch.where((r[:, 1] < 0.5)[:, None, None, None], x.flip(-2), x)
    if cfg.rotation_deg or cfg.scale_min != 1.0 or cfg.scale_max != 1.0:
        ang = (r[:, 2] * 2 - 1) * math.radians(cfg.rotation_deg)
        scale = cfg.scale_min + r[:, 3] * (cfg.scale_max - cfg.scale_min)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                             torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return x


def read_patch_csv(path: str | Path) -> pd.DataFrame:
    """A patch CSV (path,label,image_id,split,set) with string ids."""
    df = pd.read_csv(path, dtype={"image_id": str, "path": str})
    need = {"path", "label", "image_id"}
    if not need <= set(df.columns):
        raise ConfigError(f"{path}: patch CSV lacks columns {sorted(need - set(df.columns))}")
    return df


def study_groups(patches: pd.DataFrame, images_csv: str | Path | None) -> list[str]:
    """Study id of every patch (from images.csv; the image id where unknown) for the grouped validation split."""
    if images_csv is None or not Path(images_csv).is_file():
        return patches["image_id"].astype(str).tolist()
    im = pd.read_csv(images_csv, dtype=str, keep_default_na=False)
    key = "study_id" if "study_id" in im.columns else "image_id"
    m = dict(zip(im["image_id"], im[key]))
    return [m.get(i, i) or i for i in patches["image_id"].astype(str)]


# ----------------------------------------------------------------------------- train + evaluate


@dataclass
class TrainOutputs:
    """Where train() writes (best.pt and last.pt go to model_dir)."""

    model_dir: str
    metrics: str
    predictions: str
    history: str
    roc: str | None = None
    tensorboard: str | None = None
    extra: dict = field(default_factory=dict)


def train(train_csv: str | Path, test_csv: str | Path, outputs: TrainOutputs, cfg: ClassifierConfig,
          images_csv: str | Path | None = None, seed: int = 0, threads: int | None = None, code: str = "",
          on_epoch_end=None, patch_tables: Sequence[str | Path] = (), canvas: str = "",
          folds_csv: str | Path | None = None, fold: int | None = None) -> dict[str, Any]:
    """Train the patch classifier with the staged schedule, pick the best epoch by val AUC, write test metrics.

    With cfg.context_px > 0 the training patches are cut from their canvases (`canvas`, a template with
    {image_id}) with that margin, located through the patch shard tables, for the context-consistency loss.
    With `fold` (cross-fitting) the training patches of the studies of that fold of `folds_csv` are left out.
    """
    t_start = time.time()
    seed_all(seed, threads)
    dev = pick_device(cfg.device)
    tr = read_patch_csv(train_csv)
    te = read_patch_csv(test_csv)
    held_out: set[str] = set()
    if fold is not None:
        held_out = held_out_studies(folds_csv, fold)
        tr = tr[~np.isin(study_groups(tr, images_csv), sorted(held_out))].reset_index(drop=True)
        log.info("cross-fitting fold %d: %d studies held out, %d training patches left", fold, len(held_out), len(tr))
    if tr.empty or tr["label"].nunique() < 2:
        where = f" without fold {fold}'s studies (lower seed000.heatmaps.crossfit_folds)" if fold is not None else ""
        raise ConfigError(f"{train_csv}: training patches{where} must contain both classes "
                          f"(got {tr['label'].value_counts().to_dict()})")
    groups = study_groups(tr, images_csv)
    is_val = grouped_split(groups, tr["label"].astype(int).tolist(), cfg.val_fraction, seed)
    trn, val = tr[~is_val].reset_index(drop=True), tr[is_val].reset_index(drop=True)
    leak = set(np.asarray(groups)[is_val]) & set(np.asarray(groups)[~is_val])
    assert not leak, f"study ids in both train and val: {sorted(leak)[:5]}"
    norm = patch_norm(trn["path"].tolist(), cfg.norm_max_patches, seed)
    patch_size = int(read_patch(trn["path"].iloc[0]).shape[0])
    log.info("patches: %d train (%d lesion), %d val (%d lesion), %d test; norm %s; device %s", len(trn),
             int(trn["label"].sum()), len(val), int(val["label"].sum()), len(te), norm, dev)

    def cache_ok(n: int) -> bool:
        return n * patch_size * patch_size * 2 <= cfg.cache_mb * 2**20

    if cfg.context_px:
        if cfg.context_px % 32 or not canvas or not patch_tables:
            raise ConfigError("context_px needs a multiple of 32, the canvas template and the patch tables")
        cen = patch_centres(patch_tables, trn["path"].tolist())
        ds_tr = ContextPatchDataset([canvas.format(image_id=i) for i in cen["image_id"]], cen["cy"], cen["cx"],
                                    trn["label"].astype(int), patch_size, cfg.context_px, cfg.cache_mb)
    else:
        ds_tr = PatchDataset(trn["path"], trn["label"].astype(int), cache=cache_ok(len(trn)))
    ds_val = PatchDataset(val["path"], val["label"].astype(int), cache=cache_ok(len(val)))
    if cfg.tiled and patch_size % TILE:
        raise ConfigError(f"a tiled patch classifier needs a patch size divisible by {TILE}, got {patch_size}")
    model = build_model(cfg.arch, cfg.pretrained, cfg.tiled, cfg.pooling)  # a plain ResNet ignores pooling
    meta = {"arch": cfg.arch, "tiled": cfg.tiled, "pooling": cfg.pooling if cfg.tiled else "mean", "norm": norm,
            "patch_size": patch_size, "classes": list(CLASSES), "pretrained": str(cfg.pretrained)}
    ecfg = engine.EngineConfig(stages=engine.stages_from_config(cfg.stages), batch_size=cfg.batch_size,
                               weight_decay=cfg.weight_decay, sampler="weighted",
                               samples_per_epoch=cfg.samples_per_epoch, num_workers=cfg.num_workers, seed=seed,
                               eval_batch_size=cfg.eval_batch_size)
    fp = fingerprint(ecfg.as_dict(), _cfg_dict(cfg), file_digest(train_csv),
                     sorted(zip(trn["path"], trn["label"].astype(int))), sorted(val["path"]), code, seed)
    task = PatchTask(cfg, norm, patch_size)
    labels_tr = trn["label"].astype(int).tolist()
    result = engine.fit(engine.FitSpec(model, task, ds_tr, ds_val, ecfg, outputs.model_dir, meta, fp, dev,
                                       outputs.tensorboard, class_weights(labels_tr), on_epoch_end=on_epoch_end))
    best, _ = load_model(Path(outputs.model_dir) / "best.pt", dev)
    ds_te = PatchDataset(te["path"], te["label"].astype(int), cache=False)
    p_test, labels, test_loss = scores(best, ds_te, task.prepare_eval, dev, cfg.eval_batch_size, cfg.num_workers)
    m = binary_metrics(labels, p_test, cfg.threshold)
    metrics = {"set": outputs.extra.get("set", ""), "test": m, "test_loss": test_loss,
               "best_epoch": result.best_epoch, "best_val_auc": result.best_metrics.get("val_auc"),
               "best_val_loss": result.best_metrics.get("val_loss"), "selection": "max val AUC (ties: min val loss)",
               "n_train": len(trn), "n_val": len(val), "n_test": len(te),
               "n_train_studies": len(set(np.asarray(groups)[~is_val])), "n_val_studies": len(set(np.asarray(groups)[is_val])),
               "arch": cfg.arch, "tiled": cfg.tiled, "pooling": meta["pooling"], "pretrained": str(cfg.pretrained),
               "patch_size": patch_size, "norm": norm, "stages": [s.__dict__ for s in ecfg.stages], "seed": seed}
    if fold is not None:
        metrics.update(fold=int(fold), held_out_studies=sorted(held_out))
    write_json(outputs.metrics, metrics)
    pd.DataFrame({"path": te["path"], "image_id": te["image_id"], "label": labels, "score": np.round(p_test, 6)}) \
        .to_csv(outputs.predictions, index=False)
    pd.DataFrame(result.history).to_csv(outputs.history, index=False)
    if outputs.roc:
        plot_roc(labels, p_test, outputs.roc, f"patch classifier ({outputs.extra.get('set', '')}), test AUC {m['auc']:.3f}")
    log.info("test: AUC %.4f acc %.4f sens %.4f spec %.4f (%.0fs)", m["auc"], m["accuracy"], m["sensitivity"],
             m["specificity"], time.time() - t_start)
    return metrics


def _cfg_dict(cfg: ClassifierConfig) -> dict[str, Any]:
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    d["stages"] = [dict(s) for s in cfg.stages]
    d.pop("device", None)
    d.pop("num_workers", None)
    d.pop("eval_batch_size", None)
    return d


class PatchTask(SoftmaxClassification):
    """Patch-classifier training: augmented, normalised patches; the context-consistency loss when the batch
    holds context crops (tiled: false, context_px > 0), else cross-entropy of the isolated patch."""

    def __init__(self, cfg: ClassifierConfig, norm: Mapping[str, float], patch_size: int):
        super().__init__(trainable, lambda x, gen: normalise(augment(x, gen, cfg), norm),
                         lambda x: normalise(x, norm), cfg.eval_batch_size, cfg.num_workers)
        self.patch_size, self.weight = patch_size, cfg.consistency_weight

    def loss(self, model: nn.Module, batch, gen: torch.Generator) -> torch.Tensor:
        """Cross-entropy of the isolated window (+ the in-context view and their consistency)."""
        x, y = batch
        return context_consistency_loss(model, self.prepare_train(x, gen), y, self.patch_size, self.weight)
