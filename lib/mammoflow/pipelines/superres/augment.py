"""GAN run (train, grid, FID vs noise and real-vs-real) and the augmentation experiment with the seed-000 patch model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from mammoflow.core.config import from_mapping
from mammoflow.evaluation.bootstrap import bootstrap_ci
from mammoflow.evaluation.metrics import roc_auc, write_json
from mammoflow.io import png
from mammoflow.pipelines.nus.patch_model import build_model, normalise, trainable
from mammoflow.pipelines.superres.gan import (GanTask, PatchGan, Patches, embed, frechet_distance, grid,
                                              lesion_patches, sample)
from mammoflow.pipelines.superres.model import load_features, save_model
from mammoflow.training import engine
from mammoflow.training.classify import SoftmaxClassification, scores
from mammoflow.training.device import seed_all
from mammoflow.training.checkpoints import load_checkpoint

log = logging.getLogger("mammoflow.superres")


@dataclass(frozen=True)
class GanConfig:
    """Patch GAN settings (superres.gan)."""

    size: int
    latent: int
    channels: int
    epochs: int
    lr: float
    n_samples: int


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation experiment settings (superres.augment)."""

    arch: str
    epochs: int
    lr: float
    batch_size: int
    samples_per_epoch: int
    gan_fraction: float
    bootstrap: int


def _split(pairs: pd.DataFrame, split: str) -> pd.DataFrame:
    return pairs[pairs["split"] == split]


def _fit(model: torch.nn.Module, task: engine.Task, data: Any, epochs: int, lr: float, batch: int, spe: int,
         out_dir: str, seed: int, fp: str) -> engine.FitResult:
    cfg = engine.EngineConfig(stages=(engine.Stage("all", "all", epochs, lr),), batch_size=batch,
                              samples_per_epoch=spe, monitor=None, tiebreak=None, seed=seed)
    return engine.fit(engine.FitSpec(model=model, task=task, train_data=data, val_data=None, config=cfg,
                                     out_dir=out_dir, meta={}, fingerprint=fp))


def run_gan(pairs_csv: str, features_pth: str, out_ckpt: str, grid_png: str, samples_npy: str, fid_json: str,
            gan_cfg: Mapping[str, Any], batch_size: int, seed: int, threads: int) -> dict[str, Any]:
    """Train the patch GAN on training lesion patches; FID of GAN, noise and real patches vs held-out test patches."""
    cfg = from_mapping(GanConfig, gan_cfg, "superres.gan")
    seed_all(seed, threads)
    pairs = pd.read_csv(pairs_csv, dtype={"image_id": str, "pair_id": str})
    train, ref = (lesion_patches(_split(pairs, s), cfg.size) for s in ("training", "test"))
    tissue = lesion_patches(_split(pairs, "test"), cfg.size, lesion=False)
    model = PatchGan(cfg.latent, cfg.channels, cfg.size)
    fp = f"gan-{cfg}-{seed}-{len(train)}"
    _fit(model, GanTask(), Patches(train), cfg.epochs, cfg.lr, batch_size, 0, out_ckpt.rsplit(".", 1)[0], seed, fp)
    save_model(model.g, out_ckpt, {"kind": "patch_gan", **cfg.__dict__})
    fake = sample(model.g, cfg.n_samples, seed)
    np.save(samples_npy, fake.astype(np.float32), allow_pickle=False)
    png.write(grid_png, grid(fake[:64]))
    rng = np.random.default_rng(seed)
    noise = np.clip(rng.normal(train.mean(), train.std(), fake.shape), 0, 1)
    f = load_features(features_pth)
    e_ref, e_fake, e_noise, e_real = (embed(f, x) for x in (ref, fake, noise, train))
    n = min(len(e_fake), len(e_real))
    out = {"feature_network": f"{features_pth} (in-domain trunk trained on this dataset's HR pairs, pooled features)",
           "reference": f"{len(ref)} held-out test lesion patches", "size": cfg.size,
           "fid_gan": frechet_distance(e_fake[:n], e_ref), "fid_noise": frechet_distance(e_noise[:n], e_ref),
           "fid_real_vs_real": frechet_distance(e_real[:n], e_ref), "n_generated": int(n), "n_real_train": len(train)}
    if len(tissue) > 1:  # lesion-free test tissue: how far a real patch without a lesion lies from the lesions
        out["fid_real_tissue"] = frechet_distance(embed(f, tissue), e_ref)
        out["n_real_tissue"] = len(tissue)
    write_json(fid_json, out)
    log.info("FID GAN %.3g, noise %.3g, real-vs-real %.3g", out["fid_gan"], out["fid_noise"], out["fid_real_vs_real"])
    return out


def _patch_set(pairs: pd.DataFrame, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = lesion_patches(pairs, size, lesion=True)
    neg = lesion_patches(pairs, size, lesion=False)
    pid = lambda rows: rows["patient_id"].astype(str).to_numpy()  # noqa: E731
    les = pairs[(pairs["kind"] == "lesion") & ((pairs["lesion_overlap"] > 0) | (pairs["n_specks"] > 0))]
    rnd = pairs[(pairs["kind"] == "random") & (pairs["lesion_overlap"] == 0) & (pairs["n_specks"] == 0)]
    return (np.concatenate([pos, neg]), np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)],
            np.r_[pid(les), pid(rnd)])


def run_augment(pairs_csv: str, samples_npy: str, gan_ckpt: str, metrics_json: str, aug_cfg: Mapping[str, Any],
                seed: int, threads: int) -> dict[str, Any]:
    """Seed-000 patch classifier (lesion vs tissue) trained with and without GAN positives, same budget; test AUCs."""
    cfg = from_mapping(AugmentConfig, aug_cfg, "superres.augment")
    size = int(load_checkpoint(gan_ckpt)["size"])
    pairs = pd.read_csv(pairs_csv, dtype={"image_id": str, "pair_id": str})
    x_tr, y_tr, _ = _patch_set(_split(pairs, "training"), size)
    x_te, y_te, g_te = _patch_set(_split(pairs, "test"), size)
    fake = np.load(samples_npy, allow_pickle=False)
    n_gan = int(round(cfg.gan_fraction * int(y_tr.sum())))
    norm = {"mean": float(x_tr.mean()), "std": float(x_tr.std() + 1e-6)}
    out: dict[str, Any] = {"arch": cfg.arch, "n_train_real": len(y_tr), "n_gan_added": n_gan, "n_test": len(y_te),
                           "budget": {"epochs": cfg.epochs, "samples_per_epoch": cfg.samples_per_epoch}}
    for name, (x, y) in {"real_only": (x_tr, y_tr),
                         "with_gan": (np.concatenate([x_tr, fake[:n_gan]]), np.r_[y_tr, np.ones(n_gan, int)])}.items():
        seed_all(seed, threads)
        model = build_model(cfg.arch, "none")
        task = SoftmaxClassification(trainable, lambda t, gen: normalise(t, norm), lambda t: normalise(t, norm))
        data = TensorDataset(torch.from_numpy(x.astype(np.float32))[:, None], torch.from_numpy(y))
        _fit(model, task, data, cfg.epochs, cfg.lr, cfg.batch_size, cfg.samples_per_epoch,
             f"{metrics_json.rsplit('/', 1)[0]}/augment_{name}", seed, f"aug-{name}-{cfg}-{len(y)}")
        test = TensorDataset(torch.from_numpy(x_te.astype(np.float32))[:, None], torch.from_numpy(y_te))
        s, lab, _ = scores(model, test, lambda t: normalise(t, norm), torch.device("cpu"))
        out[name] = {"test_auc": roc_auc(lab, s),
                     "ci95": bootstrap_ci(lab, s, roc_auc, groups=g_te, n=cfg.bootstrap, seed=seed)}
    write_json(metrics_json, out)
    return out
