"""Whole-image classifier (seed 000 section 1.6, fixed): patch-classifier trunk + extra ResNet blocks + head."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from torch.utils.data import Dataset
from torchvision.models.resnet import BasicBlock, Bottleneck

from mammoflow.core.naming import fmt_num
from mammoflow.core.provenance import file_digest, fingerprint
from mammoflow.training import engine
from mammoflow.training.checkpoints import load_checkpoint
from mammoflow.training.classify import SoftmaxClassification, scores
from mammoflow.training.splits import class_weights, grouped_split

from mammoflow.pipelines.nus import warp
from mammoflow.core.errors import ConfigError
from mammoflow.evaluation.metrics import binary_metrics, write_json
from mammoflow.evaluation.plots import plot_roc
from mammoflow.io import png
from mammoflow.pipelines.nus.patch_model import build_model, load_model
from mammoflow.training.device import device as pick_device
from mammoflow.training.device import seed_all
from mammoflow.core.config import from_mapping

log = logging.getLogger("mammoflow.pipelines.nus.whole_image")
SOURCES = ("original", "warped", "heat")


@dataclass(frozen=True)
class WholeImageConfig:
    """Knobs of the `seed000.whole_image` config section."""

    height: int
    width: int
    channels: tuple
    baseline_channels: tuple
    label_column: str
    label_map: Mapping[str, int]
    init: str  # patch_classifier | none | imagenet | /path/to/weights
    arch: str  # used when init is not patch_classifier
    extra_blocks: int
    stages: tuple
    batch_size: int
    weight_decay: float
    samples_per_epoch: int
    val_fraction: float
    hflip: bool
    threshold: float
    cache_mb: int
    eval_batch_size: int
    device: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "WholeImageConfig":
        """Build from a config mapping (unknown keys ignored)."""
        out = from_mapping(cls, cfg, "seed000.whole_image", channels=tuple, baseline_channels=tuple,
                           stages=lambda v: tuple(dict(s) for s in v),
                           label_map=lambda v: {str(a): int(b) for a, b in dict(v).items()})
        for ch in out.channels + out.baseline_channels:
            if ch not in SOURCES:
                raise ConfigError(f"whole_image channel {ch!r} is not one of {SOURCES}")
        if len(out.channels) != 3 or len(out.baseline_channels) != 3:
            raise ConfigError("whole_image channels and baseline_channels need exactly 3 entries")
        return out


# ----------------------------------------------------------------------------- model


class WholeImageNet(nn.Module):
    """ResNet trunk (stem..layer4, from the patch classifier) + extra residual blocks at stride 2 + pooled fc."""

    def __init__(self, base: nn.Module, extra_blocks: int = 2, classes: int = 2):
        super().__init__()
        self.trunk = nn.Sequential(base.conv1, base.bn1, base.relu, base.maxpool,
                                   base.layer1, base.layer2, base.layer3, base.layer4)
        c = base.fc.in_features
        block = Bottleneck if isinstance(base.layer4[-1], Bottleneck) else BasicBlock
        blocks = []
        for i in range(extra_blocks):
            stride = 2 if i == 0 else 1
            down = None
            if stride != 1:
                down = nn.Sequential(nn.Conv2d(c, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c))
            blocks.append(block(c, c // block.expansion, stride=stride, downsample=down))
        self.extra = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes)."""
        return self.fc(torch.flatten(self.pool(self.extra(self.trunk(x))), 1))


def build(cfg: WholeImageConfig, patch_checkpoint: str | None) -> tuple[WholeImageNet, dict[str, float], str]:
    """The model, the input normalisation and the architecture name, initialised as cfg.init says."""
    if cfg.init == "patch_classifier":
        if not patch_checkpoint:
            raise ConfigError("whole_image.init is patch_classifier but no patch classifier checkpoint was given")
        base, meta = load_model(patch_checkpoint)
        return WholeImageNet(base, cfg.extra_blocks), dict(meta["norm"]), str(meta["arch"])
    base = build_model(cfg.arch, cfg.init)
    return WholeImageNet(base, cfg.extra_blocks), {}, cfg.arch


def trainable(model: WholeImageNet, what: str) -> list[nn.Parameter]:
    """head = extra blocks + fc; layer4 = also the last trunk stage; all = everything."""
    head = list(model.extra.parameters()) + list(model.fc.parameters())
    if what == "head":
        return head
    if what == "layer4":
        return list(model.trunk[-1].parameters()) + head
    if what == "all":
        return list(model.parameters())
    raise ConfigError(f"unknown whole_image stage scope {what!r} (head | layer4 | all)")


# ----------------------------------------------------------------------------- data


def heat_image(geo_row: Mapping[str, Any], height: int, width: int) -> np.ndarray:
    """The raw probability map of a heatmap-table row placed at window centres and resampled to (height, width)."""
    from mammoflow.io import probmaps
    from mammoflow.pipelines.nus.windows import geometry_from_row

    prob = probmaps.of_row(geo_row)
    if not np.isfinite(prob).all():
        return np.zeros((height, width), np.float32)
    g = geometry_from_row(geo_row)
    # output pixel centres (align corners) mapped onto the canvas
    return warp.heat_on_grid(prob, (g.origin_y, g.origin_x), g.stride, g.height, g.width, height, width) \
        .astype(np.float32)


def load_inputs(row: Mapping[str, Any], channels: Sequence[str], height: int, width: int) -> np.ndarray:
    """(3, height, width) float32 [0,1] channels of one image (INTER_AREA downsizing)."""
    cache: dict[str, np.ndarray] = {}
    for ch in dict.fromkeys(channels):
        if ch == "heat":
            cache[ch] = heat_image(row, height, width)
        else:
            img = png.read_unit(row["png_path"] if ch == "original" else row["warp_path"], np.uint16)
            cache[ch] = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    return np.stack([cache[c] for c in channels])


class ImageDataset(Dataset):
    """Whole-image inputs (3, H, W) in [0,1] with labels, read lazily or cached in memory."""

    def __init__(self, rows: pd.DataFrame, channels: Sequence[str], height: int, width: int, cache: bool):
        self.rows = rows.reset_index(drop=True)
        self.channels, self.h, self.w = tuple(channels), height, width
        self.labels = torch.tensor(self.rows["y"].to_numpy(dtype=np.int64))
        self.cache = None
        if cache and len(self.rows):
            self.cache = torch.from_numpy(np.stack([self._load(i) for i in range(len(self.rows))]))

    def _load(self, i: int) -> np.ndarray:
        return load_inputs(self.rows.iloc[i], self.channels, self.h, self.w)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.cache[i] if self.cache is not None else torch.from_numpy(self._load(i))
        return x, self.labels[i]


def map_labels(images: pd.DataFrame, cfg: WholeImageConfig) -> pd.Series:
    """0/1 targets from cfg.label_column (through cfg.label_map when given); NaN where unmapped."""
    if cfg.label_column not in images.columns:
        raise ConfigError(f"images.csv has no label column {cfg.label_column!r}")
    raw = images[cfg.label_column]
    if cfg.label_map:
        return raw.astype(str).map(lambda v: cfg.label_map.get(v, np.nan)).astype(float)
    y = pd.to_numeric(raw, errors="coerce")
    return y.where(y.isin([0, 1]))


def join_inputs(images_csv: str, heat_tables: Sequence[str], warp_tables: Sequence[str] | None,
                scale: str | None, fwhm: str | None, lam: str | None, cfg: WholeImageConfig) -> pd.DataFrame:
    """One row per usable image, joined BY image_id: split, study, label, canvas, prob map, warp."""
    im = pd.read_csv(images_csv, dtype={"image_id": str, "study_id": str}, keep_default_na=False)
    im["y"] = map_labels(im, cfg)
    heat = pd.concat([pd.read_csv(p, dtype={"image_id": str}, keep_default_na=False) for p in heat_tables],
                     ignore_index=True)
    heat = heat[heat["status"] == "ok"].drop(columns=["split"])
    df = im.merge(heat, on="image_id", how="inner", validate="one_to_one", suffixes=("", "_heat"))
    if warp_tables:
        w = pd.concat([pd.read_csv(p, dtype={"image_id": str, "scale": str, "fwhm": str, "lam": str},
                                   keep_default_na=False) for p in warp_tables], ignore_index=True)
        w = w[(w["scale"] == scale) & (w["fwhm"] == fwhm) & (w["lam"] == lam)][["image_id", "warp_path"]]
        df = df.merge(w, on="image_id", how="inner", validate="one_to_one")
    dropped = int(df["y"].isna().sum())
    if dropped:
        log.info("%d images without a mapped label are left out", dropped)
    df = df[df["y"].notna()].copy()
    df["y"] = df["y"].astype(int)
    return df.sort_values("image_id").reset_index(drop=True)


# ----------------------------------------------------------------------------- train + evaluate


def train(images_csv: str, heat_tables: Sequence[str], warp_tables: Sequence[str] | None, out_dir: str,
          cfg: WholeImageConfig, patch_checkpoint: str | None, scale: str | None = None, fwhm: str | None = None,
          lam: str | None = None, seed: int = 0, threads: int | None = None, code: str = "",
          tensorboard: str | None = None, on_epoch_end=None, shuffle_labels: bool = False,
          control: str | None = None) -> dict[str, Any]:
    """Train on the training split (grouped val by study), test on the test split; metrics.json, ROC, predictions.

    warp_tables None = the unwarped baseline (cfg.baseline_channels); else cfg.channels of run (scale, fwhm, lam).
    shuffle_labels: the shuffled-label control (training and validation labels permuted with the seed; test
    labels untouched), whose test AUC must land near 0.5. control: the warp tables are a control kind's
    (oracle | random_heat, nus.controls); it names the run {control}_scale{S}_fwhm{F}_lam{L}.
    """
    t0 = time.time()
    seed_all(seed, threads)
    dev = pick_device(cfg.device)
    warped = warp_tables is not None
    channels = cfg.channels if warped else cfg.baseline_channels
    if warped and not all(v is not None for v in (scale, fwhm, lam)):
        raise ConfigError("a warped whole-image run needs scale, fwhm and lam")
    df = join_inputs(images_csv, heat_tables, warp_tables, scale, fwhm, lam, cfg)
    tr, te = df[df["split"] == "training"].copy(), df[df["split"] == "test"]
    if shuffle_labels:
        tr["y"] = np.random.default_rng(seed).permutation(tr["y"].to_numpy())
    if tr.empty or tr["y"].nunique() < 2:
        raise ConfigError(f"{images_csv}: the training split needs images of both classes")
    is_val = grouped_split(tr["study_id"].tolist(), tr["y"].tolist(), cfg.val_fraction, seed)
    trn, val = tr[~is_val], tr[is_val]
    assert not set(trn["study_id"]) & set(val["study_id"]), "study in both train and val"
    model, norm, arch = build(cfg, patch_checkpoint)
    if not norm:
        norm = _norm_of(trn, channels, cfg)
    cache = (len(tr) + len(te)) * 3 * cfg.height * cfg.width * 4 <= cfg.cache_mb * 2**20
    ds_tr, ds_val = (ImageDataset(d, channels, cfg.height, cfg.width, cache) for d in (trn, val))
    mean, std = float(norm["mean"]), float(norm["std"])

    def prep_eval(x: torch.Tensor) -> torch.Tensor:
        return (x - mean) / std

    def prep_train(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if cfg.hflip:
            flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return prep_eval(x)

    meta = {"arch": arch, "extra_blocks": cfg.extra_blocks, "norm": norm, "channels": list(channels),
            "input_size": [cfg.height, cfg.width], "classes": ["negative", "positive"],
            "run": {"scale": scale, "fwhm": fwhm, "lam": lam, **({"control": control} if control else {})}
            if warped else "unwarped"}
    ecfg = engine.EngineConfig(stages=engine.stages_from_config(cfg.stages), batch_size=cfg.batch_size,
                               weight_decay=cfg.weight_decay, sampler="weighted",
                               samples_per_epoch=cfg.samples_per_epoch, seed=seed, eval_batch_size=cfg.eval_batch_size)
    fp = fingerprint(ecfg.as_dict(), _cfg_dict(cfg), meta, code, seed, file_digest(images_csv),
                     file_digest(patch_checkpoint) if cfg.init == "patch_classifier" else "",
                     sorted(zip(trn["image_id"], trn["y"].astype(int))))
    log.info("whole-image %s: %d train (%d pos), %d val (%d pos), %d test; channels %s; device %s",
             meta["run"], len(trn), int(trn["y"].sum()), len(val), int(val["y"].sum()), len(te), channels, dev)
    task = SoftmaxClassification(trainable, prep_train, prep_eval, cfg.eval_batch_size)
    result = engine.fit(engine.FitSpec(model, task, ds_tr, ds_val, ecfg, out_dir, meta, fp, dev, tensorboard,
                                       class_weights(trn["y"].tolist()), on_epoch_end=on_epoch_end))
    best = WholeImageNet(build_model(arch, "none"), cfg.extra_blocks)
    best.load_state_dict(load_checkpoint(Path(out_dir) / "best.pt")["model"])
    best.to(dev)
    ds_te = ImageDataset(te, channels, cfg.height, cfg.width, cache)
    p_test, labels, test_loss = scores(best, ds_te, prep_eval, dev, cfg.eval_batch_size)
    m = binary_metrics(labels, p_test, cfg.threshold)
    name = run_name(scale, fwhm, lam, control) if warped else ("shuffled" if shuffle_labels else "unwarped")
    metrics = {"run": name, "control": control or "", "scale": scale, "fwhm": fwhm, "lam": lam, "test": m,
               "test_loss": test_loss,
               "best_epoch": result.best_epoch, "best_val_auc": result.best_metrics.get("val_auc"),
               "selection": "max val AUC (ties: min val loss)", "n_train": len(trn), "n_val": len(val),
               "n_test": len(te), "channels": list(channels), "arch": arch, "init": cfg.init,
               "input_size": [cfg.height, cfg.width], "label_column": cfg.label_column, "seed": seed}
    out = Path(out_dir)
    write_json(out / "metrics.json", metrics)
    pd.DataFrame({"image_id": te["image_id"].tolist(), "study_id": te["study_id"].tolist(), "label": labels,
                  "score": np.round(p_test, 6)}) \
        .to_csv(out / "predictions.csv", index=False)
    pd.DataFrame(result.history).to_csv(out / "history.csv", index=False)
    plot_roc(labels, p_test, out / "roc.png", f"whole image ({name}), test AUC {m['auc']:.3f}")
    log.info("test (%s): AUC %.4f acc %.4f (%.0fs)", name, m["auc"], m["accuracy"], time.time() - t0)
    return metrics


def run_name(scale: Any, fwhm: Any, lam: Any, control: str | None = None) -> str:
    """Directory name of a warped run: [{control}_]scale{S}_fwhm{F}_lam{L} (seed number formatting)."""
    return f"{control + '_' if control else ''}scale{fmt_num(scale)}_fwhm{fmt_num(fwhm)}_lam{fmt_num(lam)}"


def _norm_of(rows: pd.DataFrame, channels: Sequence[str], cfg: WholeImageConfig) -> dict[str, float]:
    """Mean/std of the training inputs (when no patch classifier norm is inherited)."""
    s = s2 = n = 0.0
    for i in range(len(rows)):
        a = load_inputs(rows.iloc[i], channels, cfg.height, cfg.width).astype(np.float64)
        s, s2, n = s + a.sum(), s2 + (a * a).sum(), n + a.size
    mean = s / max(n, 1)
    return {"mean": float(mean), "std": float(max(math.sqrt(max(s2 / max(n, 1) - mean * mean, 0.0)), 1e-6))}


def _cfg_dict(cfg: WholeImageConfig) -> dict[str, Any]:
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    for k in ("device", "eval_batch_size", "cache_mb"):
        d.pop(k, None)
    d["stages"] = [dict(s) for s in cfg.stages]
    d["label_map"] = dict(cfg.label_map)
    return d
