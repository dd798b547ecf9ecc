"""Seed 001 stage-1 benchmark: 5-fold CV on the real tiryakiv tissue set (ACA-ResUNet vs plain U-Net) and
cascade inference throughput. Not CI. The seed's 30 epochs at 1/7.5 of the real size (CPU, ~5 min a fold):

    OMP_NUM_THREADS=1 PYTHONPATH=lib python benchmarks/cascade_cv.py --models aca_resunet --out benchmarks/out/aca_resunet
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import KFold

from mammoflow.core.config import schema_defaults
from mammoflow.pipelines.cascade import data, segtrain
from mammoflow.pipelines.cascade.infer import Cascade
from mammoflow.pipelines.cascade.model import build_model

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("MAMMOFLOW_SHARED_DATA", REPO.parent / "shared" / "data")) / "tissue_tiryakiv" / "train_valid"


def folds(n: int, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train, val) index splits (one image per DDSM case here, so image-level folds are patient-level)."""
    return list(KFold(k, shuffle=True, random_state=seed).split(np.arange(n)))


def run_fold(pairs: data.Pairs, tr: np.ndarray, va: np.ndarray, model: str, cfg: dict, out: Path,
             seed: int) -> tuple[dict, torch.nn.Module, float]:
    """Train on tr, score the best epoch (selected on va, as the seed) on va; per-class Dice and seconds."""
    sc = segtrain.StageConfig.from_config(cfg)
    ds = lambda idx: segtrain.to_tensors([pairs.images[i] for i in idx], [pairs.masks[i] for i in idx])  # noqa: E731
    t = time.time()
    m, res = segtrain.fit_stage("tissue", ds(tr), ds(va), sc, model, "none", out, seed)
    secs = time.time() - t
    x = ds(va).tensors[0]
    pred = segtrain.predict_logits(m, x, 8, torch.device("cpu")).argmax(1).numpy()
    return segtrain.tissue_scores(pred, np.stack([pairs.masks[i] for i in va])), m, secs


def throughput(stage1: torch.nn.Module, size1: tuple[int, int], images: list[np.ndarray], size2: int) -> dict:
    """Cascade images/s at full size (960 x 480) with stage 1 and a stage-2 ACA-ResUNet, models loaded once."""
    t = time.time()
    stage2 = build_model("aca_resunet", 1).eval()
    load_s = time.time() - t
    cas = Cascade(stage1.eval(), size1, stage2, (size2, size2), margin=0.04)
    t = time.time()
    for img in images:
        cas.run(img, img > 0.02)
    s = time.time() - t
    return {"images": len(images), "seconds": s, "images_per_s": len(images) / s, "stage2_build_s": load_s,
            "threads": torch.get_num_threads(), "stage1_size": list(size1), "stage2_size": size2}


def main() -> None:
    """Run the CV for each model and write benchmarks/out/cascade_cv.json and .md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(DEFAULT_ROOT))
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30, help="the seed's 30 (two warm-restart cycles: 10 + 20)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--run-folds", type=int, default=0, help="train only the first N folds (0 = all)")
    ap.add_argument("--models", default="aca_resunet,unet")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "out"))
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = data.load_tissue(data.folder_items(a.root), (a.height, a.width), "benchmark", data.raw_label_reader)
    cfg = schema_defaults("cascade", "stage1", height=a.height, width=a.width, epochs=a.epochs,
                          batch_size=a.batch_size)
    splits = folds(len(pairs.ids), a.folds, a.seed)[: a.run_folds or a.folds]
    result = {"settings": {**{k: v for k, v in cfg.items() if k != "augment"}, "augment": cfg["augment"],
                           "n_images": len(pairs.ids), "folds": a.folds, "seed": a.seed,
                           "rejected": pairs.rejected}, "runs": {}}
    last_model = None
    for model in a.models.split(","):
        rows = []
        for k, (tr, va) in enumerate(splits):
            s, m, secs = run_fold(pairs, tr, va, model, cfg, out / "cascade_cv_state" / f"{model}_fold{k}", a.seed)
            rows.append({"fold": k, "seconds": secs, **s})
            print(model, k, {kk: round(v, 3) for kk, v in rows[-1].items()}, flush=True)
            result["runs"][model] = {"folds": rows}
            (out / "cascade_cv.json").write_text(json.dumps(result, indent=1))
            last_model = m if model == "aca_resunet" and last_model is None else last_model
        mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0] if key != "fold"}
        result["runs"][model] = {"folds": rows, "mean": mean}
        (out / "cascade_cv.json").write_text(json.dumps(result, indent=1))
    if last_model is not None:
        from mammoflow.io import png

        imgs = [png.read_unit(p) for _, p, _ in data.folder_items(a.root)[:12]]
        result["throughput"] = throughput(last_model, (a.height, a.width), imgs, 96)
    (out / "cascade_cv.json").write_text(json.dumps(result, indent=1))
    lines = ["| model | fold | background | adipose | fibroglandular | pectoral | mean | s |", "|---" * 8 + "|"]
    for model, r in result["runs"].items():
        for f in r["folds"] + [{"fold": "mean", **r["mean"]}]:
            lines.append(f"| {model} | {f['fold']} | " + " | ".join(f"{f[f'dice_{c}']:.3f}" for c in
                         segtrain.TISSUE_CLASSES) + f" | {f['dice_mean']:.3f} | {f['seconds']:.0f} |")
    (out / "cascade_cv.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(result.get("throughput"), indent=1))


if __name__ == "__main__":
    main()
