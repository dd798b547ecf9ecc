"""Engine tasks and runs: feature network (lesion vs tissue), SRResNet MSE pre-training, SRGAN adversarial training."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from mammoflow.core import rejections
from mammoflow.core.config import from_mapping
from mammoflow.core.errors import ImageRejected
from mammoflow.io import png
from mammoflow.pipelines.superres.data import check_pair
from mammoflow.pipelines.superres.model import (Discriminator, FeatureNet, GanPair, SRResNet, load_features,
                                                load_generator, save_model)
from mammoflow.training import engine
from mammoflow.training.device import device as pick_device
from mammoflow.training.device import seed_all

log = logging.getLogger("mammoflow.superres")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings (superres.model)."""

    channels: int
    blocks: int
    skip: str
    disc_channels: int
    disc_layers: int
    feature_channels: int


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (superres.train)."""

    batch_size: int
    samples_per_epoch: int
    feature_epochs: int
    feature_lr: float
    srresnet_epochs: int
    srresnet_lr: float
    srgan_epochs: int
    srgan_lr: float
    adv_weight: float
    pixel_weight: float
    tophat_weight: float
    tophat_px: int


class PairSet(Dataset):
    """Pairs of one split in memory as float tensors in [0, 1]: (lr, hr, label); bad pairs become rejections."""

    def __init__(self, pairs: pd.DataFrame, scale: int):
        lrs, hrs, labels, self.ids, self.rejected = [], [], [], [], []
        for r in pairs.itertuples():
            try:
                hr, lr = png.read(r.hr_path, dtype=np.uint16), png.read(r.lr_path, dtype=np.uint16)
                check_pair(hr, lr, scale, r.lr_path)
            except ImageRejected as e:
                self.rejected.append(rejections.row(r.image_id, e.path, "superres_load", f"{e.path}: {e.reason}"))
                continue
            lrs.append(lr.astype(np.float32) / 65535.0)
            hrs.append(hr.astype(np.float32) / 65535.0)
            labels.append(int(r.lesion_overlap > 0 or r.n_specks > 0))
            self.ids.append(r.pair_id)
        if not hrs:
            raise ImageRejected("pairs.csv", "no usable pair")
        self.lr = torch.from_numpy(np.stack(lrs))[:, None]
        self.hr = torch.from_numpy(np.stack(hrs))[:, None]
        self.y = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.lr[i], self.hr[i], self.y[i]


def augment(gen: torch.Generator, *xs: torch.Tensor) -> list[torch.Tensor]:
    """The same random flip and 90-degree rotation of every tensor of a batch."""
    k = int(torch.randint(0, 4, (1,), generator=gen))
    flip = bool(torch.randint(0, 2, (1,), generator=gen))
    out = [torch.rot90(x, k, dims=(2, 3)) for x in xs]
    return [torch.flip(x, dims=(3,)) for x in out] if flip else out


class FeatureTask(engine.Task):
    """Cross-entropy of the feature network on HR patches (lesion/calcification vs tissue)."""

    def loss(self, model: nn.Module, batch: Any, gen: torch.Generator) -> torch.Tensor:
        """CE of an augmented batch."""
        _, hr, y = batch
        (hr,) = augment(gen, hr)
        return F.cross_entropy(model(hr), y)


def white_tophat(x: torch.Tensor, px: int) -> torch.Tensor:
    """x minus its grey opening by a (2 px + 1)-square: the small bright structures of x (differentiable)."""
    k = 2 * px + 1
    eroded = -F.max_pool2d(F.pad(-x, (px,) * 4, mode="replicate"), k, stride=1)
    return x - F.max_pool2d(F.pad(eroded, (px,) * 4, mode="replicate"), k, stride=1)


class SRResNetTask(engine.Task):
    """MSE between SR and HR (+ optionally between their white top-hats)."""

    def __init__(self, tophat_weight: float = 0.0, tophat_px: int = 3):
        self.tophat_weight, self.tophat_px = tophat_weight, tophat_px

    def loss(self, model: nn.Module, batch: Any, gen: torch.Generator) -> torch.Tensor:
        """Pixel MSE of an augmented batch (+ top-hat MSE when tophat_weight > 0)."""
        lr, hr, _ = batch
        lr, hr = augment(gen, lr, hr)
        sr = model(lr)
        loss = F.mse_loss(sr, hr)
        if self.tophat_weight > 0:
            loss = loss + self.tophat_weight * F.mse_loss(white_tophat(sr, self.tophat_px),
                                                          white_tophat(hr, self.tophat_px))
        return loss


class SRGANTask(engine.Task):
    """One D step (BCE real/fake) then one G step (feature content loss + adversarial) per batch."""

    def __init__(self, features: FeatureNet, adv_weight: float, pixel_weight: float):
        self.f = features.eval()
        for p in self.f.parameters():
            p.requires_grad_(False)
        self.adv_weight, self.pixel_weight = adv_weight, pixel_weight

    def optimizer_groups(self, model: GanPair, scope: str) -> dict[str, list[nn.Parameter]]:
        """Generator and discriminator optimisers."""
        return {"g": list(model.g.parameters()), "d": list(model.d.parameters())}

    def step(self, model: GanPair, batch: Any, optimizers: Mapping[str, torch.optim.Optimizer],
             gen: torch.Generator, grad_clip: float) -> dict[str, float]:
        """D then G update; returns the losses."""
        lr, hr, _ = batch
        lr, hr = augment(gen, lr, hr)
        sr = model.g(lr)
        od, og = optimizers["d"], optimizers["g"]
        od.zero_grad(set_to_none=True)
        real, fake = model.d(hr), model.d(sr.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                        + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        with torch.no_grad():
            target = self.f.features(hr)
        content = F.mse_loss(self.f.features(sr), target)
        out = model.d(sr)
        adv = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        loss_g = content + self.adv_weight * adv + self.pixel_weight * F.mse_loss(sr, hr)
        loss_g.backward()
        og.step()
        return {"loss": float(loss_g.detach()), "content": float(content.detach()), "adv": float(adv.detach()),
                "d": float(loss_d.detach())}


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _fit(model: nn.Module, task: engine.Task, data: PairSet, epochs: int, lr: float, cfg: TrainConfig,
         out_dir: str | Path, seed: int, fp: str, dev: torch.device) -> engine.FitResult:
    ecfg = engine.EngineConfig(stages=(engine.Stage("all", "all", epochs, lr),), batch_size=cfg.batch_size,
                               samples_per_epoch=cfg.samples_per_epoch, monitor=None, tiebreak=None, seed=seed)
    return engine.fit(engine.FitSpec(model=model, task=task, train_data=data, val_data=None, config=ecfg,
                                     out_dir=out_dir, meta={}, fingerprint=fp, device=dev))


def _setup(pairs_csv: str, scale: int, seed: int, threads: int) -> tuple[PairSet, pd.DataFrame]:
    seed_all(seed, threads)
    pairs = pd.read_csv(pairs_csv, dtype={"image_id": str, "pair_id": str})
    return PairSet(pairs[pairs["split"] == "training"], scale), pairs


def run_train(kind: str, pairs_csv: str, out_pth: str, history_csv: str, model_cfg: Mapping[str, Any],
              train_cfg: Mapping[str, Any], scale: int, seed: int, threads: int, device: str = "auto",
              srresnet: str | None = None, features: str | None = None) -> engine.FitResult:
    """Train one model (kind features | srresnet | srgan) on the training pairs; weights to out_pth."""
    mc = from_mapping(ModelConfig, model_cfg, "superres.model")
    tc = from_mapping(TrainConfig, train_cfg, "superres.train")
    data, pairs = _setup(pairs_csv, scale, seed, threads)
    dev = pick_device(device)
    out_dir = Path(out_pth).with_suffix("")
    fp = _fingerprint(kind, mc.__dict__, tc.__dict__, scale, seed, pairs["pair_id"].tolist(), srresnet, features)
    gmeta = {"kind": "generator", "scale": scale, "channels": mc.channels, "blocks": mc.blocks, "skip": mc.skip}
    if kind == "features":
        model: nn.Module = FeatureNet(mc.feature_channels)
        res = _fit(model, FeatureTask(), data, tc.feature_epochs, tc.feature_lr, tc, out_dir, seed, fp, dev)
        save_model(model, out_pth, {"kind": "features", "channels": mc.feature_channels})
    elif kind == "srresnet":
        model = SRResNet(scale, mc.channels, mc.blocks, mc.skip)
        res = _fit(model, SRResNetTask(tc.tophat_weight, tc.tophat_px), data, tc.srresnet_epochs, tc.srresnet_lr, tc, out_dir, seed, fp, dev)
        save_model(model, out_pth, {**gmeta, "stage": "srresnet"})
    else:
        g = load_generator(srresnet, scale).train()
        model = GanPair(g, Discriminator(mc.disc_channels, mc.disc_layers))
        task = SRGANTask(load_features(features).to(dev), tc.adv_weight, tc.pixel_weight)
        res = _fit(model, task, data, tc.srgan_epochs, tc.srgan_lr, tc, out_dir, seed, fp, dev)
        save_model(model.g, out_pth, {**gmeta, "stage": "srgan"})
    pd.DataFrame(res.history).to_csv(history_csv, index=False)
    if data.rejected:
        log.warning("%d pairs not usable: %s", len(data.rejected), data.rejected[:3])
    return res
