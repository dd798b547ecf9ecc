"""Seed 002 benchmark: SRResNet quality on the test pairs as a function of the training budget (optimiser steps).

The demo trains SRResNet for 160 Adam steps; this asks whether the issue's floors (PSNR >= bicubic + 1 dB at x4,
speck recall >= bicubic + 10 points at the same FP rate) are a matter of training length on the synthetic data.
Same model (superres.model), loss (SRResNetTask: pixel MSE on flipped/rotated batches), data (pairs.csv of a built
dataset) and evaluation (evaluate.psnr_ssim, speck_study, calcification_recall) as the workflow.

Run after `snakemake results/inbreast_synth/superres/pairs.csv` (demo config):
    OMP_NUM_THREADS=1 PYTHONPATH=lib python benchmarks/superres_budget.py --steps 160 500 1000 2000 4000
Writes benchmarks/out/superres_budget_{skip}_c{channels}_b{blocks}_lr{lr}_th{tophat_weight}.json (one row per checkpoint step).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mammoflow.io import png
from mammoflow.pipelines.superres.data import upsample_bicubic
from mammoflow.pipelines.superres.evaluate import (EvalConfig, calcification_recall, parse_specks, psnr_ssim,
                                                   speck_study)
from mammoflow.pipelines.superres.infer import super_resolve
from mammoflow.pipelines.superres.model import Discriminator, GanPair, SRResNet, load_features
from mammoflow.pipelines.superres.train import PairSet, SRGANTask, SRResNetTask
from mammoflow.training.device import seed_all


def evaluate(g: SRResNet, test: pd.DataFrame, scale: int, cfg: EvalConfig, extra: dict) -> dict:
    """PSNR/SSIM inside the breast and speck recall at cfg.fp_per_pair for bicubic, HR and the model."""
    g.eval()
    hr = [png.read(p, dtype=np.uint16) for p in test["hr_path"]]
    lr = [png.read(p, dtype=np.uint16) for p in test["lr_path"]]
    masks = [png.read(p) > 0 for p in test["mask_path"]]
    specks = [parse_specks(s) for s in test["specks"]]
    outs = {"bicubic": [upsample_bicubic(a, scale) for a in lr], "model": list(super_resolve(g, np.stack(lr))),
            **extra}
    q = {m: np.mean([psnr_ssim(h, s, k) for h, s, k in zip(hr, o, masks)], axis=0) for m, o in outs.items()}
    studies = {m: speck_study(o, specks, masks, cfg) for m, o in {"hr": hr, **outs}.items()}
    rec = calcification_recall(studies, len(hr), cfg)
    g.train()
    return {m: {"psnr_db": float(q[m][0]), "ssim": float(q[m][1]), "recall_at_fp": rec[m]["recall_at_fp"]}
            for m in outs} | {"hr": {"recall_at_fp": rec["hr"]["recall_at_fp"]}}


def write(a: argparse.Namespace, scale: int, n_train: int, n_test: int, rows: list[dict]) -> None:
    """benchmarks/out/superres_budget_{skip}_c{channels}_b{blocks}_lr{lr}.json with every checkpoint so far."""
    out = Path("benchmarks/out") / f"superres_budget_{a.skip}_c{a.channels}_b{a.blocks}_lr{a.lr:g}_th{a.tophat_weight:g}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": a.dataset, "scale": scale, "train_pairs": n_train, "test_pairs": n_test,
                               "args": vars(a), "rows": rows}, indent=1))


def main() -> None:
    """Train SRResNet once, evaluating the test pairs at each requested step count."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="inbreast_synth")
    ap.add_argument("--steps", type=int, nargs="+", default=[160, 500, 1000, 2000])
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--skip", default="bicubic", choices=["bicubic", "none"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1999)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fp-per-pair", type=float, default=0.5)
    ap.add_argument("--tophat-weight", type=float, default=0.0, help="superres.train.tophat_weight (option; 0 = off)")
    ap.add_argument("--srgan-steps", type=int, nargs="*", default=[],
                    help="then adversarial steps (SRGANTask: content loss on the dataset's features.pth + adversarial)")
    ap.add_argument("--srgan-lr", type=float, default=1e-4)
    ap.add_argument("--disc-channels", type=int, default=16)
    ap.add_argument("--disc-layers", type=int, default=4)
    ap.add_argument("--adv-weight", type=float, default=1e-3)
    a = ap.parse_args()
    seed_all(a.seed, a.threads)
    pairs = pd.read_csv(Path("results") / a.dataset / "superres" / "pairs.csv", dtype={"image_id": str, "pair_id": str})
    scale = int(pairs["scale"].iloc[0])
    train, test = PairSet(pairs[pairs["split"] == "training"], scale), pairs[pairs["split"] == "test"]
    cfg = EvalConfig(tophat_radius=3, match_px=5.0, fp_per_pair=a.fp_per_pair, figures=0)
    g = SRResNet(scale, a.channels, a.blocks, a.skip)
    opt = torch.optim.Adam(g.parameters(), lr=a.lr)
    task, gen = SRResNetTask(a.tophat_weight, 3), torch.Generator().manual_seed(a.seed)
    rows, step, t0 = [], 0, time.perf_counter()
    def batch() -> tuple[torch.Tensor, ...]:
        idx = torch.randint(0, len(train), (a.batch,), generator=gen)
        return train.lr[idx], train.hr[idx], train.y[idx]

    schedule = [("srresnet", t) for t in sorted(a.steps)] + [("srgan", a.steps[-1] + t) for t in sorted(a.srgan_steps)]
    pair = opts = gtask = None
    for phase, target in schedule:
        if phase == "srgan" and pair is None:
            pair = GanPair(g, Discriminator(a.disc_channels, a.disc_layers))
            opts = {"g": torch.optim.Adam(g.parameters(), lr=a.srgan_lr),
                    "d": torch.optim.Adam(pair.d.parameters(), lr=a.srgan_lr)}
            gtask = SRGANTask(load_features(Path("results") / a.dataset / "superres" / "models" / "features.pth"),
                              a.adv_weight, 0.0)
        while step < target:
            if phase == "srresnet":
                loss = task.loss(g, batch(), gen)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            else:
                gtask.step(pair, batch(), opts, gen, 0.0)
            step += 1
        row = {"phase": phase, "steps": step, "train_seconds": time.perf_counter() - t0,
               **evaluate(g, test, scale, cfg, {})}
        row["psnr_gain_db"] = row["model"]["psnr_db"] - row["bicubic"]["psnr_db"]
        row["recall_gain"] = row["model"]["recall_at_fp"] - row["bicubic"]["recall_at_fp"]
        rows.append(row)
        write(a, scale, len(train), len(test), rows)
        print(json.dumps({"phase": phase, "steps": step, "gain_db": round(row["psnr_gain_db"], 3),
                          "recall": round(row["model"]["recall_at_fp"], 3),
                          "bicubic_recall": round(row["bicubic"]["recall_at_fp"], 3),
                          "s": round(row["train_seconds"])}), flush=True)


if __name__ == "__main__":
    main()
