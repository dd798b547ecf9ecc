"""Grad-CAM pointing game of the roi-trained model on whole canvases: the seed's method and its options, side by side.

Trains one backbone per `background_negatives` value (0 = the seed's training) with the config's `transfer:`
settings, then scores each `gradcam_mode` (whole = one whole-canvas pass, the default; sliding = ROI-sized
windows) on the malignant test images, with the test ROC-AUC (95 % patient-level CI), the centre-of-breast
baseline, training and Grad-CAM wall times (one thread).

Usage:
  PYTHONPATH=lib OMP_NUM_THREADS=1 python benchmarks/transfer_pointing.py \\
      --splits results/cbis_synth/transfer/splits.csv --negatives 0 0.5 --modes whole sliding
  PYTHONPATH=lib OMP_NUM_THREADS=1 python benchmarks/transfer_pointing.py --fixture   # the tests' canvases
Writes benchmarks/out/transfer_pointing_<dataset>.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.transfer import evaluate, gradcam, models, train
from mammoflow.pipelines.transfer.config import TransferConfig
from mammoflow.pipelines.transfer.data import build_samples

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rows import auc_fields, write_rows  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits")
    ap.add_argument("--fixture", action="store_true", help="the tests' round-vs-spiculated canvases instead")
    ap.add_argument("--backbone", default="efficientnet_b0")
    ap.add_argument("--negatives", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--modes", nargs="+", default=["whole", "sliding"])
    ap.add_argument("--cam-splits", nargs="+", default=["test"],
                    help="splits whose images get the pointing game (val: unseen in training, used for selection)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs of the last stage (default: the config's)")
    ap.add_argument("--tag", default="", help="suffix of the output file name")
    ap.add_argument("--step", type=float, default=None, help="gradcam_step (default: the config's)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: the config's)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    conf = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    seeds = a.seeds or [conf["seed"]]
    section = {k: v for k, v in conf["transfer"].items() if k != "datasets"}
    if a.epochs is not None:
        section["stages"] = [*section["stages"][:-1], {**section["stages"][-1], "epochs": a.epochs}]
    if a.step is not None:
        section["gradcam_step"] = a.step
    work = Path(tempfile.mkdtemp(prefix="transfer_pointing_"))
    if a.fixture:  # as benchmarks/transfer_clahe.py --fixture: 60 patients x 2 views, 160 x 128, 48 px inputs
        sys.path.insert(0, str(REPO / "tests" / "transfer"))
        from transfer_synth import write_tables

        ic, fc = write_tables(work, n_patients=60, h=160, w=128, seed=7)
        section.update(input_size=48, min_crop=32)
        samples, _ = build_samples(pd.read_csv(ic), pd.read_csv(fc),
                                   TransferConfig.from_config(schema_defaults("transfer", **section)), seeds[0])
        name = "fixture"
    else:
        samples = pd.read_csv(a.splits, keep_default_na=False,
                              na_values={c: [""] for c in ("bx0", "by0", "bx1", "by1")})
        name = Path(a.splits).parts[-3]
    test = samples[samples["split"].isin(a.cam_splits)]
    rows = []
    for seed, neg in ((s, n) for s in seeds for n in a.negatives):
        cfg = TransferConfig.from_config(schema_defaults("transfer", **section, background_negatives=neg))
        tag = f"s{seed}_neg{neg:g}"
        t0 = time.perf_counter()
        model, pred, _ = train.fit_backbone(samples, cfg, a.backbone, work / tag, seed)
        t_train = time.perf_counter() - t0
        factor = float(models.load(work / tag / "best.pt", a.backbone)[1]["canvas_factor"])
        auc = evaluate.evaluate(pred, cfg.n_boot, cfg.sensitivity, seed)["operating_points"]["youden"]["roc_auc"]
        for mode in a.modes:
            mcfg = TransferConfig.from_config({**cfg.__dict__, "gradcam_mode": mode})
            t0 = time.perf_counter()
            table, _ = gradcam.run(test, model, a.backbone, mcfg, factor, work / f"cam_{tag}_{mode}",
                                   torch.device("cpu"))
            t_cam = time.perf_counter() - t0
            table.to_csv(work / f"pointing_{tag}_{mode}.csv", index=False)
            p = gradcam.pointing_summary(table)
            rows.append({"data": name, "backbone": a.backbone, "seed": seed, "background_negatives": neg,
                         "gradcam_mode": mode,
                         "gradcam_step": mcfg.gradcam_step,
                         "epochs": sum(int(st["epochs"]) for st in cfg.stages), **auc_fields(auc),
                         "pointing_game": round(p["pointing_game"], 4),
                         "pg_lo": round(p["pointing_game_ci"][0], 3), "pg_hi": round(p["pointing_game_ci"][1], 3),
                         "centre_baseline": round(p["centre_baseline"], 4),
                         "n_malignant_images": p["n_malignant_images"], "train_s": round(t_train, 1),
                         "gradcam_s": round(t_cam, 1), "cam_splits": "+".join(a.cam_splits),
                         "n_cam_images": int(test["image_id"].nunique())})
            print(rows[-1], flush=True)
    print(f"wrote {write_rows(rows, f'transfer_pointing_{name}{a.tag}')} (work dir {work})")


if __name__ == "__main__":
    main()
